"""The aiohttp app: auth, validation, scripted streaming, recording."""

from __future__ import annotations

import asyncio
import hmac
import itertools
import random
import time
import uuid
from collections.abc import Sequence
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler
from multidict import CIMultiDict

from tests.emulators.loopback import LoopbackServer

from .script import DEFAULT_API_KEY, DEFAULT_BOTS, MALFORMED_PAYLOAD, REQUEST_ID, Bot, ChatRequest, Emission, Reply
from .validation import (
    Dropped,
    decode_fastapi_body,
    json_bytes,
    json_response,
    reason,
    validate_chat_body,
    word_tokens,
)


class AbltEmulator(LoopbackServer[Reply, ChatRequest]):
    """An aiohttp server speaking the aBLT chat API on 127.0.0.1, scriptable per request."""

    def __init__(
        self,
        api_key: str = DEFAULT_API_KEY,
        bots: Sequence[Bot] | None = None,
        *,
        seed: int = 0,
    ) -> None:
        """``seed`` fixes the chunk sizes of ``split_frames`` so failures reproduce."""
        super().__init__()
        self.api_key = api_key
        self.bots: list[Bot] = list(DEFAULT_BOTS if bots is None else bots)
        self.emitted: list[Emission] = []
        self.holding = asyncio.Event()
        """Set while a ``hold_long_frame_at`` frame waits for ``release()``."""
        self._released = asyncio.Event()
        self._rng = random.Random(seed)

    def release(self) -> None:
        """Let a held long frame (``Reply.hold_long_frame_at``) go on."""
        self._released.set()

    # -- lifecycle -------------------------------------------------------------------------------

    def _app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_post("/v1/chat", self._handle_chat)
        app.router.add_post("/chat", self._handle_chat)  # unversioned alias from the doc heading
        app.router.add_get("/v1/bots", self._handle_bots)
        app.router.add_get("/health-check", self._handle_health)
        app.on_response_prepare.append(self._on_prepare)
        return app

    # -- scripting -------------------------------------------------------------------------------

    # -- HTTP plumbing ---------------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Give every request an id and answer unknown routes with Starlette's JSON bodies."""
        request[REQUEST_ID] = uuid.uuid4().hex
        try:
            return await handler(request)
        except web.HTTPNotFound:
            return json_response(404, {"detail": "Not Found"})
        except web.HTTPMethodNotAllowed as exc:
            return json_response(405, {"detail": "Method Not Allowed"}, {"Allow": ", ".join(exc.allowed_methods)})

    async def _on_prepare(self, request: web.Request, response: web.StreamResponse) -> None:
        response.headers["x-request-id"] = request.get(REQUEST_ID) or uuid.uuid4().hex
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
        return json_response(401, {"detail": detail}, {"WWW-Authenticate": "Bearer"})

    async def _handle_health(self, request: web.Request) -> web.Response:
        return json_response(200, {"status": "ok"})

    async def _handle_bots(self, request: web.Request) -> web.Response:
        return self._auth_error(request) or json_response(200, [b.to_json() for b in self.bots])

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
            request_id=request[REQUEST_ID],
        )
        index = len(self.requests)
        await self._record(record)
        try:
            response = await self._answer_chat(request, record, index, auth_error)
        except asyncio.CancelledError:  # the client disconnected (handler_cancellation)
            record.client_closed_at = time.monotonic()
            raise
        record.status = None if isinstance(response, Dropped) else response.status
        return response

    async def _answer_chat(
        self, request: web.Request, record: ChatRequest, index: int, auth_error: web.Response | None
    ) -> web.StreamResponse:
        # FastAPI decodes the JSON body before it runs dependencies, so a decode error beats a 401.
        body, undecodable = decode_fastapi_body(record.raw_body, request.headers.get("Content-Type"))
        if undecodable is not None:
            return undecodable
        if not isinstance(body, bytes):
            record.body = body
        if auth_error is not None:
            return auth_error
        fields, errors = validate_chat_body(body)
        if errors:
            return json_response(422, {"detail": errors})
        bot_key = fields["bot_uid"] or fields["bot_slug"]
        if not any(bot_key in (b.uid, b.slug) for b in self.bots):
            return json_response(404, {"detail": "Bot not found"})

        reply = self._next_reply(Reply, record)
        if reply.tokens is not None:
            tokens = list(reply.tokens)
        else:
            tokens = word_tokens(reply.text if reply.text is not None else self._default_text(fields))
        if reply.hang_before_headers:
            await self._closing.wait()  # a client disconnect cancels this instead
            return self._drop(request)
        if reply.status != 200:
            if isinstance(reply.body, bytes):
                return web.Response(status=reply.status, body=reply.body, content_type="text/html")
            error_body = reply.body if reply.body is not None else {"detail": reason(reply.status)}
            return json_response(reply.status, error_body)
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
            await self._write(response, frame(json_bytes({key: ""}).decode()), reply.split_frames)
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
                await self._write(response, frame(json_bytes({key: tokens[sent]}).decode()), reply.split_frames)
                text += tokens[sent]
                self.emitted.append(Emission(time.monotonic(), text, index))
            for raw in reply.raw_frames:
                await self._write(response, frame(raw), reply.split_frames)
            if reply.long_frame_chars is not None:
                long_frame = frame(json_bytes({key: "x" * reply.long_frame_chars}).decode())
                if not await self._write_long(response, long_frame, reply):
                    return self._drop(request, response)
            await self._write(response, frame("[DONE]"), reply.split_frames)
        except ConnectionError:  # the client went away mid-stream; aiohttp logs nothing for this
            self.requests[index].client_closed_at = time.monotonic()
        return response

    async def _full(self, request: web.Request, reply: Reply, tokens: list[str], index: int) -> web.StreamResponse:
        if await self._closed_within(reply.token_interval_s * len(tokens)):
            return self._drop(request)
        if reply.hang_after_tokens is not None:
            await self._closing.wait()
            return self._drop(request)
        text = "".join(tokens)
        key = "message" if reply.use_message_key else "content"
        data = MALFORMED_PAYLOAD.encode() if reply.malformed_frame_after_tokens is not None else json_bytes({key: text})
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

    async def _write_long(self, response: web.StreamResponse, data: bytes, reply: Reply) -> bool:
        """A long frame in ``write_bytes`` pieces, held at ``hold_long_frame_at``; False if the emulator closed."""
        hold_at = reply.hold_long_frame_at
        cuts = set(range(0, len(data), reply.write_bytes or len(data)))
        if hold_at is not None and 0 < hold_at < len(data):
            cuts.add(hold_at)
        edges = [*sorted(cuts), len(data)]
        for start, end in itertools.pairwise(edges):
            if start == hold_at and await self._held():
                return False
            await response.write(data[start:end])
            await asyncio.sleep(0)
        return True

    async def _held(self) -> bool:
        """Wait for ``release()``; True if the emulator closed instead."""
        self.holding.set()
        waits = [asyncio.create_task(self._released.wait()), asyncio.create_task(self._closing.wait())]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
            self.holding.clear()
        return self._closing.is_set()

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

    @staticmethod
    def _drop(request: web.Request, response: web.StreamResponse | None = None) -> web.StreamResponse:
        """Close the socket (after flushing what was written) so the client sees a truncation."""
        if request.transport is not None:
            request.transport.close()
        return response if response is not None else Dropped()
