"""FastAPI/pydantic-v1 style request validation and response helpers, as the live service answers."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Sequence
from http import HTTPStatus
from typing import Any

from aiohttp import web

from .script import MISSING, ROLES


class _Invalid(Exception):
    """A pydantic-v1 style field error raised by the small validators below."""

    def __init__(self, msg: str, type_: str, ctx: dict[str, Any] | None = None) -> None:
        super().__init__(msg)
        self.msg, self.type, self.ctx = msg, type_, ctx


class Dropped(web.Response):
    """Returned after the connection was closed on purpose; aiohttp's write then fails quietly."""


def error(loc: Sequence[str | int], msg: str, type_: str, ctx: dict[str, Any] | None = None) -> dict[str, Any]:
    err: dict[str, Any] = {"loc": list(loc), "msg": msg, "type": type_}
    if ctx is not None:
        err["ctx"] = ctx
    return err


def json_bytes(value: Any) -> bytes:
    """Starlette's JSONResponse rendering: compact and not ASCII-escaped."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def json_response(status: int, value: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=json_bytes(value), content_type="application/json", headers=headers)


async def send_chunked(
    request: web.Request, response: web.Response, piece_bytes: int = 64 * 1024
) -> web.StreamResponse:
    """``response`` sent without ``Content-Length``, in chunked transfer encoding (RFC 9112 section 7.1), as a
    server or proxy that streams its body does: the client learns the size only by reading it all."""
    out = web.StreamResponse(status=response.status, headers={"Content-Type": response.content_type})
    out.enable_chunked_encoding()
    body = response.body
    assert isinstance(body, bytes)
    try:
        await out.prepare(request)
        for start in range(0, len(body), piece_bytes):
            await out.write(body[start : start + piece_bytes])
        await out.write_eof()
    except ConnectionError:
        pass  # the client stopped reading (a bot refusing a body past its cap closes the connection)
    return out


def reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:  # non-standard codes such as Cloudflare's 52x
        return "Error"


def word_tokens(text: str) -> list[str]:
    """Split like the doc's example stream: leading whitespace sticks to the next word."""
    return re.findall(r"\s*\S+|\s+", text)


def _v_str(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):  # pydantic v1 coerces numbers to str
        return str(value)
    raise _Invalid("str type expected", "type_error.str")


_BOOL_TRUE = {1, "1", "on", "t", "true", "y", "yes"}
_BOOL_FALSE = {0, "0", "off", "f", "false", "n", "no"}


def _v_bool(value: Any) -> bool:
    """pydantic v1 ``bool_validator``: lenient on strings and 0/1, strict otherwise."""
    if value is True or value is False:
        return value
    if isinstance(value, str):
        value = value.lower()
    try:
        if value in _BOOL_TRUE:
            return True
        if value in _BOOL_FALSE:
            return False
    except TypeError:  # unhashable (list/dict)
        pass
    raise _Invalid("value could not be parsed to a boolean", "type_error.bool")


def _v_role(value: Any) -> str:
    if isinstance(value, str) and value in ROLES:
        return value
    permitted = ", ".join(f"'{r}'" for r in ROLES)
    raise _Invalid(
        f"value is not a valid enumeration member; permitted: {permitted}",
        "type_error.enum",
        {"enum_values": list(ROLES)},
    )


def _as_dict(value: Any) -> dict[str, Any]:
    """pydantic v1 model coercion: dicts pass, ``dict(value)`` is tried, else type_error.dict."""
    if isinstance(value, dict):
        return value
    if isinstance(value, list):
        try:
            return dict(value)
        except (TypeError, ValueError):
            pass
    raise _Invalid("value is not a valid dict", "type_error.dict")


def _field(
    src: dict[str, Any],
    name: str,
    loc: list[str | int],
    check: Callable[[Any], Any],
    required: bool,
    out: dict[str, Any],
    errors: list[dict[str, Any]],
) -> None:
    """Validate one field into ``out`` or append its error (absent optional fields become None)."""
    value = src.get(name, MISSING)
    if value is MISSING or value is None:
        if not required:
            out[name] = None
        elif value is MISSING:
            errors.append(error([*loc, name], "field required", "value_error.missing"))
        else:
            errors.append(error([*loc, name], "none is not an allowed value", "type_error.none.not_allowed"))
        return
    try:
        out[name] = check(value)
    except _Invalid as exc:
        errors.append(error([*loc, name], exc.msg, exc.type, exc.ctx))


def _validate_messages(value: Any, loc: list[str | int], errors: list[dict[str, Any]]) -> list[dict[str, str]]:
    if not isinstance(value, list):
        raise _Invalid("value is not a valid list", "type_error.list")
    messages: list[dict[str, str]] = []
    for i, item in enumerate(value):
        item_loc = [*loc, i]
        if item is None:
            errors.append(error(item_loc, "none is not an allowed value", "type_error.none.not_allowed"))
            continue
        try:
            src = _as_dict(item)
        except _Invalid as exc:
            errors.append(error(item_loc, exc.msg, exc.type))
            continue
        msg: dict[str, Any] = {}
        _field(src, "role", item_loc, _v_role, True, msg, errors)
        _field(src, "content", item_loc, _v_str, True, msg, errors)
        messages.append(msg)
    return messages


def validate_chat_body(body: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Validate a decoded chat body the way the service's pydantic-v1 model would.

    Returns the normalised fields and the FastAPI ``detail`` list (empty when valid). Field
    errors come first in declaration order, then the ``__root__`` rules; a root rule is skipped
    when one of its own fields already failed, to keep the errors to the point.
    """
    loc: list[str | int] = ["body"]
    if body is None:
        return {}, [error(loc, "field required", "value_error.missing")]
    try:
        src = _as_dict(body)
    except _Invalid as exc:
        return {}, [error(loc, exc.msg, exc.type)]
    out: dict[str, Any] = {}
    errors: list[dict[str, Any]] = []
    for name in ("bot_uid", "bot_slug", "prompt"):
        _field(src, name, loc, _v_str, False, out, errors)
    message_errors: list[dict[str, Any]] = []
    check_messages = functools.partial(_validate_messages, loc=[*loc, "messages"], errors=message_errors)
    _field(src, "messages", loc, check_messages, False, out, errors)
    if message_errors:
        errors.extend(message_errors)
        out.pop("messages", None)
    _field(src, "stream", loc, _v_bool, True, out, errors)
    _field(src, "user_id", loc, _v_str, False, out, errors)

    failed = {e["loc"][1] for e in errors if len(e["loc"]) > 1}
    root = [*loc, "__root__"]
    for a, b in (("bot_uid", "bot_slug"), ("prompt", "messages")):
        if a in failed or b in failed:
            continue
        if not out.get(a) and not out.get(b):
            errors.append(error(root, f'Either "{a}" or "{b}" is required', "value_error"))
        elif out.get(a) and out.get(b):
            errors.append(error(root, f'Only one of "{a}" or "{b}" is allowed', "value_error"))
    return out, errors


def is_json_content_type(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def decode_fastapi_body(raw: bytes, content_type: str | None) -> tuple[Any, web.Response | None]:
    """The body as FastAPI hands it to pydantic, or the error FastAPI answers before any dependency runs.

    Not JSON by content type: the raw bytes (pydantic then rejects them as not a dict). Bad UTF-8: 400.
    Bad JSON: 422 with the `value_error.jsondecode` detail. No body at all: None.
    """
    if not raw:
        return None, None
    if content_type and not is_json_content_type(content_type):
        return raw, None
    try:
        return json.loads(raw), None
    except UnicodeDecodeError:
        return None, json_response(400, {"detail": "There was an error parsing the body"})
    except json.JSONDecodeError as exc:
        ctx = {"msg": exc.msg, "doc": exc.doc, "pos": exc.pos, "lineno": exc.lineno, "colno": exc.colno}
        err = error(["body", exc.pos], str(exc), "value_error.jsondecode", ctx)
        return None, json_response(422, {"detail": [err]})
