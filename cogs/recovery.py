"""Replies a dead process left unfinished say they were cut off, and after a restart conversations whose
provider was still working (polled agents) are followed again.

A reply belongs to the process writing it (bot/core/presence.py): at start-up and then every `SWEEP_EVERY_S`, the
replies of processes that are gone (killed, crashed) are marked and their threads told; the replies of a
process still running (the old release during a rolling deploy) are left alone. The sweep also forgets event
claims older than `CLAIMS_KEPT_S`."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from typing import TYPE_CHECKING

import discord
from discord.ext import commands

from bot.core.conversations import Speaker
from bot.core.places import is_place
from bot.core.presence import Liveness
from bot.core.recording import STORE_ERRORS
from bot.replies.delivery import WRITE_ERRORS, until_taken
from bot.replies.writes import NO_PINGS
from bot.store import SessionRecord, UnfinishedReply
from cogs.common.catch_up import missed_messages, recent_conversations
from cogs.common.private import to_log
from cogs.common.turns import reply_in

if TYPE_CHECKING:
    from bot.app import BridgeBot

log = logging.getLogger(__name__)

SWEEP_EVERY_S = 15.0
CLAIMS_KEPT_S = 3600.0
"""Discord does not deliver a message or an interaction an hour late: its claim can go."""
CUT_OFF = (
    "⏹️ The bot stopped while writing this reply, so it ends where it was cut off."
    " Send your message again for a full answer."
)


class RecoveryCog(commands.Cog):
    def __init__(self, bot: BridgeBot) -> None:
        self.bot = bot
        self._started = time.time()
        self._cut_off: list[UnfinishedReply] = []
        self._to_resume: list[SessionRecord] = []
        self._sweeping = False

    async def cog_load(self) -> None:
        self._started = time.time()  # messages sent before this are looked for after a crash (cogs/common/catch_up.py)
        # Read before connecting, so nothing started in this run counts as left over from the last one.
        store, serves = self.bot.services.store, self.bot.services.shards.serves
        self._cut_off = await self._take_unfinished()  # only this process's shards' threads, of dead processes
        following = await store.sessions_where_state("following")  # their provider was followed when it stopped
        self._to_resume = [s for s in following if serves(s.guild_id)]
        if self._cut_off:
            log.info("%d reply(ies) were cut off when the bot last stopped", len(self._cut_off))

    async def _take_unfinished(self) -> list[UnfinishedReply]:
        services = self.bot.services
        alive = await services.presence.liveness()
        return await services.store.take_unfinished(services.shards.serves, alive)

    @commands.Cog.listener()
    async def on_ready(self) -> None:
        if not self._sweeping:
            self._sweeping = True
            self.bot.services.background.spawn(self._sweep(), name="recovery-sweep")
            self.bot.services.background.spawn(self._catch_up(), name="recovery-catch-up")
        cut_off, self._cut_off = self._cut_off, []
        to_resume, self._to_resume = self._to_resume, []
        resumed = {session.id for session in to_resume}
        for reply in cut_off:
            if reply.session_id not in resumed:  # a resumed agent carries on in the thread by itself
                self.bot.services.background.spawn(self._say_cut_off(reply), name=f"cut-off-{reply.channel_id}")
        for session in to_resume:
            channel = await self._channel(session.channel_id)
            if channel is None:
                log.warning("session %d: channel %d is gone; not resuming", session.id, session.channel_id)
                continue
            log.info("session %d: resuming after restart", session.id)
            who = Speaker(id=session.started_by, name="")
            resuming = reply_in(self.bot, channel, session, who, "", note=to_log(session.channel_id), resume=True)
            self.bot.services.background.spawn(resuming, name=f"resume-{session.id}")

    async def _catch_up(self) -> None:
        """Members' messages the last run received but never took (it was killed) are answered now, each
        conversation's in order (cogs/common/catch_up.py)."""
        try:
            alive = await self.bot.services.presence.liveness()
            sessions = await recent_conversations(self.bot)
        except STORE_ERRORS as exc:
            log.warning("could not look for messages missed while the bot was down: %s", exc)
            return
        for session in sessions:
            channel = await self._channel(session.channel_id)
            if channel is not None:
                self.bot.services.background.spawn(
                    self._answer_missed(channel, session, alive), name=f"catch-up-{session.channel_id}"
                )

    async def _answer_missed(
        self, channel: discord.Thread | discord.TextChannel, session: SessionRecord, alive: Liveness
    ) -> None:
        take_missed = getattr(self.bot.get_cog("MessagesCog"), "take_missed", None)  # cogs/messages.py
        if take_missed is None:
            return
        try:
            missed = await missed_messages(self.bot, channel, session, self._started, alive)
        except STORE_ERRORS as exc:
            log.warning("channel %d: could not look for missed messages: %s", session.channel_id, exc)
            return
        for message in missed:
            await take_missed(message)

    async def _sweep(self) -> None:
        """Every `SWEEP_EVERY_S`: replies of processes that died since (the old release of a rolling deploy, a
        process on another machine) are marked and their threads told; old event claims are forgotten."""
        while True:
            await asyncio.sleep(SWEEP_EVERY_S)
            try:
                cut_off = await self._take_unfinished()
                await self.bot.services.store.coordination.forget_claims(CLAIMS_KEPT_S)
            except STORE_ERRORS as exc:
                log.warning("recovery sweep skipped: %s", exc)
                continue
            for reply in cut_off:
                log.info("reply %d was left unfinished by a process that is gone", reply.entry_id)
                self.bot.services.background.spawn(self._say_cut_off(reply), name=f"cut-off-{reply.channel_id}")

    async def _say_cut_off(self, reply: UnfinishedReply) -> None:
        channel = await self._channel(reply.channel_id)
        if channel is None:
            return
        nonce = secrets.token_hex(8)  # one message per nonce: a retry never posts twice
        pacer = self.bot.services.pacers[reply.channel_id]

        async def post() -> None:
            await pacer.slot(steady=False)
            await channel.send(CUT_OFF, nonce=nonce, allowed_mentions=NO_PINGS)

        await until_taken(post, what=f"the cut-off line in channel {reply.channel_id}")

    async def _channel(self, channel_id: int) -> discord.Thread | discord.TextChannel | None:
        """A conversation's channel from the cache, else from Discord (an archived thread is not cached); None for
        a place reached through a member's install (bot/core/places.py): the bot cannot write there by itself."""
        if is_place(channel_id):
            return None
        channel = self.bot.get_channel(channel_id)
        if channel is None:
            try:
                channel = await self.bot.fetch_channel(channel_id)
            except WRITE_ERRORS as exc:
                log.info("channel %d unavailable after restart: %s", channel_id, exc)
                return None
        return channel if isinstance(channel, discord.Thread | discord.TextChannel) else None


async def setup(bot: BridgeBot) -> None:
    await bot.add_cog(RecoveryCog(bot))
