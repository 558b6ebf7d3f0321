"""One scheduler polls every waiting session: densely when an answer is likely, backing off when quiet.

A turn that waits for the engine hands the scheduler a `fetch` function and awaits a future. A single
task finds the sessions that are due and starts their polls; it never waits for a poll, so a slow or
hung poll only ever delays its own session. Polls run concurrently, at most `max_concurrent` of them
starting at once: a poll that is still running after `slow_poll_s` gives its slot back, so slow polls
cannot fill the slots and hold back the others.

When to poll is learnt. Every answered wait tells how long the engine took (known to lie between the
last empty poll and the poll that saw the answer). From the last `SAMPLES_KEPT` of those delays the
scheduler computes a plan, the offsets after the start of a wait at which to poll, that minimises the
expected time an answer sits unseen plus a price per poll (`plan_polls`), with the price set so that,
replayed over those delays, the plan makes at most `budget_per_s` polls per second of waiting. Until
`LEARN_FROM` waits were answered, a wait is polled every `1 / rate_cap_per_s` seconds, the first time
one interval after it starts, until `COLD_EVEN_S` into the wait: one poll per second of waiting whatever
the answer time (a first poll sooner would spend more on quick answers; the vendor's own examples wait
1.5 to 10 s). After that, and after the plan's last offset, each interval is 1.5x the previous (starting
from at least that cold interval: an answer past the plan is late), up to `max_s`. A wait still raises
IdleTimeout once `idle_limit_s` passed without an answer.

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
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from bot.providers.errors import ProviderError, ProviderUnavailable

log = logging.getLogger(__name__)

FAST_POLL_S = 0.25
"""Shortest interval of the back-off schedule."""
MAX_POLL_S = 10.0
"""Longest interval between two polls of a waiting session (reached after a long silence)."""
COLD_EVEN_S = 5.0
"""Before anything was learnt, polls after the first come at the rate cap's pace (1 s) for this long."""
BACKOFF_FACTOR = 1.5
MAX_CONCURRENT_POLLS = 32
"""Polls that may start together; a poll running longer than `SLOW_POLL_S` stops counting."""
SLOW_POLL_S = 1.0
RATE_CAP_PER_S = 0.95
"""Polls per second per waiting turn, summed over every waiting turn (a token bucket), once a plan exists, and
the pace before one. The plan stays under it by itself; the cap catches the estimate's error (at 1.0, 100
sessions averaged 53 to 60 polls a minute per waiting session, against a goal of at most 60)."""
RATE_CAP_BURST_S = 2.0
"""The bucket holds this many seconds' worth of tokens."""
MAX_FAILED_POLLS = 5
"""Consecutive 5xx/timeouts tolerated before the turn gives up."""
POLL_BUDGET_PER_S = 0.85
"""Polls per second of waiting a plan may make, replayed over the learnt answer times (the goal is at
most one; the rest is margin for the first waits, before anything was learnt, and the estimate's error)."""
LEARN_FROM = 8
"""Answered waits before the first plan; the next plans come at 16, 32 and 64 answers, then every
`REPLAN_EVERY` new ones (and at least `REPLAN_MIN_S` apart)."""
REPLAN_EVERY = 16
REPLAN_MIN_S = 1.0
SAMPLES_KEPT = 256
LATE_S = 0.1
"""An answer is learnt from only if the poll that saw it went out at most this late (full slots or a busy
event loop or the rate cap hold polls back) and no poll since the last empty one failed."""
MIN_GAP_S = 0.1
"""Planned polls of one wait are at least this far apart."""
MAX_UNSEEN_S = 1.0
"""A plan leaves no learnt answer time more than this long unseen (1.5x that, or no cap, if the budget
requires), except in stretches holding at most `UNSEEN_SHARE` of the answers (the tail)."""
UNSEEN_SHARE = 0.02
PLAN_HORIZON_S = 30.0
"""Answer times beyond this are left to the back-off."""
OVERDUE_SHARE = 0.1
"""No plan is made while more than this share of the waits (answered, or open within the horizon) are still
open past the longest answer time learnt: after a burst of waits, the first answers are the quickest ones,
and a plan made from them alone would poll densely early and then back off from answers that are merely
slower (what is known is that they take longer, not how much)."""
POLL_PRICE_S = (0.01, 0.5)
"""Bounds of a poll's price, in seconds of expected answer latency: with a budget that cannot be met
(an engine answering in 0.2 s cannot be polled once a second), the plan stops at 0.5 s per poll."""
_GRID_S = 0.05
"""Answer times are rounded up to multiples of 50 ms below 1.25 s, and to steps of 4% above."""
_GRID_RATIO = 0.04


class IdleTimeout(Exception):
    """Nothing arrived within the idle limit."""


Fetch = Callable[[], Awaitable[list[Any]]]
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
    ) -> None:
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
        self.answer_times = AnswerTimes(budget_per_s=budget_per_s, max_gap_s=max_s)
        self.polls = 0
        """Polls sent so far."""

    @property
    def plan(self) -> tuple[float, ...]:
        """Offsets (seconds after a wait starts) of the planned polls; empty until answers were learnt."""
        return self.answer_times.plan

    async def wait(self, fetch: Fetch, *, idle_limit_s: float, first_delay_s: float | None = None) -> list[Any]:
        """Poll `fetch` until it returns items, and return them.

        Call it right after the action the engine answers (the wait's start is when its answer time is
        counted from). `first_delay_s` overrides when the first poll goes out. Raises IdleTimeout after
        `idle_limit_s` seconds of empty polls, ProviderUnavailable after `MAX_FAILED_POLLS` failed polls
        in a row, and any other ProviderError from `fetch` at once.
        """
        now = time.monotonic()
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        waiter = _Waiter(now, next(self._order), fetch, future, now, now + idle_limit_s, self._fast_s)
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
            if plan:  # past the plan the answer is late: back off from at least the cap's pace
                last_gap = plan[-1] - (plan[-2] if len(plan) > 1 else 0.0)
                waiter.interval = max(waiter.interval, last_gap, self._cold_gap_s())
            if not plan and now - waiter.started < COLD_EVEN_S:  # nothing learnt yet: at the cap's pace
                waiter.interval = self._cold_gap_s()
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
            if waiter.exact and sent - waiter.due <= LATE_S:  # else it says more about the bot than the engine
                self.answer_times.add(waiter.last_empty_s, sent - waiter.started, open_past=self._open_past)
            waiter.future.set_result(items)
            return
        waiter.last_empty_s, waiter.exact = sent - waiter.started, True
        self._requeue(waiter)

    def _open_past(self, seconds: float) -> int:
        """Waits still open that started more than `seconds` (but at most `PLAN_HORIZON_S`) ago."""
        now = time.monotonic()
        return sum(1 for w in self._open.values() if seconds < now - w.started <= PLAN_HORIZON_S)

    def _requeue(self, waiter: _Waiter) -> None:
        now = time.monotonic()
        if now >= waiter.idle_until:
            _settle(waiter, IdleTimeout())
            return
        waiter.due = self._next_due(waiter, now)
        heapq.heappush(self._queue, waiter)
        self._wake.set()


class AnswerTimes:
    """The engine's recent answer times (seconds from the start of a wait) and the poll plan they give.

    Each answered wait adds one time, drawn evenly (a golden-ratio sequence, no randomness) from the
    interval it is known to lie in, so a coarse schedule does not teach itself its own poll times.
    """

    def __init__(self, *, budget_per_s: float = POLL_BUDGET_PER_S, max_gap_s: float = MAX_POLL_S) -> None:
        self._budget_per_s = budget_per_s
        self._max_gap_s = max_gap_s
        self._times: deque[float] = deque(maxlen=SAMPLES_KEPT)
        self._new = 0
        self._planned_at = -math.inf
        self._spread = 0.0
        self.plan: tuple[float, ...] = ()
        """Offsets in seconds after a wait's start, increasing; empty until `LEARN_FROM` answers."""

    def __len__(self) -> int:
        return len(self._times)

    def add(self, after_s: float, by_s: float, *, open_past: Callable[[float], int] = lambda _s: 0) -> None:
        """One answer, known to have arrived after `after_s` and by `by_s` (seconds into the wait).

        `open_past(s)` counts the waits still open after `s` seconds: a plan is (re)made only while few of them
        outlast every answer learnt (`OVERDUE_SHARE`)."""
        self._spread = (self._spread + 0.6180339887498949) % 1.0
        low, high = max(after_s, 0.0), max(by_s, after_s, 0.0)
        self._times.append(low + (high - low) * self._spread)
        self._new += 1
        now = time.monotonic()
        kept = len(self._times)
        due = kept >= LEARN_FROM and (self._new >= REPLAN_EVERY or kept in (LEARN_FROM, 16, 32, 64) or not self.plan)
        if due and now - self._planned_at >= REPLAN_MIN_S and self._representative(open_past):
            self.plan = plan_polls(list(self._times), budget_per_s=self._budget_per_s, max_gap_s=self._max_gap_s)
            self._new, self._planned_at = 0, now
            log.debug("poll plan from %d answers: %s", len(self._times), [round(t, 2) for t in self.plan])

    def _representative(self, open_past: Callable[[float], int]) -> bool:
        """Few waits still open outlast every answer learnt, so the answers are a fair sample of the engine."""
        late = open_past(max(self._times))
        return late <= OVERDUE_SHARE * (len(self._times) + late)


def plan_polls(
    answer_times: Sequence[float],
    *,
    budget_per_s: float = POLL_BUDGET_PER_S,
    min_gap_s: float = MIN_GAP_S,
    max_gap_s: float = MAX_POLL_S,
    max_unseen_s: float = MAX_UNSEEN_S,
    horizon_s: float = PLAN_HORIZON_S,
) -> tuple[float, ...]:
    """When to poll, in seconds after a wait starts, for answers that take `answer_times` seconds.

    The plan minimises the expected time an answer waits unseen plus a price (in seconds) per poll,
    by dynamic programming over the answer times rounded up to a grid (50 ms, 4% above 1.25 s). The
    price is the lowest in `POLL_PRICE_S` whose plan, replayed over `answer_times` (with the back-off
    after its end), makes at most `budget_per_s` polls per second of waiting. No answer time waits
    more than `max_unseen_s` for the next poll (but in stretches holding at most `UNSEEN_SHARE` of them),
    or 1.5x that if the budget requires, or else without that cap. Offsets
    are increasing, at least `min_gap_s` apart, at most `max_gap_s` apart and within `horizon_s`.
    Empty without times.
    """
    if not answer_times:
        return ()
    points = _grid(answer_times, horizon_s)
    total = len(answer_times)

    def cheapest(price: float, unseen_s: float) -> tuple[float, ...]:
        return _cheapest(points, total, price, min_gap_s, max_gap_s, unseen_s)

    def within(plan: tuple[float, ...]) -> bool:
        return _rate(plan, answer_times, max_gap_s) <= budget_per_s

    low, high = (math.log(price) for price in POLL_PRICE_S)
    for unseen_s in (max_unseen_s, max_unseen_s * 1.5, math.inf):  # loosen the cap until the budget holds
        best = cheapest(math.exp(high), unseen_s)
        if within(best):
            break
    else:
        return best  # the budget cannot be met: poll at the highest price
    cheap = cheapest(math.exp(low), unseen_s)
    if within(cheap):
        return cheap
    for _ in range(8):
        middle = (low + high) / 2
        plan = cheapest(math.exp(middle), unseen_s)
        if within(plan):
            high, best = middle, plan
        else:
            low = middle
    return best


def _grid(answer_times: Sequence[float], horizon_s: float) -> list[tuple[float, int]]:
    """(grid time, how many answer times round up to it), increasing; times past the horizon are left out."""
    edge = _GRID_S / _GRID_RATIO
    counts: dict[float, int] = {}
    for seconds in answer_times:
        if seconds > horizon_s:
            continue
        if seconds <= edge:
            point = max(1, math.ceil(seconds / _GRID_S - 1e-9)) * _GRID_S
        else:
            point = edge * (1 + _GRID_RATIO) ** math.ceil(math.log(seconds / edge) / math.log1p(_GRID_RATIO) - 1e-9)
        key = round(point, 6)
        counts[key] = counts.get(key, 0) + 1
    return sorted(counts.items())


def _cheapest(
    points: list[tuple[float, int]], total: int, price: float, min_gap_s: float, max_gap_s: float, max_unseen_s: float
) -> tuple[float, ...]:
    """The plan minimising E[unseen time] + price x E[polls], polling only at grid points, and leaving no
    answer time unseen for more than `max_unseen_s` (where the grid allows).

    cost[k] is the expected cost still to come after a poll at point k (unnormalised: it counts the
    probability of still waiting); a poll at m after k costs `price` for each wait still open, and every
    answer arriving in between waits until m.
    """
    times = [0.0] + [t for t, _ in points]
    share = [0.0]
    weighted = [0.0]
    for t, count in points:
        share.append(share[-1] + count / total)
        weighted.append(weighted[-1] + count * t / total)
    last = len(times) - 1
    cost = [0.0] * (last + 1)
    following = [-1] * (last + 1)
    for k in range(last - 1, -1, -1):
        still = 1.0 - share[k]
        if still <= 1e-12:
            continue
        best, choice = math.inf, -1
        for m in range(k + 1, last + 1):
            gap = times[m] - times[k]
            if gap < min_gap_s and m < last:
                continue
            unseen = times[m] - times[k + 1] > max_unseen_s and share[m] - share[k] > UNSEEN_SHARE
            if (gap > max_gap_s or unseen) and choice >= 0:
                break
            value = price * still + times[m] * (share[m] - share[k]) - (weighted[m] - weighted[k]) + cost[m]
            if value < best:
                best, choice = value, m
        cost[k], following[k] = best, choice
    plan: list[float] = []
    k = 0
    while following[k] >= 0:
        k = following[k]
        plan.append(times[k])
    return _within_gaps(plan, max_gap_s)


def _within_gaps(plan: list[float], max_gap_s: float) -> tuple[float, ...]:
    out: list[float] = []
    for t in plan:
        previous = out[-1] if out else 0.0
        while t - previous > max_gap_s:
            previous += max_gap_s
            out.append(round(previous, 6))
        out.append(t)
    return tuple(out)


def _rate(plan: Sequence[float], answer_times: Sequence[float], max_gap_s: float) -> float:
    """Polls per second of waiting if each answer time met `plan` (then the back-off after its end)."""
    polls, waited = 0, 0.0
    if not plan:
        return math.inf
    gap = max(plan[-1] - (plan[-2] if len(plan) > 1 else 0.0), 1 / RATE_CAP_PER_S)
    extended = list(plan)
    latest = max(answer_times)
    while extended[-1] < latest:
        gap = min(gap * BACKOFF_FACTOR, max_gap_s)
        extended.append(extended[-1] + gap)
    for seconds in answer_times:
        index = bisect.bisect_left(extended, seconds)
        polls += index + 1
        waited += extended[index]
    return polls / waited if waited > 0 else math.inf


def _settle(waiter: _Waiter, exc: BaseException) -> None:
    if not waiter.future.done():
        waiter.future.set_exception(exc)


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("poll scheduler task failed", exc_info=task.exception())
