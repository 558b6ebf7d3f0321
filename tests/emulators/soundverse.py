"""Loopback emulator of the Soundverse assistant chat API for the test suite.

It follows the vendor doc (``/work/shared/reference/soundverse-assistant-chat.md``) and
protocol-notes section 1: ``POST /assistant/chat`` (and the overview page's
``/api/assistant/chat``), Bearer auth, ``{"prompt", "action"}`` in and ``{"aiReply"}`` out, with
no session at all. Only a 500 is documented, so the other errors follow FastAPI with pydantic v1
like the aBLT emulator: 401 ``{"detail": "Invalid API key"}`` and 422 ``{"detail": [...]}``.
Binds 127.0.0.1 on an ephemeral port and never talks to anything else.

Typical use::

    async with SoundverseEmulator() as emu:
        emu.enqueue(SoundverseReply(text="Try 80 BPM."))
        ...  # point the client at emu.base_url
        (req,) = await emu.wait_for_requests(1)
"""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler
from multidict import CIMultiDict

from tests.emulators.ablt.validation import Dropped, decode_fastapi_body, error, json_response, reason, send_chunked
from tests.emulators.loopback import LoopbackServer

DEFAULT_API_KEY = "soundverse-test-key"
CHAT_PATHS = ("/assistant/chat", "/api/assistant/chat")
ACTIONS = (
    "generate_music",
    "extend_music",
    "auto_complete_music",
    "loop_audio",
    "separate_stems",
    "edit_music",
    "lyric_writing",
    "other",
)
"""The documented ``AIMagicTool`` values, in the doc's order (the 422 lists them in this order)."""
MALFORMED_BODY = b'{"aiReply": "Try a mellow'
"""What ``malformed=True`` sends (as application/json): a JSON document cut short."""
_MISSING: Any = object()


@dataclass(frozen=True, kw_only=True)
class SoundverseReply:
    """Scripted behaviour for one future valid chat call (consumed FIFO after auth and validation)."""

    text: str | None = None
    """The ``aiReply``; ``None`` means ``"[<action>] Soundverse reply to: <prompt>"``."""
    status: int = 200
    """Non-200 answers with ``body`` or ``{"detail": <reason phrase>}``."""
    body: Any = None
    """Replaces the whole body (any status): JSON, or ``bytes`` sent verbatim as text/html."""
    delay_s: float = 0.0
    """Wait this long before answering (cut short, dropping the connection, if the emulator closes)."""
    hang: bool = False
    """Never answer; ends when the client disconnects or the emulator closes (then drops)."""
    chunked: bool = False
    """Send a 200 body chunked, without ``Content-Length`` (as a server or proxy streaming it does)."""
    malformed: bool = False
    """200 whose body is not JSON (:data:`MALFORMED_BODY`), though labelled application/json."""
    missing_reply: bool = False
    """200 JSON carrying the text under ``"reply"`` instead of ``"aiReply"``."""
    empty_reply: bool = False
    """200 ``{"aiReply": ""}``."""

    def __post_init__(self) -> None:
        shapes = self.malformed + self.missing_reply + self.empty_reply
        if shapes > 1:
            raise ValueError("choose one of malformed, missing_reply and empty_reply")
        if shapes and (self.status != 200 or self.body is not None):
            raise ValueError("malformed/missing_reply/empty_reply shape a 200 body; they exclude status and body")


@dataclass(kw_only=True)
class SoundverseRequest:
    """What the emulator saw of one chat call, recorded before any validation."""

    path: str
    body: Any
    """Parsed JSON body, or ``None`` if it was empty or not JSON (see ``raw_body``)."""
    headers: CIMultiDict[str]
    """Request headers minus ``Authorization`` (case-insensitive lookup)."""
    auth_ok: bool
    received_at: float
    """``time.monotonic()`` when the handler started."""
    raw_body: bytes = b""
    status: int | None = None
    """Status sent; ``None`` while pending or if the connection was dropped before headers."""


def _field_error(value: Any, name: str) -> dict[str, Any] | None:
    """pydantic v1's error for ``prompt: str`` or ``action: AIMagicTool``, or ``None`` if valid."""
    loc = ["body", name]
    if value is _MISSING:
        return error(loc, "field required", "value_error.missing")
    if value is None:
        return error(loc, "none is not an allowed value", "type_error.none.not_allowed")
    if name == "prompt":
        ok = isinstance(value, str | int | float)  # pydantic v1 coerces numbers to str
        return None if ok else error(loc, "str type expected", "type_error.str")
    if isinstance(value, str) and value in ACTIONS:
        return None
    permitted = ", ".join(f"'{a}'" for a in ACTIONS)
    msg = f"value is not a valid enumeration member; permitted: {permitted}"
    return error(loc, msg, "type_error.enum", {"enum_values": list(ACTIONS)})


def validate_body(body: Any) -> list[dict[str, Any]]:
    """The FastAPI ``detail`` list for a decoded body (empty when valid); extra fields are ignored."""
    if body is None:
        return [error(["body"], "field required", "value_error.missing")]
    if not isinstance(body, dict):
        return [error(["body"], "value is not a valid dict", "type_error.dict")]
    errors = (_field_error(body.get(name, _MISSING), name) for name in ("prompt", "action"))
    return [e for e in errors if e is not None]


class SoundverseEmulator(LoopbackServer[SoundverseReply, SoundverseRequest]):
    """An aiohttp server speaking the Soundverse assistant chat API on 127.0.0.1, scriptable per request."""

    def __init__(self, api_key: str = DEFAULT_API_KEY) -> None:
        super().__init__()
        self.api_key = api_key

    # -- lifecycle -------------------------------------------------------------------------------

    def _app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        for path in CHAT_PATHS:
            app.router.add_post(path, self._handle_chat)
        return app

    # -- scripting -------------------------------------------------------------------------------

    # -- HTTP ------------------------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Unknown routes answer with Starlette's JSON bodies rather than aiohttp's text."""
        try:
            return await handler(request)
        except web.HTTPNotFound:
            return json_response(404, {"detail": "Not Found"})
        except web.HTTPMethodNotAllowed as exc:
            return json_response(405, {"detail": "Method Not Allowed"}, {"Allow": ", ".join(exc.allowed_methods)})

    def _auth_ok(self, request: web.Request) -> bool:
        scheme, _, token = request.headers.get("Authorization", "").strip().partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), self.api_key.encode())

    async def _handle_chat(self, request: web.Request) -> web.StreamResponse:
        received_at = time.monotonic()
        raw = await request.read()
        headers = CIMultiDict(request.headers)
        headers.popall("Authorization", None)
        record = SoundverseRequest(
            path=request.path,
            body=None,
            raw_body=raw,
            headers=headers,
            auth_ok=self._auth_ok(request),
            received_at=received_at,
        )
        await self._record(record)
        response = await self._answer(request, record)
        record.status = None if isinstance(response, Dropped) else response.status
        return response

    async def _answer(self, request: web.Request, record: SoundverseRequest) -> web.StreamResponse:
        # FastAPI decodes the JSON body before it runs dependencies, so a decode error beats a 401.
        body, undecodable = decode_fastapi_body(record.raw_body, request.headers.get("Content-Type"))
        if undecodable is not None:
            return undecodable
        if not isinstance(body, bytes):
            record.body = body
        if not record.auth_ok:
            return json_response(401, {"detail": "Invalid API key"}, {"WWW-Authenticate": "Bearer"})
        if errors := validate_body(body):
            return json_response(422, {"detail": errors})

        reply = self._next_reply(SoundverseReply, record)
        if await self._closed_within(reply.delay_s):
            return self._drop(request)
        if reply.hang:
            await self._closing.wait()  # a client disconnect cancels this instead
            return self._drop(request)
        if isinstance(reply.body, bytes):
            return web.Response(status=reply.status, body=reply.body, content_type="text/html")
        if reply.body is not None:
            return json_response(reply.status, reply.body)
        if reply.status != 200:
            return json_response(reply.status, {"detail": reason(reply.status)})
        if reply.malformed:
            return web.Response(body=MALFORMED_BODY, content_type="application/json")
        text = reply.text if reply.text is not None else f"[{body['action']}] Soundverse reply to: {body['prompt']}"
        if reply.empty_reply:
            return json_response(200, {"aiReply": ""})
        response = json_response(200, {"reply": text} if reply.missing_reply else {"aiReply": text})
        return await send_chunked(request, response) if reply.chunked else response

    @staticmethod
    def _drop(request: web.Request) -> Dropped:
        """Close the socket without an answer, as a dying server would."""
        if request.transport is not None:
            request.transport.close()
        return Dropped()
