"""The emulated world: one guild with channels, threads, roles, members, a bot user and its
application, DM channels between the bot and users, plus every message and interaction.
Pure state, no I/O."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from . import errors
from .permissions import (
    ADMINISTRATOR,
    ALL_PERMISSIONS,
    GENEROUS_PERMISSIONS,
    VIEW_CHANNEL,
    PermissionOverwrite,
    effective_permissions,
)
from .records import InteractionRecord, MessageRecord, ThreadRecord
from .snowflakes import SnowflakeGenerator, snowflake_iso

TEXT_CHANNEL = 0
DM_CHANNEL = 1
PUBLIC_THREAD = 11
PRIVATE_THREAD = 12
THREAD_TYPES = (10, PUBLIC_THREAD, PRIVATE_THREAD)

INTENT_GUILDS = 1 << 0
INTENT_GUILD_MEMBERS = 1 << 1
INTENT_GUILD_MESSAGES = 1 << 9
INTENT_DIRECT_MESSAGES = 1 << 12
INTENT_MESSAGE_CONTENT = 1 << 15


@dataclass
class UserInfo:
    id: int
    username: str
    global_name: str | None = None
    bot: bool = False


@dataclass
class RoleInfo:
    id: int
    name: str
    permissions: int = GENEROUS_PERMISSIONS
    position: int = 0
    mentionable: bool = False
    managed: bool = False
    tags: dict[str, Any] | None = None


@dataclass
class MemberInfo:
    user_id: int
    roles: list[int] = field(default_factory=list)
    joined_at: str = ""
    nick: str | None = None


@dataclass
class ChannelInfo:
    id: int
    name: str
    type: int = TEXT_CHANNEL
    position: int = 0
    topic: str | None = None
    nsfw: bool = False
    rate_limit_per_user: int = 0
    last_message_id: int | None = None
    permission_overwrites: list[PermissionOverwrite] = field(default_factory=list)
    deleted: bool = False


@dataclass
class DMChannelInfo:
    """A DM (type 1) between the bot and one user; Discord keeps exactly one per pair."""

    id: int
    recipient_id: int
    flags: int = 0


@dataclass
class StickerInfo:
    """A guild sticker (resources/sticker.mdx, "Sticker Object"; type 2 GUILD, format 1 PNG)."""

    id: int
    name: str
    format_type: int = 1
    description: str | None = None
    tags: str = "wave"


@dataclass
class WebhookInfo:
    """A channel webhook (type 1 incoming); its messages carry ``webhook_id`` and a webhook author."""

    id: int
    channel_id: int
    name: str


class World:
    """All mutable state. Lookups raise :class:`~.errors.ApiError` the way Discord would answer."""

    def guild_permissions(self, user_id: int) -> int:
        """@everyone's permissions plus the member's roles, before channel overwrites
        (``compute_base_permissions`` in topics/permissions.mdx).

        The owner and anyone with Administrator get every permission, as Discord computes it.
        """
        member = self.members.get(user_id)
        permissions = self.roles[self.guild_id].permissions
        for role_id in member.roles if member else []:
            role = self.roles.get(role_id)
            permissions |= role.permissions if role else 0
        if user_id == self.owner_id or permissions & ADMINISTRATOR:
            return ALL_PERMISSIONS
        return permissions

    def channel_permissions(self, user_id: int, channel_id: int) -> int:
        """What ``user_id`` may do in guild channel or thread ``channel_id``: base permissions, the
        (parent) channel's overwrites in Discord's order, thread inheritance and the implicit rules
        (see :mod:`.permissions`). 0 when the member cannot see it."""
        return effective_permissions(self, user_id, channel_id)

    def bot_can_view(self, channel_id: int) -> bool:
        """Whether the bot sees ``channel_id`` (always for DMs)."""
        if self.is_dm(channel_id):
            return True
        return bool(self.channel_permissions(self.bot_user_id, channel_id) & VIEW_CHANNEL)

    def __init__(self, ids: SnowflakeGenerator, *, guild_name: str = "Emulator Guild") -> None:
        self.ids = ids
        self.guild_id = ids.next()
        self.guild_name = guild_name
        self.application_id = ids.next()
        self.bot_user_id = self.application_id  # Discord bots share the application's id
        self.users: dict[int, UserInfo] = {}
        self.members: dict[int, MemberInfo] = {}
        self.roles: dict[int, RoleInfo] = {
            self.guild_id: RoleInfo(self.guild_id, "@everyone", GENEROUS_PERMISSIONS, 0, mentionable=True)
        }
        self.channels: dict[int, ChannelInfo] = {}
        self.threads: dict[int, ThreadRecord] = {}
        # Deleted channels/threads leave the live maps (every lookup then answers 10003 Unknown
        # Channel) but stay here so tests can still read their records.
        self.deleted_channels: dict[int, ChannelInfo] = {}
        self.deleted_threads: dict[int, ThreadRecord] = {}
        self.stickers: dict[int, StickerInfo] = {}
        self.webhooks: dict[int, WebhookInfo] = {}
        self.dm_channels: dict[int, DMChannelInfo] = {}
        self.dm_by_user: dict[int, int] = {}  # recipient id -> DM channel id
        self.messages: dict[int, MessageRecord] = {}
        self.channel_messages: dict[int, list[int]] = {}
        self.global_commands: dict[tuple[str, int], dict[str, Any]] = {}
        self.guild_commands: dict[int, dict[tuple[str, int], dict[str, Any]]] = {}
        self.command_ids: dict[tuple[int | None, str, int], int] = {}
        self.interactions: dict[int, InteractionRecord] = {}
        self.interactions_by_token: dict[str, InteractionRecord] = {}

        self.users[self.bot_user_id] = UserInfo(self.bot_user_id, "EmulatorBot", None, bot=True)
        self.bot_role_id = self.add_role("EmulatorBot", managed=True, tags={"bot_id": str(self.bot_user_id)})
        self.members[self.bot_user_id] = MemberInfo(
            self.bot_user_id, [self.bot_role_id], snowflake_iso(self.bot_user_id)
        )
        self.owner_id = self.add_member("alice")
        self.default_channel_id = self.add_text_channel("general")
        self.default_sticker_id = self.add_sticker("wave")

    # ---- creation -------------------------------------------------------------------------------
    def add_user(self, name: str, *, bot: bool = False) -> int:
        uid = self.ids.next()
        self.users[uid] = UserInfo(uid, name, name.capitalize(), bot=bot)
        return uid

    def add_member(self, name: str, *, roles: list[int] | None = None, bot: bool = False) -> int:
        uid = self.add_user(name, bot=bot)
        self.members[uid] = MemberInfo(uid, list(roles or []), snowflake_iso(self.ids.next()))
        return uid

    def add_role(
        self,
        name: str,
        *,
        mentionable: bool = True,
        managed: bool = False,
        tags: dict[str, Any] | None = None,
        permissions: int = GENEROUS_PERMISSIONS,
    ) -> int:
        rid = self.ids.next()
        self.roles[rid] = RoleInfo(rid, name, permissions, len(self.roles), mentionable, managed, tags)
        return rid

    def add_text_channel(self, name: str, *, topic: str | None = None) -> int:
        cid = self.ids.next()
        self.channels[cid] = ChannelInfo(cid, name, TEXT_CHANNEL, len(self.channels), topic)
        self.channel_messages[cid] = []
        return cid

    def add_sticker(self, name: str, *, format_type: int = 1) -> int:
        sid = self.ids.next()
        self.stickers[sid] = StickerInfo(sid, name, format_type)
        return sid

    def webhook_for(self, channel_id: int, name: str = "Hook") -> WebhookInfo:
        """The channel's webhook (one per text channel; a thread uses its parent's), made on first use."""
        parent = self.threads[channel_id].parent_id if channel_id in self.threads else channel_id
        for hook in self.webhooks.values():
            if hook.channel_id == parent:
                return hook
        hook = WebhookInfo(self.ids.next(), parent, name)
        self.webhooks[hook.id] = hook
        return hook

    def open_dm(self, user_id: int) -> DMChannelInfo:
        """The bot's DM with ``user_id``, created on first use and then always the same one."""
        existing = self.dm_by_user.get(user_id)
        if existing is not None:
            return self.dm_channels[existing]
        dm = DMChannelInfo(self.ids.next(), user_id)
        self.dm_channels[dm.id] = dm
        self.dm_by_user[user_id] = dm.id
        self.channel_messages[dm.id] = []
        return dm

    def new_token(self) -> str:
        return "aW50ZXJhY3Rpb24" + secrets.token_urlsafe(48)

    # ---- lookups ----------------------------------------------------------------------------------
    def require_guild(self, guild_id: int) -> None:
        if guild_id != self.guild_id:
            raise errors.unknown_guild()

    def require_user(self, user_id: int) -> UserInfo:
        user = self.users.get(user_id)
        if user is None:
            raise errors.unknown_user()
        return user

    def require_member(self, user_id: int) -> MemberInfo:
        member = self.members.get(user_id)
        if member is None:
            raise errors.unknown_member()
        return member

    def channel_or_thread(self, channel_id: int) -> ChannelInfo | ThreadRecord | DMChannelInfo:
        """Any channel messages can be posted in: guild text channel, thread or DM."""
        found: ChannelInfo | ThreadRecord | DMChannelInfo | None = (
            self.channels.get(channel_id) or self.threads.get(channel_id) or self.dm_channels.get(channel_id)
        )
        if found is None:
            raise errors.unknown_channel()
        return found

    def is_dm(self, channel_id: int) -> bool:
        return channel_id in self.dm_channels

    def message_guild_id(self, channel_id: int) -> int | None:
        """Messages in DMs belong to no guild (no ``guild_id``, no ``member``)."""
        return None if self.is_dm(channel_id) else self.guild_id

    def require_text_channel(self, channel_id: int) -> ChannelInfo:
        if channel_id in self.threads or channel_id in self.dm_channels:
            raise errors.wrong_channel_type()
        channel = self.channels.get(channel_id)
        if channel is None:
            raise errors.unknown_channel()
        return channel

    def require_thread(self, channel_id: int) -> ThreadRecord:
        thread = self.threads.get(channel_id)
        if thread is None:
            if channel_id in self.channels or channel_id in self.dm_channels:
                raise errors.wrong_channel_type()
            raise errors.unknown_channel()
        return thread

    def require_message(self, channel_id: int, message_id: int) -> MessageRecord:
        self.channel_or_thread(channel_id)
        msg = self.messages.get(message_id)
        if msg is None or msg.deleted or msg.channel_id != channel_id or msg.ephemeral:
            raise errors.unknown_message()
        return msg

    def store_message(self, msg: MessageRecord) -> None:
        self.messages[msg.id] = msg
        self.channel_messages.setdefault(msg.channel_id, []).append(msg.id)
        channel = self.channels.get(msg.channel_id)
        if channel is not None:
            channel.last_message_id = msg.id
        thread = self.threads.get(msg.channel_id)
        if thread is not None:
            thread.message_count += 1
            thread.total_message_sent += 1

    def channel_history(self, channel_id: int, *, include_deleted: bool = False) -> list[MessageRecord]:
        ids = self.channel_messages.get(channel_id, [])
        out = [self.messages[i] for i in ids]
        return out if include_deleted else [m for m in out if not m.deleted]

    def last_message_id(self, channel_id: int) -> int | None:
        ids = self.channel_messages.get(channel_id) or []
        return ids[-1] if ids else None

    def command_id(self, guild_id: int | None, name: str, ctype: int) -> int:
        """Discord keeps a command's id stable across bulk overwrites with the same name/type."""
        key = (guild_id, name, ctype)
        if key not in self.command_ids:
            self.command_ids[key] = self.ids.next()
        return self.command_ids[key]

    def all_commands(self) -> list[dict[str, Any]]:
        out = list(self.global_commands.values())
        for cmds in self.guild_commands.values():
            out.extend(cmds.values())
        return out

    def find_command(
        self, name: str, ctype: int = 1, guild_id: int | None = None, *, in_dm: bool = False
    ) -> dict[str, Any] | None:
        """Guild commands shadow global ones, as in the Discord client; a DM offers only global ones."""
        if in_dm:
            return self.global_commands.get((name, ctype))
        gid = self.guild_id if guild_id is None else guild_id
        return self.guild_commands.get(gid, {}).get((name, ctype)) or self.global_commands.get((name, ctype))

    def member_ids(self) -> set[int]:
        return set(self.members)
