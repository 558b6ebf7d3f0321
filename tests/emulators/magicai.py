"""Loopback emulator of the Magic AI chat API (``POST {base}/chat``) for the test suite.

It follows the vendor doc (``/work/shared/reference/magicai-chat.txt``) and protocol-notes
section 2: ``{projectId, text, sessionId?}`` in, ``{text, sourceDocuments}`` out, and errors as
``{message, details, code}`` with 400/401/403/426/500. The 200 body never carries a session id,
so a call without ``sessionId`` lands in a server-made session the client can never name again;
:attr:`MagicAIEmulator.sessions` shows what the service would remember per session. The auth
header is undocumented, so it is configurable (``Authorization: Bearer <key>`` by default).
Binds 127.0.0.1 on an ephemeral port and never talks to anything else.

Typical use::

    async with MagicAIEmulator() as emu:
        emu.enqueue(MagicReply(text="Hi", sources=[("Docs", "https://docs.example.invalid/")]))
        ...  # point the client at emu.base_url
        (req,) = await emu.wait_for_requests(1)
"""

from __future__ import annotations

import hmac
import json
import re
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler
from multidict import CIMultiDict

from tests.emulators.ablt.validation import Dropped, json_response, reason, send_chunked
from tests.emulators.loopback import LoopbackServer

DEFAULT_API_KEY = "magicai-test-key"
DEFAULT_PROJECT_ID = "5f738671-0ccc-4d32-9b7a-ddab669ab799"  # the id in protocol-notes' example
MALFORMED_BODY = b'{"text": "Magic AI answ'  # what ``malformed=True`` sends, labelled application/json

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
_NOT_JSON: Any = object()

ERRORS: dict[int, tuple[str, str, str]] = {
    400: ("Invalid Request", "The specified parameter is invalid", "INVALID_PARAMETER"),
    401: ("Unauthorized", "Authentication information is missing or invalid", "UNAUTHORIZED"),
    403: ("Forbidden", "You don't have permission to access this resource", "FORBIDDEN"),
    426: ("Upgrade Required", "You need to upgrade your account to access this resource", "PLAN_UPGRADE_REQUIRED"),
    500: ("Internal Server Error", "An unexpected error occurred", "INTERNAL_ERROR"),
}
"""``(message, details, code)`` per status; the details are the doc's own status descriptions."""


def error_body(status: int, details: str | None = None) -> dict[str, str]:
    """The ``{message, details, code}`` body for ``status``, with realistic defaults for any code."""
    phrase = reason(status)
    message, default_details, code = ERRORS.get(status, (phrase, phrase, re.sub(r"\W+", "_", phrase).upper()))
    return {"message": message, "details": details or default_details, "code": code}


def source_document(title: str, url: str, page_content: str | None = None) -> dict[str, Any]:
    """One ``sourceDocuments`` entry as the service shapes it."""
    content = page_content if page_content is not None else f"An excerpt from {title}."
    return {"pageContent": content, "metadata": {"title": title, "url": url}}


DEFAULT_SOURCES: tuple[dict[str, Any], ...] = (
    source_document(
        "What is Magic AI? | Magic AI",
        "https://magicai.example.invalid/what-is-magic-ai",
        "What is Magic AI?\n\nMagic AI is a SaaS platform that allows you to create personalised chat bots.",
    ),
    source_document(
        "Pricing | Magic AI",
        "https://magicai.example.invalid/pricing",
        "Every plan includes unlimited chat bots; API access starts with the Pro plan.",
    ),
    source_document(
        "What is Magic AI? | Magic AI",
        "https://magicai.example.invalid/what-is-magic-ai",
        "The platform lets you train a chat bot on your own documents and web pages.",
    ),
)
"""Unscripted replies cite these: two pages, the first one twice (two chunks of one page)."""


@dataclass(frozen=True, kw_only=True)
class MagicReply:
    """Scripted behaviour for one future valid ``/chat`` call (consumed FIFO after auth and validation)."""

    text: str | None = None
    """Answer text; ``None`` means the deterministic default answer."""
    sources: Sequence[tuple[str, str] | Mapping[str, Any]] | None = None
    """``(title, url)`` pairs or raw ``sourceDocuments`` entries; ``None`` means :data:`DEFAULT_SOURCES`."""
    status: int = 200
    """Non-200 answers with ``body`` or the status's default ``{message, details, code}`` body."""
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
    missing_text: bool = False
    """200 JSON with ``sourceDocuments`` but no ``text``."""

    def __post_init__(self) -> None:
        if (self.malformed or self.missing_text) and (self.status != 200 or self.body is not None):
            raise ValueError("malformed/missing_text shape a 200 body; they exclude status and body")
        if self.malformed and self.missing_text:
            raise ValueError("choose one of malformed and missing_text")


@dataclass(kw_only=True)
class MagicRequest:
    """What the emulator saw of one ``/chat`` call, recorded before any validation."""

    body: Any
    """Parsed JSON body, or ``None`` if it was empty or not JSON (see ``raw_body``)."""
    headers: CIMultiDict[str]
    """Request headers minus the configured auth header (case-insensitive lookup)."""
    auth_ok: bool
    received_at: float
    """``time.monotonic()`` when the handler started."""
    raw_body: bytes = b""
    status: int | None = None
    """Status sent; ``None`` while pending or if the connection was dropped before headers."""
    session_id: str | None = None
    """Session the call was filed under (server-made when absent); ``None`` for rejected calls."""


def _invalid_details(body: Any) -> str | None:
    """Why the body is a 400, checked field by field in schema order; ``None`` if it is valid."""
    if body is _NOT_JSON:
        return "Request body must be valid JSON"
    if not isinstance(body, dict):
        return "Request body must be a JSON object"
    project_id, text, session_id = body.get("projectId"), body.get("text"), body.get("sessionId")
    if project_id is None:
        return "projectId is required"
    if not isinstance(project_id, str) or not _UUID.match(project_id):
        return "projectId must be a valid UUID"
    if text is None:
        return "text is required"
    if not isinstance(text, str):
        return "text must be a string"
    if not text.strip():
        return "text must not be empty"
    if session_id is not None and not isinstance(session_id, str):
        return "sessionId must be a string"
    if session_id == "":
        return "sessionId must not be empty"
    return None


class MagicAIEmulator(LoopbackServer[MagicReply, MagicRequest]):
    """An aiohttp server speaking the Magic AI chat API on 127.0.0.1, scriptable per request."""

    def __init__(
        self,
        api_key: str = DEFAULT_API_KEY,
        project_ids: Iterable[str] = (DEFAULT_PROJECT_ID,),
        *,
        auth_header: str = "Authorization",
        auth_scheme: str | None = "Bearer",
    ) -> None:
        super().__init__()
        """``auth_scheme=None`` expects the raw key as the whole value of ``auth_header``."""
        self.api_key = api_key
        self.project_ids = frozenset(p.lower() for p in project_ids)
        self.auth_header = auth_header
        self.auth_scheme = auth_scheme
        self.sessions: dict[str, list[str]] = {}
        """Texts of the answered (200) turns per session id, as the service keeps history."""

    # -- lifecycle -------------------------------------------------------------------------------

    def _app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_post("/chat", self._handle_chat)
        return app

    # -- scripting -------------------------------------------------------------------------------

    # -- HTTP ------------------------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Unknown routes answer in the service's error shape rather than aiohttp's text."""
        try:
            return await handler(request)
        except (web.HTTPNotFound, web.HTTPMethodNotAllowed) as exc:
            return json_response(exc.status, error_body(exc.status, f"Cannot {request.method} {request.path}"))

    def _error(self, status: int, details: str | None = None, body: Any = None) -> web.Response:
        """An error response; a 401 carries the doc's ``WWW_Authenticate`` plus the standard header."""
        headers: dict[str, str] = {}
        if status == 401:
            challenge = self.auth_scheme or "Bearer"
            headers = {"WWW_Authenticate": challenge, "WWW-Authenticate": challenge}
        if isinstance(body, bytes):
            return web.Response(status=status, body=body, content_type="text/html", headers=headers)
        return json_response(status, error_body(status, details) if body is None else body, headers)

    def _auth_failure(self, request: web.Request) -> str | None:
        """Why the credentials are refused, or ``None`` when they are the configured key."""
        value = request.headers.get(self.auth_header, "").strip()
        if not value:
            return "Authentication information is missing"
        token = value
        if self.auth_scheme is not None:
            scheme, _, token = value.partition(" ")
            if scheme.lower() != self.auth_scheme.lower():
                return "Authentication information is invalid"
        if not hmac.compare_digest(token.strip().encode(), self.api_key.encode()):
            return "Authentication information is invalid"
        return None

    async def _handle_chat(self, request: web.Request) -> web.StreamResponse:
        received_at = time.monotonic()
        raw = await request.read()
        try:
            body: Any = json.loads(raw)
        except ValueError:  # JSONDecodeError and UnicodeDecodeError
            body = _NOT_JSON
        headers = CIMultiDict(request.headers)
        headers.popall(self.auth_header, None)
        auth_failure = self._auth_failure(request)
        record = MagicRequest(
            body=None if body is _NOT_JSON else body,
            raw_body=raw,
            headers=headers,
            auth_ok=auth_failure is None,
            received_at=received_at,
        )
        await self._record(record)
        response = await self._answer(request, record, body, auth_failure)
        record.status = None if isinstance(response, Dropped) else response.status
        return response

    async def _answer(
        self, request: web.Request, record: MagicRequest, body: Any, auth_failure: str | None
    ) -> web.StreamResponse:
        if auth_failure is not None:
            return self._error(401, auth_failure)
        if (details := _invalid_details(body)) is not None:
            return self._error(400, details)
        if body["projectId"].lower() not in self.project_ids:
            return self._error(403, f"You don't have permission to access project {body['projectId']}")
        given_session: str | None = body.get("sessionId")
        session_id = record.session_id = given_session or str(uuid.uuid4())

        reply = self._next_reply(MagicReply, record)
        if await self._closed_within(reply.delay_s):
            return self._drop(request)
        if reply.hang:
            await self._closing.wait()  # a client disconnect cancels this instead
            return self._drop(request)
        if reply.status != 200:
            return self._error(reply.status, body=reply.body)
        history = self.sessions.setdefault(session_id, [])
        history.append(body["text"])
        if reply.body is not None:
            response = self._error(200, body=reply.body)
            return await send_chunked(request, response) if reply.chunked else response
        if reply.malformed:
            return web.Response(body=MALFORMED_BODY, content_type="application/json")
        if reply.text is not None:
            text = reply.text
        else:
            where = f"session {session_id}" if given_session else "a new session"
            text = f"Magic AI answer to: {body['text']} (turn {len(history)} of {where})"
        payload: dict[str, Any] = {} if reply.missing_text else {"text": text}
        sources = DEFAULT_SOURCES if reply.sources is None else reply.sources
        payload["sourceDocuments"] = [dict(s) if isinstance(s, Mapping) else source_document(*s) for s in sources]
        response = json_response(200, payload)
        return await send_chunked(request, response) if reply.chunked else response

    @staticmethod
    def _drop(request: web.Request) -> Dropped:
        """Close the socket without an answer, as a dying server would."""
        if request.transport is not None:
            request.transport.close()
        return Dropped()
