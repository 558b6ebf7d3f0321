"""Creating, editing and deleting messages, and the gateway events Discord emits for them.

Shared by channel routes, interaction callbacks/webhooks and simulated users, so the limits,
mention rules and MESSAGE_CONTENT gating are applied identically everywhere. Messages in a DM
carry no ``guild_id``/``member``, skip guild permission checks, and reach only sessions with the
DIRECT_MESSAGES intent (on shard 0), with content even without MESSAGE_CONTENT.
"""

from __future__ import annotations

import mimetypes
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import errors, payloads
from .gateway import Gateway, GatewaySession
from .mentions import ALL_PARSE, USERS_ONLY, resolve_pings
from .notifier import Notifier
from .records import (
    COMPONENTS_V2_FLAG,
    EPHEMERAL_FLAG,
    LOADING_FLAG,
    SUPPRESS_NOTIFICATIONS_FLAG,
    VOICE_MESSAGE_FLAG,
    AttachmentRecord,
    MessageRecord,
    Pings,
    ThreadRecord,
)
from .snowflakes import iso_timestamp
from .validation import (
    UploadedFile,
    check_files,
    check_not_empty,
    check_voice_message,
    validate_message_fields,
)
from .world import (
    INTENT_DIRECT_MESSAGES,
    INTENT_GUILD_MESSAGES,
    INTENT_GUILDS,
    INTENT_MESSAGE_CONTENT,
    SEND_VOICE_MESSAGES,
    World,
)

SUPPRESS_EMBEDS_FLAG = 1 << 2
CREATE_FLAGS = SUPPRESS_EMBEDS_FLAG | SUPPRESS_NOTIFICATIONS_FLAG | VOICE_MESSAGE_FLAG | COMPONENTS_V2_FLAG
MESSAGE_REPLY = 19


@dataclass
class Origin:
    """Who is sending and through which surface (decides defaults such as mention parsing)."""

    author_id: int
    kind: str = "channel"  # "channel" (bot REST) | "interaction" (callback/webhook) | "user"
    interaction_id: int | None = None
    interaction_type: int | None = None
    interaction_user_id: int | None = None
    command_name: str | None = None
    webhook_id: int | None = None
    message_type: int = 0

    @property
    def default_parse(self) -> frozenset[str]:
        return USERS_ONLY if self.kind == "interaction" else ALL_PARSE


class MessageService:
    def __init__(self, world: World, gateway: Gateway, notifier: Notifier, *, max_file_size: int) -> None:
        self.world = world
        self.gateway = gateway
        self.notifier = notifier
        self.max_file_size = max_file_size
        self.attachments: dict[int, AttachmentRecord] = {}
        self.cdn_base: Callable[[], str] = lambda: "http://127.0.0.1"

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
        allowed = CREATE_FLAGS | (EPHEMERAL_FLAG if origin.kind == "interaction" else 0)
        flags = (int(payload.get("flags") or 0) & allowed) | extra_flags
        validate_message_fields(payload, flags=flags)
        check_files(files, max_file_size=self.max_file_size)
        msg_id = world.ids.next()
        attachments = self._build_attachments(channel_id, payload.get("attachments"), files, {})
        content = payload.get("content") or ""
        embeds = list(payload.get("embeds") or [])
        components = list(payload.get("components") or [])
        if flags & VOICE_MESSAGE_FLAG:
            if guild_id is not None and not world.guild_permissions(origin.author_id) & SEND_VOICE_MESSAGES:
                raise errors.ApiError(403, 50013, "Missing Permissions")
            check_voice_message(content, embeds, [payloads.attachment_payload(a) for a in attachments])
        if not allow_empty:
            check_not_empty(
                content, embeds, len(attachments), components, payload.get("sticker_ids") or [], payload.get("poll")
            )
        reference, replied_to = self._reference(channel_id, payload.get("message_reference"))
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
            type=MESSAGE_REPLY if reference is not None and origin.message_type == 0 else origin.message_type,
            webhook_id=origin.webhook_id,
            application_id=world.application_id if origin.kind == "interaction" else None,
            interaction_id=origin.interaction_id,
            interaction_type=origin.interaction_type,
            interaction_user_id=origin.interaction_user_id,
            command_name=origin.command_name,
            message_reference=reference,
            tts=bool(payload.get("tts")),
            nonce=payload.get("nonce"),
            sticker_ids=[str(s) for s in payload.get("sticker_ids") or []],
            poll=payload.get("poll"),
        )
        msg.edits.append((msg.created_at, content))
        msg.mentions = self._resolve(msg, content, msg.allowed_mentions, origin.default_parse, replied_to)
        msg.ever_mentioned = msg.mentions
        # @silent (SUPPRESS_NOTIFICATIONS) and ephemeral messages highlight but never notify.
        msg.pings = Pings() if flags & (SUPPRESS_NOTIFICATIONS_FLAG | EPHEMERAL_FLAG) else msg.mentions
        world.store_message(msg)
        if not msg.ephemeral:
            self.gateway.dispatch("MESSAGE_CREATE", self.message_event(msg))
        self.notifier.notify()
        return msg

    # ---- edit ------------------------------------------------------------------------------------
    def edit(
        self, msg: MessageRecord, payload: dict[str, Any], files: list[UploadedFile], origin: Origin
    ) -> MessageRecord:
        if msg.author_id != origin.author_id:
            raise errors.cannot_edit_other_user()
        if msg.is_voice_message:
            raise errors.ApiError(400, 50162, "Voice messages cannot be edited.")
        flags = msg.flags & ~LOADING_FLAG
        if payload.get("flags") is not None:
            flags = (flags & ~SUPPRESS_EMBEDS_FLAG) | (int(payload["flags"]) & SUPPRESS_EMBEDS_FLAG)
        validate_message_fields(payload, flags=flags)
        check_files(files, max_file_size=self.max_file_size)
        content = msg.content if "content" not in payload else (payload.get("content") or "")
        embeds = msg.embeds if "embeds" not in payload else list(payload.get("embeds") or [])
        components = msg.components if "components" not in payload else list(payload.get("components") or [])
        attachments = msg.attachments
        if "attachments" in payload or files:
            keep = {a.id: a for a in msg.attachments}
            attachments = self._build_attachments(msg.channel_id, payload.get("attachments"), files, keep)
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
            self.gateway.dispatch("MESSAGE_DELETE", lambda s: data if _receives(s, msg) else None)
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
        in_guild = msg.guild_id is not None
        return resolve_pings(
            content,
            am,
            default_parse=default,
            known_users=self.world.member_ids(),
            known_roles=[r for r in self.world.roles if r != self.world.guild_id] if in_guild else [],
            replied_user_id=replied_to,
        )

    def _replied_author(self, reference: dict[str, Any] | None) -> int | None:
        if not reference or not reference.get("message_id"):
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
        """Posting unarchives a thread (unless locked); public threads add the poster as member."""
        if author_id != self.world.bot_user_id and thread.private and author_id not in thread.member_ids:
            raise errors.missing_access()
        if thread.archived:
            if thread.locked and author_id != self.world.bot_user_id:
                raise errors.thread_locked()
            thread.archived = False
            thread.archive_timestamp = iso_timestamp()
            self.gateway.dispatch("THREAD_UPDATE", self.thread_event(thread))
        if author_id not in thread.member_ids:
            thread.member_ids.append(author_id)

    def _build_attachments(
        self,
        channel_id: int,
        meta: Any,
        files: list[UploadedFile],
        existing: dict[int, AttachmentRecord],
    ) -> list[AttachmentRecord]:
        """Pair ``attachments`` metadata with ``files[n]`` by id; keep listed existing ones on edit."""
        by_index = {f.index: f for f in files}
        out: list[AttachmentRecord] = []
        used: set[int] = set()
        for entry in meta if isinstance(meta, list) else []:
            if not isinstance(entry, dict) or "id" not in entry:
                continue
            try:
                ref = int(entry["id"])
            except (TypeError, ValueError):
                continue
            if ref in existing:
                out.append(existing[ref])
            elif ref in by_index:
                out.append(self.store_file(channel_id, by_index[ref], entry))
                used.add(ref)
        for f in files:
            if f.index not in used:
                out.append(self.store_file(channel_id, f, {}))
        if len(out) > 10:
            raise errors.single_field_error(("attachments",), "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")
        return out

    def store_file(self, channel_id: int, f: UploadedFile, meta: dict[str, Any]) -> AttachmentRecord:
        att_id = self.world.ids.next()
        filename = str(meta.get("filename") or f.filename)
        sent_type = f.content_type
        content_type = sent_type
        if not content_type or content_type == "application/octet-stream":
            # Discord sniffs the type from the name/bytes rather than trusting the part header.
            content_type = mimetypes.guess_type(filename)[0] or sent_type
        duration = meta.get("duration_secs")
        record = AttachmentRecord(
            id=att_id,
            filename=filename,
            content_type=content_type,
            size=len(f.data),
            data=f.data,
            url=f"{self.cdn_base()}/attachments/{channel_id}/{att_id}/{filename}",
            description=meta.get("description"),
            duration_secs=float(duration) if duration is not None else None,
            waveform=meta.get("waveform"),
            title=meta.get("title"),
            uploaded_content_type=sent_type,
        )
        self.attachments[att_id] = record
        return record

    def message_event(self, msg: MessageRecord) -> Callable[[GatewaySession], dict[str, Any] | None]:
        """MESSAGE_CREATE/UPDATE body per session, blanking content without MESSAGE_CONTENT
        (except the bot's own messages, mentions of the bot and DMs)."""
        full = payloads.message_payload(self.world, msg, gateway=True)
        bot_id = self.world.bot_user_id

        def for_session(session: GatewaySession) -> dict[str, Any] | None:
            if not _receives(session, msg):
                return None
            exempt = msg.guild_id is None or msg.author_id == bot_id or bot_id in msg.mentions.users
            if session.intents & INTENT_MESSAGE_CONTENT or exempt:
                return full
            stripped = dict(full)
            stripped.update(content="", embeds=[], attachments=[], components=[])
            stripped.pop("poll", None)
            return stripped

        return for_session

    def thread_event(self, thread: ThreadRecord, **extra: Any) -> Callable[[GatewaySession], dict[str, Any] | None]:
        body = payloads.thread_payload(self.world, thread, member_for=self.world.bot_user_id)
        body.update(extra)
        return lambda s: body if s.intents & INTENT_GUILDS else None


def _receives(session: GatewaySession, msg: MessageRecord) -> bool:
    """Guild message events need GUILD_MESSAGES; DM ones DIRECT_MESSAGES and shard 0."""
    if msg.guild_id is None:
        return bool(session.intents & INTENT_DIRECT_MESSAGES) and session.gets_guildless_events
    return bool(session.intents & INTENT_GUILD_MESSAGES)
