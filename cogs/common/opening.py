"""Opening a conversation from an interaction (`/chat`, Ask AI): which provider applies where the member is,
what Discord lets the member do there (bot/members/permissions.py: sending, opening threads, reading, slowmode),
the gate, the bot's permissions there, the opening line and a thread off it (or the thread or DM it runs in)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import discord

from bot.core.conversations import SessionExists, UnusableOptions
from bot.core.gate import DMS_OFF, Refused
from bot.members.permissions import ASK, READ, START
from bot.replies.permissions import cannot_answer
from bot.replies.writes import NO_PINGS
from bot.store import Binding, SessionRecord
from cogs.common.members import asker_of, interaction_member, member_refusal, slowmode_refusal, speaking_refusal
from cogs.common.wording import THREAD_ARCHIVE_MINUTES, already_bound, refuse, thread_name

if TYPE_CHECKING:
    from bot.app import BridgeBot

log = logging.getLogger(__name__)

Place = discord.Thread | discord.TextChannel | discord.DMChannel
Options = dict[str, str | None]


@dataclass(frozen=True)
class Opening:
    """What the conversation opens with: `line(description, notice)` is the opening line once the provider's
    description (with its settings) and its caveat are known; `title` names the thread."""

    title: str
    line: Callable[[str, str | None], str]
    command: str = "`/chat`"
    """How refusals name what the member used."""
    reads_message: bool = False
    """Opened from a message (Ask AI): the member must be allowed to read the channel's messages."""


async def provider_here(bot: BridgeBot, interaction: discord.Interaction) -> tuple[str | None, Options]:
    """The channel's binding (with its settings), else the server's default provider, else the only one
    configured; None when the member has to choose."""
    providers = bot.services.conversations.providers
    binding = await _binding_for(bot, interaction.channel)
    if binding is not None:
        return binding.provider, dict(binding.options)
    if interaction.guild_id is not None:
        default = (await bot.services.gate.rules(interaction.guild_id)).default_provider
        if default in providers:
            return default, {}
    if len(providers) == 1:
        return next(iter(providers)), {}
    return None, {}


async def _binding_for(bot: BridgeBot, channel: object) -> Binding | None:
    store = bot.services.store
    if isinstance(channel, discord.Thread) and channel.parent_id is not None:
        return await store.binding(channel.parent_id)
    if isinstance(channel, discord.TextChannel):
        return await store.binding(channel.id)
    return None


async def open_conversation(
    bot: BridgeBot, interaction: discord.Interaction, provider_key: str, options: Options, opening: Opening
) -> tuple[SessionRecord, Place] | None:
    """Ask the gate, check the bot may answer here, post the opening line and start the session.

    Every refusal is private (the interaction's ephemeral answer); None when nothing was opened.
    """
    conversations = bot.services.conversations
    channel = interaction.channel
    if why := await obstacle(bot, interaction, opening.command, reads_message=opening.reads_message):
        await refuse(interaction, why)
        return None
    if provider_key not in conversations.providers:
        await refuse(interaction, "That provider is not set up on this bot. Pick one from the list.")
        return None
    if why := await bot.services.quotas.used_up(asker_of(interaction), provider_key):
        await refuse(interaction, why)  # before a thread opens that could get no answer
        return None
    assert isinstance(channel, Place)  # noqa: S101 - `obstacle` refuses anywhere else
    try:
        state = conversations.prepare(provider_key, options)
    except UnusableOptions as exc:
        await refuse(interaction, str(exc))
        return None
    try:
        async with bot.services.gate.new_conversation(
            interaction.guild_id, interaction_member(interaction), provider_key
        ):
            if why := await slowmode_refusal(bot, interaction, START, take=True):  # the last check: spends it
                raise Refused(why)
            return await _open(bot, interaction, channel, provider_key, state, opening)
    except Refused as exc:
        await refuse(interaction, str(exc))
        return None


async def obstacle(
    bot: BridgeBot, interaction: discord.Interaction, command: str, *, reads_message: bool = False
) -> str | None:
    """Why no conversation can open where the interaction happened, whatever the provider; None if one can.

    The member must be allowed to do there what the bot will do for them (read the message asked about,
    post the opening line, open a thread, speak in it) and be past the channel's slowmode (looked at, not
    spent: `open_conversation` spends it once the gate has let them through); then the bot's own permissions.
    """
    channel = interaction.channel
    if isinstance(channel, discord.DMChannel) and not bot.services.gate.allow_dms:
        return DMS_OFF
    if not isinstance(channel, Place):
        return f"Use {command} in a server text channel or in a thread."
    existing = None if isinstance(channel, discord.TextChannel) else await bot.services.store.active_session(channel.id)
    if existing is not None:
        return already_bound(bot.services.conversations.describe(existing), place(channel))
    if reads_message and (why := member_refusal(interaction, READ, ASK)):
        return why
    opens_thread = isinstance(channel, discord.TextChannel)
    if why := await speaking_refusal(bot, interaction, START, opens_thread=opens_thread):
        return why
    return _cannot_answer(interaction, channel)


def _cannot_answer(interaction: discord.Interaction, channel: object) -> str | None:
    """Checked before anything starts: the bot's permissions where it will answer, as Discord computed
    them for this interaction (`app_permissions`, overwrites included)."""
    where = "this thread" if isinstance(channel, discord.Thread) else f"<#{interaction.channel_id}>"
    why = cannot_answer(
        channel, where, granted=interaction.app_permissions, opens_thread=isinstance(channel, discord.TextChannel)
    )
    if why is not None:
        log.warning("conversation refused in channel %s: %s", interaction.channel_id, why)
    return why


async def _open(
    bot: BridgeBot,
    interaction: discord.Interaction,
    channel: Place,
    provider_key: str,
    state: dict[str, Any],
    opening: Opening,
) -> tuple[SessionRecord, Place] | None:
    """Post the opening line, open a thread off it in a text channel, and start the session there."""
    conversations = bot.services.conversations
    provider = conversations.providers[provider_key]
    line = opening.line(provider.describe(state), provider.opening_notice(state))
    if interaction.response.is_done():  # acknowledged already: a composer form whose files took a while
        posted: discord.Message = await interaction.followup.send(line, allowed_mentions=NO_PINGS, wait=True)
    else:
        callback = await interaction.response.send_message(line, allowed_mentions=NO_PINGS)
        resource = callback.resource
        posted = resource if isinstance(resource, discord.InteractionMessage) else await interaction.original_response()
    target: Place | None = channel
    if isinstance(channel, discord.TextChannel):
        target = await _open_thread(interaction, channel, posted, opening.title)
    if target is None:
        return None
    try:
        session = await conversations.open(
            channel_id=target.id,
            guild_id=interaction.guild_id,
            provider_key=provider_key,
            state=state,
            by=interaction.user.id,
        )
    except SessionExists:
        await interaction.followup.send(already_bound("another conversation", place(target)), ephemeral=True)
        return None
    return session, target


async def _open_thread(
    interaction: discord.Interaction, channel: discord.TextChannel, message: discord.Message, title: str
) -> discord.Thread | None:
    """A public thread hanging off the opening line (a thread made without a message is private)."""
    try:
        return await channel.create_thread(
            name=thread_name(title), message=message, auto_archive_duration=THREAD_ARCHIVE_MINUTES
        )
    except discord.Forbidden:
        await interaction.followup.send(
            "I can't open threads here. Ask a server manager to give me **Create Public Threads**,"
            " or run `/chat` inside an existing thread.",
            ephemeral=True,
        )
    except discord.HTTPException as exc:
        log.warning("thread creation failed: %s", exc)
        await interaction.followup.send("Discord would not open a thread just now; try again.", ephemeral=True)
    return None


def place(channel: object) -> str:
    """How refusals name where the member is."""
    if isinstance(channel, discord.DMChannel):
        return "chat"
    return "thread" if isinstance(channel, discord.Thread) else "channel"
