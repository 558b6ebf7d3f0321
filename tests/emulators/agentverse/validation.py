"""FastAPI / pydantic-v1 style checks of create and submit bodies, and the JSON bodies the engine sends.

Only what the notes call inconsistent is tolerated: ``session_id`` in the payload, beside it or
absent (but never naming another session), optional ``message_id``/``referral_id``, and
selections given as ints or strings.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aiohttp import web

from .wire import SUBMIT_TYPES, USER_JSON_TYPES

Errors = list[dict[str, Any]]
Loc = list[str | int]
_MISSING = object()


class Invalid(Exception):
    """One field's pydantic-v1 error."""

    def __init__(self, msg: str, type_: str) -> None:
        super().__init__(msg)
        self.msg, self.type = msg, type_


def json_response(status: int, value: Any) -> web.Response:
    """Starlette's JSONResponse: compact, not ASCII-escaped."""
    body = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
    return web.Response(status=status, body=body, content_type="application/json")


def detail(status: int, message: str) -> web.Response:
    """FastAPI's ``HTTPException`` body."""
    return json_response(status, {"detail": message})


def invalid(errors: Errors) -> web.Response:
    """FastAPI's 422 for a request that failed validation."""
    return json_response(422, {"detail": errors})


def error(loc: Loc, msg: str, type_: str) -> dict[str, Any]:
    return {"loc": list(loc), "msg": msg, "type": type_}


def decode_error(exc: json.JSONDecodeError) -> Errors:
    """What FastAPI (pydantic v1 era) answers for a body that is not JSON."""
    return [error(["body", exc.pos], exc.msg, "value_error.jsondecode")]


def v_str(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)  # pydantic v1 coerces numbers
    raise Invalid("str type expected", "type_error.str")


def v_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    lowered = value.lower() if isinstance(value, str) else value
    if lowered in (1, "1", "true", "yes", "on"):
        return True
    if lowered in (0, "0", "false", "no", "off"):
        return False
    raise Invalid("value could not be parsed to a boolean", "type_error.bool")


def v_dict(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    raise Invalid("value is not a valid dict", "type_error.dict")


def v_choice(*allowed: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if isinstance(value, str) and value in allowed:
            return value
        permitted = ", ".join(f"'{a}'" for a in allowed)
        raise Invalid(f"unexpected value; permitted: {permitted}", "value_error.const")

    return check


def v_list(item: Callable[[Any], Any]) -> Callable[[Any], list[Any]]:
    """A non-empty list whose items pass ``item``."""

    def check(value: Any) -> list[Any]:
        if not isinstance(value, list):
            raise Invalid("value is not a valid list", "type_error.list")
        if not value:
            raise Invalid("ensure this value has at least 1 items", "value_error.list.min_items")
        return [item(v) for v in value]

    return check


def v_key(value: Any) -> int | str:
    """An option key: an int (task_list) or a string (UUID or suggestion key)."""
    if isinstance(value, int | str) and not isinstance(value, bool):
        return value
    raise Invalid("value is not a valid integer or string", "type_error")


def field(
    src: dict[str, Any], name: str, loc: Loc, check: Callable[[Any], Any], errors: Errors, *, required: bool
) -> Any:
    """Validate ``src[name]``; append its error and return ``None`` when absent or wrong."""
    value = src.get(name, _MISSING)
    if value is _MISSING or value is None:
        if required:
            errors.append(error([*loc, name], "field required", "value_error.missing"))
        return None
    try:
        return check(value)
    except Invalid as exc:
        errors.append(error([*loc, name], exc.msg, exc.type))
        return None


def validate_create(body: Any) -> tuple[dict[str, Any], Errors]:
    """The create-session body: ``email`` required; model under either key; optional group and flag."""
    try:
        src = v_dict(body)
    except Invalid as exc:
        return {}, [error(["body"], exc.msg, exc.type)]
    errors: Errors = []
    out = {
        "email": field(src, "email", ["body"], v_str, errors, required=True),
        "functionGroup": field(src, "functionGroup", ["body"], v_str, errors, required=False),
        "preferencesEnabled": field(src, "preferencesEnabled", ["body"], v_bool, errors, required=False),
    }
    for key in ("requestedModel", "requestModel"):
        if (model := field(src, key, ["body"], v_str, errors, required=False)) is not None:
            out.setdefault("model", model)
            out.setdefault("model_key", key)
    return out, errors


def _payload_fields(kind: str, payload: dict[str, Any], loc: Loc, errors: Errors) -> None:
    if kind == "start":
        field(payload, "objective", loc, v_str, errors, required=True)
        field(payload, "context", loc, v_str, errors, required=False)
    elif kind == "execute_functions":
        field(payload, "functions", loc, v_list(v_str), errors, required=True)
    elif kind == "user_message":
        field(payload, "user_message", loc, v_str, errors, required=True)
    elif kind == "user_json":
        user_json = field(payload, "user_json", loc, v_dict, errors, required=True)
        if user_json is not None:
            inner = [*loc, "user_json"]
            field(user_json, "type", inner, v_choice(*USER_JSON_TYPES), errors, required=True)
            field(user_json, "selection", inner, v_list(v_key), errors, required=True)


def validate_submit(body: Any, session_id: str) -> tuple[dict[str, Any], Errors]:
    """The submit body; returns the payload as sent and the errors (empty when valid)."""
    try:
        src = v_dict(body)
    except Invalid as exc:
        return {}, [error(["body"], exc.msg, exc.type)]
    errors: Errors = []
    payload = field(src, "payload", ["body"], v_dict, errors, required=True)
    if payload is None:
        return {}, errors
    loc: Loc = ["body", "payload"]
    kind = field(payload, "type", loc, v_choice(*SUBMIT_TYPES), errors, required=True)
    body_loc: Loc = ["body"]
    for where, holder in ((loc, payload), (body_loc, src)):
        named = field(holder, "session_id", where, v_str, errors, required=False)
        if named is not None and named != session_id:
            errors.append(
                error([*where, "session_id"], "session_id does not match the session in the path", "value_error")
            )
    for name in ("message_id", "referral_id", "bucket_id"):
        field(payload, name, loc, v_str, errors, required=False)
    if kind is not None:
        _payload_fields(kind, payload, loc, errors)
    return payload, errors
