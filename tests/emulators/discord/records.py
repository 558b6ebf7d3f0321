"""Records of what the bot did, in the terms a person in the channel would perceive.

Records are live objects: the emulator mutates them as edits, deletions and callbacks happen,
so a test can hold a reference and assert on its latest state.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .notifier import Notifier

if TYPE_CHECKING:
    from .faults import Fault

EPHEMERAL_FLAG = 1 << 6
LOADING_FLAG = 1 << 7
SUPPRESS_NOTIFICATIONS_FLAG = 1 << 12
VOICE_MESSAGE_FLAG = 1 << 13
HAS_SNAPSHOT_FLAG = 1 << 14
COMPONENTS_V2_FLAG = 1 << 15


@dataclass(frozen=True)
class Pings:
    """Mentions that resolve to real targets: who gets highlighted (and, at creation, notified)."""

    users: frozenset[int] = frozenset()
    roles: frozenset[int] = frozenset()
    everyone: bool = False

    @property
    def any(self) -> bool:
        return bool(self.users or self.roles or self.everyone)

    def union(self, other: Pings) -> Pings:
        return Pings(self.users | other.users, self.roles | other.roles, self.everyone or other.everyone)


@dataclass
class AttachmentSpec:
    """A file a simulated user uploads (``send_user_message(..., attachments=[...])``)."""

    filename: str
    data: bytes
    content_type: str | None = None
    duration_secs: float | None = None
    waveform: str | None = None  # base64, as Discord sends it
    description: str | None = None
    served: bytes | None = None
    """What the fake CDN serves instead of ``data``, whose length stays the attachment's ``size``: a file whose
    body does not match its metadata (see ``attachments.py`` for why Discord cannot rule that out)."""
    chunked: bool = False
    """Serve the body with chunked transfer encoding, so no Content-Length announces its length."""
    held: asyncio.Event | None = None
    """The fake CDN answers a download only once this is set: a file that takes as long to arrive as a test needs."""


@dataclass
class AttachmentRecord:
    """A stored attachment, with its bytes, as served from the emulator's fake CDN."""

    id: int
    filename: str
    content_type: str | None
    size: int
    data: bytes
    url: str
    description: str | None = None
    duration_secs: float | None = None
    waveform: str | None = None
    title: str | None = None
    flags: int = 0
    uploaded_content_type: str | None = None  # the multipart part's own Content-Type
    served: bytes | None = None  # the CDN body when it is not ``data`` (AttachmentSpec.served)
    chunked: bool = False  # the CDN answers without a Content-Length (AttachmentSpec.chunked)
    held: asyncio.Event | None = None  # the CDN answers once it is set (AttachmentSpec.held)

    @property
    def body(self) -> bytes:
        """What the fake CDN serves for this attachment."""
        return self.data if self.served is None else self.served

    @property
    def is_voice_message(self) -> bool:
        return self.duration_secs is not None and self.waveform is not None


@dataclass
class MessageRecord:
    """One message as stored by the emulator (bot- or user-authored)."""

    id: int
    channel_id: int
    guild_id: int | None  # None in a DM
    author_id: int
    content: str
    embeds: list[dict[str, Any]] = field(default_factory=list)
    components: list[dict[str, Any]] = field(default_factory=list)
    flags: int = 0
    attachments: list[AttachmentRecord] = field(default_factory=list)
    allowed_mentions: dict[str, Any] | None = None  # exactly as sent on creation (None = absent)
    created_at: float = field(default_factory=time.monotonic)
    edits: list[tuple[float, str]] = field(default_factory=list)  # (monotonic t, content), initial first
    type: int = 0
    webhook_id: int | None = None
    application_id: int | None = None
    interaction_id: int | None = None
    interaction_type: int | None = None
    interaction_user_id: int | None = None
    command_name: str | None = None
    message_reference: dict[str, Any] | None = None
    tts: bool = False
    nonce: str | int | None = None
    sticker_ids: list[str] = field(default_factory=list)
    poll: dict[str, Any] | None = None
    pings: Pings = field(default_factory=Pings)  # would notify at creation (edits never notify)
    mentions: Pings = field(default_factory=Pings)  # highlighted in the current version
    ever_mentioned: Pings = field(default_factory=Pings)  # union over every version
    edit_allowed_mentions: list[dict[str, Any] | None] = field(default_factory=list)
    edited_timestamp: str | None = None
    deleted: bool = False
    deleted_at: float | None = None
    reactions: list[str] = field(default_factory=list)
    thread_id: int | None = None  # thread started from this message
    # A forward's copy of the source message, taken when the forward was made (never updated).
    message_snapshots: list[dict[str, Any]] = field(default_factory=list)
    webhook_username: str | None = None  # the name a webhook posted under (author is the webhook)

    @property
    def is_forward(self) -> bool:
        return bool(self.message_reference and self.message_reference.get("type") == 1)

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & EPHEMERAL_FLAG)

    @property
    def loading(self) -> bool:
        """True while a deferred ("thinking") response has not been filled in."""
        return bool(self.flags & LOADING_FLAG)

    @property
    def is_voice_message(self) -> bool:
        return bool(self.flags & VOICE_MESSAGE_FLAG)

    @property
    def edit_count(self) -> int:
        return len(self.edits) - 1

    def custom_ids(self) -> list[str]:
        """Every ``custom_id`` in the message's components (handy for clicking buttons)."""
        found: list[str] = []

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                if isinstance(node.get("custom_id"), str):
                    found.append(node["custom_id"])
                for value in node.values():
                    walk(value)
            elif isinstance(node, list):
                for item in node:
                    walk(item)

        walk(self.components)
        return found


@dataclass
class ThreadRecord:
    """A thread channel as the emulator models it."""

    id: int
    guild_id: int
    parent_id: int
    name: str
    type: int  # 11 public, 12 private
    owner_id: int
    starter_message_id: int | None
    auto_archive_duration: int
    archived: bool = False
    locked: bool = False
    invitable: bool = True
    rate_limit_per_user: int = 0
    member_ids: list[int] = field(default_factory=list)
    message_count: int = 0
    total_message_sent: int = 0
    created_at: float = field(default_factory=time.monotonic)
    archive_timestamp: str = ""
    create_timestamp: str = ""
    renames: list[tuple[float, str]] = field(default_factory=list)
    deleted: bool = False  # a moderator deleted it (or its channel); every request on it now gets 10003
    deleted_at: float | None = None

    @property
    def private(self) -> bool:
        return self.type == 12


@dataclass
class RequestRecord:
    """One HTTP request the bot made (the ``Authorization`` header is never stored)."""

    t: float
    method: str
    path: str
    status: int
    bucket: str | None = None
    route: str | None = None  # e.g. "POST /channels/{channel_id}/messages"
    query: str = ""
    json: Any = None  # the JSON body (or multipart payload_json), for debugging assertions
    rate_limited: str | None = None  # "user" / "global" (or "shared" from a fault) when answered with 429
    channel_id: int | None = None  # the route's {channel_id}, to tell which channel a request touched
    fault: Fault | None = None  # the injected fault that answered instead of (or after) the handler


@dataclass
class CallbackRecord:
    """One interaction callback (``POST /interactions/{id}/{token}/callback``)."""

    t: float
    type: int
    data: dict[str, Any] | None


@dataclass
class GatewayEventRecord:
    """One payload the emulator sent over a gateway connection."""

    t: float
    session_id: str | None
    op: int
    event: str | None
    seq: int | None


@dataclass
class InteractionRecord:
    """An interaction the emulator dispatched and everything the bot did in response."""

    id: int
    token: str
    type: int
    application_id: int
    guild_id: int | None  # None when invoked in a DM with the bot
    channel_id: int
    user_id: int
    data: dict[str, Any]
    payload: dict[str, Any]
    created_at: float = field(default_factory=time.monotonic)
    callbacks: list[CallbackRecord] = field(default_factory=list)
    original_message: MessageRecord | None = None
    followups: list[MessageRecord] = field(default_factory=list)
    choices: list[dict[str, Any]] | None = None  # autocomplete result
    modal: dict[str, Any] | None = None  # modal the bot opened (callback type 9)
    rejected_callbacks: int = 0  # late or duplicate callbacks that got an error
    forced_ephemeral: bool = False  # Discord makes every response ephemeral (see external_apps)
    rejected_followups: int = 0  # followups refused past the user-install limit (see external_apps)
    _notifier: Notifier | None = field(default=None, repr=False, compare=False)

    @property
    def authorizing_integration_owners(self) -> dict[str, str]:
        """``{"0": guild id or "0"}`` for the guild installation, ``{"1": user id}`` for a user's own."""
        return dict(self.payload.get("authorizing_integration_owners") or {})

    @property
    def context(self) -> int | None:
        """0 GUILD, 1 BOT_DM, 2 PRIVATE_CHANNEL (a DM between users or a group DM)."""
        return self.payload.get("context")

    @property
    def command_name(self) -> str | None:
        name = self.data.get("name")
        return name if isinstance(name, str) else None

    @property
    def custom_id(self) -> str | None:
        cid = self.data.get("custom_id")
        return cid if isinstance(cid, str) else None

    @property
    def response_type(self) -> int | None:
        return self.callbacks[0].type if self.callbacks else None

    @property
    def responded(self) -> bool:
        return bool(self.callbacks)

    @property
    def deferred(self) -> bool:
        return self.response_type in (5, 6)

    @property
    def ephemeral(self) -> bool:
        """Whether the original response is ephemeral (only the invoking user sees it)."""
        return self.original_message is not None and self.original_message.ephemeral

    @property
    def response_latency(self) -> float | None:
        """Seconds from dispatch to the first callback (Discord allows 3 s)."""
        return self.callbacks[0].t - self.created_at if self.callbacks else None

    @property
    def messages(self) -> list[MessageRecord]:
        """The original response (if any) followed by the followups, in creation order."""
        out = [self.original_message] if self.original_message is not None else []
        return out + list(self.followups)

    async def wait_for_response(self, timeout: float = 5.0) -> CallbackRecord:  # noqa: ASYNC109
        """Wait until the bot acknowledged the interaction; returns the first callback."""
        if self._notifier is None:
            raise RuntimeError("interaction record is not attached to an emulator")
        await self._notifier.wait_for(
            lambda: bool(self.callbacks), timeout, f"a callback for interaction {self.command_name or self.custom_id}"
        )
        return self.callbacks[0]

    async def wait_for_followups(self, count: int = 1, timeout: float = 5.0) -> list[MessageRecord]:  # noqa: ASYNC109
        """Wait until at least ``count`` followup messages exist."""
        if self._notifier is None:
            raise RuntimeError("interaction record is not attached to an emulator")
        await self._notifier.wait_for(lambda: len(self.followups) >= count, timeout, f"{count} followup(s)")
        return list(self.followups)
