"""The part every vendor emulator shares: one aiohttp app on 127.0.0.1, scripted replies, recorded requests."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Generic, Self, TypeVar

from aiohttp import web

ReplyT = TypeVar("ReplyT")
RequestT = TypeVar("RequestT")


class LoopbackServer(Generic[ReplyT, RequestT]):
    """Serves `_app()` on 127.0.0.1 at an ephemeral port; `close()` is idempotent; usable as `async with`.

    Tests `enqueue` scripted replies (FIFO, taken by valid calls) and read `requests` back; a bench may
    instead `script_with` a function that scripts each call from its request. `_closing` is set on close so
    scripted hangs end; `_arrived` is notified as requests come in.
    """

    def __init__(self) -> None:
        self.requests: list[RequestT] = []
        self._replies: deque[ReplyT] = deque()
        self._script: Callable[[RequestT], ReplyT | None] | None = None
        self._closing = asyncio.Event()
        self._arrived = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None

    def _app(self) -> web.Application:
        raise NotImplementedError

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` without a trailing slash."""
        if self._base_url is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return self._base_url

    async def start(self) -> None:
        if self._runner is not None or self._closing.is_set():
            raise RuntimeError(f"{type(self).__name__} can only be started once")
        # handler_cancellation: a client disconnect cancels the handler, which ends hangs.
        runner = web.AppRunner(self._app(), access_log=None, handler_cancellation=True, shutdown_timeout=2.0)
        await runner.setup()
        self._runner = runner
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        host, port = runner.addresses[0][:2]
        self._base_url = f"http://{host}:{port}"

    async def close(self) -> None:
        """Stop serving; hung or delayed responses drop their connections."""
        self._closing.set()
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- scripting and recording -----------------------------------------------------------------

    def enqueue(self, *replies: ReplyT) -> None:
        """Script the next valid calls, in order; unscripted calls get the default answer."""
        self._replies.extend(replies)

    def script_with(self, script: Callable[[RequestT], ReplyT | None] | None) -> None:
        """Answer each valid call that `enqueue` did not script with `script(its request record)` (None: the
        default answer); bench/chaos draws replies and faults at random this way. `None` turns it off."""
        self._script = script

    @property
    def pending_replies(self) -> int:
        return len(self._replies)

    def _next_reply(self, default: Callable[[], ReplyT], request: RequestT | None = None) -> ReplyT:
        """The next enqueued reply, else what `script_with`'s function makes of `request`, else `default()`."""
        if self._replies:
            return self._replies.popleft()
        scripted = self._script(request) if self._script is not None and request is not None else None
        return default() if scripted is None else scripted

    async def wait_for_requests(self, n: int, timeout: float = 5.0) -> list[RequestT]:  # noqa: ASYNC109
        """Wait until ``n`` requests arrived (valid or not); raises TimeoutError."""
        await self._wait_until(lambda: len(self.requests) >= n, timeout)
        return self.requests[:n]

    async def _record(self, request: RequestT) -> None:
        self.requests.append(request)
        async with self._arrived:
            self._arrived.notify_all()

    async def _wait_until(self, arrived: Callable[[], bool], timeout: float) -> None:  # noqa: ASYNC109
        async with asyncio.timeout(timeout), self._arrived:
            await self._arrived.wait_for(arrived)

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
