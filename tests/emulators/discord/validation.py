"""Message body validation with Discord's real limits (not the OpenAPI spec's user limits).

Limits: content 2000 code points; ≤10 embeds (title 256, description 4096, ≤25 fields,
field name 256 / value 1024, footer 2048, author 256, 6000 total); components as in
:mod:`.components` (legacy) or :mod:`.components_v2` (with IS_COMPONENTS_V2, which also refuses
content, embeds, stickers and polls); allowed_mentions shape; ≤10 attachments of ≤10 MiB each.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import errors
from .components import validate_legacy_components
from .components_v2 import legacy_field_errors, validate_v2_components
from .errors import FormErrors
from .records import COMPONENTS_V2_FLAG

CONTENT_LIMIT = 2000
MAX_EMBEDS = 10
EMBED_TOTAL_LIMIT = 6000
MAX_ATTACHMENTS = 10
ALLOWED_PARSE = ("users", "roles", "everyone")
THREAD_ARCHIVE_DURATIONS = (60, 1440, 4320, 10080)


@dataclass
class UploadedFile:
    """One ``files[n]`` multipart part."""

    index: int
    field_name: str
    filename: str
    content_type: str | None
    data: bytes


def _text_limit(form: FormErrors, path: tuple[str | int, ...], value: Any, limit: int) -> int:
    """Check an optional string field; return its length for the embed total."""
    if value is None:
        return 0
    if not isinstance(value, str):
        form.wrong_type(path, "string")
        return 0
    if len(value) > limit:
        form.max_length(path, limit)
    return len(value)


def validate_embeds(form: FormErrors, embeds: Any) -> None:
    if embeds is None:
        return
    if not isinstance(embeds, list):
        form.wrong_type(("embeds",), "array")
        return
    if len(embeds) > MAX_EMBEDS:
        form.max_length(("embeds",), MAX_EMBEDS)
        return
    total = 0
    for i, embed in enumerate(embeds):
        base: tuple[str | int, ...] = ("embeds", i)
        if not isinstance(embed, dict):
            form.add(base, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
            continue
        total += _text_limit(form, (*base, "title"), embed.get("title"), 256)
        total += _text_limit(form, (*base, "description"), embed.get("description"), 4096)
        footer = embed.get("footer") or {}
        total += _text_limit(form, (*base, "footer", "text"), footer.get("text"), 2048)
        author = embed.get("author") or {}
        total += _text_limit(form, (*base, "author", "name"), author.get("name"), 256)
        fields = embed.get("fields") or []
        if len(fields) > 25:
            form.max_length((*base, "fields"), 25)
        for j, fld in enumerate(fields[:25]):
            fpath = (*base, "fields", j)
            for key, limit in (("name", 256), ("value", 1024)):
                if not fld.get(key):
                    form.required((*fpath, key))
                else:
                    total += _text_limit(form, (*fpath, key), fld.get(key), limit)
    if total > EMBED_TOTAL_LIMIT:
        form.add(("embeds",), "MAX_EMBED_SIZE_EXCEEDED", f"Embed size exceeds maximum size of {EMBED_TOTAL_LIMIT}")


def validate_components(form: FormErrors, components: Any, flags: int) -> None:
    if components is None:
        return
    if not isinstance(components, list):
        form.wrong_type(("components",), "array")
        return
    if flags & COMPONENTS_V2_FLAG:
        validate_v2_components(form, components)
    else:
        validate_legacy_components(form, components)


def validate_allowed_mentions(form: FormErrors, am: Any) -> None:
    if am is None:
        return
    if not isinstance(am, dict):
        form.add(("allowed_mentions",), "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
        return
    parse = am.get("parse", [])
    if not isinstance(parse, list):
        form.wrong_type(("allowed_mentions", "parse"), "array")
        parse = []
    for i, item in enumerate(parse):
        if item not in ALLOWED_PARSE:
            form.choices(("allowed_mentions", "parse", i), "('users', 'roles', 'everyone')")
    for kind in ("users", "roles"):
        ids = am.get(kind)
        if ids is None:
            continue
        if not isinstance(ids, list):
            form.wrong_type(("allowed_mentions", kind), "array")
            continue
        if len(ids) > 100:
            form.max_length(("allowed_mentions", kind), 100)
        if kind in parse and ids:
            form.add(
                ("allowed_mentions",),
                "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                f'parse:["{kind}"] and {kind}: [ids...] are mutually exclusive.',
            )


def validate_message_fields(payload: dict[str, Any], *, flags: int) -> None:
    """Field-level checks for a create/edit body; raises one 50035 listing every problem."""
    form = FormErrors()
    content = payload.get("content")
    if flags & COMPONENTS_V2_FLAG:
        legacy_field_errors(form, payload)
    elif content is not None:
        if not isinstance(content, str):
            form.wrong_type(("content",), "string")
        elif len(content) > CONTENT_LIMIT:
            form.max_length(("content",), CONTENT_LIMIT)
    validate_embeds(form, payload.get("embeds"))
    validate_components(form, payload.get("components"), flags)
    validate_allowed_mentions(form, payload.get("allowed_mentions"))
    attachments = payload.get("attachments")
    if isinstance(attachments, list) and len(attachments) > MAX_ATTACHMENTS:
        form.max_length(("attachments",), MAX_ATTACHMENTS)
    form.raise_if_any()


def check_files(files: list[UploadedFile], *, max_file_size: int) -> None:
    """Per-file and count limits; oversize uploads get Discord's 413 40005."""
    if len(files) > MAX_ATTACHMENTS:
        raise errors.single_field_error(
            ("files",), "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_ATTACHMENTS} or fewer in length."
        )
    for f in files:
        if len(f.data) > max_file_size:
            raise errors.entity_too_large()


def check_not_empty(
    content: str, embeds: list[Any], attachments: int, components: list[Any], stickers: list[Any], poll: Any
) -> None:
    if not content.strip() and not embeds and not attachments and not components and not stickers and not poll:
        raise errors.empty_message()


def check_voice_message(content: str, embeds: list[Any], attachments: list[dict[str, Any]]) -> None:
    """Rules for ``IS_VOICE_MESSAGE`` (1<<13): one audio attachment with metadata and nothing else."""
    if content or embeds:
        raise errors.ApiError(400, 50159, "Voice messages do not support additional content.")
    if len(attachments) != 1 or not str(attachments[0].get("content_type") or "").startswith("audio/"):
        raise errors.ApiError(400, 50160, "Voice messages must have a single audio attachment.")
    meta = attachments[0]
    if meta.get("duration_secs") is None or meta.get("waveform") is None:
        raise errors.ApiError(400, 50161, "Voice messages must have supporting metadata.")


def validate_thread_name(form: FormErrors, name: Any, *, required: bool) -> None:
    if name is None:
        if required:
            form.required(("name",))
        return
    if not isinstance(name, str):
        form.wrong_type(("name",), "string")
    elif not 1 <= len(name) <= 100:
        form.bad_length(("name",), 1, 100)


def validate_archive_duration(form: FormErrors, value: Any) -> None:
    if value is not None and value not in THREAD_ARCHIVE_DURATIONS:
        form.choices(("auto_archive_duration",), "(60, 1440, 4320, 10080)")
