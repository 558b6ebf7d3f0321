"""One scheduler polls every waiting session: densely when an answer is likely, backing off when quiet.

A turn that waits for the engine hands the scheduler a `fetch` function and awaits a future. A single
task finds the sessions that are due and starts their polls; it never waits for a poll, so a slow or
hung poll only ever delays its own session. Polls run concurrently, at most `max_concurrent` of them
starting at once: a poll that is still running after `slow_poll_s` gives its slot back, so slow polls
cannot fill the slots and hold back the others.

When to poll is learnt (bot/providers/agentverse/poll_plan.py): once `LEARN_FROM` waits were answered,
a wait is polled at the plan's offsets, learnt from the engine's recent answer times. Until then, a wait is
polled every `1 / rate_cap_per_s` seconds, the first time one interval after it starts, until `COLD_EVEN_S`
into the wait: one poll per second of waiting whatever the answer time (a first poll sooner would spend more
on quick answers; the vendor's own examples wait 1.5 to 10 s). When the first plan forms, the waits still on
that schedule move to the plan at once (`_adopt_first_plan`). After that, and after the plan's last offset,
each interval is 1.5x the previous, up to `max_s`: past the plan it starts from the shortest interval
(`fast_s`), because the few answers the plan misses are mostly just past its last poll (the plan covers
all but a tail of the answer times learnt), and a long first interval there made them the slowest of all.
A wait still raises IdleTimeout once `idle_limit_s` passed without an answer.

On top of the plan, a token bucket caps the polls actually sent at `rate_cap_per_s` per second per
waiting turn, over all turns together (so on average per waiting session): it holds any error of the
estimate to the goal of one poll per second. A poll over the cap waits for a token, earliest due first.
Before anything was learnt the cap is not applied: that schedule keeps to its pace by itself, and a
shared bucket would only queue the many waits a burst of members starts at once behind each other. An
answer seen by a poll that went out late (the cap, full slots, a busy event loop) is not learnt from:
its interval would say more about the bot's own waiting than about the engine.
"""

from __future__ import annotations

import asyncio
import bisect
import heapq
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from bot.providers.agentverse.poll_plan import (
    BACKOFF_FACTOR,
    FAST_POLL_S,
    MAX_POLL_S,
    PLAN_HORIZON_S,
    POLL_BUDGET_PER_S,
    RATE_CAP_PER_S,
    AnswerTimes,
)
from bot.providers.errors import ProviderError, ProviderUnavailable

log = logging.getLogger(__name__)

COLD_EVEN_S = 5.0
"""Before anything was learnt, polls after the first come at the rate cap's pace (1 / 0.95 = 1.05 s) for this
long."""
MAX_CONCURRENT_POLLS = 32
"""Polls that may start together; a poll running longer than `SLOW_POLL_S` stops counting."""
SLOW_POLL_S = 1.0
RATE_CAP_BURST_S = 2.0
"""The bucket holds this many seconds' worth of tokens."""
MAX_FAILED_POLLS = 5
"""Consecutive 5xx/timeouts tolerated before the turn gives up."""
LATE_S = 0.1
"""An answer is learnt from only if the poll that saw it went out at most this late (full slots or a busy
event loop or the rate cap hold polls back) and no poll since the last empty one failed."""


class IdleTimeout(Exception):
    """Nothing arrived within the idle limit."""


Fetch = Callable[[], Awaitable[list[Any]]]
MadeAt = Callable[[list[Any]], "float | None"]
"""When the engine made the first of a poll's items, epoch seconds (its own timestamp), if it says."""
STAMP_TOLERANCE_S = 0.25
"""An engine timestamp this far outside what the polls bound (clocks differ a little) is still learnt from,
clamped; one further out (a clock far off, a time zone) is not trusted, and the polls' bounds are used."""
PollResult = Literal["messages", "empty", "failed"]


@dataclass(order=True)
class _Waiter:
    due: float
    order: int
    fetch: Fetch = field(compare=False)
    future: asyncio.Future[list[Any]] = field(compare=False)
    started: float = field(compare=False)
    idle_until: float = field(compare=False)
    interval: float = field(compare=False)
    """Current back-off interval, once past the plan (or before there is one)."""
    last_empty_s: float = field(default=0.0, compare=False)
    """Offset (from `started`) at which the last empty poll was sent: the answer came after it."""
    failures: int = field(default=0, compare=False)
    exact: bool = field(default=True, compare=False)
    """No poll since the last empty one failed: the answer is known to lie between the two polls."""
    started_wall: float = field(default=0.0, compare=False)
    """`started` as epoch seconds, to place the engine's timestamps in the wait."""
    made_at: MadeAt | None = field(default=None, compare=False)
    cold: bool = field(default=False, compare=False)
    """Polled on the cold schedule (nothing learnt yet) so far: a plan it is past starts from `fast_s`."""


class PollScheduler:
    """Polls every waiting session from one task, on a schedule learnt from the engine's answer times.

    `fast_s` and `max_s` (seconds) bound the back-off schedule; `on_poll` hears how each poll went
    (for metrics); `budget_per_s` caps the plan's polls per second of waiting; `max_concurrent` and
    `slow_poll_s` bound how many polls start at once and when a running one stops counting;
    `rate_cap_per_s` caps the polls actually sent, per second and waiting turn, over all turns, once
    answer times were learnt.
    """

    def __init__(
        self,
        *,
        fast_s: float = FAST_POLL_S,
        max_s: float = MAX_POLL_S,
        on_poll: Callable[[PollResult], None] | None = None,
        budget_per_s: float = POLL_BUDGET_PER_S,
        max_concurrent: int = MAX_CONCURRENT_POLLS,
        slow_poll_s: float = SLOW_POLL_S,
        rate_cap_per_s: float = RATE_CAP_PER_S,
        on_learnt: Callable[[tuple[float, ...]], None] | None = None,
    ) -> None:
        """`on_learnt(samples)`: told the answer times kept after each one learnt (`AnswerTimes`)."""
        self._on_poll = on_poll or (lambda _result: None)
        self._fast_s = fast_s
        self._max_s = max_s
        self._max_concurrent = max_concurrent
        self._slow_poll_s = slow_poll_s
        self._queue: list[_Waiter] = []
        self._order = itertools.count()
        self._wake = asyncio.Event()
        self._timer: asyncio.TimerHandle | None = None
        self._runner: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        self._open: dict[int, _Waiter] = {}  # every wait not yet settled (queued or polling now), by `order`
        self._busy = 0
        self._rate_cap_per_s = rate_cap_per_s
        self._waiting = 0
        self._tokens = 1.0
        self._refilled_at = time.monotonic()
        self.answer_times = AnswerTimes(budget_per_s=budget_per_s, max_gap_s=max_s, on_learnt=on_learnt)
        self.polls = 0
        """Polls sent so far."""

    @property
    def plan(self) -> tuple[float, ...]:
        """Offsets (seconds after a wait starts) of the planned polls; empty until answers were learnt."""
        return self.answer_times.plan

    async def wait(
        self, fetch: Fetch, *, idle_limit_s: float, first_delay_s: float | None = None, made_at: MadeAt | None = None
    ) -> list[Any]:
        """Poll `fetch` until it returns items, and return them.

        Call it right after the action the engine answers (the wait's start is when its answer time is
        counted from). `first_delay_s` overrides when the first poll goes out. Raises IdleTimeout after
        `idle_limit_s` seconds of empty polls, ProviderUnavailable after `MAX_FAILED_POLLS` failed polls
        in a row, and any other ProviderError from `fetch` at once. `made_at(items)`: when the engine made the
        answer (its own timestamp), so the plan learns the answer time itself rather than a point between
        two polls, which a coarse schedule would otherwise teach itself back.
        """
        now = time.monotonic()
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        waiter = _Waiter(now, next(self._order), fetch, future, now, now + idle_limit_s, self._fast_s)
        waiter.started_wall, waiter.made_at = time.time(), made_at
        waiter.due = now + first_delay_s if first_delay_s is not None else self._first_due(waiter)
        heapq.heappush(self._queue, waiter)
        self._open[waiter.order] = waiter
        self._refill(now)
        self._waiting += 1
        future.add_done_callback(lambda done: self._ended(waiter))
        self._ensure_runner()
        self._wake.set()
        return await future

    def _ended(self, waiter: _Waiter) -> None:
        self._refill(time.monotonic())
        self._waiting -= 1
        self._open.pop(waiter.order, None)

    async def close(self) -> None:
        """Stop polling: running polls are cancelled and every waiting turn's future is cancelled."""
        if self._timer is not None:
            self._timer.cancel()
        tasks = [*self._inflight, *([self._runner] if self._runner else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for waiter in list(self._open.values()):  # queued ones, and those whose poll was just cancelled
            if not waiter.future.done():
                waiter.future.cancel()
        self._queue.clear()

    # -- scheduling ------------------------------------------------------------------------------

    def _first_due(self, waiter: _Waiter) -> float:
        plan = self.plan
        return min(waiter.started + (plan[0] if plan else self._cold_gap_s()), waiter.idle_until)

    def _cold_gap_s(self) -> float:
        """The interval between polls before anything was learnt: the rate cap's pace."""
        return min(max(self._fast_s, 1 / self._rate_cap_per_s), self._max_s)

    def _next_due(self, waiter: _Waiter, now: float) -> float:
        """The next planned offset still ahead, else the back-off interval from now."""
        plan = self.plan
        index = bisect.bisect_right(plan, now - waiter.started)
        if index < len(plan):
            due = waiter.started + plan[index]
        else:
            if not plan and now - waiter.started < COLD_EVEN_S:  # nothing learnt yet: at the cap's pace
                waiter.interval, waiter.cold = self._cold_gap_s(), True
            elif plan and waiter.cold:  # a plan formed while it waited, and it is past it: the back-off starts
                waiter.interval, waiter.cold = self._fast_s, False
            else:
                waiter.interval = min(max(waiter.interval, self._fast_s) * BACKOFF_FACTOR, self._max_s)
            due = now + waiter.interval
        return min(due, waiter.idle_until)

    def _ensure_runner(self) -> None:
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._run(), name="poll-scheduler")
            self._runner.add_done_callback(_log_crash)

    async def _run(self) -> None:
        """Start the polls that are due, as slots and the rate cap allow, earliest due first; sleep until
        the next is due, a token comes, or something changes."""
        loop = asyncio.get_running_loop()
        while True:
            self._wake.clear()
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            while self._queue and self._queue[0].future.done():
                heapq.heappop(self._queue)  # a turn that stopped waiting (cancelled, closed)
            now = time.monotonic()
            self._refill(now)
            while self._queue and self._queue[0].due <= now and self._busy < self._max_concurrent:
                capped = self._tokens < 1 and bool(self.plan)  # the cold schedule keeps to the cap by itself
                if capped and self._queue[0].due < self._queue[0].idle_until:
                    break  # over the cap: the earliest due poll goes first once a token comes
                waiter = heapq.heappop(self._queue)
                if not waiter.future.done():
                    self._tokens = max(self._tokens - 1, 0.0) if self.plan else self._tokens
                    self._start(waiter)
            if self._queue:
                wake_at = self._queue[0].due
                if self._tokens < 1 and self._waiting and self.plan:
                    wake_at = max(wake_at, now + (1 - self._tokens) / (self._rate_cap_per_s * self._waiting))
                if wake_at > now:
                    self._timer = loop.call_at(loop.time() + wake_at - now, self._wake.set)
            await self._wake.wait()  # a new waiter, a poll finished or freed its slot, or the timer

    def _refill(self, now: float) -> None:
        """Tokens for `rate_cap_per_s` polls per second per waiting turn, up to `RATE_CAP_BURST_S` of them."""
        rate = self._rate_cap_per_s * self._waiting
        self._tokens = min(self._tokens + (now - self._refilled_at) * rate, max(1.0, rate * RATE_CAP_BURST_S))
        self._refilled_at = now

    def _start(self, waiter: _Waiter) -> None:
        self._busy += 1
        task = asyncio.create_task(self._poll(waiter))
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)
        task.add_done_callback(_log_crash)

    async def _poll(self, waiter: _Waiter) -> None:
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self._busy -= 1
                self._wake.set()

        slow = asyncio.get_running_loop().call_later(self._slow_poll_s, release)
        sent = time.monotonic()
        self.polls += 1
        try:
            items = await waiter.fetch()
        except ProviderUnavailable as exc:
            self._on_poll("failed")
            waiter.failures += 1
            waiter.exact = False
            log.warning("poll failed (%d/%d): %s", waiter.failures, MAX_FAILED_POLLS, exc)
            if waiter.failures >= MAX_FAILED_POLLS:
                _settle(waiter, exc)
                return
            self._requeue(waiter)
            return
        except ProviderError as exc:
            self._on_poll("failed")
            _settle(waiter, exc)
            return
        except Exception as exc:  # a bug in `fetch`: the turn fails with it rather than waiting forever
            log.exception("poll failed unexpectedly")
            _settle(waiter, exc)
            return
        finally:
            slow.cancel()
            release()
        self._on_poll("messages" if items else "empty")
        waiter.failures = 0
        if waiter.future.done():
            return
        if items:
            self._open.pop(waiter.order, None)  # answered: not among the waits still open
            cold = not self.plan
            self._learn(waiter, items, sent)
            waiter.future.set_result(items)
            if cold and self.plan:
                self._adopt_first_plan()
            return
        waiter.last_empty_s, waiter.exact = sent - waiter.started, True
        self._requeue(waiter)

    def _learn(self, waiter: _Waiter, items: list[Any], sent: float) -> None:
        """The answer time of a wait just answered: the engine's own time for it when it gives a believable one
        (whatever the polls were like), else the span between the last empty poll and this one, if that span
        says something about the engine (no failed poll in it, and this poll not sent late)."""
        low, high = waiter.last_empty_s, time.monotonic() - waiter.started
        made = waiter.made_at(items) if waiter.made_at is not None else None
        at_s = made - waiter.started_wall if made is not None else None
        if at_s is not None and low - STAMP_TOLERANCE_S <= at_s <= high + STAMP_TOLERANCE_S:
            self.answer_times.add(low, high, at_s=at_s, open_past=self._open_past)
        elif waiter.exact and sent - waiter.due <= LATE_S:  # else it says more about the bot than the engine
            self.answer_times.add(low, sent - waiter.started, open_past=self._open_past)

    def _open_past(self, seconds: float) -> int:
        """Waits still open that started more than `seconds` (but at most `PLAN_HORIZON_S`) ago."""
        now = time.monotonic()
        return sum(1 for w in self._open.values() if seconds < now - w.started <= PLAN_HORIZON_S)

    def _adopt_first_plan(self) -> None:
        """The first plan was just made: the waits already queued on the cold schedule (one poll a second) are
        moved to it, never later than they were due. A wait still before the plan's polls goes at its next one;
        a wait past them (its answer is later than those learnt so far) starts the back-off from the shortest
        interval. Without this, the waits of a burst still open when the first plan forms would keep the cold
        schedule for one more interval, a second, and be the slowest answers of all."""
        now = time.monotonic()
        plan = self.plan
        for waiter in self._queue:
            index = bisect.bisect_right(plan, waiter.last_empty_s) if waiter.last_empty_s else 0
            due = max(waiter.started + plan[index], now) if index < len(plan) else now + self._fast_s
            waiter.interval, waiter.cold = self._fast_s, False  # past the plan, later, it backs off from the start
            waiter.due = min(waiter.due, due, waiter.idle_until)
        heapq.heapify(self._queue)
        self._wake.set()

    def _requeue(self, waiter: _Waiter) -> None:
        now = time.monotonic()
        if now >= waiter.idle_until:
            _settle(waiter, IdleTimeout())
            return
        waiter.due = self._next_due(waiter, now)
        heapq.heappush(self._queue, waiter)
        self._wake.set()


def _settle(waiter: _Waiter, exc: BaseException) -> None:
    if not waiter.future.done():
        waiter.future.set_exception(exc)


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("poll scheduler task failed", exc_info=task.exception())
