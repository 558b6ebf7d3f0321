"""Event-loop lag: how late the loop runs a callback that was due, measured inside the bot.

A timer is asked to fire every `interval_s`; each time it fires, how late it is (seconds past the moment
it was due) is handed to `observe` (the bot feeds `Metrics.loop_lag`, a histogram on /metrics). A loop
that is never blocked fires it within a fraction of a millisecond; a coroutine that computes for 300 ms
without awaiting shows up as one sample of up to 300 ms. This is what Node's `monitorEventLoopDelay` and
the usual asyncio "lag monitors" measure: the delay a callback becoming ready at a random moment waits.

The cost is one `loop.call_at` and one histogram observation per interval (20 a second at the default
50 ms): a few microseconds a second, no task and no future. A stall longer than the interval is one
sample (the timer is re-armed from the moment it ran), so the samples are spread over time, not over stalls.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

INTERVAL_S = 0.05
"""How often the timer is due, in seconds: 20 samples a second."""


class LoopLagMonitor:
    """Samples the running event loop's lag every `interval_s` seconds and reports each sample, in seconds.

    `observe(lag_s)` is called on the loop itself, once per sample, with the lateness (>= 0) of a timer
    that was due `interval_s` after the previous sample. Start it from a coroutine (it needs the running
    loop); `stop()` is safe to call more than once, and a stopped monitor can be started again.
    """

    def __init__(self, observe: Callable[[float], None], interval_s: float = INTERVAL_S) -> None:
        if not interval_s > 0:
            raise ValueError("the sampling interval must be positive")
        self._observe = observe
        self._interval_s = interval_s
        self._handle: asyncio.TimerHandle | None = None
        self._due = 0.0

    @property
    def running(self) -> bool:
        """True between `start()` and `stop()`."""
        return self._handle is not None

    def start(self) -> None:
        """Arm the timer on the running loop (`RuntimeError` outside one); a second call does nothing."""
        if self._handle is not None:
            return
        loop = asyncio.get_running_loop()
        self._arm(loop, loop.time())

    def stop(self) -> None:
        """Cancel the timer; no sample is reported after this."""
        handle, self._handle = self._handle, None
        if handle is not None:
            handle.cancel()

    def _arm(self, loop: asyncio.AbstractEventLoop, now: float) -> None:
        self._due = now + self._interval_s
        self._handle = loop.call_at(self._due, self._tick, loop)

    def _tick(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        # The loop may run a timer up to its clock resolution early: that is no lag.
        lag_s = max(0.0, now - self._due)
        self._arm(loop, now)
        self._observe(lag_s)
