"""The HTTP side: recording middleware, engine handlers (create, submit, polls) and the token handler."""

from __future__ import annotations

import asyncio
import copy
import json
import random
import time
import uuid
from http import HTTPStatus
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from . import delivery
from .flows import Flow, Turn
from .messages import render
from .records import AgentverseRequest, SessionRecord
from .tokens import TokenStore
from .validation import Errors, decode_error, detail, error, invalid, json_response, validate_create, validate_submit
from .wire import (
    DEFAULT_MODEL,
    METHOD_NOT_ALLOWED,
    NOT_FOUND,
    PUBLIC_FUNCTION_GROUP,
    REMAINING_TOKENS,
    SESSION_NOT_FOUND,
)

RECORD = web.RequestKey("agentverse_record", AgentverseRequest)
BODY_ERRORS: web.RequestKey[list[dict[str, Any]]] = web.RequestKey("agentverse_body_errors", list)


class Dropped(web.Response):
    """Returned after closing the connection on purpose; aiohttp's write then fails quietly."""


class Handlers:
    """Request handling for :class:`~.server.AgentverseEmulator`, which owns the state declared here."""

    tokens: TokenStore
    default_flow: Flow
    new_messages_available: bool
    delay_s: float
    delay_range_s: tuple[float, float] | None
    delay_seed: int
    duplicate_delivery: bool
    repeat_in_poll: bool
    deliver_as_objects: bool
    malformed_polls: int
    fail_polls: int
    fail_status: int
    hang_polls: int
    models: tuple[str, ...]
    requests: list[AgentverseRequest]
    sessions: dict[str, SessionRecord]
    _submits: list[tuple[str, dict[str, Any]]]
    _closing: asyncio.Event
    _changed: asyncio.Condition

    # -- HTTP plumbing ---------------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Record every request (body decoded once), then map routing errors to FastAPI's JSON."""
        body = await request.read()
        value: Any = None
        errors: Errors = [error(["body"], "field required", "value_error.missing")] if not body.strip() else []
        if body.strip():
            try:
                value = json.loads(body)
            except json.JSONDecodeError as exc:
                errors = decode_error(exc)
            except UnicodeDecodeError:
                errors = [error(["body"], "body is not valid UTF-8", "value_error.jsondecode")]
        auth = request.headers.get("Authorization", "")
        scheme, _, token = auth.partition(" ")
        record = AgentverseRequest(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            json=value,
            body=body,
            auth_token=token.strip() if scheme.lower() == "bearer" and token.strip() else None,
            received_at=time.monotonic(),
            session_id=request.match_info.get("sid"),
        )
        request[RECORD], request[BODY_ERRORS] = record, errors
        self.requests.append(record)
        await self._notify()
        try:
            response = await handler(request)
        except web.HTTPNotFound:
            response = detail(404, NOT_FOUND)
        except web.HTTPMethodNotAllowed:
            response = detail(405, METHOD_NOT_ALLOWED)
        record.status = None if isinstance(response, Dropped) else response.status
        await self._notify()
        return response

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _hang(self, request: web.Request) -> web.StreamResponse:
        """Never answer; a client disconnect cancels this, closing the emulator drops the connection."""
        await self._closing.wait()
        if request.transport is not None:
            request.transport.close()
        return Dropped()

    # -- engine ----------------------------------------------------------------------------------

    async def _create(self, request: web.Request) -> web.StreamResponse:
        record = request[RECORD]
        if (rejected := self.tokens.reject(record.auth_token)) is not None:
            return rejected
        fields: dict[str, Any] = {}
        if not (errors := request[BODY_ERRORS]):
            fields, errors = validate_create(record.json)
        if errors:
            return invalid(errors)
        model = fields.get("model") or DEFAULT_MODEL
        if model not in self.models:
            return detail(400, f"Model '{model}' is not supported")
        sid = record.session_id = str(uuid.uuid4())
        flow = self.default_flow
        session = SessionRecord(
            session_id=sid,
            email=fields["email"],
            model=model,
            model_key_used=fields.get("model_key"),
            function_group=fields["functionGroup"] or PUBLIC_FUNCTION_GROUP,
            preferences_enabled=bool(fields["preferencesEnabled"]),
            user=uuid.uuid5(uuid.NAMESPACE_URL, "mailto:" + fields["email"]).hex,
            flow=flow,
            state=flow.initial,
            memory=copy.deepcopy(dict(flow.memory)),
            created_at=record.received_at,
            ordinal=len(self.sessions),
        )
        self.sessions[sid] = session
        return json_response(200, _session_body(session))

    async def _submit(self, request: web.Request) -> web.StreamResponse:
        record, sid = request[RECORD], request.match_info["sid"]
        if (rejected := self.tokens.reject(record.auth_token)) is not None:
            return rejected
        payload: dict[str, Any] = {}
        if not (errors := request[BODY_ERRORS]):
            payload, errors = validate_submit(record.json, sid)
        if errors:
            return invalid(errors)
        if (session := self.sessions.get(sid)) is None:
            return detail(404, SESSION_NOT_FOUND)
        self._play(session, copy.deepcopy(payload))
        return json_response(200, {})

    def _play(self, session: SessionRecord, payload: dict[str, Any]) -> None:
        """Record the submit and fire the flow's matching step (``stop`` and submits after it fire none)."""
        session.submits.append(payload)
        self._submits.append((session.session_id, payload))
        if payload["type"] == "stop":
            session.stopped = True
            return
        turn = Turn(session_id=session.session_id, payload=payload, memory=session.memory)
        step = None if session.stopped else session.flow.step_for(session.state, turn)
        if step is None:
            session.unexpected.append(payload)
            return
        messages = [render(m, session.session_id) for m in step.messages(turn)]
        delay = self._delay(session) if step.delay_s is None else step.delay_s
        delivery.schedule(session, messages, time.monotonic(), delay, step.interval_s)
        session.state = step.goto if step.goto is not None else session.state

    def _delay(self, session: SessionRecord) -> float:
        """Seconds until a step's messages are available: ``delay_s``, or a seeded draw from ``delay_range_s``
        keyed by the session's ordinal and the submit's number (so it does not depend on arrival order)."""
        if self.delay_range_s is None:
            return self.delay_s
        low, high = self.delay_range_s
        draw = random.Random(f"{self.delay_seed}:{session.ordinal}:{len(session.submits)}")
        return draw.uniform(low, high)

    async def _new_messages(self, request: web.Request) -> web.StreamResponse:
        return await self._poll(request, latest=True)

    async def _responses(self, request: web.Request) -> web.StreamResponse:
        return await self._poll(request, latest=False)

    async def _poll(self, request: web.Request, *, latest: bool) -> web.StreamResponse:
        """``latest``: ``/new-messages`` (after ``last_message_id``); else the deprecated ``/responses``."""
        record = request[RECORD]
        if (session := self.sessions.get(request.match_info["sid"])) is not None:
            session.polls += 1
            session.poll_times.append(time.monotonic())
        if latest and not self.new_messages_available:
            return detail(404, NOT_FOUND)
        if (rejected := self.tokens.reject(record.auth_token)) is not None:
            return rejected
        if session is None:
            return detail(404, SESSION_NOT_FOUND)
        if self.fail_polls > 0:
            self.fail_polls -= 1
            return web.Response(status=self.fail_status, text=_phrase(self.fail_status))
        if self.hang_polls > 0:
            self.hang_polls -= 1
            return await self._hang(request)
        now = time.monotonic()
        if latest:
            fresh = delivery.after(session, request.query.get("last_message_id") or None, now)
        else:
            fresh = delivery.unseen_by_responses(session, now)
        out = delivery.hand_out(session, fresh, now, self.duplicate_delivery, repeat_in_poll=self.repeat_in_poll)
        malformed = bool(out) and self.malformed_polls > 0
        if malformed:
            self.malformed_polls -= 1
        return json_response(200, delivery.envelope(out, as_objects=self.deliver_as_objects, malformed=malformed))

    # -- auth server -----------------------------------------------------------------------------

    async def _refresh(self, request: web.Request) -> web.StreamResponse:
        if errors := request[BODY_ERRORS]:
            return invalid(errors)
        return self.tokens.refresh(request[RECORD].json)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _session_body(session: SessionRecord) -> dict[str, Any]:
    return {
        "session_id": session.session_id,
        "user": session.user,
        "num_messages": 0,
        "last_message_timestamp": None,
        "messages": [],
        "model": session.model,
        "remaining_tokens": REMAINING_TOKENS,
        "function_group": session.function_group,
        "status": None,
        "preferences_enabled": session.preferences_enabled,
    }
