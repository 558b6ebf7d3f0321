"""Turns `/chat`, `/end` and thread messages into conversation turns; nothing else."""

from __future__ import annotations

import logging
import re
import time
from typing import TYPE_CHECKING, Final

import discord
from discord import app_commands
from discord.ext import commands

from bot.conversation import NoActiveSession, SessionExists, Speaker, UnusableOptions
from bot.render import NO_PINGS, StreamingReply
from bot.store import SessionRecord

if TYPE_CHECKING:
    from bot.app import BridgeBot

log = logging.getLogger(__name__)

THREAD_NAME_LIMIT = 100
OPENING_PROMPT_PREVIEW = 1500
HINT_INTERVAL_S = 60.0
THREAD_ARCHIVE_MINUTES: Final = 1440
ENDED_HINT = "This conversation has ended. Start a new one with `/chat`."


class ChatCog(commands.Cog):
    def __init__(self, bot: BridgeBot) -> None:
        self.bot = bot
        self._last_hint: dict[int, float] = {}
        self._warned_no_content = False
        providers = bot.services.conversations.providers.values()
        choices = [app_commands.Choice(name=p.display_name, value=p.key) for p in providers]
        self._chat = _build_chat_command(self, choices)

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self._chat)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self._chat.name)

    # /chat -------------------------------------------------------------------------------------

    async def start_chat(
        self, interaction: discord.Interaction, provider_key: str, prompt: str, options: dict[str, str | None]
    ) -> None:
        conversations = self.bot.services.conversations
        channel = interaction.channel
        if not isinstance(channel, discord.Thread | discord.TextChannel):
            await _refuse(interaction, "Use `/chat` in a server text channel or in a thread.")
            return
        if provider_key not in conversations.providers:
            await _refuse(interaction, "That provider is not set up on this bot. Pick one from the list.")
            return
        if isinstance(channel, discord.Thread) and (existing := await conversations.active(channel.id)):
            await _refuse(interaction, _already_bound(conversations.describe(existing)))
            return
        try:
            state = conversations.prepare(provider_key, options)
        except UnusableOptions as exc:
            await _refuse(interaction, str(exc))
            return
        opening = _opening_line(interaction.user, conversations.describe_state(provider_key, state), prompt)
        callback = await interaction.response.send_message(opening, allowed_mentions=NO_PINGS)
        target: discord.Thread | None = channel if isinstance(channel, discord.Thread) else None
        if target is None:
            target = await self._open_thread(interaction, callback, prompt)
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
            await interaction.followup.send(_already_bound("another conversation"), ephemeral=True)
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

    async def provider_option_suggestions(
        self, interaction: discord.Interaction, option: str, typed: str
    ) -> list[app_commands.Choice[str]]:
        providers = self.bot.services.conversations.providers
        key = getattr(interaction.namespace, "provider", None)
        provider = providers.get(str(key)) if key else None
        if provider is None and len(providers) == 1:
            provider = next(iter(providers.values()))
        if provider is None:
            return []
        return [app_commands.Choice(name=c.name, value=c.value) for c in await provider.suggest(option, typed)]

    # /end --------------------------------------------------------------------------------------

    @app_commands.command(name="end", description="End the conversation in this thread.")
    @app_commands.guild_only()
    async def end(self, interaction: discord.Interaction) -> None:
        if interaction.channel_id is None:
            return
        session = await self.bot.services.conversations.end(interaction.channel_id)
        if session is None:
            await _refuse(interaction, "There is no conversation running here. Start one with `/chat`.")
            return
        await interaction.response.send_message(
            f"Conversation with **{self.bot.services.conversations.describe(session)}** ended by"
            f" {_display(interaction.user)}. Start a new one with `/chat`.",
            allowed_mentions=NO_PINGS,
        )

    # Thread messages ---------------------------------------------------------------------------

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


_CONVERSATION_MESSAGE_TYPES = (discord.MessageType.default, discord.MessageType.reply)


def _build_chat_command(
    cog: ChatCog, providers: list[app_commands.Choice[str]]
) -> app_commands.Command[ChatCog, ..., None]:
    """/chat's provider list is only known at start-up (configured providers), so build it then."""

    @app_commands.command(name="chat", description="Start a conversation with an AI provider in a new thread.")
    @app_commands.guild_only()
    @app_commands.describe(
        provider="Which AI service to talk to",
        prompt="Your first message",
        bot="aBLT only: which aBLT bot answers (default: the server's)",
    )
    @app_commands.choices(provider=providers)
    async def chat(
        interaction: discord.Interaction,
        provider: app_commands.Choice[str],
        prompt: app_commands.Range[str, 1, 4000],
        bot: app_commands.Range[str, 1, 100] | None = None,
    ) -> None:
        await cog.start_chat(interaction, provider.value, prompt, {"bot": bot})

    @chat.autocomplete("bot")
    async def bot_suggestions(interaction: discord.Interaction, typed: str) -> list[app_commands.Choice[str]]:
        return await cog.provider_option_suggestions(interaction, "bot", typed)

    return chat


def thread_name(prompt: str) -> str:
    """The prompt's first words, within Discord's 100-character thread name limit."""
    words = re.sub(r"\s+", " ", prompt).strip()
    if len(words) <= THREAD_NAME_LIMIT:
        return words or "Conversation"
    cut = words[: THREAD_NAME_LIMIT - 1]
    if " " in cut[THREAD_NAME_LIMIT // 2 :]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,.;:") + "…"


def _opening_line(user: discord.abc.User, description: str, prompt: str) -> str:
    preview = prompt if len(prompt) <= OPENING_PROMPT_PREVIEW else prompt[:OPENING_PROMPT_PREVIEW] + "…"
    quoted = "\n".join(f"> {line}" for line in preview.splitlines() or [""])
    return f"**{_display(user)}** started a conversation with **{description}**:\n{quoted}"


def _display(user: discord.abc.User) -> str:
    return discord.utils.escape_markdown(user.display_name)


def _speaker(user: discord.abc.User) -> Speaker:
    return Speaker(id=user.id, name=user.display_name)


def _already_bound(description: str) -> str:
    return f"This thread already has a conversation with {description}. Type here to continue, or `/end` it first."


async def _refuse(interaction: discord.Interaction, text: str) -> None:
    """Refusals are ephemeral: only the member who asked sees them."""
    if interaction.response.is_done():
        await interaction.followup.send(text, ephemeral=True)
    else:
        await interaction.response.send_message(text, ephemeral=True)


async def setup(bot: BridgeBot) -> None:
    await bot.add_cog(ChatCog(bot))
