"""The aiohttp app: auth, form and WAV validation, scripted answers (JSON or SSE), recording."""

from __future__ import annotations

import hmac
import time
import uuid
from collections import deque
from collections.abc import Iterable, Mapping

from aiohttp import web
from aiohttp.typedefs import Handler
from multidict import CIMultiDict

from tests.emulators.ablt.validation import Dropped
from tests.emulators.loopback import LoopbackServer

from .answers import (
    METHOD_NOT_ALLOWED_HTML,
    NOT_FOUND_HTML,
    Turn,
    body_response,
    error_response,
    json_bytes,
    scripted_error,
)
from .forms import MalformedForm, Upload, read_form
from .script import (
    DEFAULT_API_KEY,
    DEFAULT_CHARACTERS,
    DEFAULT_STARTERS,
    GET_RESPONSE_PATH,
    INVALID_API_KEY,
    INVALID_CHARACTER,
    MALFORMED_FORM,
    MISSING_FIELD,
    NEW_SESSION,
    NOT_BOOLEAN,
    ONE_INPUT_ONLY,
    STARTERS_PATH,
    ConvaiReply,
    ConvaiRequest,
    StarterScript,
)
from .streaming import stall, write_events
from .wav import WavError, parse_wav, upload_problem

API_KEY_HEADER = "CONVAI-API-KEY"
BOOLEANS = ("True", "False")
MAX_BODY_BYTES = 64 * 1024 * 1024


class ConvaiEmulator(LoopbackServer[ConvaiReply, ConvaiRequest]):
    """An aiohttp server speaking Convai's character Interaction API on 127.0.0.1, scriptable per call."""

    def __init__(
        self, api_key: str = DEFAULT_API_KEY, characters: Mapping[str, str] | Iterable[str] = DEFAULT_CHARACTERS
    ) -> None:
        super().__init__()
        """``characters``: the valid character ids, or a mapping id -> name (a bare id is its own name)."""
        self.api_key = api_key
        self.characters: dict[str, str] = (
            dict(characters) if isinstance(characters, Mapping) else {c: c for c in characters}
        )
        """Calls to both endpoints, in arrival order (see ``ConvaiRequest.path``)."""
        self.sessions: dict[str, list[str]] = {}
        """User turns (``userText`` or the audio's ``UserQuery``) of answered calls, per returned session id."""
        self._starters: deque[StarterScript] = deque()

    # -- lifecycle -------------------------------------------------------------------------------

    def _app(self) -> web.Application:
        # Convai documents no upload limit; aiohttp's 1 MiB default would refuse a 40 s clip.
        app = web.Application(middlewares=[self._middleware], client_max_size=MAX_BODY_BYTES)
        for path, handler in ((GET_RESPONSE_PATH, self._handle_turn), (STARTERS_PATH, self._handle_starters)):
            app.router.add_post(path, handler)
            app.router.add_post(path + "/", handler)  # the UE SDK posts text turns to ".../getResponse/"
        return app

    # -- scripting -------------------------------------------------------------------------------

    def enqueue_starters(self, *scripts: StarterScript) -> None:
        """Script the next valid generate-starter-conversation calls, in order."""
        self._starters.extend(scripts)

    @property
    def pending_starters(self) -> int:
        return len(self._starters)

    def character_name(self, char_id: str) -> str:
        return self.characters[char_id]

    async def wait_for_requests(
        self,
        n: int,
        timeout: float = 5.0,  # noqa: ASYNC109
        path: str | None = None,
    ) -> list[ConvaiRequest]:
        """Wait until ``n`` calls (valid or not) arrived, only to ``path`` if given; raises TimeoutError."""

        def matching() -> list[ConvaiRequest]:
            wanted = None if path is None else path.rstrip("/")
            return [r for r in self.requests if wanted is None or r.path.rstrip("/") == wanted]

        await self._wait_until(lambda: len(matching()) >= n, timeout)
        return matching()[:n]

    # -- HTTP plumbing ---------------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Unknown routes get Flask's HTML pages: not the JSON 404 that means a generation failure."""
        try:
            return await handler(request)
        except web.HTTPNotFound:
            return body_response(404, NOT_FOUND_HTML)
        except web.HTTPMethodNotAllowed as exc:
            response = body_response(405, METHOD_NOT_ALLOWED_HTML)
            response.headers["Allow"] = ", ".join(sorted(exc.allowed_methods))
            return response

    async def _receive(self, request: web.Request) -> tuple[ConvaiRequest, Upload | None, bool]:
        """Read and record a call; returns the record, the ``file`` part and whether the form parsed."""
        received_at = time.monotonic()
        try:
            fields, upload = await read_form(request)
            parsed = True
        except MalformedForm:
            fields, upload, parsed = {}, None, False
        headers = CIMultiDict(request.headers)
        headers.popall(API_KEY_HEADER, None)
        key = request.headers.get(API_KEY_HEADER)
        record = ConvaiRequest(
            path=request.path,
            fields=fields,
            headers=headers,
            auth_ok=key is not None and hmac.compare_digest(key.encode(), self.api_key.encode()),
            received_at=received_at,
            file=None if upload is None else upload.data,
            file_name=None if upload is None else upload.filename,
            file_content_type=None if upload is None else upload.content_type,
        )
        await self._record(record)
        return record, upload, parsed

    @staticmethod
    def _reject(record: ConvaiRequest, status: int, message: str) -> web.Response:
        record.error = message
        return error_response(status, message)

    def _check_common(self, record: ConvaiRequest, parsed: bool, required: tuple[str, ...]) -> web.Response | None:
        """Auth, then a parseable form, then the required fields, then a known character."""
        if not record.auth_ok:
            return self._reject(record, 401, INVALID_API_KEY)
        if not parsed:
            return self._reject(record, 400, MALFORMED_FORM)
        for name in required:
            if not record.fields.get(name):
                return self._reject(record, 400, MISSING_FIELD.format(name=name))
        if record.fields[required[0]] not in self.characters:
            return self._reject(record, 400, INVALID_CHARACTER)
        return None

    # -- getResponse -----------------------------------------------------------------------------

    async def _handle_turn(self, request: web.Request) -> web.StreamResponse:
        record, upload, parsed = await self._receive(request)
        response = await self._turn(request, record, upload, parsed)
        record.status = None if isinstance(response, Dropped) else response.status
        return response

    def _validate_turn(self, record: ConvaiRequest, upload: Upload | None, parsed: bool) -> web.Response | None:
        if (rejected := self._check_common(record, parsed, ("charID", "sessionID", "voiceResponse"))) is not None:
            return rejected
        fields = record.fields
        for name in ("voiceResponse", "stream"):
            if name in fields and fields[name] not in BOOLEANS:
                return self._reject(record, 400, NOT_BOOLEAN.format(name=name))
        has_file = upload is not None and upload.counts
        if bool(fields.get("userText")) == has_file:
            return self._reject(record, 400, ONE_INPUT_ONLY)
        if upload is not None and has_file:
            try:
                record.wav = parse_wav(upload.data)
            except WavError as exc:
                return self._reject(record, 400, str(exc))
            if (problem := upload_problem(record.wav, fields.get("sample_rate"))) is not None:
                return self._reject(record, 400, problem)
        return None

    async def _turn(
        self, request: web.Request, record: ConvaiRequest, upload: Upload | None, parsed: bool
    ) -> web.StreamResponse:
        if (rejected := self._validate_turn(record, upload, parsed)) is not None:
            return rejected
        fields = record.fields
        char_id = fields["charID"]
        reply = self._next_reply(ConvaiReply, record)
        if (dropped := await stall(request, self._closing, reply.delay_s, reply.hang)) is not None:
            return dropped
        if reply.status != 200:
            return scripted_error(reply.status, reply.body, char_id)

        given = fields["sessionID"]
        known = given != NEW_SESSION and given in self.sessions
        session_id = record.session_id = reply.session_id or (given if known else uuid.uuid4().hex)
        name = self.characters[char_id]
        if record.wav is not None:
            heard = f"(heard {record.wav.duration_s:.1f} s of audio)"
            transcript: str | None = reply.transcript if reply.transcript is not None else heard
            default_text, user_turn = f"{name}: I heard you", transcript
        else:
            transcript, user_turn = None, fields["userText"]
            default_text = f"{name}: you said '{user_turn}'"
        self.sessions.setdefault(session_id, []).append(user_turn or "")
        if reply.body is not None:
            return body_response(200, reply.body)
        turn = Turn.build(
            reply,
            char_id=char_id,
            default_text=default_text,
            session_id=session_id,
            transcript=transcript,
            voice=fields["voiceResponse"] == "True",
        )
        if fields.get("stream") == "True" and not reply.ignore_stream:
            built = turn.events() if reply.events is None else reply.events
            events = [json_bytes(event).decode() for event in built]
            return await write_events(
                request,
                self._closing,
                events,
                reply.chunk_interval_s,
                reply.broken_stream_after,
                write_bytes=reply.write_bytes,
                hang_at=None if reply.hang_after_chunks is None else min(reply.hang_after_chunks, len(events)),
            )
        return body_response(200, turn.payload())

    # -- generate-starter-conversation -----------------------------------------------------------

    async def _handle_starters(self, request: web.Request) -> web.StreamResponse:
        record, _upload, parsed = await self._receive(request)
        response = await self._starters_answer(request, record, parsed)
        record.status = None if isinstance(response, Dropped) else response.status
        return response

    async def _starters_answer(self, request: web.Request, record: ConvaiRequest, parsed: bool) -> web.StreamResponse:
        if (rejected := self._check_common(record, parsed, ("charId", "sessionId"))) is not None:
            return rejected
        record.session_id = record.fields["sessionId"]
        script = self._starters.popleft() if self._starters else StarterScript()
        if (dropped := await stall(request, self._closing, script.delay_s, script.hang)) is not None:
            return dropped
        if script.status != 200:
            return scripted_error(script.status, script.body, record.fields["charId"])
        suggestions = DEFAULT_STARTERS if script.suggestions is None else script.suggestions
        return await write_events(request, self._closing, list(suggestions), script.interval_s)
