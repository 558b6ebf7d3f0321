"""Discord's write budgets: the bot's global request rate, shared by priority, and each channel's write spacing.

Discord allows a bot 50 requests per second in all (rate-limits.md, "Global Rate Limit"; interaction
responses and follow-ups are exempt, and go another way in discord.py) and about 5 message writes per
5 s in one channel (the per-route bucket the emulator models, learnt from X-RateLimit headers). When many
replies stream at once the global budget is the scarce one, so it is handed out by priority instead of
first come, first served:

1. a reply's final text and whole messages (an agent's message, a failure line) go first;
2. then every other request, oldest first: a streamed edit counts from when its oldest unshown text
   arrived, anything else (a thread being opened, a fetch) from when it asked;
3. typing indicators only when nobody else is waiting, and never with the bucket's last slot: a reply's first
   text, which often arrives a moment after its typing indicator, then goes out at once instead of waiting for
   the next slot (1/45 s later). With a burst of one (a process's share of several) there is no slot to keep.

A streamed edit asks for its slot *before* reading the text it will show (`WritePacer.turn`), so the
text that goes out is the newest there is when the slot comes, not what was there when it queued.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import itertools
import math
import time
import weakref
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from enum import IntEnum

from bot.replies.shared_rate import SharedRate

GLOBAL_REQUESTS_PER_S = 45.0
GLOBAL_BURST = 3
"""Discord allows 50 requests/s per bot; 45/s plus a burst of 3 stays 2 under it in any second, which absorbs
the odd request discord.py retries by itself and some jitter between sending and Discord's count (a burst of
5 met a global 429 with 200 replies streaming, when the receiving side lagged)."""
WRITE_INTERVAL_S = 1.1
"""Streamed edits 1.1 s apart: about 4.5 writes per 5 s, inside the channel's bucket with headroom."""
CHANNEL_WRITES = 5
CHANNEL_WINDOW_S = 5.5
"""Discord allows about 5 creates+edits per 5 s per channel; counted over 5.5 s for margin."""


class Urgency(IntEnum):
    """The classes of `RequestRate`'s queue, most urgent first."""

    FINAL = 0
    """A reply's final text, or a whole message: what members would otherwise wait longest for."""
    WAITING = 1
    """Everything else, oldest first (streamed edits by the age of their oldest unshown text)."""
    BACKGROUND = 2
    """Nice to have (the typing indicator): only when no other request waits."""


Priority = tuple[Urgency, float]
"""(class, since): lower goes first; `since` is a `time.monotonic()` reading."""
PriorityOf = Callable[[], Priority]
"""Read when a slot is handed out, so a request waiting in the queue can become more urgent."""

_priority: contextvars.ContextVar[PriorityOf | None] = contextvars.ContextVar("rest_priority", default=None)
_prepaid: contextvars.ContextVar[bool] = contextvars.ContextVar("rest_prepaid", default=False)


@contextlib.contextmanager
def requests_at(priority: PriorityOf) -> Iterator[None]:
    """REST calls made inside this block (in this task) queue at `priority` instead of `Urgency.WAITING`."""
    token = _priority.set(priority)
    try:
        yield
    finally:
        _priority.reset(token)


@contextlib.contextmanager
def prepaid() -> Iterator[None]:
    """The next REST call inside this block (in this task) has its global slot already (see `WritePacer.turn`)."""
    token = _prepaid.set(True)
    try:
        yield
    finally:
        _prepaid.reset(token)


def waiting_since(since: float | None = None) -> PriorityOf:
    """A fixed `Urgency.WAITING` priority counted from `since` (default: now)."""
    priority = (Urgency.WAITING, time.monotonic() if since is None else since)
    return lambda: priority


def final_from(since: float) -> PriorityOf:
    """A fixed `Urgency.FINAL` priority counted from `since` (a `time.monotonic()` reading)."""
    priority = (Urgency.FINAL, since)
    return lambda: priority


@dataclass(order=True)
class _Waiter:
    key: Priority
    order: int
    priority: PriorityOf = field(compare=False)
    granted: asyncio.Future[None] = field(compare=False)


class RequestRate:
    """A token bucket for every REST call the bot makes, handed out by priority (see the module's docstring).

    discord.py learns per-route buckets from headers but only reacts to the global limit after a 429, so
    every call waits here first; busy moments then queue instead of meeting 429s.
    """

    def __init__(
        self, per_s: float = GLOBAL_REQUESTS_PER_S, burst: int | None = None, *, shared: SharedRate | None = None
    ) -> None:
        """`per_s` is this process's share of the bot's budget (requests per second). The burst shrinks with
        the share, so that N processes at 45/N each (a burst of about 3/N) never send more than 50 requests
        in any second. With `shared` (bot/replies/shared_rate.py) every process may use the whole budget, each
        request counted in one window with every other process's; `per_s` is then the share kept while Redis
        does not answer."""
        self._own_per_s = per_s
        self._own_burst = float(
            burst if burst is not None else max(1, int(GLOBAL_BURST * per_s / GLOBAL_REQUESTS_PER_S))
        )
        self._shared = shared
        self._tokens = self._burst
        self._updated = time.monotonic()
        self._waiting: list[_Waiter] = []
        self._order = itertools.count()
        self._dispatcher: asyncio.Task[None] | None = None
        self._arrived = asyncio.Event()

    @property
    def _per_s(self) -> float:
        """The local pace: the whole budget while the shared window answers, else this process's share."""
        return GLOBAL_REQUESTS_PER_S if self._shared is not None and self._shared.healthy else self._own_per_s

    @property
    def _burst(self) -> float:
        return float(GLOBAL_BURST) if self._shared is not None and self._shared.healthy else self._own_burst

    @property
    def waiting(self) -> int:
        """Requests queued for a slot now."""
        return len(self._waiting)

    async def acquire(self, priority: PriorityOf | None = None) -> None:
        """Wait for a slot: at once when the bucket has one and nobody waits, else in priority order.

        `priority` defaults to the one set by `requests_at`, else `Urgency.WAITING` from now. Cancelling the
        wait gives the place up (a slot already handed over is spent)."""
        if priority is None:
            priority = _priority.get() or waiting_since()
        self._refill()
        if self._shared is None and not self._waiting and self._tokens >= 1 + self._kept_from(priority()):
            self._tokens -= 1
            return
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiter(priority(), next(self._order), priority, granted))
        if self._dispatcher is None or self._dispatcher.done():
            self._dispatcher = asyncio.create_task(self._dispatch(), name="rest-budget")
        self._arrived.set()
        try:
            await granted
        except asyncio.CancelledError:
            self._waiting = [w for w in self._waiting if w.granted is not granted]
            raise

    async def close(self) -> None:
        """Stop handing out slots: waiters still queued are cancelled (the bot is closing)."""
        dispatcher, self._dispatcher = self._dispatcher, None
        if dispatcher is not None:
            dispatcher.cancel()
            await asyncio.gather(dispatcher, return_exceptions=True)
        for waiter in self._waiting:
            waiter.granted.cancel()
        self._waiting.clear()
        if self._shared is not None:
            self._shared.close()

    async def acquire_for_call(self) -> None:
        """The slot of one REST call about to be sent: none if `prepaid()` covers it, else `acquire()`."""
        if _prepaid.get():
            _prepaid.set(False)
            return
        await self.acquire()

    def _kept_from(self, key: Priority) -> float:
        """Slots a request of this priority must leave in the bucket: one for a background request (the typing
        indicator), when the burst has room for it."""
        return 1.0 if key[0] is Urgency.BACKGROUND and self._burst >= 2 else 0.0

    def _refill(self) -> None:
        now = time.monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self._updated) * self._per_s)
        self._updated = now

    async def _dispatch(self) -> None:
        """Hand each slot, as the bucket refills, to the most urgent waiter (priorities read at that moment)."""
        while True:
            self._waiting = [w for w in self._waiting if not w.granted.done()]
            if not self._waiting:
                self._arrived.clear()
                await self._arrived.wait()
                continue
            self._refill()
            if self._tokens < 1:
                await asyncio.sleep((1 - self._tokens) / self._per_s)
                continue
            for waiter in self._waiting:
                waiter.key = waiter.priority()
            best = min(self._waiting)
            kept = self._kept_from(best.key)
            if self._tokens < 1 + kept:  # only background waits, and the last slot stays for what comes next
                self._arrived.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._arrived.wait(), (1 + kept - self._tokens) / self._per_s)
                continue
            self._waiting.remove(best)
            self._tokens -= 1
            if self._shared is not None and self._shared.healthy:
                await self._shared.take()  # waits while the bot's window is full; False: Redis failed, go on
            if not best.granted.done():
                best.granted.set_result(None)
            await asyncio.sleep(0)  # let the granted request go out before the next slot is handed over


class WritePacer:
    """Write slots for one channel: never more than 5 in any window, and streamed edits evenly spaced.

    Discrete posts (a notice, an agent's next message) may go out back to back while the channel's
    budget allows; a streaming edit also waits `interval_s` after the previous write, so a long reply
    keeps a steady pace instead of bursting and then stalling. With a `RequestRate`, each slot also
    holds its place in the bot's global budget.
    """

    def __init__(
        self,
        interval_s: float = WRITE_INTERVAL_S,
        writes: int = CHANNEL_WRITES,
        window_s: float = CHANNEL_WINDOW_S,
        *,
        budget: RequestRate | None = None,
    ) -> None:
        self._interval_s = interval_s
        self._window_s = window_s
        self._recent: deque[float] = deque(maxlen=writes)  # the channel's last writes (its 5-per-5 s bucket)
        self._last = -math.inf  # the last write of any kind, followups included (for the steady spacing)
        self._lock = asyncio.Lock()
        self._budget = budget

    @property
    def budget(self) -> RequestRate | None:
        """The bot's global budget this channel's writes draw on, if any."""
        return self._budget

    async def slot(self, *, steady: bool = True) -> None:
        """Wait until a write may go out in this channel, and claim it (the global budget is then met by the
        REST call itself)."""
        async with self._lock:
            await self._wait(steady)
            self._recent.append(time.monotonic())
            self._last = self._recent[-1]

    def count_channel_write(self) -> None:
        """A write meant for an interaction's followups went to the channel after all: it counts in the window."""
        self._recent.append(time.monotonic())

    @contextlib.asynccontextmanager
    async def turn(self, priority: PriorityOf, *, steady: bool = True, followup: bool = False) -> AsyncIterator[None]:
        """One write: the channel's spacing, then a global slot at `priority`; the first REST call inside the
        block uses that slot (`prepaid`). Read what to write inside the block, so it is the newest.

        `followup=True`: the write goes to an interaction's webhook, which has its own bucket (5 per 2 s per
        webhook: discord-api-docs issue 367) and is outside the global limit, so only the steady spacing
        applies (a REST call made inside anyway queues for its own slot, at `priority`)."""
        async with self._lock:
            await self._wait(steady, windowed=not followup)
            if followup:
                self._last = time.monotonic()
                with requests_at(priority):
                    yield
                return
            if self._budget is not None:
                await self._budget.acquire(priority)
            self._last = time.monotonic()
            self._recent.append(self._last)
            if self._budget is None:
                yield
                return
            with prepaid():
                yield

    async def _wait(self, steady: bool, *, windowed: bool = True) -> None:
        now = time.monotonic()
        wait = 0.0
        if steady:
            wait = self._last + self._interval_s - now
        if windowed and len(self._recent) == self._recent.maxlen:
            wait = max(wait, self._recent[0] + self._window_s - now)
        if wait > 0:
            await asyncio.sleep(wait)


class ChannelPacers:
    """One pacer per channel, shared by every reply in it and dropped when unused."""

    def __init__(self, interval_s: float = WRITE_INTERVAL_S, *, budget: RequestRate | None = None) -> None:
        self._interval_s = interval_s
        self._budget = budget
        self._pacers: weakref.WeakValueDictionary[int, WritePacer] = weakref.WeakValueDictionary()

    def __getitem__(self, channel_id: int) -> WritePacer:
        pacer = self._pacers.get(channel_id)
        if pacer is None:
            pacer = WritePacer(self._interval_s, budget=self._budget)
            self._pacers[channel_id] = pacer
        return pacer
