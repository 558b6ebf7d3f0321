"""Spacing of message creates and edits per channel, so streaming never meets Discord's 429s."""

from __future__ import annotations

import asyncio
import time
import weakref
from collections import deque

GLOBAL_REQUESTS_PER_S = 45.0
GLOBAL_BURST = 5
"""Discord allows 50 requests/s per bot; 45/s plus a burst of 5 never exceeds 50 in any second."""
WRITE_INTERVAL_S = 1.1
"""Streamed edits 1.1 s apart: about 4.5 writes per 5 s, inside the channel's bucket with headroom."""
CHANNEL_WRITES = 5
CHANNEL_WINDOW_S = 5.5
"""Discord allows about 5 creates+edits per 5 s per channel; counted over 5.5 s for margin."""


class WritePacer:
    """Write slots for one channel: never more than 5 in any window, and streamed edits evenly spaced.

    Discrete posts (a notice, an agent's next message) may go out back to back while the channel's
    budget allows; a streaming edit also waits `interval_s` after the previous write, so a long reply
    keeps a steady pace instead of bursting and then stalling.
    """

    def __init__(
        self, interval_s: float = WRITE_INTERVAL_S, writes: int = CHANNEL_WRITES, window_s: float = CHANNEL_WINDOW_S
    ) -> None:
        self._interval_s = interval_s
        self._window_s = window_s
        self._recent: deque[float] = deque(maxlen=writes)
        self._lock = asyncio.Lock()

    async def slot(self, *, steady: bool = True) -> None:
        """Wait until a write may go out, and claim it."""
        async with self._lock:
            now = time.monotonic()
            wait = 0.0
            if steady and self._recent:
                wait = self._recent[-1] + self._interval_s - now
            if len(self._recent) == self._recent.maxlen:
                wait = max(wait, self._recent[0] + self._window_s - now)
            if wait > 0:
                await asyncio.sleep(wait)
            self._recent.append(time.monotonic())


class ChannelPacers:
    """One pacer per channel, shared by every reply in it and dropped when unused."""

    def __init__(self, interval_s: float = WRITE_INTERVAL_S) -> None:
        self._interval_s = interval_s
        self._pacers: weakref.WeakValueDictionary[int, WritePacer] = weakref.WeakValueDictionary()

    def __getitem__(self, channel_id: int) -> WritePacer:
        pacer = self._pacers.get(channel_id)
        if pacer is None:
            pacer = WritePacer(self._interval_s)
            self._pacers[channel_id] = pacer
        return pacer


class RequestRate:
    """A token bucket for every REST call the bot makes, so busy moments queue instead of meeting 429s.

    discord.py learns per-route buckets from headers but only reacts to the global limit after a 429.
    """

    def __init__(self, per_s: float = GLOBAL_REQUESTS_PER_S, burst: int | None = None) -> None:
        """`per_s` is this process's share of the bot's budget. The burst shrinks with the share, so that N
        processes at 45/N each (a burst of about 5/N) never send more than 50 requests in any second."""
        self._per_s = per_s
        if burst is None:
            burst = max(1, int(GLOBAL_BURST * per_s / GLOBAL_REQUESTS_PER_S))
        self._burst = float(burst)
        self._tokens = float(burst)
        self._updated = time.monotonic()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            now = time.monotonic()
            self._tokens = min(self._burst, self._tokens + (now - self._updated) * self._per_s)
            self._updated = now
            if self._tokens < 1:
                await asyncio.sleep((1 - self._tokens) / self._per_s)
                self._tokens, self._updated = 1.0, time.monotonic()
            self._tokens -= 1
