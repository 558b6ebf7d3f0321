"""Form bodies as Convai's Flask gateway sees them: multipart or urlencoded, uploads need a filename.

Werkzeug files a multipart part under ``request.files`` only when its Content-Disposition has a
``filename``; without one (or with an empty one) the part is a plain form field, so the service
sees no upload. The emulator keeps that distinction, which catches clients that forget the
filename. Any other content type parses as an empty form, as ``request.form`` would.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import BodyPartReader, hdrs, web


class MalformedForm(ValueError):
    """The body claims to be a form but cannot be parsed."""


@dataclass(frozen=True)
class Upload:
    """The ``file`` part of a multipart body."""

    data: bytes
    filename: str | None
    content_type: str | None

    @property
    def counts(self) -> bool:
        """Whether the service would see it as an uploaded file (it needs a non-empty filename)."""
        return bool(self.filename)


async def read_form(request: web.Request, upload_name: str = "file") -> tuple[dict[str, str], Upload | None]:
    """The text fields (first value per name) and the ``upload_name`` part of a form body."""
    if request.content_type == "multipart/form-data":
        return await _read_multipart(request, upload_name)
    if request.content_type == "application/x-www-form-urlencoded":
        try:
            form = await request.post()
        except (ValueError, UnicodeDecodeError) as exc:
            raise MalformedForm(str(exc)) from exc
        fields: dict[str, str] = {}
        for name, value in form.items():
            fields.setdefault(name, str(value))
        return fields, None
    await request.read()
    return {}, None


async def _read_multipart(request: web.Request, upload_name: str) -> tuple[dict[str, str], Upload | None]:
    fields: dict[str, str] = {}
    upload: Upload | None = None
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                await part.release()  # a nested multipart: not something Convai reads
                continue
            data = bytes(await part.read())
            name = part.name or ""
            if name == upload_name and upload is None:
                upload = Upload(data, part.filename, part.headers.get(hdrs.CONTENT_TYPE))
                if upload.counts:
                    continue
            fields.setdefault(name, data.decode(part.get_charset(default="utf-8"), errors="replace"))
    except (ValueError, AssertionError, RuntimeError) as exc:
        raise MalformedForm(str(exc)) from exc
    return fields, upload
