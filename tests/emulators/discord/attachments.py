"""Uploaded files: pairing ``attachments`` metadata with ``files[n]`` parts, and the fake CDN's store.

An attachment's ``size`` is metadata ("size of file in bytes", discord-api-docs resources/message.mdx,
Attachment Object) recorded from the upload: clients declare ``file_size`` when they ask for an upload URL
(``POST /channels/{channel.id}/attachments``, then a PUT of the bytes to ``upload_url``; see e.g.
V3L0C1T13S/reflectcord#118), and the CDN serves whatever bytes it holds, with or without a Content-Length.
A reader cannot trust the one to describe the other, so a test may make them differ (:meth:`serve_as`).
"""

from __future__ import annotations

import mimetypes
from collections.abc import Callable
from typing import Any

from . import errors
from .records import AttachmentRecord, AttachmentSpec
from .snowflakes import SnowflakeGenerator
from .validation import UploadedFile


class AttachmentStore:
    def __init__(self, ids: SnowflakeGenerator) -> None:
        self.ids = ids
        self.files: dict[int, AttachmentRecord] = {}
        self.downloads: list[int] = []  # attachment ids, in the order the fake CDN served them
        self.cdn_base: Callable[[], str] = lambda: "http://127.0.0.1"

    def build(
        self,
        channel_id: int,
        meta: Any,
        files: list[UploadedFile],
        existing: dict[int, AttachmentRecord],
    ) -> list[AttachmentRecord]:
        """Pair ``attachments`` metadata with ``files[n]`` by id; keep listed existing ones on edit."""
        by_index = {f.index: f for f in files}
        out: list[AttachmentRecord] = []
        used: set[int] = set()
        for entry in meta if isinstance(meta, list) else []:
            if not isinstance(entry, dict) or "id" not in entry:
                continue
            try:
                ref = int(entry["id"])
            except (TypeError, ValueError):
                continue
            if ref in existing:
                out.append(existing[ref])
            elif ref in by_index:
                out.append(self.store(channel_id, by_index[ref], entry))
                used.add(ref)
        for f in files:
            if f.index not in used:
                out.append(self.store(channel_id, f, {}))
        if len(out) > 10:
            raise errors.single_field_error(("attachments",), "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")
        return out

    @staticmethod
    def serve_as(record: AttachmentRecord, spec: AttachmentSpec) -> None:
        """Apply a simulated upload's CDN-side behaviour: a body other than the uploaded bytes (the metadata,
        ``size`` included, still describes what was uploaded), chunked transfer without a Content-Length, and a
        download held until the test lets it go."""
        record.served = spec.served
        record.chunked = spec.chunked
        record.held = spec.held

    def store(self, channel_id: int, f: UploadedFile, meta: dict[str, Any]) -> AttachmentRecord:
        att_id = self.ids.next()
        filename = str(meta.get("filename") or f.filename)
        sent_type = f.content_type
        content_type = sent_type
        if not content_type or content_type == "application/octet-stream":
            # Discord sniffs the type from the name/bytes rather than trusting the part header.
            content_type = mimetypes.guess_type(filename)[0] or sent_type
        duration = meta.get("duration_secs")
        record = AttachmentRecord(
            id=att_id,
            filename=filename,
            content_type=content_type,
            size=len(f.data),
            data=f.data,
            url=f"{self.cdn_base()}/attachments/{channel_id}/{att_id}/{filename}",
            description=meta.get("description"),
            duration_secs=float(duration) if duration is not None else None,
            waveform=meta.get("waveform"),
            title=meta.get("title"),
            uploaded_content_type=sent_type,
        )
        self.files[att_id] = record
        return record
