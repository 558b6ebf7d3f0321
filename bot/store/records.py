"""What the store hands back: sessions, bindings, unfinished replies, and the errors it raises."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

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
