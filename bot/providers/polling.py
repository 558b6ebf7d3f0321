"""One scheduler polls every waiting session: fast while an answer is expected, backing off when quiet.

A turn that waits for the engine hands the scheduler a `fetch` function and awaits a future. A single
task finds the sessions that are due, polls them concurrently (bounded), and resolves a waiter as soon
as its fetch returns something; an empty poll stretches that session's interval (x1.5, up to the
maximum). This replaces a sleeping loop per conversation with one timer for all of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from bot.providers.errors import ProviderError, ProviderUnavailable

log = logging.getLogger(__name__)

FAST_POLL_S = 0.25
"""First poll interval after the member acted: answers show up well within a second."""
MAX_POLL_S = 10.0
BACKOFF_FACTOR = 1.5
MAX_CONCURRENT_POLLS = 16
MAX_FAILED_POLLS = 5
"""Consecutive 5xx/timeouts tolerated before the turn gives up."""


class IdleTimeout(Exception):
    """Nothing arrived within the idle limit."""


Fetch = Callable[[], Awaitable[list[Any]]]


@dataclass(order=True)
class _Waiter:
    due: float
    order: int
    fetch: Fetch = field(compare=False)
    future: asyncio.Future[list[Any]] = field(compare=False)
    interval: float = field(compare=False)
    idle_until: float = field(compare=False)
    failures: int = field(default=0, compare=False)


PollResult = Literal["messages", "empty", "failed"]


class PollScheduler:
    def __init__(
        self,
        *,
        fast_s: float = FAST_POLL_S,
        max_s: float = MAX_POLL_S,
        on_poll: Callable[[PollResult], None] | None = None,
    ) -> None:
        """`on_poll` hears how each poll went (for metrics)."""
        self._on_poll = on_poll or (lambda _result: None)
        self._fast_s = fast_s
        self._max_s = max_s
        self._queue: list[_Waiter] = []
        self._order = itertools.count()
        self._wake = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._slots = asyncio.Semaphore(MAX_CONCURRENT_POLLS)
        self._inflight: set[asyncio.Task[None]] = set()
        self.polls = 0

    async def wait(self, fetch: Fetch, *, idle_limit_s: float, first_delay_s: float | None = None) -> list[Any]:
        """Poll `fetch` until it returns items; raise IdleTimeout after `idle_limit_s` of empty polls."""
        now = time.monotonic()
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        delay = self._fast_s if first_delay_s is None else first_delay_s
        heapq.heappush(
            self._queue, _Waiter(now + delay, next(self._order), fetch, future, self._fast_s, now + idle_limit_s)
        )
        self._ensure_runner()
        self._wake.set()
        return await future

    async def close(self) -> None:
        tasks = [*self._inflight, *([self._runner] if self._runner else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for waiter in self._queue:
            if not waiter.future.done():
                waiter.future.cancel()
        self._queue.clear()

    def _ensure_runner(self) -> None:
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._run(), name="poll-scheduler")
            self._runner.add_done_callback(_log_crash)

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            self._queue = [w for w in self._queue if not w.future.done()]
            heapq.heapify(self._queue)
            if not self._queue:
                await self._wake.wait()
                continue
            delay = self._queue[0].due - time.monotonic()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=delay)
                continue
            due: list[_Waiter] = []
            now = time.monotonic()
            while self._queue and self._queue[0].due <= now:
                due.append(heapq.heappop(self._queue))
            for waiter in due:
                task = asyncio.create_task(self._poll(waiter))
                self._inflight.add(task)
                task.add_done_callback(self._inflight.discard)
                task.add_done_callback(_log_crash)

    async def _poll(self, waiter: _Waiter) -> None:
        if waiter.future.done():
            return
        async with self._slots:
            self.polls += 1
            try:
                items = await waiter.fetch()
            except ProviderUnavailable as exc:
                self._on_poll("failed")
                waiter.failures += 1
                log.warning("poll failed (%d/%d): %s", waiter.failures, MAX_FAILED_POLLS, exc)
                if waiter.failures >= MAX_FAILED_POLLS:
                    _settle(waiter, exc)
                    return
                items = []
            except ProviderError as exc:
                self._on_poll("failed")
                _settle(waiter, exc)
                return
            self._on_poll("messages" if items else "empty")
        if waiter.future.done():
            return
        if items:
            waiter.future.set_result(items)
            return
        now = time.monotonic()
        if now >= waiter.idle_until:
            _settle(waiter, IdleTimeout())
            return
        waiter.interval = min(waiter.interval * BACKOFF_FACTOR, self._max_s)
        waiter.due = min(now + waiter.interval, waiter.idle_until)
        heapq.heappush(self._queue, waiter)
        self._wake.set()


def _settle(waiter: _Waiter, exc: BaseException) -> None:
    if not waiter.future.done():
        waiter.future.set_exception(exc)


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("poll scheduler task failed", exc_info=task.exception())
