"""Loopback emulator of the aBLT chat API for the test suite and the benchmark.

It follows the vendor doc (``/work/shared/reference/ablt-chat.txt``) and what the official SDK
shows about the live FastAPI service (protocol-notes section 3): real SSE framing
``data: {...}\\n\\n`` ending with ``data: [DONE]\\n\\n``, Bearer auth, pydantic-v1 style 422
bodies, ``GET /v1/bots``, ``GET /health-check`` and an ``x-request-id`` header on every
response. Each chat call can be scripted with :class:`Reply` to reproduce the failures a client
has to survive (hangs, cut-offs, malformed or fragmented frames). It binds 127.0.0.1 on an
ephemeral port and never talks to anything else.

Typical use::

    async with AbltEmulator() as emu:
        emu.enqueue(Reply(tokens=["Hel", "lo"], token_interval_s=0.01))
        ...  # point the client at emu.base_url
        (req,) = await emu.wait_for_requests(1)
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import hmac
import json
import random
import re
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, NamedTuple

from aiohttp import web
from aiohttp.typedefs import Handler
from multidict import CIMultiDict

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_BOTS",
    "AbltEmulator",
    "Bot",
    "ChatRequest",
    "Emission",
    "Reply",
]

DEFAULT_API_KEY = "ablt-test-key"
ROLES = ("system", "user", "assistant")
MALFORMED_PAYLOAD = "{not json"

_REQUEST_ID = web.RequestKey("ablt_request_id", str)
_MISSING: Any = object()


@dataclass(frozen=True)
class Bot:
    """One entry of ``GET /v1/bots``; ``uid`` or ``slug`` selects it in a chat request."""

    uid: str
    slug: str
    model: str
    name: str
    description: str
    welcome_message: str
    avatar_url: str | None = None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


DEFAULT_BOTS: tuple[Bot, ...] = (
    Bot(
        uid="edf826b8-1b75-4f57-bd26-641c897f9c1e",  # the uid used in the vendor doc's example
        slug="taxson",
        model="gpt-4",
        name="Taxson",
        description="Answers questions about taxes.",
        welcome_message="Hi! Ask me anything about taxes.",
        avatar_url="https://example.invalid/avatars/taxson.png",
    ),
    Bot(
        uid="0b5c6a9e-2f1d-4c1e-9a57-5d2f3c4b6a71",
        slug="writer",
        model="gpt-3.5-turbo",
        name="Writer",
        description="Helps with writing and editing.",
        welcome_message="Hello! What shall we write today?",
        avatar_url=None,
    ),
    Bot(
        uid="7f3e2d1c-8b4a-4e6f-a2c9-1d0e9f8a7b65",
        slug="coder",
        model="gpt-4",
        name="Coder",
        description="Answers programming questions.",
        welcome_message="Hi! Paste some code or ask a question.",
        avatar_url="https://example.invalid/avatars/coder.png",
    ),
)


@dataclass(frozen=True, kw_only=True)
class Reply:
    """Scripted behaviour for one future ``/v1/chat`` call (consumed FIFO by valid requests).

    Token counts ``N`` larger than the number of tokens apply after the last token, i.e. just
    before ``[DONE]`` would have been sent. For ``stream=false`` requests: any hang hangs before
    headers, ``cut_off_after_tokens`` sends half the JSON body and closes, a malformed setting
    sends ``{not json`` as the body, and the token interval is slept once per token up front.
    """

    text: str | None = None
    """Full reply; split into word tokens (``"To"``, ``" pay"``...) when streamed."""
    tokens: list[str] | None = None
    """Exact token frames; wins over ``text`` (which must then equal their concatenation)."""
    token_interval_s: float = 0.0
    """Sleep before each token frame, so token timing on the wire is real."""
    status: int = 200
    """Non-200 answers with ``body`` as JSON (default ``{"detail": <reason>}``)."""
    body: Any = None
    """Error body for a non-200 status; ``bytes`` are sent verbatim as text/html (proxy page)."""
    hang_before_headers: bool = False
    """Never answer; ends when the client disconnects or the emulator closes (then drops)."""
    hang_after_tokens: int | None = None
    """Send N tokens, then stall without ``[DONE]`` until disconnect or close."""
    cut_off_after_tokens: int | None = None
    """Send N tokens, then close the connection without ``[DONE]`` (truncated chunked body)."""
    bare_json: bool = False
    """Bare JSON lines (``{"content":"To"}\\n``, ``[DONE]\\n``) as the vendor doc prints; same type."""
    malformed_frame_after_tokens: int | None = None
    """Emit ``data: {not json`` after N tokens, then carry on (combine with cut/hang to stop)."""
    split_frames: bool = False
    """Write the bytes in tiny random chunks (mid-line, mid-UTF-8), yielding between writes."""
    use_message_key: bool = False
    """Carry the text under ``"message"`` instead of ``"content"`` (the SDK accepts both)."""

    def __post_init__(self) -> None:
        if self.tokens is not None and self.text is not None and "".join(self.tokens) != self.text:
            raise ValueError("Reply.text must equal ''.join(Reply.tokens) when both are given")


@dataclass
class ChatRequest:
    """What the emulator saw of one chat call, recorded before any validation."""

    path: str
    body: Any
    """Parsed JSON body, or ``None`` if it was empty or not JSON (see ``raw_body``)."""
    raw_body: bytes
    headers: CIMultiDict[str]
    """Request headers minus ``Authorization`` (case-insensitive lookup)."""
    auth_ok: bool
    received_at: float
    """``time.monotonic()`` when the handler started."""
    request_id: str
    """The ``x-request-id`` sent back with the response."""
    status: int | None = None
    """Status sent; ``None`` while pending or if the connection was dropped before headers."""


class Emission(NamedTuple):
    """A token frame (or whole non-stream body) handed to the transport: when, text so far, by whom."""

    t: float
    text: str
    request_index: int


class _Invalid(Exception):
    """A pydantic-v1 style field error raised by the small validators below."""

    def __init__(self, msg: str, type_: str, ctx: dict[str, Any] | None = None) -> None:
        super().__init__(msg)
        self.msg, self.type, self.ctx = msg, type_, ctx


class _Dropped(web.Response):
    """Returned after the connection was closed on purpose; aiohttp's write then fails quietly."""


def _error(loc: Sequence[str | int], msg: str, type_: str, ctx: dict[str, Any] | None = None) -> dict[str, Any]:
    err: dict[str, Any] = {"loc": list(loc), "msg": msg, "type": type_}
    if ctx is not None:
        err["ctx"] = ctx
    return err


def _json_bytes(value: Any) -> bytes:
    """Starlette's JSONResponse rendering: compact and not ASCII-escaped."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def _json_response(status: int, value: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=_json_bytes(value), content_type="application/json", headers=headers)


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:  # non-standard codes such as Cloudflare's 52x
        return "Error"


def _word_tokens(text: str) -> list[str]:
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
    value = src.get(name, _MISSING)
    if value is _MISSING or value is None:
        if not required:
            out[name] = None
        elif value is _MISSING:
            errors.append(_error([*loc, name], "field required", "value_error.missing"))
        else:
            errors.append(_error([*loc, name], "none is not an allowed value", "type_error.none.not_allowed"))
        return
    try:
        out[name] = check(value)
    except _Invalid as exc:
        errors.append(_error([*loc, name], exc.msg, exc.type, exc.ctx))


def _validate_messages(value: Any, loc: list[str | int], errors: list[dict[str, Any]]) -> list[dict[str, str]]:
    if not isinstance(value, list):
        raise _Invalid("value is not a valid list", "type_error.list")
    messages: list[dict[str, str]] = []
    for i, item in enumerate(value):
        item_loc = [*loc, i]
        if item is None:
            errors.append(_error(item_loc, "none is not an allowed value", "type_error.none.not_allowed"))
            continue
        try:
            src = _as_dict(item)
        except _Invalid as exc:
            errors.append(_error(item_loc, exc.msg, exc.type))
            continue
        msg: dict[str, Any] = {}
        _field(src, "role", item_loc, _v_role, True, msg, errors)
        _field(src, "content", item_loc, _v_str, True, msg, errors)
        messages.append(msg)
    return messages


def _validate_chat_body(body: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Validate a decoded chat body the way the service's pydantic-v1 model would.

    Returns the normalised fields and the FastAPI ``detail`` list (empty when valid). Field
    errors come first in declaration order, then the ``__root__`` rules; a root rule is skipped
    when one of its own fields already failed, to keep the errors to the point.
    """
    loc: list[str | int] = ["body"]
    if body is None:
        return {}, [_error(loc, "field required", "value_error.missing")]
    try:
        src = _as_dict(body)
    except _Invalid as exc:
        return {}, [_error(loc, exc.msg, exc.type)]
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
            errors.append(_error(root, f'Either "{a}" or "{b}" is required', "value_error"))
        elif out.get(a) and out.get(b):
            errors.append(_error(root, f'Only one of "{a}" or "{b}" is allowed', "value_error"))
    return out, errors


def _is_json_content_type(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


class AbltEmulator:
    """An aiohttp server speaking the aBLT chat API on 127.0.0.1, scriptable per request."""

    def __init__(
        self,
        api_key: str = DEFAULT_API_KEY,
        bots: Sequence[Bot] | None = None,
        *,
        seed: int = 0,
    ) -> None:
        """``seed`` fixes the chunk sizes of ``split_frames`` so failures reproduce."""
        self.api_key = api_key
        self.bots: list[Bot] = list(DEFAULT_BOTS if bots is None else bots)
        self.requests: list[ChatRequest] = []
        self.emitted: list[Emission] = []
        self._replies: deque[Reply] = deque()
        self._rng = random.Random(seed)
        self._closing = asyncio.Event()
        self._arrived = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``, without a trailing slash or version prefix."""
        if self._base_url is None:
            raise RuntimeError("AbltEmulator is not started")
        return self._base_url

    async def start(self) -> None:
        """Listen on 127.0.0.1 with an ephemeral port (see ``base_url``)."""
        if self._runner is not None or self._closing.is_set():
            raise RuntimeError("AbltEmulator can only be started once")
        app = web.Application(middlewares=[self._middleware])
        app.router.add_post("/v1/chat", self._handle_chat)
        app.router.add_post("/chat", self._handle_chat)  # unversioned alias from the doc heading
        app.router.add_get("/v1/bots", self._handle_bots)
        app.router.add_get("/health-check", self._handle_health)
        app.on_response_prepare.append(self._on_prepare)
        # handler_cancellation: a client disconnect cancels the handler, which ends hangs.
        runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=2.0)
        await runner.setup()
        self._runner = runner
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        host, port = runner.addresses[0][:2]
        self._base_url = f"http://{host}:{port}"

    async def close(self) -> None:
        """Stop serving; hung or slow responses drop their connections. Idempotent."""
        self._closing.set()
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> AbltEmulator:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- scripting -------------------------------------------------------------------------------

    def enqueue(self, *replies: Reply) -> None:
        """Script the next valid chat calls, in order; unscripted calls echo the user text."""
        self._replies.extend(replies)

    @property
    def pending_replies(self) -> int:
        return len(self._replies)

    async def wait_for_requests(self, n: int, timeout: float = 5.0) -> list[ChatRequest]:  # noqa: ASYNC109
        """Wait until ``n`` chat requests arrived (valid or not); raises TimeoutError."""
        async with asyncio.timeout(timeout), self._arrived:
            await self._arrived.wait_for(lambda: len(self.requests) >= n)
        return self.requests[:n]

    # -- HTTP plumbing ---------------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Give every request an id and answer unknown routes with Starlette's JSON bodies."""
        request[_REQUEST_ID] = uuid.uuid4().hex
        try:
            return await handler(request)
        except web.HTTPNotFound:
            return _json_response(404, {"detail": "Not Found"})
        except web.HTTPMethodNotAllowed as exc:
            return _json_response(405, {"detail": "Method Not Allowed"}, {"Allow": ", ".join(exc.allowed_methods)})

    async def _on_prepare(self, request: web.Request, response: web.StreamResponse) -> None:
        response.headers["x-request-id"] = request.get(_REQUEST_ID) or uuid.uuid4().hex
        response.headers["Server"] = "uvicorn"

    def _auth_error(self, request: web.Request) -> web.Response | None:
        """FastAPI ``HTTPBearer`` semantics, answered with 401 (the live status is unconfirmed)."""
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if not scheme or not token:
            detail = "Not authenticated"
        elif scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), self.api_key.encode()):
            detail = "Invalid authentication credentials"
        else:
            return None
        return _json_response(401, {"detail": detail}, {"WWW-Authenticate": "Bearer"})

    async def _handle_health(self, request: web.Request) -> web.Response:
        return _json_response(200, {"status": "ok"})

    async def _handle_bots(self, request: web.Request) -> web.Response:
        return self._auth_error(request) or _json_response(200, [b.to_json() for b in self.bots])

    async def _handle_chat(self, request: web.Request) -> web.StreamResponse:
        received_at = time.monotonic()
        raw = await request.read()
        auth_error = self._auth_error(request)
        headers = CIMultiDict(request.headers)
        headers.popall("Authorization", None)
        record = ChatRequest(
            path=request.path,
            body=None,
            raw_body=raw,
            headers=headers,
            auth_ok=auth_error is None,
            received_at=received_at,
            request_id=request[_REQUEST_ID],
        )
        index = len(self.requests)
        self.requests.append(record)
        async with self._arrived:
            self._arrived.notify_all()
        response = await self._answer_chat(request, record, index, auth_error)
        record.status = None if isinstance(response, _Dropped) else response.status
        return response

    async def _answer_chat(
        self, request: web.Request, record: ChatRequest, index: int, auth_error: web.Response | None
    ) -> web.StreamResponse:
        # FastAPI decodes the JSON body before it runs dependencies, so a decode error beats a 401.
        body: Any = None
        content_type = request.headers.get("Content-Type")
        if raw := record.raw_body:
            if content_type and not _is_json_content_type(content_type):
                body = raw  # FastAPI hands the bytes to pydantic, which rejects them as not a dict
            else:
                try:
                    body = record.body = json.loads(raw)
                except UnicodeDecodeError:
                    return _json_response(400, {"detail": "There was an error parsing the body"})
                except json.JSONDecodeError as exc:
                    ctx = {
                        "msg": exc.msg,
                        "doc": exc.doc,
                        "pos": exc.pos,
                        "lineno": exc.lineno,
                        "colno": exc.colno,
                    }
                    err = _error(["body", exc.pos], str(exc), "value_error.jsondecode", ctx)
                    return _json_response(422, {"detail": [err]})
        if auth_error is not None:
            return auth_error
        fields, errors = _validate_chat_body(body)
        if errors:
            return _json_response(422, {"detail": errors})
        bot_key = fields["bot_uid"] or fields["bot_slug"]
        if not any(bot_key in (b.uid, b.slug) for b in self.bots):
            return _json_response(404, {"detail": "Bot not found"})

        reply = self._replies.popleft() if self._replies else Reply()
        if reply.tokens is not None:
            tokens = list(reply.tokens)
        else:
            tokens = _word_tokens(reply.text if reply.text is not None else self._default_text(fields))
        if reply.hang_before_headers:
            await self._closing.wait()  # a client disconnect cancels this instead
            return self._drop(request)
        if reply.status != 200:
            if isinstance(reply.body, bytes):
                return web.Response(status=reply.status, body=reply.body, content_type="text/html")
            error_body = reply.body if reply.body is not None else {"detail": _reason(reply.status)}
            return _json_response(reply.status, error_body)
        if fields["stream"]:
            return await self._stream(request, reply, tokens, index)
        return await self._full(request, reply, tokens, index)

    @staticmethod
    def _default_text(fields: dict[str, Any]) -> str:
        """Deterministic echo so unscripted tests can predict the answer."""
        text = fields["prompt"] or ""
        if not text:
            user_turns = [m["content"] for m in fields["messages"] or [] if m["role"] == "user"]
            text = user_turns[-1] if user_turns else ""
        return f"You said: {text}"

    # -- reply bodies ----------------------------------------------------------------------------

    async def _stream(self, request: web.Request, reply: Reply, tokens: list[str], index: int) -> web.StreamResponse:
        response = web.StreamResponse(status=200)
        response.content_type = "text/event-stream"
        response.charset = "utf-8"
        key = "message" if reply.use_message_key else "content"

        def frame(data: str) -> bytes:
            return (data + "\n" if reply.bare_json else f"data: {data}\n\n").encode()

        def reached(n: int | None, sent: int) -> bool:
            return n is not None and min(n, len(tokens)) == sent

        try:
            await response.prepare(request)
            await self._write(response, frame(_json_bytes({key: ""}).decode()), reply.split_frames)
            text = ""
            for sent in range(len(tokens) + 1):
                if reached(reply.malformed_frame_after_tokens, sent):
                    await self._write(response, frame(MALFORMED_PAYLOAD), reply.split_frames)
                if reached(reply.cut_off_after_tokens, sent):
                    return self._drop(request, response)
                if reached(reply.hang_after_tokens, sent):
                    await self._closing.wait()
                    return self._drop(request, response)
                if sent == len(tokens):
                    break
                if await self._closed_within(reply.token_interval_s):
                    return self._drop(request, response)
                await self._write(response, frame(_json_bytes({key: tokens[sent]}).decode()), reply.split_frames)
                text += tokens[sent]
                self.emitted.append(Emission(time.monotonic(), text, index))
            await self._write(response, frame("[DONE]"), reply.split_frames)
        except ConnectionError:
            pass  # the client went away mid-stream; aiohttp logs nothing for this
        return response

    async def _full(self, request: web.Request, reply: Reply, tokens: list[str], index: int) -> web.StreamResponse:
        if await self._closed_within(reply.token_interval_s * len(tokens)):
            return self._drop(request)
        if reply.hang_after_tokens is not None:
            await self._closing.wait()
            return self._drop(request)
        text = "".join(tokens)
        key = "message" if reply.use_message_key else "content"
        if reply.malformed_frame_after_tokens is not None:
            data = MALFORMED_PAYLOAD.encode()
        else:
            data = _json_bytes({key: text})
        response = web.StreamResponse(status=200)
        response.content_type = "application/json"
        response.content_length = len(data)
        try:
            await response.prepare(request)
            if reply.cut_off_after_tokens is not None:
                await self._write(response, data[: len(data) // 2], reply.split_frames)
                return self._drop(request, response)
            await self._write(response, data, reply.split_frames)
            self.emitted.append(Emission(time.monotonic(), text, index))
        except ConnectionError:
            pass
        return response

    async def _write(self, response: web.StreamResponse, data: bytes, split: bool) -> None:
        """One ``write`` per frame, or tiny random chunks with a loop turn between them."""
        if not split:
            await response.write(data)
            return
        pos = 0
        while pos < len(data):
            size = self._rng.randint(1, 5)
            await response.write(data[pos : pos + size])
            pos += size
            await asyncio.sleep(0)

    async def _closed_within(self, delay: float) -> bool:
        """Sleep ``delay`` seconds; True (early) if the emulator is closing meanwhile."""
        if delay <= 0:
            return self._closing.is_set()
        try:
            async with asyncio.timeout(delay):
                await self._closing.wait()
        except TimeoutError:
            return False
        return True

    @staticmethod
    def _drop(request: web.Request, response: web.StreamResponse | None = None) -> web.StreamResponse:
        """Close the socket (after flushing what was written) so the client sees a truncation."""
        if request.transport is not None:
            request.transport.close()
        return response if response is not None else _Dropped()
