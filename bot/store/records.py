"""What the store hands back: sessions, bindings, unfinished replies, usage and quotas, and the errors it raises."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from bot.providers.base import HistoryEntry

EntryStatus = Literal["complete", "streaming", "interrupted", "failed", "stopped", "replaced"]
"""complete; streaming (in progress); interrupted (cut off: a restart, or Discord could not show it); failed (the
provider failed); stopped (a member pressed Stop); replaced (Retry or Regenerate made a newer one)."""


class SessionExists(Exception):
    """The channel already has an active session (or, for a restart, the old one is no longer active)."""


class DuplicateTurn(Exception):
    """That Discord message was already taken as a turn (Discord delivered it twice)."""


@dataclass(frozen=True)
class SessionRecord:
    """One conversation with a provider in one Discord channel or thread."""

    id: int
    channel_id: int
    guild_id: int | None
    provider: str
    state: dict[str, Any]
    started_by: int
    started_at: float
    ended_at: float | None
    last_active_at: float = 0.0

    @property
    def active(self) -> bool:
        return self.ended_at is None

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> SessionRecord:
        """From a `sessions` row (column name -> value)."""
        return cls(
            id=row["id"],
            channel_id=row["channel_id"],
            guild_id=row["guild_id"],
            provider=row["provider"],
            state=json.loads(row["state"]),
            started_by=row["started_by"],
            started_at=row["started_at"],
            ended_at=row["ended_at"],
            last_active_at=row["last_active_at"] or row["started_at"],
        )


@dataclass(frozen=True)
class Binding:
    """A channel given to one provider: each message opens a thread (`thread`) or the channel is one chat."""

    channel_id: int
    guild_id: int
    provider: str
    mode: Literal["thread", "channel"]
    options: dict[str, str | None]
    """The provider's `/bind` options (aBLT bot, Soundverse action, Convai character...), as /chat takes them."""


@dataclass(frozen=True)
class Entry:
    """One transcript entry: a member's turn or a reply, with its status and what it carried (`extras`:
    `sources` [{title, url}], `voice` (a voice note; `content` is what was heard), `pick` (a choice's label),
    `files` [names], `stopped_by` (the member id who pressed Stop), `forwarded`...)."""

    id: int
    session_id: int
    role: Literal["user", "assistant"]
    content: str
    author_id: int | None
    status: EntryStatus
    created_at: float
    message_id: int | None
    extras: dict[str, Any]

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> Entry:
        return cls(
            id=row["id"],
            session_id=row["session_id"],
            role=row["role"],
            content=row["content"],
            author_id=row["author_id"],
            status=row["status"],
            created_at=row["created_at"],
            message_id=row["message_id"],
            extras=json.loads(row["extras"] or "{}"),
        )


@dataclass(frozen=True)
class UnfinishedReply:
    """A reply still marked streaming when the bot started: the last process stopped in the middle of it."""

    entry_id: int
    session_id: int
    channel_id: int
    content: str


# Usage ledger and quotas (bot/store/usage.py, bot/store/quota_rules.py) ---------------------------------------

KINDS = ("text", "voice", "choice", "retry", "regenerate")
"""What a turn was: a member's text (and text files), a voice note, a choice picked (Agentverse options, Convai
starters), Retry, Regenerate."""
OUTCOMES = ("pending", "complete", "failed", "stopped", "interrupted", "cut")
"""How a turn ended; "pending" until it does."""
GROUPS = ("day", "provider", "member_id", "guild_id", "kind", "outcome")
"""What `UsageStore.totals` may group by."""


@dataclass(frozen=True)
class CounterCheck:
    """One quota counter a turn must fit in. `scope`: "member:{guild_id}:{member_id}" or "guild:{guild_id}",
    optionally suffixed ":{provider}" for a per-provider quota. `period`: "d:YYYY-MM-DD" or "m:YYYY-MM" in the
    server's own timezone. A limit of None is not checked. Raises ValueError for a period of another shape."""

    scope: str
    period: str
    max_turns: int | None
    max_chars: int | None

    def __post_init__(self) -> None:
        if not self.period.startswith(("d:", "m:")):
            raise ValueError(f"a counter's period is d:YYYY-MM-DD or m:YYYY-MM, not {self.period!r}")

    def has_room(self, turns: int, chars: int) -> bool:
        """Whether a counter at `turns` and `chars` lets one more turn through."""
        return (self.max_turns is None or turns < self.max_turns) and (self.max_chars is None or chars < self.max_chars)


@dataclass(frozen=True)
class TurnStart:
    """What the ledger knows when a turn is let through. `at`: epoch seconds; `day`: the server-local date
    "YYYY-MM-DD"; `guild_id` 0 in a DM; `kind` one of KINDS (else ValueError); `chars_in`: characters the member
    sent (text and text files); `audio_in_s`: seconds of voice note sent; `files`: attachments sent."""

    at: float
    day: str
    guild_id: int
    channel_id: int
    member_id: int
    provider: str
    kind: str
    chars_in: int
    audio_in_s: float
    files: int

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"a turn's kind is one of {KINDS}, not {self.kind!r}")


@dataclass(frozen=True)
class SaidEntry:
    """A member's words as the transcript takes them, with their turn's reserve or alone (bot/store/said.py):
    `message_id` the member's Discord message (taken once), `extras` its JSON-able details (files, voice). Taking
    them marks the session active; with `opens_reply` the reply's entry (status "streaming", written by process
    `reply_owner`) is added in the same step, and with `with_history` the turns before the words come back."""

    session_id: int
    content: str
    author_id: int
    message_id: int | None
    extras: Mapping[str, Any]
    opens_reply: bool = False
    reply_owner: str | None = None
    with_history: bool = False


@dataclass(frozen=True)
class OpenedTurn:
    """What a `SaidEntry` added and found: the words' entry, the reply's (0 unless it `opens_reply`), the
    session's state as the step found it (None where no step ran: a replay's), and with `with_history` every
    earlier turn with text, oldest first (as `TranscriptStore.history`)."""

    said_id: int
    reply_id: int = 0
    state: dict[str, Any] | None = None
    history: tuple[HistoryEntry, ...] = ()


class SessionEnded(Exception):
    """The session ended before a member's words could open their turn in it: nothing was added or counted."""


@dataclass(frozen=True)
class TurnUsage:
    """What the ledger learns when the turn ends. `provider_s`: seconds from sending to the provider until its last
    event; `outcome`: one of OUTCOMES but "pending" (else ValueError)."""

    chars_out: int
    audio_out_s: float
    provider_s: float
    outcome: str

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES[1:]:
            raise ValueError(f"a finished turn's outcome is one of {OUTCOMES[1:]}, not {self.outcome!r}")


@dataclass(frozen=True)
class UsageFinish:
    """A turn's end for the ledger: its row, its usage, and the checks it reserved with (they get `chars_out`)."""

    ledger_id: int
    usage: TurnUsage
    checks: tuple[CounterCheck, ...]


@dataclass(frozen=True)
class UsageRow:
    """Totals of ledger rows grouped by some of GROUPS (a field not grouped by is None)."""

    day: str | None
    provider: str | None
    member_id: int | None
    guild_id: int | None
    kind: str | None
    outcome: str | None
    turns: int
    chars_in: int
    chars_out: int
    audio_in_s: float
    audio_out_s: float
    files: int
    provider_s: float


@dataclass(frozen=True)
class QuotaRule:
    """A quota a server's managers set. `target`: "member" (every member), "role:{role_id}" or "server" (the whole
    server); `provider`: "" for every provider, else a provider key; `period`: "day" or "month"."""

    guild_id: int
    target: str
    provider: str
    period: str
    max_turns: int | None
    max_chars: int | None

    def __post_init__(self) -> None:
        if self.period not in ("day", "month"):
            raise ValueError(f"a quota's period is day or month, not {self.period!r}")
