"""Spacing of message creates and edits per channel, so streaming never meets Discord's 429s."""

from __future__ import annotations

import asyncio
import time
import weakref

WRITE_INTERVAL_S = 1.1
"""Discord allows about 5 creates+edits per 5 s per channel; 1.1 s apart stays inside with headroom."""


class WritePacer:
    """Hands out one write slot at a time, at least `interval_s` apart."""

    def __init__(self, interval_s: float = WRITE_INTERVAL_S) -> None:
        self._interval_s = interval_s
        self._next_slot = 0.0
        self._lock = asyncio.Lock()

    def ready(self) -> bool:
        return time.monotonic() >= self._next_slot and not self._lock.locked()

    async def slot(self) -> None:
        """Wait until a write may go out, and claim it."""
        async with self._lock:
            delay = self._next_slot - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            self._next_slot = time.monotonic() + self._interval_s


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
