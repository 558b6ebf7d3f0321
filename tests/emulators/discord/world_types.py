"""The plain records the emulated world is made of (users, guilds, roles, members, channels, DMs,
stickers, webhooks) and the channel-type and intent constants. No behaviour; :mod:`.world` owns them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .permissions import GENEROUS_PERMISSIONS, PermissionOverwrite

TEXT_CHANNEL = 0
DM_CHANNEL = 1
GROUP_DM_CHANNEL = 3
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
    """A user's membership of one guild (roles, nick and join time are per guild)."""

    user_id: int
    roles: list[int] = field(default_factory=list)
    joined_at: str = ""
    nick: str | None = None
    timed_out_until: float | None = None  # Unix seconds; see permissions.timed_out


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
    guild_id: int = 0  # the guild the channel belongs to


@dataclass
class DMChannelInfo:
    """A DM (type 1) between the bot and one user; Discord keeps exactly one per pair."""

    id: int
    recipient_id: int
    flags: int = 0


@dataclass
class PrivateChannelInfo:
    """A DM between two users (type 1) or a group DM (type 3) the bot is not part of: only a user-installed
    app can be used there (receiving-and-responding.mdx "Interaction Context Types": PRIVATE_CHANNEL, "Group
    DMs and DMs other than the app's bot user")."""

    id: int
    type: int
    recipient_ids: list[int]
    owner_id: int | None = None  # group DMs only
    name: str | None = None  # group DMs only
    flags: int = 0


@dataclass
class StickerInfo:
    """A guild sticker (resources/sticker.mdx, "Sticker Object"; type 2 GUILD, format 1 PNG)."""

    id: int
    name: str
    format_type: int = 1
    description: str | None = None
    tags: str = "wave"
    guild_id: int = 0


@dataclass
class WebhookInfo:
    """A channel webhook (type 1 incoming); its messages carry ``webhook_id`` and a webhook author."""

    id: int
    channel_id: int
    name: str


@dataclass
class GuildInfo:
    """One guild the bot is in: its roles (``roles[id]`` with @everyone's id equal to the guild's,
    topics/permissions.mdx "Role Object") and members. Channels, threads and stickers live in the
    world's global maps and name their guild (``guild_id``), as channel ids are unique across Discord."""

    id: int
    name: str
    owner_id: int = 0
    bot_role_id: int = 0
    default_channel_id: int = 0
    roles: dict[int, RoleInfo] = field(default_factory=dict)
    members: dict[int, MemberInfo] = field(default_factory=dict)
