"""Where the composer is used: the providers its form lists there, the one that applies when the member picks none,
and what would refuse a conversation there, asked before the member writes (and again before their words go).

In the bot's own channels that is `/chat`'s: the channel's binding or the server's default, the allow-lists and
the bot's permissions (cogs/common/opening.py). Where only the member's own install reaches (a place:
cogs/common/places.py) it is the operator's: the providers offered through members' installs, the member's
conversation there. The provider's quotas apply everywhere. `ChatCog.start_chat` decides again, with what cannot be
asked without spending it (the cooldown, the server's cap).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord

from bot.core.gate import CHAT_REFUSED, NOT_IN_PLACES, USER_INSTALLS_OFF
from bot.core.server_rules import CHAT, use_provider
from bot.providers.base import Provider
from cogs.common.members import asker_of, interaction_member
from cogs.common.opening import Options, Place, obstacle, provider_here
from cogs.common.place_chat import offered_here
from cogs.common.places import conversation_key, reached_by_user_install

if TYPE_CHECKING:
    from bot.app import BridgeBot

NOT_FOR_YOU = (
    "On this server **{provider}** is for some members only, and you are not one of them. Pick another provider,"
    " or ask a server manager (`/access`)."
)


def offered(bot: BridgeBot, interaction: discord.Interaction) -> list[Provider]:
    """The providers the form lists: every configured one, or through a member's own install those offered there."""
    providers = bot.services.conversations.providers
    if reached_by_user_install(interaction):
        return [providers[key] for key in offered_here(bot)]
    return list(providers.values())


async def applies_here(bot: BridgeBot, interaction: discord.Interaction) -> tuple[str | None, Options]:
    """The provider (with its settings) used when the member picks none: the channel's binding, the server's
    default or the only one configured; through their own install, their conversation's there or the only one
    offered. None when the member has to pick."""
    if not reached_by_user_install(interaction):
        return await provider_here(bot, interaction)
    session = await bot.services.store.active_session(conversation_key(interaction))
    if session is not None:
        return session.provider, {}
    listed = offered_here(bot)
    return (listed[0] if len(listed) == 1 else None), {}


async def blocked(bot: BridgeBot, interaction: discord.Interaction, provider_key: str | None) -> str | None:
    """Why no conversation with `provider_key` (with any, for None) could open here, as far as can be told without
    spending anything; None if nothing stands in the way."""
    if reached_by_user_install(interaction):
        if not offered_here(bot):
            return USER_INSTALLS_OFF
        if provider_key is not None and not bot.services.gate.offered_in_places(provider_key):
            return NOT_IN_PLACES.format(name=bot.services.conversations.providers[provider_key].display_name)
    elif isinstance(interaction.channel, Place):
        if why := await obstacle(bot, interaction, "`/chat`"):
            return why
        if why := await _not_allowed(bot, interaction, provider_key):
            return why
    if provider_key is None:
        return None
    return await bot.services.quotas.used_up(asker_of(interaction), provider_key)


async def _not_allowed(bot: BridgeBot, interaction: discord.Interaction, provider_key: str | None) -> str | None:
    """The server's allow-lists: talking to the AI at all, and to this provider."""
    if interaction.guild_id is None:
        return None
    rules, member = await bot.services.gate.rules(interaction.guild_id), interaction_member(interaction)
    if not rules.allows(CHAT, member):
        return CHAT_REFUSED
    if provider_key is not None and not rules.allows(use_provider(provider_key), member):
        return NOT_FOR_YOU.format(provider=bot.services.conversations.providers[provider_key].display_name)
    return None
