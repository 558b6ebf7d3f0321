"""The contract between a running turn and where its reply goes: the Discord side implements `ReplySink`
(bot/replies/streaming.py), the core reports through `TurnWatcher`, and `Undeliverable` says why Discord can no
longer show a reply. Also `TurnMetrics`, where finished turns and their usage are counted."""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Protocol

from bot.providers.base import Event

if TYPE_CHECKING:
    from bot.store import TurnUsage


class Undeliverable(enum.Enum):
    """Why Discord can no longer show a reply."""

    GONE = "gone"
    """The channel or thread was deleted: the conversation ends with it."""
    BLOCKED = "blocked"
    """The thread was locked, or the bot lost access or a permission there: the turn ends, the conversation stays."""
    UNREACHABLE = "unreachable"
    """Discord did not answer for too long: the turn ends."""
    MOVED = "moved"
    """Another process follows this session's provider now: this one stops without a word."""
    UNFOLLOWED = "unfollowed"
    """The store did not confirm this process still follows the provider: it stops, and says so."""


class TurnWatcher(Protocol):
    """What a sink reports to the core while a turn runs, and what it may offer members on the reply."""

    @property
    def reply_id(self) -> int:
        """The reply's transcript entry: its Stop and Retry buttons name it."""

    @property
    def retryable(self) -> bool:
        """A member's turn can be sent again should this reply fail (it answers a message, not a resumption)."""

    async def shown(self, text: str) -> None:
        """Members can now see `text` (the reply so far, as shown)."""

    def undeliverable(self, why: Undeliverable) -> None:
        """Nothing more of this reply can be shown; the turn should end now."""


class ReplySink(Protocol):
    """Where a turn's events go; the Discord renderer implements it. Must not raise (but may be cancelled)."""

    @property
    def shown_text(self) -> str:
        """The reply as members can see it so far (streamed text, then whole messages, joined)."""

    @property
    def delivered_all(self) -> bool:
        """Everything handed to the sink so far reached Discord."""

    @property
    def message_ids(self) -> list[int]:
        """The Discord messages showing the reply (for commands on them later)."""

    def watch(self, watcher: TurnWatcher) -> None: ...

    async def handle(self, event: Event) -> None: ...

    async def finish(self) -> None: ...

    async def fail(self, message: str) -> None: ...

    async def stopped(self, by: str, *, following: bool) -> None:
        """A member pressed Stop (the provider is no longer read): show what arrived, say who stopped it (and, if
        `following`, that the bot no longer follows the provider's work), and remove the Stop button."""

    async def interrupt(self, *, finished: bool) -> None:
        """The bot is stopping: show what arrived within a short grace, and say it was cut off unless
        `finished` (the provider had answered in full) and all of it could be shown."""

    def stop(self) -> None:
        """Send nothing more (the turn was abandoned from outside)."""


class TurnMetrics(Protocol):
    """Where finished turns are counted (bot/ops/metrics.py `Metrics`)."""

    def turn_finished(self, provider: str, outcome: str, first_byte_s: float | None, total_s: float) -> None: ...

    def usage_recorded(self, provider: str, outcome: str, usage: TurnUsage, chars_in: int, audio_in_s: float) -> None:
        """A member's turn entered in the usage ledger (bot/core/quotas.py)."""
