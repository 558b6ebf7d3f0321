"""How much of a provider's reply the bot reads: a reply that runs past `max_chars` is cut there.

A provider that keeps writing (a runaway model, a stream that never ends, a huge answer) would otherwise fill a
thread with dozens of messages and keep the bot reading; at the cap the turn stops reading the provider (its
response is closed) and the thread says the reply was cut. Only text members would read counts (streamed
deltas and whole messages); the cap is `MAX_REPLY_CHARS` (default ten Discord messages).
"""

from __future__ import annotations

from dataclasses import replace

from bot.config.settings import DEFAULT_MAX_REPLY_CHARS
from bot.providers.base import Event, Said, TextDelta

__all__ = ["CUT_NOTICE", "DEFAULT_MAX_REPLY_CHARS", "ReplyCap"]
CUT_NOTICE = "✂️ {provider} kept writing, so this reply was cut at {chars:,} characters, the most shown here."


class ReplyCap:
    """Counts a reply's text as it arrives and shortens the event that reaches the cap."""

    def __init__(self, max_chars: int) -> None:
        self.max_chars = max_chars
        self._left = max_chars
        self.cut = False
        """The reply reached the cap: nothing more is read."""

    def admit(self, event: Event) -> Event | None:
        """`event` as much of it fits (None if none of its text does); other events pass unchanged."""
        if not isinstance(event, TextDelta | Said):
            return event
        if len(event.text) <= self._left:
            self._left -= len(event.text)
            return event
        kept, self._left, self.cut = event.text[: self._left], 0, True
        return replace(event, text=kept) if kept else None
