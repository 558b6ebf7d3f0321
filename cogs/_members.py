"""Discord members as the gate sees them: their id, role ids and the permissions that make a manager."""

from __future__ import annotations

import discord

from bot.server_rules import Member


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


def interaction_member(interaction: discord.Interaction) -> Member:
    return as_member(interaction.user, interaction.permissions if interaction.guild_id else None)


def message_member(message: discord.Message) -> Member:
    author, channel = message.author, message.channel
    if isinstance(author, discord.Member) and not isinstance(channel, discord.DMChannel | discord.GroupChannel):
        return as_member(author, channel.permissions_for(author))
    return as_member(author, None)
