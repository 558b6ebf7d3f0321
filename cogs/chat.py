"""`/chat` opens a conversation: a thread off the opening line, the thread it is run in, or a DM."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.conversation import SessionExists, UnusableOptions
from bot.gate import DMS_OFF, Refused
from bot.permissions import cannot_answer
from bot.render import NO_PINGS
from bot.store import Binding, SessionRecord
from cogs._chat_command import build_chat_command
from cogs._members import interaction_member
from cogs._private import by_interaction
from cogs._turns import reply_in, speaker
from cogs._wording import THREAD_ARCHIVE_MINUTES, already_bound, opening_line, refuse, thread_name

if TYPE_CHECKING:
    from bot.app import BridgeBot

log = logging.getLogger(__name__)


class ChatCog(commands.Cog):
    def __init__(self, bot: BridgeBot) -> None:
        self.bot = bot
        providers = bot.services.conversations.providers.values()
        self._chat = build_chat_command(providers, self.run_chat, self.suggest, dms=bot.services.gate.allow_dms)

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self._chat)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self._chat.name)

    async def run_chat(self, interaction: discord.Interaction, values: dict[str, str | None]) -> None:
        """`/chat`: the provider named, else the channel's binding (with its settings), the server's default,
        or the only one configured."""
        options = dict(values)
        prompt, chosen = options.pop("prompt") or "", options.pop("provider", None)
        providers = self.bot.services.conversations.providers
        binding = await self._binding_for(interaction.channel)
        if chosen is None and binding is not None:
            chosen = binding.provider
            options = {**binding.options, **{k: v for k, v in options.items() if v is not None}}
        if chosen is None and interaction.guild_id is not None:
            default = (await self.bot.services.gate.rules(interaction.guild_id)).default_provider
            chosen = default if default in providers else None
        if chosen is None and len(providers) == 1:
            chosen = next(iter(providers))
        if chosen is None:
            await refuse(interaction, "Pick a provider: neither this channel nor this server has a default one.")
            return
        await self.start_chat(interaction, chosen, prompt, options)

    @staticmethod
    def _cannot_answer(interaction: discord.Interaction, channel: object) -> str | None:
        """Checked before anything starts: the bot's permissions where it will answer, as Discord computed
        them for this interaction (`app_permissions`, overwrites included)."""
        where = "this thread" if isinstance(channel, discord.Thread) else f"<#{interaction.channel_id}>"
        why = cannot_answer(
            channel, where, granted=interaction.app_permissions, opens_thread=isinstance(channel, discord.TextChannel)
        )
        if why is not None:
            log.warning("/chat refused in channel %s: %s", interaction.channel_id, why)
        return why

    async def _binding_for(self, channel: object) -> Binding | None:
        conversations = self.bot.services.conversations
        if isinstance(channel, discord.Thread) and channel.parent_id is not None:
            return await conversations.binding(channel.parent_id)
        if isinstance(channel, discord.TextChannel):
            return await conversations.binding(channel.id)
        return None

    async def start_chat(
        self, interaction: discord.Interaction, provider_key: str, prompt: str, options: dict[str, str | None]
    ) -> None:
        conversations = self.bot.services.conversations
        channel = interaction.channel
        if isinstance(channel, discord.DMChannel) and not self.bot.services.gate.allow_dms:
            await refuse(interaction, DMS_OFF)
            return
        if not isinstance(channel, discord.Thread | discord.TextChannel | discord.DMChannel):
            await refuse(interaction, "Use `/chat` in a server text channel or in a thread.")
            return
        if provider_key not in conversations.providers:
            await refuse(interaction, "That provider is not set up on this bot. Pick one from the list.")
            return
        if not isinstance(channel, discord.TextChannel) and (existing := await conversations.active(channel.id)):
            await refuse(interaction, already_bound(conversations.describe(existing), _place(channel)))
            return
        if why := self._cannot_answer(interaction, channel):
            await refuse(interaction, why)
            return
        try:
            state = conversations.prepare(provider_key, options)
        except UnusableOptions as exc:
            await refuse(interaction, str(exc))
            return
        try:
            async with self.bot.services.gate.new_conversation(
                interaction.guild_id, interaction_member(interaction), provider_key
            ):
                opened = await self._open_conversation(interaction, channel, provider_key, state, prompt)
        except Refused as exc:
            await refuse(interaction, str(exc))
            return
        if opened is not None:
            session, target = opened
            note = by_interaction(interaction)
            await reply_in(self.bot, target, session, speaker(interaction.user), prompt, note=note)

    async def _open_conversation(
        self,
        interaction: discord.Interaction,
        channel: discord.Thread | discord.TextChannel | discord.DMChannel,
        provider_key: str,
        state: dict[str, Any],
        prompt: str,
    ) -> tuple[SessionRecord, discord.Thread | discord.TextChannel | discord.DMChannel] | None:
        """Post the opening line, open a thread off it in a text channel, and start the session there."""
        conversations = self.bot.services.conversations
        provider = conversations.providers[provider_key]
        opening = opening_line(interaction.user, provider.describe(state), prompt, provider.opening_notice(state))
        callback = await interaction.response.send_message(opening, allowed_mentions=NO_PINGS)
        target: discord.Thread | discord.TextChannel | discord.DMChannel | None = channel
        if isinstance(channel, discord.TextChannel):
            target = await self._open_thread(interaction, callback, prompt)
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
            await interaction.followup.send(already_bound("another conversation", _place(target)), ephemeral=True)
            return None
        return session, target

    async def _open_thread(
        self,
        interaction: discord.Interaction,
        callback: discord.InteractionCallbackResponse[discord.Client],
        prompt: str,
    ) -> discord.Thread | None:
        """A public thread hanging off the opening line (a thread made without a message is private)."""
        message = callback.resource
        if not isinstance(message, discord.InteractionMessage):
            message = await interaction.original_response()
        try:
            return await message.create_thread(name=thread_name(prompt), auto_archive_duration=THREAD_ARCHIVE_MINUTES)
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

    async def suggest(
        self, interaction: discord.Interaction, option: str, typed: str
    ) -> list[app_commands.Choice[str]]:
        """Autocomplete for a provider option, asking the provider picked in the same command."""
        providers = self.bot.services.conversations.providers
        key = getattr(interaction.namespace, "provider", None)
        candidates = [providers[key]] if key in providers else list(providers.values())
        for provider in candidates:
            if any(o.name == option and o.autocomplete for o in provider.chat_options):
                return [app_commands.Choice(name=c.name, value=c.value) for c in await provider.suggest(option, typed)]
        return []


async def setup(bot: BridgeBot) -> None:
    await bot.add_cog(ChatCog(bot))


def _place(channel: object) -> str:
    """How refusals name where the member is."""
    if isinstance(channel, discord.DMChannel):
        return "chat"
    return "thread" if isinstance(channel, discord.Thread) else "channel"
