"""Conversations in places the bot reaches only through a member's own install: opened or continued by `/chat`
(or its composer), Ask AI and the Reply button, each answer streamed into the interaction that asked.

A member has one conversation per place (bot/core/places.py). `/chat` there continues it, unless it names
another provider, which starts a new one. The operator's rules apply (`USER_INSTALLS`, `USER_INSTALL_PROVIDERS`,
the default cooldown and member quotas): no server manager can be asked there.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord

from bot.core.conversations import SessionExists, UnusableOptions
from bot.core.gate import NOT_IN_PLACES, USER_INSTALLS_OFF, Refused
from bot.providers.base import VoiceInput
from bot.store import SessionRecord
from cogs.common.members import asker_of, interaction_member
from cogs.common.opening import Options
from cogs.common.places import InteractionPlace, conversation_key
from cogs.common.private import by_interaction
from cogs.common.turns import reply_in, speaker
from cogs.common.wording import refuse

if TYPE_CHECKING:
    from bot.app import BridgeBot

log = logging.getLogger(__name__)

PICK_HERE = "Pick a provider for this conversation (the `provider` option): {names}."
PLACE_ENDED = "That conversation has ended. Run `/chat` here to start a new one."
NOT_YOURS = "This is <@{owner_id}>'s conversation. Run `/chat` here to start your own."


def offered_here(bot: BridgeBot) -> list[str]:
    """The configured providers members may use through their own install, in configuration order."""
    gate = bot.services.gate
    return [key for key in bot.services.conversations.providers if gate.offered_in_places(key)]


async def provider_in_place(bot: BridgeBot, interaction: discord.Interaction) -> str | None:
    """The provider of the member's conversation here, else the only one offered; None when they must pick
    (they were told why, privately)."""
    session = await bot.services.store.active_session(conversation_key(interaction))
    if session is not None:
        return session.provider
    offered = offered_here(bot)
    if len(offered) == 1:
        return offered[0]
    providers = bot.services.conversations.providers
    if not offered:
        await refuse(interaction, USER_INSTALLS_OFF)
        return None
    await refuse(interaction, PICK_HERE.format(names=", ".join(providers[key].display_name for key in offered)))
    return None


async def chat_in_place(
    bot: BridgeBot,
    interaction: discord.Interaction,
    provider_key: str,
    prompt: str,
    options: Options,
    *,
    voice: VoiceInput | None = None,
) -> None:
    """`/chat` in a place: the member's conversation here with `provider_key` (continued, or opened with
    `options`; another provider ends the one going), then `prompt` answered into the interaction. Every refusal
    is private."""
    conversations = bot.services.conversations
    providers = conversations.providers
    if provider_key not in providers:
        await refuse(interaction, "That provider is not set up on this bot. Pick one from the list.")
        return
    if not bot.services.gate.offered_in_places(provider_key):
        why = NOT_IN_PLACES if bot.services.gate.user_installs else USER_INSTALLS_OFF
        await refuse(interaction, why.format(name=providers[provider_key].display_name))
        return
    session = await bot.services.store.active_session(conversation_key(interaction))
    try:
        session = await _admit(bot, interaction, provider_key, options, session)
    except (Refused, UnusableOptions) as exc:
        await refuse(interaction, str(exc))
        return
    except SessionExists:
        await refuse(interaction, "Another of your messages is opening this conversation just now; try again.")
        return
    await answer_in_place(bot, interaction, session, prompt, voice=voice)


async def _admit(
    bot: BridgeBot,
    interaction: discord.Interaction,
    provider_key: str,
    options: Options,
    session: SessionRecord | None,
) -> SessionRecord:
    """The gate's and the quotas' yes for a turn in the member's conversation here (`session`), opened if there
    is none; one with another provider is ended only once the new one may open, so a refusal leaves it going.
    Raises Refused, UnusableOptions (the options) or SessionExists (a race with the member's other command)."""
    member = interaction_member(interaction)
    gate, conversations = bot.services.gate, bot.services.conversations
    if why := await bot.services.quotas.used_up(asker_of(interaction), provider_key):
        raise Refused(why)
    if session is not None and session.provider == provider_key:
        await gate.admit_turn(member, session, touch=False)  # the words step marks it active
        return session
    state = conversations.prepare(provider_key, options)
    async with gate.new_conversation(None, member, provider_key, in_place=True):
        if session is not None:
            log.info("place %d: %s replaces %s", session.channel_id, provider_key, session.provider)
            await conversations.end(session.channel_id)
        return await conversations.open(
            channel_id=conversation_key(interaction),
            guild_id=None,
            provider_key=provider_key,
            state=state,
            by=interaction.user.id,
        )


async def continue_in_place(bot: BridgeBot, interaction: discord.Interaction, owner_id: int, text: str) -> None:
    """The Reply form sent: `text` as the next turn of `owner_id`'s conversation here (theirs alone)."""
    if interaction.user.id != owner_id:
        await refuse(interaction, NOT_YOURS.format(owner_id=owner_id))
        return
    session = await bot.services.store.active_session(conversation_key(interaction, owner_id))
    if session is None:
        await refuse(interaction, PLACE_ENDED)
        return
    if not text.strip():
        await refuse(interaction, "Your message was empty: nothing was sent.")
        return
    try:
        await _admit(bot, interaction, session.provider, {}, session)
    except Refused as exc:
        await refuse(interaction, str(exc))
        return
    await answer_in_place(bot, interaction, session, text)


async def answer_in_place(
    bot: BridgeBot,
    interaction: discord.Interaction,
    session: SessionRecord,
    text: str,
    *,
    voice: VoiceInput | None = None,
) -> None:
    """Answer one turn into `interaction`: its response deferred ("thinking"), then filled and continued by
    followups as the answer streams (Discord decides whether they are public: *Use External Apps*)."""
    deferring = not interaction.response.is_done()
    if deferring:
        await interaction.response.defer(thinking=True)
    place = InteractionPlace(interaction, fills_response=deferring)
    await reply_in(
        bot,
        place,
        session,
        speaker(interaction.user, in_place=True),
        text,
        note=by_interaction(interaction),
        voice=voice,
    )
