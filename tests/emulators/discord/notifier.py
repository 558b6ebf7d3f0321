"""Event-driven waiting for tests.

Every state change in the emulator calls :meth:`Notifier.notify`; waiters re-check their
predicate then, so they wake the moment the thing they wait for happens. Predicates may also
look at state the emulator cannot observe (the bot's own cache), so waiters additionally
re-check every ``recheck_s`` (20 ms) as a fallback.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable


class Notifier:
    """A broadcast "something changed" signal with predicate waiting."""

    def __init__(self, recheck_s: float = 0.02) -> None:
        self._event = asyncio.Event()
        self.version = 0
        self.recheck_s = recheck_s

    def notify(self) -> None:
        """Wake every waiter so it re-evaluates its predicate."""
        self.version += 1
        self._event.set()
        self._event = asyncio.Event()

    async def wait_for(
        self,
        predicate: Callable[[], bool],
        timeout: float = 5.0,  # noqa: ASYNC109
        description: str | None = None,
    ) -> None:
        """Return once ``predicate()`` is true; raise ``TimeoutError`` after ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            remaining = deadline - loop.time()
            if remaining <= 0:
                what = description or _describe(predicate)
                raise TimeoutError(f"Discord emulator: timed out after {timeout:.1f}s waiting for {what}")
            event = self._event
            try:
                await asyncio.wait_for(event.wait(), timeout=min(remaining, self.recheck_s))
            except TimeoutError:
                continue


def _describe(predicate: Callable[[], bool]) -> str:
    """Best-effort source text of the predicate, so a timeout says what was awaited."""
    try:
        source = inspect.getsource(predicate).strip()
    except (OSError, TypeError):
        return getattr(predicate, "__qualname__", repr(predicate))
    return " ".join(source.split())[:300]
