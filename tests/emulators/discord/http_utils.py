"""Request parsing and response building shared by the REST route modules."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import BodyPartReader, web

from . import errors
from .validation import UploadedFile

MAX_REQUEST_BYTES = 25 * 1024 * 1024
FILES_FIELD = re.compile(r"^files\[(\d+)\]$|^file(\d*)$")
REQUEST_JSON_KEY: web.RequestKey[object] = web.RequestKey("discord_emulator_json", object)

H = TypeVar("H", bound=Callable[..., Awaitable[web.StreamResponse]])


@dataclass(frozen=True)
class RouteMeta:
    """How the middleware treats a route: auth required? which rate-limit bucket family?"""

    auth: bool = True
    bucket: str | None = None
    major: tuple[str, ...] = ()


def route(*, auth: bool = True, bucket: str | None = None, major: tuple[str, ...] = ()) -> Callable[[H], H]:
    """Attach :class:`RouteMeta` to a handler (read back by the middleware)."""

    def deco(fn: H) -> H:
        fn._emu_meta = RouteMeta(auth, bucket, major)  # type: ignore[attr-defined]
        return fn

    return deco


def route_meta(handler: Any) -> RouteMeta:
    return getattr(handler, "_emu_meta", RouteMeta())


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """JSON with ``Content-Type: application/json`` exactly (discord.py compares the header verbatim)."""
    out_headers = {"Content-Type": "application/json"}
    if headers:
        out_headers.update(headers)
    return web.Response(body=json.dumps(data).encode(), status=status, headers=out_headers)


def no_content() -> web.Response:
    return web.Response(status=204)


def snowflake_param(request: web.Request, name: str) -> int:
    raw = request.match_info[name]
    if not raw.isdigit():
        raise errors.single_field_error((name,), "NUMBER_TYPE_COERCE", f'Value "{raw}" is not snowflake.')
    return int(raw)


def int_query(request: web.Request, name: str, default: int | None = None) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    if not raw.lstrip("-").isdigit():
        raise errors.single_field_error((name,), "NUMBER_TYPE_COERCE", f'Value "{raw}" is not int.')
    return int(raw)


def truthy_query(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").lower() in ("1", "true", "yes")


async def read_json_value(request: web.Request) -> Any:
    """Any JSON body (empty → ``None``); malformed → 400 50109 as Discord answers."""
    raw = await request.read()
    if not raw:
        return None
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise errors.ApiError(400, 50109, "The request body contains invalid JSON.") from exc
    request[REQUEST_JSON_KEY] = body
    return body


async def read_json(request: web.Request) -> dict[str, Any]:
    """A JSON object body (empty body → ``{}``)."""
    body = await read_json_value(request)
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise errors.ApiError(400, 50109, "The request body contains invalid JSON.")
    request[REQUEST_JSON_KEY] = body
    return body


async def read_message_body(request: web.Request) -> tuple[dict[str, Any], list[UploadedFile]]:
    """JSON, or multipart with ``payload_json`` plus ``files[n]`` parts (25 MiB per request)."""
    if request.content_length is not None and request.content_length > MAX_REQUEST_BYTES:
        raise errors.entity_too_large()
    if not request.content_type.startswith("multipart/"):
        return await read_json(request), []
    reader = await request.multipart()
    payload: dict[str, Any] = {}
    files: list[UploadedFile] = []
    total = 0
    while True:
        part = await reader.next()
        if part is None:
            break
        if not isinstance(part, BodyPartReader):
            continue
        data = await part.read(decode=False)
        total += len(data)
        if total > MAX_REQUEST_BYTES:
            raise errors.entity_too_large()
        name = part.name or ""
        if name == "payload_json":
            try:
                loaded = json.loads(data)
            except ValueError as exc:
                raise errors.ApiError(400, 50109, "The request body contains invalid JSON.") from exc
            if isinstance(loaded, dict):
                payload = loaded
            continue
        match = FILES_FIELD.match(name)
        if match is None:
            continue
        index = int(match.group(1) or match.group(2) or len(files))
        files.append(
            UploadedFile(index, name, part.filename or f"file{index}", part.headers.get("Content-Type"), bytes(data))
        )
    request[REQUEST_JSON_KEY] = payload
    return payload, files
