"""Messages members post: the next turn of their conversation, a new one in a bound channel, or a DM.

Each is asked of the gate before it reaches a provider; a refusal is a short reply to the member.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Hashable
from typing import TYPE_CHECKING

import discord
from discord.ext import commands

from bot.audio import MAX_AUDIO_BYTES, AudioRejected, looks_like_audio, prepare_voice_note, too_large_message
from bot.conversation import SessionExists, UnusableOptions
from bot.gate import DMS_OFF, Refused
from bot.providers.base import VoiceInput
from bot.render import NO_PINGS
from bot.store import Binding, SessionRecord
from cogs._members import message_member
from cogs._turns import reply_in, speaker
from cogs._wording import ENDED_HINT, NO_CONVERSATION, THREAD_ARCHIVE_MINUTES, thread_name

if TYPE_CHECKING:
    from bot.app import BridgeBot

log = logging.getLogger(__name__)

HINT_INTERVAL_S = 60.0
_CONVERSATION_MESSAGE_TYPES = (discord.MessageType.default, discord.MessageType.reply)


class MessagesCog(commands.Cog):
    def __init__(self, bot: BridgeBot) -> None:
        self.bot = bot
        self._last_hint: dict[Hashable, float] = {}
        self._warned_no_content = False

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot or message.type not in _CONVERSATION_MESSAGE_TYPES:
            return
        if message.guild is None and not await self._direct_message_welcome(message):
            return
        conversations = self.bot.services.conversations
        session = await conversations.active(message.channel.id)
        if session is None and isinstance(message.channel, discord.TextChannel):
            binding = await conversations.binding(message.channel.id)
            if binding is not None:
                await self._bound_message(message, binding)
                return
        if session is None:
            if message.guild is None:
                await self._hint(message, NO_CONVERSATION)
            elif await conversations.latest(message.channel.id) is not None:
                await self._hint(message, ENDED_HINT)
            return
        await self._next_turn(message, session)

    async def _direct_message_welcome(self, message: discord.Message) -> bool:
        """DMs are a conversation of their own when the owner allows them; otherwise say so (now and then)."""
        if not isinstance(message.channel, discord.DMChannel):
            return False
        if not self.bot.services.gate.allow_dms:
            await self._hint(message, DMS_OFF)
            return False
        return True

    async def _next_turn(self, message: discord.Message, session: SessionRecord, *, admitted: bool = False) -> None:
        """A message in a conversation: text, or a voice note for providers that listen."""
        conversations = self.bot.services.conversations
        provider = conversations.providers.get(session.provider)
        audio = next((a for a in message.attachments if looks_like_audio(a.filename, a.content_type)), None)
        listens = audio is not None and provider is not None and provider.accepts_audio
        text = message.content.strip()
        if not text and not listens:
            if message.attachments:
                await self._hint(message, f"{conversations.describe(session)} reads text only: type your message.")
            elif not self._warned_no_content:
                self._warned_no_content = True
                log.warning("a thread message arrived without content: is the Message Content intent enabled?")
            return
        if not admitted:
            try:
                await self.bot.services.gate.admit_turn(message_member(message), session)
            except Refused as exc:
                await self._refuse_message(message, str(exc))
                return
        if listens and audio is not None:
            await self._voice_turn(message, session, audio)
            return
        await reply_in(self.bot, message.channel, session, speaker(message.author), text)

    async def _bound_message(self, message: discord.Message, binding: Binding) -> None:
        """A message in a bound channel with no conversation yet: it opens one (a thread, or the channel's)."""
        if binding.mode == "thread" and not message.content.strip():
            return
        try:
            async with self.bot.services.gate.new_conversation(
                binding.guild_id, message_member(message), binding.provider
            ):
                opened = await self._open_bound(message, binding)
        except Refused as exc:
            await self._refuse_message(message, str(exc))
            return
        if opened is None:
            return
        session, where = opened
        if where is message.channel:  # channel mode: the channel's shared conversation, this message its turn
            await self._next_turn(message, session, admitted=True)
        else:  # the message opened its own thread; answer there
            await reply_in(self.bot, where, session, speaker(message.author), message.content.strip())

    async def _open_bound(
        self, message: discord.Message, binding: Binding
    ) -> tuple[SessionRecord, discord.abc.Messageable] | None:
        """A message in a bound channel: a new thread with its own session, or the channel's shared one."""
        conversations = self.bot.services.conversations
        text = message.content.strip()
        try:
            state = conversations.prepare(binding.provider, binding.options)
        except (UnusableOptions, KeyError):
            log.warning("channel %d is bound to %s, which cannot start; ignoring", binding.channel_id, binding.provider)
            await self._hint(
                message, "This channel's AI binding no longer works; a server manager can `/bind` it again."
            )
            return None
        target: discord.Thread | discord.TextChannel = message.channel  # type: ignore[assignment]
        if binding.mode == "thread":
            if not text:
                return None
            try:
                target = await message.create_thread(
                    name=thread_name(text), auto_archive_duration=THREAD_ARCHIVE_MINUTES
                )
            except discord.HTTPException as exc:
                log.warning("could not open a thread for a bound channel: %s", exc)
                return None
        try:
            session = await conversations.open(
                channel_id=target.id,
                guild_id=message.guild.id if message.guild else None,
                provider_key=binding.provider,
                state=state,
                by=message.author.id,
            )
        except SessionExists:  # another message in the channel opened it a moment ago
            existing = await conversations.active(target.id)
            if existing is None:
                return None
            session = existing
        return session, target

    async def _voice_turn(self, message: discord.Message, session: SessionRecord, audio: discord.Attachment) -> None:
        """Convert a voice note or audio file for the provider; a file it cannot take gets a clear reply."""
        try:
            if audio.size > MAX_AUDIO_BYTES:
                raise AudioRejected(too_large_message(audio.size))
            prepared = await prepare_voice_note(
                await audio.read(), filename=audio.filename, expected_duration_s=audio.duration
            )
        except AudioRejected as exc:
            log.info("voice note refused: %s", exc.user_message)
            await message.reply(exc.user_message, allowed_mentions=NO_PINGS, mention_author=False)
            return
        except discord.HTTPException as exc:
            log.warning("could not download an audio attachment: %s", exc)
            await message.reply("Discord would not hand me that file; try sending it again.", allowed_mentions=NO_PINGS)
            return
        voice = VoiceInput(wav=prepared.wav, sample_rate=prepared.sample_rate, duration_s=prepared.duration_s)
        label = f"🎙️ voice note ({prepared.duration_s:.1f} s)"
        await reply_in(self.bot, message.channel, session, speaker(message.author), label, voice=voice)

    async def _refuse_message(self, message: discord.Message, text: str) -> None:
        """A message the gate refused: say why to its author (once a minute each), as a reply."""
        log.info("message %d from %d refused: %s", message.id, message.author.id, text)
        await self._hint(message, text, key=(message.channel.id, message.author.id))

    async def _hint(self, message: discord.Message, text: str, *, key: Hashable | None = None) -> None:
        """A short reply, at most once a minute per channel (or `key`) so a chatty thread is not flooded."""
        now = time.monotonic()
        key = message.channel.id if key is None else key
        if now - self._last_hint.get(key, float("-inf")) < HINT_INTERVAL_S:
            return
        self._last_hint[key] = now
        try:
            await message.reply(text, allowed_mentions=NO_PINGS, mention_author=False)
        except discord.HTTPException as exc:
            log.warning("could not post a hint: %s", exc)


async def setup(bot: BridgeBot) -> None:
    await bot.add_cog(MessagesCog(bot))
