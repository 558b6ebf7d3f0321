"""Messages members post: the next turn of their conversation, a new one in a bound channel, or a DM.

Each is asked of the gate before it reaches a provider; a refusal is a short reply to the member.
Messages from other bots and webhooks are ignored (two bots must not talk each other into a loop),
and each Discord message is answered once, even when Discord delivers it twice.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Hashable
from typing import TYPE_CHECKING

import discord
from discord.ext import commands

from bot.audio import AudioRejected
from bot.core.conversations import SessionExists, UnusableOptions
from bot.core.gate import DMS_OFF, Refused
from bot.members.permissions import OPEN_THREAD, START, member_cannot
from bot.replies.delivery import WRITE_ERRORS, until_taken
from bot.replies.permissions import cannot_answer
from bot.replies.writes import NO_PINGS
from bot.store import Binding, SessionRecord
from cogs.common.input import MemberMessage, read_message, read_text_files
from cogs.common.members import message_member
from cogs.common.private import by_dm
from cogs.common.text_files import not_used
from cogs.common.turns import reply_in, speaker
from cogs.common.voice import voice_input, voice_label
from cogs.common.wording import ENDED_HINT, NO_CONVERSATION, THREAD_ARCHIVE_MINUTES, thread_name

if TYPE_CHECKING:
    from bot.app import BridgeBot

log = logging.getLogger(__name__)

HINT_INTERVAL_S = 60.0
SEEN_MESSAGES_KEPT = 10_000
EDITED_HINT = (
    "I answered this message as you first sent it; edits don't reach the AI. Send the new version as a new message."
)
_CONVERSATION_MESSAGE_TYPES = (discord.MessageType.default, discord.MessageType.reply)


class MessagesCog(commands.Cog):
    def __init__(self, bot: BridgeBot) -> None:
        self.bot = bot
        self._last_hint: dict[Hashable, float] = {}
        self._seen: OrderedDict[Hashable, None] = OrderedDict()

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot or message.webhook_id is not None or message.type not in _CONVERSATION_MESSAGE_TYPES:
            return
        if self._seen_before(message.id):
            log.info("message %d delivered again; already taken", message.id)
            return
        if message.guild is None and not await self._direct_message_welcome(message):
            return
        store = self.bot.services.store
        session = await store.active_session(message.channel.id)
        if session is None and isinstance(message.channel, discord.TextChannel):
            binding = await store.binding(message.channel.id)
            if binding is not None:
                if await self._taken_here(message):
                    await self._bound_message(message, binding)
                return
        if session is None:
            if message.guild is None:
                await self._hint(message, NO_CONVERSATION)
            elif await store.latest_session(message.channel.id) is not None:
                await self._hint(message, ENDED_HINT)
            return
        if await self._taken_here(message):
            await self._next_turn(message, session)

    async def _taken_here(self, message: discord.Message) -> bool:
        """Claim the message for this process before any gate: during a rolling deploy two processes receive it,
        and the one that does not get it says nothing (no "slow down" for a message answered elsewhere)."""
        services = self.bot.services
        if await services.store.coordination.claim_event(message.id, services.conversations.owner):
            return True
        log.info("message %d is taken by another process", message.id)
        return False

    async def take_missed(self, message: discord.Message) -> None:
        """A member's message this process missed while it was not running (already claimed for it): answered
        now as the next turn of its conversation, as it would have been (cogs/recovery.py)."""
        session = await self.bot.services.store.active_session(message.channel.id)
        if session is not None:
            log.info("message %d arrived while the bot was down; answering it now", message.id)
            await self._next_turn(message, session)

    @commands.Cog.listener()
    async def on_raw_message_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        """A member edited a message the AI already answered: say once that edits are not sent."""
        message = payload.message
        if message.author.bot or not payload.data.get("edited_timestamp"):
            return
        if await self.bot.services.store.answered(message.id) and not self._seen_before(("edited", message.id)):
            await self._reply(message, EDITED_HINT)

    def _seen_before(self, key: Hashable) -> bool:
        """Remember `key` (a message id, say); True if it was already remembered."""
        if key in self._seen:
            return True
        self._seen[key] = None
        while len(self._seen) > SEEN_MESSAGES_KEPT:
            self._seen.popitem(last=False)
        return False

    async def _direct_message_welcome(self, message: discord.Message) -> bool:
        """DMs are a conversation of their own when the owner allows them; otherwise say so (now and then)."""
        if not isinstance(message.channel, discord.DMChannel):
            return False
        if not self.bot.services.gate.allow_dms:
            await self._hint(message, DMS_OFF)
            return False
        return True

    async def _next_turn(self, message: discord.Message, session: SessionRecord, *, admitted: bool = False) -> None:
        """A message in a conversation: text (with any text files), or a voice note for providers that listen."""
        conversations = self.bot.services.conversations
        provider = conversations.providers.get(session.provider)
        said = read_message(message)
        listens = said.audio is not None and provider is not None and provider.accepts_audio
        if not listens:
            said = await read_text_files(said.text_only(), self.bot.services.downloads)
        hint = said.hint(conversations.describe(session), listens=listens)
        if hint is not None:
            await self._hint(message, hint)
            return
        if not admitted:
            try:
                await self.bot.services.gate.admit_turn(message_member(message), session, touch=False)
            except Refused as exc:
                await self._refuse_message(message, str(exc))
                return
        if await self._cannot_answer_in(message.channel, message):
            return
        if listens:
            await self._voice_turn(message, session, said)
            return
        await self._say_unused(message, message.channel, said)
        await reply_in(
            self.bot,
            message.channel,
            session,
            speaker(message.author),
            said.turn,
            note=by_dm(message.author),
            message_id=message.id,
            files=said.file_names,
        )

    async def _say_unused(self, message: discord.Message, where: discord.abc.Messageable, said: MemberMessage) -> None:
        """One short line naming the files the AI will not see, and why: a reply to the message, or in the
        thread it opened."""
        if not said.unused:
            return
        text = not_used(said.unused)
        if where is message.channel:
            await self._reply(message, text)
            return
        try:
            await where.send(text, allowed_mentions=NO_PINGS)
        except WRITE_ERRORS as exc:
            log.warning("could not say which files were not used: %s", exc)

    async def _cannot_answer_in(self, where: discord.abc.Messageable, message: discord.Message) -> bool:
        """Check the bot may post where it would answer; if not, tell the member privately (a DM) and log it."""
        why = cannot_answer(where, f"<#{getattr(where, 'id', 0)}>")
        if why is None:
            return False
        log.warning("cannot answer message %d in channel %s: %s", message.id, getattr(where, "id", "?"), why)
        if self._may_hint(("cannot", message.channel.id, message.author.id)):
            await by_dm(message.author)(why)
        return True

    async def _bound_message(self, message: discord.Message, binding: Binding) -> None:
        """A message in a bound channel with no conversation yet: it opens one (a thread, or the channel's)."""
        said = read_message(message)
        if binding.mode == "thread":
            if not said.readable:
                return
            said = await read_text_files(said, self.bot.services.downloads)
            if not said.turn:
                return
        if binding.mode == "thread" and await self._cannot_open_thread(message):
            return
        try:
            async with self.bot.services.gate.new_conversation(
                binding.guild_id, message_member(message), binding.provider
            ):
                opened = await self._open_bound(message, binding, said)
        except Refused as exc:
            await self._refuse_message(message, str(exc))
            return
        if opened is None:
            return
        session, where = opened
        if where is message.channel:  # channel mode: the channel's shared conversation, this message its turn
            await self._next_turn(message, session, admitted=True)
        else:  # the message opened its own thread; answer there
            await self._say_unused(message, where, said)
            note = by_dm(message.author)
            await reply_in(
                self.bot,
                where,
                session,
                speaker(message.author),
                said.turn,
                note=note,
                message_id=message.id,
                files=said.file_names,
            )

    async def _cannot_open_thread(self, message: discord.Message) -> bool:
        """A thread off a member's message in a bound channel takes what Discord would ask of the member to open
        one (*Create Public Threads*, *Send Messages in Threads*) and the same of the bot; if either lacks it,
        the member is told privately (a DM, at most once a minute) and nothing opens."""
        channel = message.channel
        author = message.author
        theirs = channel.permissions_for(author) if isinstance(author, discord.Member) else None
        if why := member_cannot(channel, theirs, OPEN_THREAD, START):
            log.info("member %d may not open a thread in bound channel %d", author.id, channel.id)
            if self._may_hint(("cannot", channel.id, author.id)):
                await by_dm(author)(why)
            return True
        granted = channel.permissions_for(channel.guild.me) if isinstance(channel, discord.TextChannel) else None
        if granted is None or (granted.create_public_threads and granted.send_messages_in_threads):
            return False
        why = (
            f"I can't open a thread for you in <#{channel.id}>: I'm missing the **Create Public Threads** or"
            " **Send Messages in Threads** permission there. A server manager can grant it."
        )
        log.warning("cannot open a thread in bound channel %d: missing permissions", channel.id)
        if self._may_hint(("cannot", channel.id, message.author.id)):
            await by_dm(message.author)(why)
        return True

    async def _open_bound(
        self, message: discord.Message, binding: Binding, said: MemberMessage
    ) -> tuple[SessionRecord, discord.abc.Messageable] | None:
        """A message in a bound channel: a new thread with its own session, or the channel's shared one."""
        conversations = self.bot.services.conversations
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
            try:
                title = said.text or ", ".join(said.file_names)
                target = await message.create_thread(
                    name=thread_name(title), auto_archive_duration=THREAD_ARCHIVE_MINUTES
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
            existing = await self.bot.services.store.active_session(target.id)
            if existing is None:
                return None
            session = existing
        return session, target

    async def _voice_turn(self, message: discord.Message, session: SessionRecord, said: MemberMessage) -> None:
        """Convert a voice note or audio file for the provider; a file it cannot take gets a clear reply."""
        audio = said.audio
        assert audio is not None  # noqa: S101 - only called for messages that carry audio
        try:
            voice = await voice_input(audio, self.bot.services.downloads)
        except AudioRejected as exc:
            log.info("voice note refused: %s", exc.user_message)
            await self._reply(message, exc.user_message)
            return
        except discord.HTTPException as exc:
            log.warning("could not download an audio attachment: %s", exc)
            await self._reply(message, "Discord would not hand me that file; try sending it again.")
            return
        await reply_in(
            self.bot,
            message.channel,
            session,
            speaker(message.author),
            voice_label(voice),
            note=by_dm(message.author),
            voice=voice,
            message_id=message.id,
        )

    async def _refuse_message(self, message: discord.Message, text: str) -> None:
        """A message the gate refused: say why to its author (once a minute each), as a reply."""
        log.info("message %d from %d refused: %s", message.id, message.author.id, text)
        await self._hint(message, text, key=(message.channel.id, message.author.id))

    async def _hint(self, message: discord.Message, text: str, *, key: Hashable | None = None) -> None:
        """A short reply, at most once a minute per channel (or `key`) so a chatty thread is not flooded."""
        if self._may_hint(message.channel.id if key is None else key):
            await self._reply(message, text)

    def _may_hint(self, key: Hashable) -> bool:
        now = time.monotonic()
        if now - self._last_hint.get(key, float("-inf")) < HINT_INTERVAL_S:
            return False
        self._last_hint[key] = now
        return True

    async def _reply(self, message: discord.Message, text: str) -> None:
        """A short reply the member must see, tried again while Discord's trouble passes (its nonce keeps it
        single)."""
        nonce = secrets.token_hex(8)
        await until_taken(
            lambda: message.reply(text, nonce=nonce, allowed_mentions=NO_PINGS, mention_author=False),
            what=f"a reply to message {message.id}",
        )


async def setup(bot: BridgeBot) -> None:
    await bot.add_cog(MessagesCog(bot))
