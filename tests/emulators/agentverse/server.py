"""The emulator: two loopback aiohttp servers (engine and auth), scripted sessions and recording."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from .builtin import builtin_flows
from .flows import Flow, Step, submit_kind
from .handlers import Handlers
from .records import AgentverseRequest, SessionRecord
from .tokens import ExpiresInStyle, TokenStore
from .wire import (
    DEFAULT_ACCESS_TOKEN,
    DEFAULT_REFRESH_TOKEN,
    KNOWN_MODELS,
    SESSIONS_PATH,
    TOKENS_PATH,
)


class AgentverseEmulator(Handlers):
    """Fetch.ai's AI Engine chat API (``base_url``) and its token endpoint (``auth_url``) on 127.0.0.1.

    Knobs that are plain attributes may be changed at any time: ``delay_s``, ``delay_range_s`` (a
    ``(low, high)`` in seconds: each step's delay is drawn uniformly from it instead of ``delay_s``, the
    same for a given ``delay_seed``, session ordinal and submit number, whatever the timing), ``duplicate_delivery``,
    ``repeat_in_poll`` (a poll lists its first message twice),
    ``deliver_as_objects``, ``new_messages_available``, and the counters ``malformed_polls``
    (the next N non-empty polls carry a broken string element), ``fail_polls`` (the next N polls
    answer ``fail_status``) and ``hang_polls`` (the next N polls never answer; they end when the
    client disconnects or the emulator closes).
    """

    def __init__(
        self,
        *,
        access_token: str = DEFAULT_ACCESS_TOKEN,
        refresh_token: str | None = DEFAULT_REFRESH_TOKEN,
        new_messages_available: bool = True,
        default_flow: str | Flow = "default",
        delay_s: float = 0.0,
        delay_range_s: tuple[float, float] | None = None,
        delay_seed: int = 0,
        duplicate_delivery: bool = False,
        repeat_in_poll: bool = False,
        deliver_as_objects: bool = False,
        malformed_polls: int = 0,
        fail_polls: int = 0,
        fail_status: int = 500,
        hang_polls: int = 0,
        models: Sequence[str] = KNOWN_MODELS,
        access_ttl_s: float | None = None,
        rotate_refresh_token: bool = True,
        expires_in_style: ExpiresInStyle = "seconds",
    ) -> None:
        """``refresh_token=None`` models a static API key (refreshes fail); ``access_ttl_s`` makes
        access tokens expire on their own; ``rotate_refresh_token=False`` keeps the refresh token and
        leaves ``refresh_token`` out of refresh answers; ``expires_in_style="epoch"`` sends epoch times."""
        self.tokens = TokenStore(
            access_token,
            refresh_token,
            access_ttl_s=access_ttl_s,
            rotate_refresh=rotate_refresh_token,
            expires_in_style=expires_in_style,
        )
        self.flows: dict[str, Flow] = builtin_flows()
        """Flows ``use_flow`` accepts by name; add your own."""
        self.default_flow = self._resolve(default_flow)
        self.new_messages_available = new_messages_available
        self.delay_s = delay_s
        self.delay_range_s = delay_range_s
        self.delay_seed = delay_seed
        self.duplicate_delivery = duplicate_delivery
        self.repeat_in_poll = repeat_in_poll
        self.deliver_as_objects = deliver_as_objects
        self.malformed_polls = malformed_polls
        self.fail_polls = fail_polls
        self.fail_status = fail_status
        self.hang_polls = hang_polls
        self.models = tuple(models)
        self.requests: list[AgentverseRequest] = []
        """Requests to both servers in arrival order."""
        self.sessions: dict[str, SessionRecord] = {}
        self._submits: list[tuple[str, dict[str, Any]]] = []
        self._closing = asyncio.Event()
        self._changed = asyncio.Condition()
        self._runners: list[web.AppRunner] = []
        self._urls: list[str] = []

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """Engine base (``https://agentverse.ai`` in real life), no trailing slash."""
        return self._url(0)

    @property
    def auth_url(self) -> str:
        """Auth server base (``https://accounts.fetch.ai``); the token URL is ``auth_url + "/v1/tokens"``."""
        return self._url(1)

    @property
    def token_url(self) -> str:
        return self.auth_url + TOKENS_PATH

    def _url(self, index: int) -> str:
        if not self._urls:
            raise RuntimeError("AgentverseEmulator is not started")
        return self._urls[index]

    async def start(self) -> None:
        """Listen on two ephemeral 127.0.0.1 ports: the engine and the auth server."""
        if self._runners or self._closing.is_set():
            raise RuntimeError("AgentverseEmulator can only be started once")
        engine = web.Application(middlewares=[self._middleware])
        engine.router.add_post(SESSIONS_PATH, self._create)
        engine.router.add_post(SESSIONS_PATH + "/{sid}/submit", self._submit)
        engine.router.add_get(SESSIONS_PATH + "/{sid}/new-messages", self._new_messages)
        engine.router.add_get(SESSIONS_PATH + "/{sid}/responses", self._responses)
        auth = web.Application(middlewares=[self._middleware])
        auth.router.add_post(TOKENS_PATH, self._refresh)
        for app in (engine, auth):
            # handler_cancellation: a client disconnect cancels the handler, which ends hangs.
            runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=2.0)
            await runner.setup()
            self._runners.append(runner)
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            host, port = runner.addresses[0][:2]
            self._urls.append(f"http://{host}:{port}")

    async def close(self) -> None:
        """Stop both servers; hung polls drop their connections. Idempotent."""
        self._closing.set()
        runners, self._runners = self._runners, []
        for runner in runners:
            await runner.cleanup()

    async def __aenter__(self) -> AgentverseEmulator:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- scripting and inspection ----------------------------------------------------------------

    def _resolve(self, flow: str | Flow) -> Flow:
        if isinstance(flow, Flow):
            return flow
        if flow not in self.flows:
            raise ValueError(f"unknown flow {flow!r}; known: {', '.join(sorted(self.flows))}")
        return self.flows[flow]

    def use_flow(self, flow: str | Flow, session_id: str | None = None) -> Flow:
        """Play ``flow`` (a name from ``flows`` or a :class:`Flow`) in new sessions, or restart one session on it."""
        resolved = self._resolve(flow)
        if session_id is None:
            self.default_flow = resolved
        else:
            record = self.sessions[session_id]
            record.flow, record.state, record.memory = resolved, resolved.initial, copy.deepcopy(dict(resolved.memory))
        return resolved

    def script(self, steps: Sequence[Step], session_id: str | None = None) -> Flow:
        """Play ``steps`` one per submit, in order (see :meth:`Flow.linear`)."""
        return self.use_flow(Flow.linear("scripted", steps), session_id)

    def expire_access_tokens(self, status: int = 401) -> None:
        """Every access token issued so far now gets ``status`` with ``{"detail": "Token expired"}``."""
        self.tokens.expire_access(status)

    def expire_refresh_token(self) -> None:
        """The current refresh token now gets the 422 too."""
        self.tokens.expire_refresh()

    @property
    def current_access_token(self) -> str:
        return self.tokens.access_token

    @property
    def current_refresh_token(self) -> str | None:
        return self.tokens.refresh_token

    @property
    def issued_tokens(self) -> frozenset[str]:
        """Every access and refresh token handed out so far (refreshed ones included): secrets a log must not hold."""
        return self.tokens.issued

    @property
    def refresh_count(self) -> int:
        """Successful refreshes."""
        return self.tokens.refresh_count

    @property
    def latest_session(self) -> SessionRecord:
        """The most recently created session (raises if there is none)."""
        if not self.sessions:
            raise LookupError("no session was created")
        return next(reversed(self.sessions.values()))

    def poll_count(self, session_id: str) -> int:
        """Polls (either endpoint, any outcome) naming ``session_id`` so far."""
        return self.sessions[session_id].polls

    async def wait_for_requests(
        self,
        n: int,
        timeout: float = 5.0,  # noqa: ASYNC109
        path_suffix: str | None = None,
    ) -> list[AgentverseRequest]:
        """Wait until ``n`` requests (to paths ending with ``path_suffix``, if given) arrived; the first ``n``."""

        def matching() -> list[AgentverseRequest]:
            return [r for r in self.requests if path_suffix is None or r.path.endswith(path_suffix)]

        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: len(matching()) >= n)
        return matching()[:n]

    async def wait_for_submit(
        self,
        payload_type: str,
        timeout: float = 5.0,  # noqa: ASYNC109
        session_id: str | None = None,
        nth: int = 1,
    ) -> dict[str, Any]:
        """The ``nth`` accepted submit of ``payload_type`` (``"user_json:options"`` style works too), once it exists."""

        def matching() -> list[dict[str, Any]]:
            return [
                payload
                for sid, payload in self._submits
                if session_id in (None, sid) and payload_type in (payload["type"], submit_kind(payload))
            ]

        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: len(matching()) >= nth)
        return matching()[nth - 1]
