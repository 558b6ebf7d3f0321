"""Discord members as the gate sees them, and what Discord lets them do where an interaction happened."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord

from bot.core.quota_rules import Asker
from bot.core.server_rules import Member
from bot.members.permissions import (
    Needs,
    bypasses_slowmode,
    member_cannot,
    needed_to_speak,
    slowed,
    slowmode_s,
)
from cogs.common.places import reached_by_user_install
from cogs.common.wording import refuse

if TYPE_CHECKING:
    from bot.app import BridgeBot

log = logging.getLogger(__name__)


def as_member(user: discord.abc.User, permissions: discord.Permissions | None) -> Member:
    """`permissions` as Discord computed them for this channel (None in a DM)."""
    roles = frozenset(role.id for role in user.roles) if isinstance(user, discord.Member) else frozenset()
    if isinstance(user, discord.Member):
        roles |= {user.guild.id}  # @everyone's id is the server's: allowing it allows everyone
    return Member(
        id=user.id,
        role_ids=roles,
        manages_server=bool(permissions and permissions.manage_guild),
        manages_threads=bool(permissions and permissions.manage_threads),
    )


def asker_of(interaction: discord.Interaction) -> Asker:
    """The member behind an interaction as quotas see them (their server's id is 0 in a DM, and in a place
    reached through their own install, where only the operator's quotas apply)."""
    if reached_by_user_install(interaction):
        return Asker(0, interaction.user.id)
    member = interaction_member(interaction)
    return Asker(interaction.guild_id or 0, member.id, member.role_ids, member.manages_server)


def interaction_member(interaction: discord.Interaction) -> Member:
    """The member as the gate sees them; in a place reached through their own install no server's roles or
    permissions count (that server never let the bot in)."""
    if reached_by_user_install(interaction):
        return Member(id=interaction.user.id, role_ids=frozenset(), manages_server=False, manages_threads=False)
    return as_member(interaction.user, interaction.permissions if interaction.guild_id else None)


def message_member(message: discord.Message) -> Member:
    author, channel = message.author, message.channel
    if isinstance(author, discord.Member) and not isinstance(channel, discord.DMChannel | discord.GroupChannel):
        return as_member(author, channel.permissions_for(author))
    return as_member(author, None)


def granted(interaction: discord.Interaction) -> discord.Permissions | None:
    """The member's permissions where the interaction happened, as Discord computed them (None in a DM)."""
    return interaction.permissions if interaction.guild_id is not None else None


def timed_out_until(interaction: discord.Interaction) -> float | None:
    """When a moderator's timeout of the member ends (Unix seconds), while it holds."""
    user = interaction.user
    if isinstance(user, discord.Member) and user.is_timed_out() and user.timed_out_until is not None:
        return user.timed_out_until.timestamp()
    return None


def member_refusal(interaction: discord.Interaction, needed: Needs, what: str) -> str | None:
    """Why Discord would not let the member `what` where the interaction happened (bot/members/permissions.py),
    or None. Checked before anything is posted or any provider is called."""
    why = member_cannot(
        interaction.channel, granted(interaction), needed, what, timed_out_until=timed_out_until(interaction)
    )
    if why is not None:
        log.info("member %d may not %s in channel %s", interaction.user.id, what, interaction.channel_id)
    return why


async def slowmode_refusal(bot: BridgeBot, interaction: discord.Interaction, what: str, *, take: bool) -> str | None:
    """The channel's slowmode, for a turn the bot posts for the member there (Discord does not count those):
    None if they may speak (and, with `take`, their next wait starts now, in the shared store), else when."""
    channel = interaction.channel
    interval_s = slowmode_s(channel)
    if interval_s <= 0 or bypasses_slowmode(granted(interaction)) or channel is None:
        return None
    coordination = bot.services.store.coordination
    free_at = await coordination.slowmode(channel.id, interaction.user.id, interval_s, via=interaction.id, take=take)
    if free_at is None:
        return None
    log.info("member %d held back by slowmode in channel %d", interaction.user.id, channel.id)
    return slowed(channel, free_at, interval_s, what)


async def speaking_refusal(
    bot: BridgeBot, interaction: discord.Interaction, what: str, *, opens_thread: bool = False, take: bool = False
) -> str | None:
    """A turn the bot posts for the member where the interaction happened: their send permission there
    (and, opening a thread, the permissions for that), then the slowmode (`take`: spend it now)."""
    needed = needed_to_speak(interaction.channel, opens_thread=opens_thread)
    return member_refusal(interaction, needed, what) or await slowmode_refusal(bot, interaction, what, take=take)


async def managed_guild(interaction: discord.Interaction, *, outside: str, not_manager: str) -> int | None:
    """The server's id when the member may manage it (Manage Server, as Discord computed it here); otherwise a
    private refusal (`outside` a server, `not_manager` for anyone else) and None."""
    if interaction.guild_id is None:
        await refuse(interaction, outside)
        return None
    if not interaction_member(interaction).manages_server:
        await refuse(interaction, not_manager)
        return None
    return interaction.guild_id
