"""The part every vendor emulator shares: one aiohttp app on 127.0.0.1, started once, closed cleanly."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Self

from aiohttp import web


class LoopbackServer:
    """Serves `_app()` on 127.0.0.1 at an ephemeral port; `close()` is idempotent; usable as `async with`.

    `_closing` is set on close so scripted hangs can end; `_arrived` is notified as requests come in,
    for the `wait_for_*` helpers of subclasses.
    """

    def __init__(self) -> None:
        self._closing = asyncio.Event()
        self._arrived = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None

    def _app(self) -> web.Application:
        raise NotImplementedError

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

    async def _wait_until(self, arrived: Callable[[], bool], timeout: float) -> None:  # noqa: ASYNC109
        async with asyncio.timeout(timeout), self._arrived:
            await self._arrived.wait_for(arrived)
