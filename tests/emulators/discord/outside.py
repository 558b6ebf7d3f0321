"""Places the bot is not in: guilds it was never added to and private channels (DMs between users, group DMs).

Only an app installed to a user's account reaches them ("Apps that support the user installation context are
visible across all of an authorizing user's servers, DMs, and GDMs", resources/application.mdx "User
Context"). The bot gets no gateway events from them (the gateway routes nothing of a guild it is not in, and
:meth:`~.world.World.bot_can_view` is false for private channels) and its REST requests there are refused
(see :mod:`.access`); the interaction endpoints still work.
"""

from __future__ import annotations

from .permissions import GENEROUS_PERMISSIONS
from .world import World
from .world_types import DM_CHANNEL, GROUP_DM_CHANNEL, GuildInfo, PrivateChannelInfo, RoleInfo


def add_outside_guild(world: World, name: str) -> GuildInfo:
    """A guild the bot is not in: @everyone (every permission but Administrator, so *Use External Apps*,
    "enabled for servers by default" (change-log.mdx, June 27 2024), is granted), alice as owner and member,
    ``#general``; no bot role and no bot member."""
    guild = GuildInfo(world.ids.next(), name)
    world.outside_guilds[guild.id] = guild
    guild.roles[guild.id] = RoleInfo(guild.id, "@everyone", GENEROUS_PERMISSIONS, 0, mentionable=True)
    world.join_guild(world.owner_id, guild.id)
    guild.owner_id = world.owner_id
    guild.default_channel_id = world.add_text_channel("general", guild_id=guild.id)
    return guild


def add_private_channel(
    world: World, recipient_ids: list[int], *, group: bool, owner_id: int | None = None, name: str | None = None
) -> PrivateChannelInfo:
    """A DM between two users (``group=False``) or a group DM, neither with the bot."""
    for uid in recipient_ids:
        world.require_user(uid)
        if uid == world.bot_user_id:
            raise ValueError("the bot's own DM is emu.open_dm(); private channels here are without the bot")
    if len(set(recipient_ids)) != len(recipient_ids):
        raise ValueError("each recipient once")
    if not group and len(recipient_ids) != 2:
        raise ValueError("a DM is between exactly two users")
    if group and not 2 <= len(recipient_ids) <= 10:
        raise ValueError("a group DM has 2 to 10 members")  # inferred: Discord's group DMs hold up to 10 people
    kind = GROUP_DM_CHANNEL if group else DM_CHANNEL
    channel = PrivateChannelInfo(world.ids.next(), kind, list(recipient_ids), owner_id, name)
    world.private_channels[channel.id] = channel
    world.channel_messages[channel.id] = []
    return channel
