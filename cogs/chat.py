"""Turns `/chat` and thread messages into conversation turns; nothing else."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Final

import discord
from discord import app_commands
from discord.ext import commands

from bot.conversation import NoActiveSession, SessionExists, Speaker, UnusableOptions
from bot.render import NO_PINGS, StreamingReply
from bot.store import SessionRecord
from cogs._chat_command import build_chat_command
from cogs._wording import ENDED_HINT, already_bound, opening_line, refuse, thread_name

if TYPE_CHECKING:
    from bot.app import BridgeBot

log = logging.getLogger(__name__)

HINT_INTERVAL_S = 60.0
THREAD_ARCHIVE_MINUTES: Final = 1440
_CONVERSATION_MESSAGE_TYPES = (discord.MessageType.default, discord.MessageType.reply)


class ChatCog(commands.Cog):
    def __init__(self, bot: BridgeBot) -> None:
        self.bot = bot
        self._last_hint: dict[int, float] = {}
        self._warned_no_content = False
        providers = bot.services.conversations.providers.values()
        self._chat = build_chat_command(providers, self.start_chat, self.suggest)

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self._chat)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self._chat.name)

    async def start_chat(
        self, interaction: discord.Interaction, provider_key: str, prompt: str, options: dict[str, str | None]
    ) -> None:
        conversations = self.bot.services.conversations
        channel = interaction.channel
        if not isinstance(channel, discord.Thread | discord.TextChannel):
            await refuse(interaction, "Use `/chat` in a server text channel or in a thread.")
            return
        if provider_key not in conversations.providers:
            await refuse(interaction, "That provider is not set up on this bot. Pick one from the list.")
            return
        if isinstance(channel, discord.Thread) and (existing := await conversations.active(channel.id)):
            await refuse(interaction, already_bound(conversations.describe(existing)))
            return
        try:
            state = conversations.prepare(provider_key, options)
        except UnusableOptions as exc:
            await refuse(interaction, str(exc))
            return
        provider = conversations.providers[provider_key]
        opening = opening_line(interaction.user, provider.describe(state), prompt, provider.opening_notice(state))
        callback = await interaction.response.send_message(opening, allowed_mentions=NO_PINGS)
        target = (
            channel if isinstance(channel, discord.Thread) else await self._open_thread(interaction, callback, prompt)
        )
        if target is None:
            return
        try:
            session = await conversations.open(
                channel_id=target.id,
                guild_id=interaction.guild_id,
                provider_key=provider_key,
                state=state,
                by=interaction.user.id,
            )
        except SessionExists:
            await interaction.followup.send(already_bound("another conversation"), ephemeral=True)
            return
        await self._reply(target, session, _speaker(interaction.user), prompt)

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

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot or message.guild is None or message.type not in _CONVERSATION_MESSAGE_TYPES:
            return
        conversations = self.bot.services.conversations
        session = await conversations.active(message.channel.id)
        if session is None:
            if await conversations.latest(message.channel.id) is not None:
                await self._hint(message, ENDED_HINT)
            return
        text = message.content.strip()
        if not text:
            if message.attachments:
                await self._hint(message, f"{conversations.describe(session)} reads text only: type your message.")
            elif not self._warned_no_content:
                self._warned_no_content = True
                log.warning("a thread message arrived without content: is the Message Content intent enabled?")
            return
        await self._reply(message.channel, session, _speaker(message.author), text)

    async def _reply(
        self, channel: discord.abc.Messageable, session: SessionRecord, speaker: Speaker, text: str
    ) -> None:
        conversations = self.bot.services.conversations
        provider = conversations.providers.get(session.provider)
        sink = StreamingReply(
            channel,
            self.bot.services.pacers[session.channel_id],
            provider_name=provider.display_name if provider else session.provider,
        )
        await sink.begin()
        try:
            await conversations.take_turn(session.channel_id, speaker, text, sink)
        except NoActiveSession:
            await channel.send(ENDED_HINT, allowed_mentions=NO_PINGS)

    async def _hint(self, message: discord.Message, text: str) -> None:
        """A short reply, at most once a minute per channel so a chatty thread is not flooded."""
        now = time.monotonic()
        if now - self._last_hint.get(message.channel.id, float("-inf")) < HINT_INTERVAL_S:
            return
        self._last_hint[message.channel.id] = now
        try:
            await message.reply(text, allowed_mentions=NO_PINGS, mention_author=False)
        except discord.HTTPException as exc:
            log.warning("could not post a hint: %s", exc)


def _speaker(user: discord.abc.User) -> Speaker:
    return Speaker(id=user.id, name=user.display_name)


async def setup(bot: BridgeBot) -> None:
    await bot.add_cog(ChatCog(bot))
