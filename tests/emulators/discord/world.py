"""The emulated world: the guilds the bot is in (each with channels, threads, roles and members), a
bot user and its application, DM channels between the bot and users, plus every message and
interaction. Pure state, no I/O.

Guilds the bot is not in (``outside_guilds``, where only a user-installed app can be used) and private
channels it is not part of (``private_channels``: DMs between users, group DMs) are kept apart from the
bot's own, so READY, GUILD_CREATE and the REST answers never show them.

The first guild is the default one (``guild_id``, ``default_channel_id``; ``roles``/``members`` are
its maps) so single-guild code and tests keep working; :meth:`World.add_guild` adds more. Channel,
thread, role and message ids are unique across guilds (snowflakes), so channels and threads live in
global maps and name their guild, and everything about a channel resolves against that guild.
"""

from __future__ import annotations

import secrets
from typing import Any

from . import errors
from .installs import AppInstalls
from .permissions import (
    ADMINISTRATOR,
    ALL_PERMISSIONS,
    GENEROUS_PERMISSIONS,
    VIEW_CHANNEL,
    effective_permissions,
)
from .records import InteractionRecord, MessageRecord, ThreadRecord
from .snowflakes import SnowflakeGenerator, iso_timestamp, snowflake_iso
from .world_types import (
    TEXT_CHANNEL,
    ChannelInfo,
    DMChannelInfo,
    GuildInfo,
    MemberInfo,
    PrivateChannelInfo,
    RoleInfo,
    StickerInfo,
    UserInfo,
    WebhookInfo,
)


class World:
    """All mutable state. Lookups raise :class:`~.errors.ApiError` the way Discord would answer."""

    def guild_permissions(self, user_id: int, guild_id: int | None = None) -> int:
        """@everyone's permissions plus the member's roles in ``guild_id`` (default: the default
        guild), before channel overwrites (``compute_base_permissions`` in topics/permissions.mdx).

        The owner and anyone with Administrator get every permission, as Discord computes it.
        """
        guild = self.guild(self.guild_id if guild_id is None else guild_id)
        member = guild.members.get(user_id)
        permissions = guild.roles[guild.id].permissions
        for role_id in member.roles if member else []:
            role = guild.roles.get(role_id)
            permissions |= role.permissions if role else 0
        if user_id == guild.owner_id or permissions & ADMINISTRATOR:
            return ALL_PERMISSIONS
        return permissions

    def channel_permissions(self, user_id: int, channel_id: int) -> int:
        """What ``user_id`` may do in guild channel or thread ``channel_id`` (resolved in the guild the
        channel belongs to): base permissions, the (parent) channel's overwrites in Discord's order,
        thread inheritance and the implicit rules (see :mod:`.permissions`). 0 when the member cannot
        see it."""
        return effective_permissions(self, user_id, channel_id)

    def bot_can_view(self, channel_id: int) -> bool:
        """Whether the bot sees ``channel_id`` (always for its DMs, never for other private channels)."""
        if channel_id in self.private_channels:
            return False
        if self.is_dm(channel_id):
            return True
        return bool(self.channel_permissions(self.bot_user_id, channel_id) & VIEW_CHANNEL)

    def __init__(self, ids: SnowflakeGenerator, *, guild_name: str = "Emulator Guild") -> None:
        self.ids = ids
        self.guild_id = ids.next()  # the default guild (first in ``guilds``)
        self.application_id = ids.next()
        self.bot_user_id = self.application_id  # Discord bots share the application's id
        self.users: dict[int, UserInfo] = {}
        self.guilds: dict[int, GuildInfo] = {}
        self.outside_guilds: dict[int, GuildInfo] = {}  # guilds the bot is not in
        self.installs = AppInstalls()
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
        self.private_channels: dict[int, PrivateChannelInfo] = {}  # DMs between users, group DMs
        self.messages: dict[int, MessageRecord] = {}
        self.channel_messages: dict[int, list[int]] = {}
        self.global_commands: dict[tuple[str, int], dict[str, Any]] = {}
        self.guild_commands: dict[int, dict[tuple[str, int], dict[str, Any]]] = {}
        self.command_ids: dict[tuple[int | None, str, int], int] = {}
        self.interactions: dict[int, InteractionRecord] = {}
        self.interactions_by_token: dict[str, InteractionRecord] = {}

        self.users[self.bot_user_id] = UserInfo(self.bot_user_id, "EmulatorBot", None, bot=True)
        self.owner_id = 0  # alice, created with the default guild
        self._setup_guild(GuildInfo(self.guild_id, guild_name), bot_joined_at=snowflake_iso(self.bot_user_id))
        self.default_sticker_id = self.add_sticker("wave")

    def _setup_guild(self, guild: GuildInfo, *, bot_joined_at: str) -> None:
        """@everyone (id = the guild's), the bot's managed role and membership, alice as owner and
        member, and ``#general``: what every emulated guild starts with."""
        self.guilds[guild.id] = guild
        guild.roles[guild.id] = RoleInfo(guild.id, "@everyone", GENEROUS_PERMISSIONS, 0, mentionable=True)
        tags = {"bot_id": str(self.bot_user_id)}
        guild.bot_role_id = self.add_role("EmulatorBot", managed=True, tags=tags, guild_id=guild.id)
        guild.members[self.bot_user_id] = MemberInfo(self.bot_user_id, [guild.bot_role_id], bot_joined_at)
        if not self.owner_id:
            self.owner_id = self.add_member("alice", guild_id=guild.id)
        else:
            self.join_guild(self.owner_id, guild.id)
        guild.owner_id = self.owner_id
        guild.default_channel_id = self.add_text_channel("general", guild_id=guild.id)

    def add_guild(self, name: str, *, guild_id: int | None = None) -> GuildInfo:
        """A guild the bot has joined (now), set up like the default one."""
        guild = GuildInfo(self.ids.next() if guild_id is None else guild_id, name)
        self._setup_guild(guild, bot_joined_at=iso_timestamp())
        return guild

    # ---- the default guild (single-guild API) -----------------------------------------------------
    @property
    def default_guild(self) -> GuildInfo:
        return self.guilds[self.guild_id]

    @property
    def guild_name(self) -> str:
        return self.default_guild.name

    @property
    def roles(self) -> dict[int, RoleInfo]:
        """The default guild's roles."""
        return self.default_guild.roles

    @property
    def members(self) -> dict[int, MemberInfo]:
        """The default guild's members."""
        return self.default_guild.members

    @property
    def bot_role_id(self) -> int:
        return self.default_guild.bot_role_id

    @property
    def default_channel_id(self) -> int:
        return self.default_guild.default_channel_id

    # ---- creation -------------------------------------------------------------------------------
    def add_user(self, name: str, *, bot: bool = False) -> int:
        uid = self.ids.next()
        self.users[uid] = UserInfo(uid, name, name.capitalize(), bot=bot)
        return uid

    def add_member(
        self, name: str, *, roles: list[int] | None = None, bot: bool = False, guild_id: int | None = None
    ) -> int:
        """A new user who is a member of ``guild_id`` (default: the default guild)."""
        uid = self.add_user(name, bot=bot)
        self.join_guild(uid, self.guild_id if guild_id is None else guild_id, roles)
        return uid

    def join_guild(self, user_id: int, guild_id: int, roles: list[int] | None = None) -> MemberInfo:
        """``user_id`` becomes a member of ``guild_id`` (a user may be in several guilds)."""
        member = MemberInfo(user_id, list(roles or []), snowflake_iso(self.ids.next()))
        self.guild(guild_id).members[user_id] = member
        return member

    def add_role(
        self,
        name: str,
        *,
        mentionable: bool = True,
        managed: bool = False,
        tags: dict[str, Any] | None = None,
        permissions: int = GENEROUS_PERMISSIONS,
        guild_id: int | None = None,
    ) -> int:
        roles = self.guild(self.guild_id if guild_id is None else guild_id).roles
        rid = self.ids.next()
        roles[rid] = RoleInfo(rid, name, permissions, len(roles), mentionable, managed, tags)
        return rid

    def add_text_channel(self, name: str, *, topic: str | None = None, guild_id: int | None = None) -> int:
        gid = self.guild(self.guild_id if guild_id is None else guild_id).id
        cid = self.ids.next()
        position = len(self.guild_channels(gid))
        self.channels[cid] = ChannelInfo(cid, name, TEXT_CHANNEL, position, topic, guild_id=gid)
        self.channel_messages[cid] = []
        return cid

    def add_sticker(self, name: str, *, format_type: int = 1, guild_id: int | None = None) -> int:
        sid = self.ids.next()
        gid = self.guild_id if guild_id is None else guild_id
        self.stickers[sid] = StickerInfo(sid, name, format_type, guild_id=gid)
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
    def guild(self, guild_id: int) -> GuildInfo:
        """The guild (one the bot is in, or one it is not in), or 404 10004 Unknown Guild
        (opcodes-and-status-codes.mdx JSON error codes)."""
        guild = self.guilds.get(guild_id) or self.outside_guilds.get(guild_id)
        if guild is None:
            raise errors.unknown_guild()
        return guild

    def require_guild(self, guild_id: int) -> GuildInfo:
        """A guild as the bot's REST requests see it: 403 50001 for one it is not in (as community reports
        show, e.g. 17teen/Discord-Mass-DM-Tool#5), 404 10004 for an unknown id."""
        if guild_id in self.outside_guilds:
            raise errors.missing_access()
        return self.guild(guild_id)

    def require_user(self, user_id: int) -> UserInfo:
        user = self.users.get(user_id)
        if user is None:
            raise errors.unknown_user()
        return user

    def require_member(self, user_id: int, guild_id: int | None = None) -> MemberInfo:
        """``user_id``'s membership of ``guild_id``; without a guild, of any guild the bot shares with
        them (what a DM needs). 404 10007 Unknown Member otherwise."""
        member = self.member(user_id, guild_id) if guild_id is not None else self.any_membership(user_id)
        if member is None:
            raise errors.unknown_member()
        return member

    def require_dm_party(self, user_id: int) -> None:
        """Someone sharing a guild with the bot, or who installed the app (usable "in DMs with the app's bot
        user", change-log.mdx March 18 2024), may be in the bot's DM; 404 10007 Unknown Member otherwise."""
        if self.any_membership(user_id) is None and not self.installs.installed_for(user_id):
            raise errors.unknown_member()

    def member(self, user_id: int, guild_id: int | None) -> MemberInfo | None:
        gid = self.guild_id if guild_id is None else guild_id
        guild = self.guilds.get(gid) or self.outside_guilds.get(gid)
        return guild.members.get(user_id) if guild is not None else None

    def any_membership(self, user_id: int) -> MemberInfo | None:
        for guild in self.guilds.values():
            if user_id in guild.members:
                return guild.members[user_id]
        return None

    def find_role(self, role_id: int) -> tuple[GuildInfo, RoleInfo] | None:
        for guild in [*self.guilds.values(), *self.outside_guilds.values()]:
            if role_id in guild.roles:
                return guild, guild.roles[role_id]
        return None

    def guild_channels(self, guild_id: int) -> list[ChannelInfo]:
        return [c for c in self.channels.values() if c.guild_id == guild_id]

    def guild_threads(self, guild_id: int) -> list[ThreadRecord]:
        return [t for t in self.threads.values() if t.guild_id == guild_id]

    def channel_guild_id(self, channel_id: int) -> int | None:
        """The guild a (possibly deleted) channel or thread belongs to; None for DMs and unknown ids."""
        found = (
            self.channels.get(channel_id)
            or self.threads.get(channel_id)
            or self.deleted_channels.get(channel_id)
            or self.deleted_threads.get(channel_id)
        )
        return found.guild_id if found is not None else None

    def guild_for_channel(self, channel_id: int) -> GuildInfo:
        """The guild whose roles, members and overwrites apply in ``channel_id``; the default guild for
        ids that name no guild channel (the single-guild emulator's behaviour)."""
        gid = self.channel_guild_id(channel_id)
        return self.guild(self.guild_id if gid is None else gid)

    def shard_guild_ids(self, shard: list[int] | None) -> list[int]:
        """The guilds a session identified with ``shard`` = ``[shard_id, num_shards]`` receives:
        ``(guild_id >> 22) % num_shards == shard_id`` (events/gateway.mdx "Sharding Formula"); all
        guilds without ``shard``."""
        if not shard:
            return list(self.guilds)
        return [g for g in self.guilds if (g >> 22) % shard[1] == shard[0]]

    def channel_or_thread(self, channel_id: int) -> ChannelInfo | ThreadRecord | DMChannelInfo | PrivateChannelInfo:
        """Any channel messages can be posted in: guild text channel, thread, DM or a private channel."""
        found: ChannelInfo | ThreadRecord | DMChannelInfo | PrivateChannelInfo | None = (
            self.channels.get(channel_id)
            or self.threads.get(channel_id)
            or self.dm_channels.get(channel_id)
            or self.private_channels.get(channel_id)
        )
        if found is None:
            raise errors.unknown_channel()
        return found

    def is_dm(self, channel_id: int) -> bool:
        return channel_id in self.dm_channels

    def message_guild_id(self, channel_id: int) -> int | None:
        """Messages in DMs and group DMs belong to no guild (no ``guild_id``/``member``); others to their channel's."""
        if self.is_dm(channel_id) or channel_id in self.private_channels:
            return None
        return self.guild_for_channel(channel_id).id

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

    def member_ids(self, guild_id: int | None = None) -> set[int]:
        """Members of ``guild_id``; without one, everyone who shares a guild with the bot."""
        if guild_id is not None:
            return set(self.guild(guild_id).members)
        return {uid for guild in self.guilds.values() for uid in guild.members}
