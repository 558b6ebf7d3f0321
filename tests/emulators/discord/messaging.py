"""Creating, editing and deleting messages, and the gateway events Discord emits for them.

Shared by channel routes, interaction callbacks/webhooks, simulated users and webhooks, so the
limits, permission checks (:mod:`.access`), mention rules and MESSAGE_CONTENT gating are applied
identically everywhere. Messages in a DM carry no ``guild_id``/``member`` and skip guild permission
checks; who hears of a message, and with what body, is :mod:`.message_events`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import errors, forwards, message_events, payloads
from .access import Access
from .attachments import AttachmentStore
from .components_v2 import check_v2_message
from .gateway import DataFor, Gateway, GatewaySession
from .mentions import ALL_PARSE, USERS_ONLY, resolve_pings
from .notifier import Notifier
from .permissions import SEND_VOICE_MESSAGES, computed_permissions
from .records import (
    COMPONENTS_V2_FLAG,
    EPHEMERAL_FLAG,
    HAS_SNAPSHOT_FLAG,
    LOADING_FLAG,
    SUPPRESS_NOTIFICATIONS_FLAG,
    VOICE_MESSAGE_FLAG,
    AttachmentRecord,
    MessageRecord,
    Pings,
    ThreadRecord,
)
from .slowmode import Slowmode
from .snowflakes import iso_timestamp
from .validation import (
    UploadedFile,
    check_files,
    check_not_empty,
    check_voice_message,
    validate_message_fields,
)
from .world import World
from .world_types import INTENT_GUILDS

SUPPRESS_EMBEDS_FLAG = 1 << 2
CREATE_FLAGS = SUPPRESS_EMBEDS_FLAG | SUPPRESS_NOTIFICATIONS_FLAG | VOICE_MESSAGE_FLAG | COMPONENTS_V2_FLAG
MESSAGE_REPLY = 19
# enforce_nonce: "checked for uniqueness in the past few minutes" (message.mdx, Create Message
# params). How many minutes is not documented; 5 is inferred.
NONCE_WINDOW_S = 5 * 60.0
MAX_STICKERS = 3  # "IDs of up to 3 stickers in the server" (Create Message params)


@dataclass
class Origin:
    """Who is sending and through which surface (decides defaults such as mention parsing)."""

    author_id: int
    # "channel" (bot REST) | "interaction" (callback/webhook) | "user" (a member's client)
    # | "webhook" (a channel webhook) | "system" (a message Discord itself adds, e.g. THREAD_CREATED)
    kind: str = "channel"
    interaction_id: int | None = None
    interaction_type: int | None = None
    interaction_user_id: int | None = None
    command_name: str | None = None
    webhook_id: int | None = None
    message_type: int = 0
    webhook_username: str | None = None

    @property
    def default_parse(self) -> frozenset[str]:
        return USERS_ONLY if self.kind in ("interaction", "webhook") else ALL_PARSE

    @property
    def checked(self) -> bool:
        """Whether the author's channel permissions apply (a bot's or member's own message)."""
        return self.kind in ("channel", "user")


class MessageService:
    def __init__(self, world: World, gateway: Gateway, notifier: Notifier, *, max_file_size: int) -> None:
        self.world = world
        self.gateway = gateway
        self.notifier = notifier
        self.max_file_size = max_file_size
        self.access = Access(world)
        self.slowmode = Slowmode(world)
        self.store = AttachmentStore(world.ids)
        self.attachments: dict[int, AttachmentRecord] = self.store.files
        self.create_events: dict[int, DataFor] = {}  # message id -> its MESSAGE_CREATE (for redelivery)
        self._nonces: dict[tuple[int, str], tuple[float, int]] = {}
        # Set by the thread service: a user joined a thread by posting in it.
        self.on_thread_join: Callable[[ThreadRecord, int], None] = lambda thread, user_id: None

    # ---- create ----------------------------------------------------------------------------------
    def create(
        self,
        channel_id: int,
        payload: dict[str, Any],
        files: list[UploadedFile],
        origin: Origin,
        *,
        allow_empty: bool = False,
        extra_flags: int = 0,
    ) -> MessageRecord:
        world = self.world
        channel = world.channel_or_thread(channel_id)
        guild_id = world.message_guild_id(channel_id)
        ref = payload.get("message_reference")
        forwarding = forwards.is_forward(ref)
        if guild_id is not None:
            self._check_create(channel_id, channel, ref, files, origin, forwarding=forwarding)
        duplicate = self._nonce_duplicate(payload, origin)
        if duplicate is not None:
            return duplicate  # the earlier message, and nothing is created or dispatched
        allowed = CREATE_FLAGS | (EPHEMERAL_FLAG if origin.kind == "interaction" else 0)
        flags = (int(payload.get("flags") or 0) & allowed) | extra_flags
        validate_message_fields(payload, flags=flags)
        check_files(files, max_file_size=self.max_file_size)
        stickers = self._stickers(payload.get("sticker_ids"))
        snapshots: list[dict[str, Any]] = []
        reference: dict[str, Any] | None
        replied_to: int | None
        if forwarding and isinstance(ref, dict):
            reference, snapshots = forwards.forward(world, self.access, ref, origin.author_id)
            replied_to = None
            flags |= HAS_SNAPSHOT_FLAG
        else:
            reference, replied_to = self._reference(channel_id, ref)
        msg_id = world.ids.next()
        attachments = self.store.build(channel_id, payload.get("attachments"), files, {})
        # A forward carries only its snapshot (inferred: content sent alongside is not kept).
        content = "" if forwarding else payload.get("content") or ""
        embeds = [] if forwarding else list(payload.get("embeds") or [])
        components = list(payload.get("components") or [])
        if flags & VOICE_MESSAGE_FLAG:
            if guild_id is not None and not computed_permissions(world, origin.author_id, channel_id) & (
                SEND_VOICE_MESSAGES
            ):
                raise errors.missing_permissions()
            check_voice_message(content, embeds, [payloads.attachment_payload(a) for a in attachments])
        if not allow_empty and not forwarding:
            check_not_empty(content, embeds, len(attachments), components, stickers, payload.get("poll"))
        if isinstance(channel, ThreadRecord):
            self._touch_thread(channel, origin.author_id)
        msg = MessageRecord(
            id=msg_id,
            channel_id=channel_id,
            guild_id=guild_id,
            author_id=origin.author_id,
            content=content,
            embeds=embeds,
            components=components,
            flags=flags,
            attachments=attachments,
            allowed_mentions=payload.get("allowed_mentions"),
            type=MESSAGE_REPLY if replied_to is not None and origin.message_type == 0 else origin.message_type,
            webhook_id=origin.webhook_id,
            application_id=world.application_id if origin.kind == "interaction" else None,
            interaction_id=origin.interaction_id,
            interaction_type=origin.interaction_type,
            interaction_user_id=origin.interaction_user_id,
            command_name=origin.command_name,
            message_reference=reference,
            tts=bool(payload.get("tts")),
            nonce=payload.get("nonce"),
            sticker_ids=stickers,
            poll=payload.get("poll"),
            message_snapshots=snapshots,
            webhook_username=origin.webhook_username,
        )
        msg.edits.append((msg.created_at, content))
        msg.mentions = self._resolve(msg, content, msg.allowed_mentions, origin.default_parse, replied_to)
        msg.ever_mentioned = msg.mentions
        # @silent (SUPPRESS_NOTIFICATIONS) and ephemeral messages highlight but never notify.
        msg.pings = Pings() if flags & (SUPPRESS_NOTIFICATIONS_FLAG | EPHEMERAL_FLAG) else msg.mentions
        world.store_message(msg)
        if guild_id is not None and origin.checked:
            self.slowmode.record("message", origin.author_id, channel_id)
        self._remember_nonce(payload, origin, msg)
        if not msg.ephemeral:
            event = self.message_event(msg)
            self.create_events[msg.id] = event
            self.gateway.dispatch("MESSAGE_CREATE", event)
        self.notifier.notify()
        return msg

    def _check_create(
        self,
        channel_id: int,
        channel: object,
        ref: Any,
        files: list[UploadedFile],
        origin: Origin,
        *,
        forwarding: bool,
    ) -> None:
        if origin.checked:
            reply = isinstance(ref, dict) and bool(ref.get("message_id")) and not forwarding
            self.access.check_send(origin.author_id, channel_id, files=bool(files), reply=reply)
        if isinstance(channel, ThreadRecord) and origin.kind != "webhook":
            self.access.check_thread_write(origin.author_id, channel, editing=False)
        if origin.checked:  # people's own sends (bots are exempt: see slowmode.py)
            self.slowmode.check("message", origin.author_id, channel_id)

    def _nonce_duplicate(self, payload: dict[str, Any], origin: Origin) -> MessageRecord | None:
        """message.mdx, Create Message ``enforce_nonce``: "If another message was created by the same
        author with the same nonce, that message will be returned and no new message will be
        created." A deleted earlier message does not count (inferred)."""
        nonce = payload.get("nonce")
        if nonce is None or not payload.get("enforce_nonce") or not origin.checked:
            return None
        seen = self._nonces.get((origin.author_id, str(nonce)))
        if seen is None or time.monotonic() - seen[0] > NONCE_WINDOW_S:
            return None
        earlier = self.world.messages.get(seen[1])
        return earlier if earlier is not None and not earlier.deleted else None

    def _remember_nonce(self, payload: dict[str, Any], origin: Origin, msg: MessageRecord) -> None:
        if payload.get("nonce") is not None and payload.get("enforce_nonce") and origin.checked:
            self._nonces[(origin.author_id, str(payload["nonce"]))] = (msg.created_at, msg.id)

    def _stickers(self, raw: Any) -> list[str]:
        ids = raw if isinstance(raw, list) else []
        if len(ids) > MAX_STICKERS:
            raise errors.single_field_error(
                ("sticker_ids",), "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_STICKERS} or fewer in length."
            )
        for sid in ids:
            if not str(sid).isdigit() or int(sid) not in self.world.stickers:
                raise errors.unknown_sticker()
        return [str(s) for s in ids]

    # ---- edit ------------------------------------------------------------------------------------
    def edit(
        self, msg: MessageRecord, payload: dict[str, Any], files: list[UploadedFile], origin: Origin
    ) -> MessageRecord:
        if msg.author_id != origin.author_id:
            raise errors.cannot_edit_other_user()
        thread = self.world.threads.get(msg.channel_id)
        if thread is not None:
            self.access.check_thread_write(origin.author_id, thread, editing=True)
        if msg.is_voice_message:
            raise errors.ApiError(400, 50162, "Voice messages cannot be edited.")
        flags = msg.flags & ~LOADING_FLAG
        if payload.get("flags") is not None:  # SUPPRESS_EMBEDS toggles; IS_COMPONENTS_V2 "can only be set"
            sent = int(payload["flags"])
            flags = (flags & ~SUPPRESS_EMBEDS_FLAG) | (sent & (SUPPRESS_EMBEDS_FLAG | COMPONENTS_V2_FLAG))
        validate_message_fields(payload, flags=flags)
        check_files(files, max_file_size=self.max_file_size)
        content = msg.content if "content" not in payload else (payload.get("content") or "")
        embeds = msg.embeds if "embeds" not in payload else list(payload.get("embeds") or [])
        components = msg.components if "components" not in payload else list(payload.get("components") or [])
        attachments = msg.attachments
        if "attachments" in payload or files:
            keep = {a.id: a for a in msg.attachments}
            attachments = self.store.build(msg.channel_id, payload.get("attachments"), files, keep)
        if flags & COMPONENTS_V2_FLAG:
            check_v2_message(content, embeds, msg.sticker_ids, msg.poll)
        check_not_empty(content, embeds, len(attachments), components, msg.sticker_ids, msg.poll)
        now = time.monotonic()
        msg.content, msg.embeds, msg.components, msg.attachments, msg.flags = (
            content,
            embeds,
            components,
            attachments,
            flags,
        )
        msg.edits.append((now, content))
        msg.edit_allowed_mentions.append(payload.get("allowed_mentions"))
        msg.edited_timestamp = iso_timestamp()
        if "content" in payload:
            replied = self._replied_author(msg.message_reference)
            msg.mentions = self._resolve(msg, content, payload.get("allowed_mentions"), origin.default_parse, replied)
            msg.ever_mentioned = msg.ever_mentioned.union(msg.mentions)
        if not msg.ephemeral:
            self.gateway.dispatch("MESSAGE_UPDATE", self.message_event(msg))
        self.notifier.notify()
        return msg

    def delete(self, msg: MessageRecord) -> None:
        msg.deleted = True
        msg.deleted_at = time.monotonic()
        if not msg.ephemeral:
            data = {"id": str(msg.id), "channel_id": str(msg.channel_id)}
            if msg.guild_id is not None:
                data["guild_id"] = str(msg.guild_id)
            self.gateway.dispatch("MESSAGE_DELETE", lambda s: data if self._receives(s, msg) else None)
        thread = self.world.threads.get(msg.channel_id)
        if thread is not None:
            thread.message_count = max(0, thread.message_count - 1)
        self.notifier.notify()

    # ---- helpers ---------------------------------------------------------------------------------
    def _resolve(
        self,
        msg: MessageRecord,
        content: str,
        am: dict[str, Any] | None,
        default: frozenset[str],
        replied_to: int | None,
    ) -> Pings:
        guild = self.world.guilds.get(msg.guild_id) if msg.guild_id is not None else None
        return resolve_pings(
            content,
            am,
            default_parse=default,
            known_users=self.world.member_ids(msg.guild_id),
            known_roles=[r for r in guild.roles if r != guild.id] if guild is not None else [],
            replied_user_id=replied_to,
        )

    def _replied_author(self, reference: dict[str, Any] | None) -> int | None:
        if not reference or not reference.get("message_id") or reference.get("type") == forwards.FORWARD:
            return None
        ref = self.world.messages.get(int(reference["message_id"]))
        return ref.author_id if ref is not None else None

    def _reference(self, channel_id: int, ref: Any) -> tuple[dict[str, Any] | None, int | None]:
        if not isinstance(ref, dict) or not ref.get("message_id"):
            return None, None
        target = self.world.messages.get(int(ref["message_id"]))
        ref_channel = int(ref.get("channel_id") or channel_id)
        if target is None or target.deleted or target.channel_id != ref_channel:
            if ref.get("fail_if_not_exists", True):
                raise errors.single_field_error(
                    ("message_reference",), "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "Unknown message"
                )
            return None, None
        out = {"type": 0, "message_id": str(target.id), "channel_id": str(target.channel_id)}
        if target.guild_id is not None:
            out["guild_id"] = str(target.guild_id)
        return out, target.author_id

    def _touch_thread(self, thread: ThreadRecord, author_id: int) -> None:
        """Posting unarchives a thread (threads.mdx "Active & Archived Threads"; a locked one only when
        the poster has MANAGE_THREADS, checked before) and adds the poster as a member."""
        if thread.archived:
            thread.archived = False
            thread.archive_timestamp = iso_timestamp()
            self.thread_changed(thread, was_archived=True)
        if author_id not in thread.member_ids and self.world.member(author_id, thread.guild_id) is not None:
            thread.member_ids.append(author_id)
            self.on_thread_join(thread, author_id)

    def thread_changed(self, thread: ThreadRecord, *, was_archived: bool) -> None:
        """THREAD_UPDATE for any change; unarchiving adds THREAD_MEMBER_UPDATE to the thread's members
        (threads.mdx "Unarchiving a Thread"; here: the bot, if it is one; gateway-events.mdx "Thread
        Member Update")."""
        self.gateway.dispatch("THREAD_UPDATE", self.thread_event(thread))
        self.notifier.notify()
        if not was_archived or thread.archived:
            return
        bot = self.world.bot_user_id
        if bot in thread.member_ids:
            body = {**payloads.thread_member_payload(thread, bot), "guild_id": str(thread.guild_id)}
            self.gateway.dispatch("THREAD_MEMBER_UPDATE", lambda s: body if s.intents & INTENT_GUILDS else None)

    def store_file(self, channel_id: int, f: UploadedFile, meta: dict[str, Any]) -> AttachmentRecord:
        return self.store.store(channel_id, f, meta)

    def _receives(self, session: GatewaySession, msg: MessageRecord) -> bool:
        return message_events.receives(self.world, session, msg)

    def message_event(self, msg: MessageRecord) -> DataFor:
        """MESSAGE_CREATE/UPDATE body per session (see :mod:`.message_events`)."""
        return message_events.message_event(self.world, msg)

    def thread_event(self, thread: ThreadRecord, **extra: Any) -> DataFor:
        """THREAD_CREATE/UPDATE body per session (see :mod:`.message_events`)."""
        return message_events.thread_event(self.world, thread, **extra)
