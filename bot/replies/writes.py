"""One reply's writes to Discord: paced, tried again through Discord's bad moments, never posted twice.

A transient failure is tried again with back-off (bot/replies/delivery.py), always with the newest text; a new
message carries a nonce Discord enforces, so a retry after a lost response never posts twice; an archived thread
is unarchived; the interaction that started the turn carries the reply as its followups while its token lasts.
When Discord says the reply can never be shown there (thread deleted, locked, access or a permission taken away,
Discord down for too long) the writer stops and tells its reply, which tells the core.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

import discord

from bot.core.reply_sink import Undeliverable
from bot.replies.delivery import (
    OUTAGE_GIVE_UP_S,
    OUTAGE_NOTICE_S,
    WRITE_ERRORS,
    Outage,
    Trouble,
    classify,
    duration_in_words,
    followup_token_trouble,
)
from bot.replies.followups import InteractionFollowups
from bot.replies.pacing import PriorityOf, Urgency, WritePacer, final_from, requests_at

log = logging.getLogger(__name__)

NO_PINGS = discord.AllowedMentions.none()
"""Whom the bot's messages may ping: no one (an @everyone in a provider's or a member's text stays text)."""
GAVE_UP = "⚠️ Discord could not be reached for {duration}, so this reply was cut off above. Send your message again."
WAIT_FOR_DISCORD_S = 3600.0
"""How long a reply given up on keeps waiting for Discord to come back, to say it was cut off."""
MAX_UNARCHIVES = 3
"""Unarchiving a thread that at once says archived again means it cannot be written in: stop trying."""
LOST_FOLLOWUP_LOOKBACK = 10
"""Messages looked through for a followup whose answer was lost (it is among the newest, if Discord made it)."""
T = TypeVar("T")


class ReplyWriter:
    """The writes of one reply into one Discord channel or thread, and what Discord's answers mean for it.

    `known_ids` gives the ids of the reply's messages so far, `on_written` is awaited each time Discord took a
    write, and `on_lost` is told why once the reply is given up (`lost`, `trouble`; `stopped` is then set).
    """

    def __init__(
        self,
        channel: discord.abc.Messageable,
        pacer: WritePacer,
        followups: InteractionFollowups | None,
        *,
        known_ids: Callable[[], Iterable[int]],
        on_written: Callable[[], Awaitable[None]],
        on_lost: Callable[[Undeliverable], None],
    ) -> None:
        """`followups`: the interaction that started the turn, whose followups (outside the global rate limit)
        carry the reply while its token lasts; the channel carries the rest."""
        self._channel = channel
        self._pacer = pacer
        self._followups = followups
        self._known_ids = known_ids
        self._on_written = on_written
        self._on_lost = on_lost
        self.lock = asyncio.Lock()
        """Held by whoever writes one of the reply's messages: one at a time (a notice is never posted beside
        output)."""
        self.stopped = False
        """Nothing more is written: stopped from outside, or the reply was given up."""
        self.lost: Undeliverable | None = None
        self.trouble: Trouble | None = None
        """What Discord answered when the reply was given up (a locked thread, a missing permission...)."""
        self.late_by_s = 0.0
        """The longest outage the reply's writes waited out past `OUTAGE_NOTICE_S` (s), 0 when none did."""
        self._outage = Outage()
        self._unarchives = 0
        self._nonce_prefix = secrets.token_hex(8)
        self._nonce_numbers = itertools.count()
        self._typing: asyncio.Task[None] | None = None

    # Typing ----------------------------------------------------------------------------------

    def show_typing(self) -> None:
        """The typing indicator, sent in the background, only when no other request waits for the global budget;
        dropped by the reply's first write (`drop_typing`)."""
        self._typing = asyncio.create_task(self._show_typing(), name="typing-indicator")

    async def _show_typing(self) -> None:
        try:
            with requests_at(lambda: (Urgency.BACKGROUND, 0.0)):
                await self._channel.typing()
        except WRITE_ERRORS as exc:
            log.debug("typing indicator failed: %s", exc)

    def drop_typing(self) -> None:
        """Text is about to show: a typing indicator still waiting for its slot is pointless now."""
        if self._typing is not None and not self._typing.done():
            self._typing.cancel()

    def stop(self) -> None:
        """Write nothing more, and drop a typing indicator still on its way."""
        self.stopped = True
        if self._typing is not None and self._typing is not asyncio.current_task():
            self._typing.cancel()

    # Where writes go --------------------------------------------------------------------------

    @property
    def via_followups(self) -> bool:
        """Writes go out as the interaction's followups now, outside the bot's global budget."""
        return self._followups is not None and self._followups.usable

    def turn(self, priority: PriorityOf, *, steady: bool) -> contextlib.AbstractAsyncContextManager[None]:
        """The pacer's turn for one write at `priority` (`WritePacer.turn`), as a followup while they are usable."""
        return self._pacer.turn(priority, steady=steady, followup=self.via_followups)

    def new_nonce(self) -> str:
        """Discord keeps one message per nonce for a few minutes (`enforce_nonce`): retries never post twice."""
        return f"{self._nonce_prefix}{next(self._nonce_numbers)}"

    async def create(self, content: str | None, *, nonce: str, **fields: Any) -> discord.Message:
        """A new message of this reply: a followup while they are usable, else a channel message with `nonce`.

        A followup Discord refused for its token, or did not answer, is not tried again as one: the reply goes
        on through the channel at once, keeping the followup if Discord made it after all (`_landed`: a followup
        has no nonce). Discord's other refusals (an archived thread, a bad request) are raised, as for a
        channel message."""
        followups = self._followups
        if followups is not None and followups.only:
            return await followups.send(content, allowed_mentions=NO_PINGS, **fields)
        if followups is not None and followups.usable:
            try:
                return await followups.send(content, allowed_mentions=NO_PINGS, **fields)
            except WRITE_ERRORS as exc:
                self._leave_followups(exc)
                if classify(exc) is Trouble.TRANSIENT and (landed := await self._landed(content)) is not None:
                    return landed
            self._pacer.count_channel_write()  # this turn skipped the channel's window, expecting a followup
        return await self._channel.send(content, nonce=nonce, allowed_mentions=NO_PINGS, **fields)

    async def _landed(self, content: str | None) -> discord.Message | None:
        """The followup Discord created though its answer was lost, if it did: a followup takes no nonce, so the
        channel's newest messages are looked through for this interaction's with the same text (one request)."""
        assert self._followups is not None  # noqa: S101 - only called after a followup failed
        interaction_id, known = self._followups.interaction_id, set(self._known_ids())
        try:
            async for message in self._channel.history(limit=LOST_FOLLOWUP_LOOKBACK):
                metadata = message.interaction_metadata
                from_it = metadata is not None and metadata.id == interaction_id
                if from_it and message.id not in known and message.content == (content or ""):
                    log.info("a followup whose answer was lost had been posted; keeping it")
                    return message
        except WRITE_ERRORS as exc:
            log.info("could not look for a lost followup (%s); posting through the channel", _describe(exc))
        return None

    async def edit(self, message: discord.Message, **fields: Any) -> discord.Message:
        """`message` (one of this reply's) edited to `fields`, pinging no one; raises Discord's refusals."""
        return await self._write_existing(message, lambda target: target.edit(allowed_mentions=NO_PINGS, **fields))

    async def delete(self, message: discord.Message) -> None:
        """`message` (one of this reply's) deleted; raises Discord's refusals."""
        await self._write_existing(message, lambda target: target.delete())

    async def _write_existing(self, message: discord.Message, write: Callable[[discord.Message], Awaitable[T]]) -> T:
        """`write` applied to one of this reply's messages: a followup through its interaction while followups
        are usable, else through the channel (where the bot may edit and delete its interaction messages too,
        also once the token has expired)."""
        if isinstance(message, discord.WebhookMessage):
            followups = self._followups
            if followups is not None and followups.only:
                return await followups.write(lambda: write(message))
            if followups is not None and followups.usable:
                try:
                    return await followups.write(lambda: write(message))
                except WRITE_ERRORS as exc:
                    self._leave_followups(exc)
                self._pacer.count_channel_write()
            message = self._in_channel(message)
        return await write(message)

    def _in_channel(self, message: discord.Message) -> discord.Message:
        """`message` as a channel message, so writes to it no longer need the interaction's token."""
        return discord.PartialMessage(channel=self._channel, id=message.id)  # type: ignore[arg-type,return-value]

    def _leave_followups(self, exc: BaseException) -> None:
        """After a failed followup write: give followups up if their token is refused or Discord did not answer;
        raise Discord's other refusals (`recover` handles them as for a channel write)."""
        if not followup_token_trouble(exc):
            raise exc
        log.info("a followup failed (%s); the reply goes on through the channel", _describe(exc))
        if self._followups is not None:
            self._followups.give_up()

    # Discord's answers -----------------------------------------------------------------------

    async def attempt(self, write: Callable[[], Awaitable[T]], *, priority: PriorityOf | None = None) -> T | None:
        """One discrete write at a pacer turn, tried again while Discord's trouble is passing; None when it was
        dropped (refused, the reply given up or stopped).

        It goes before streamed edits in the global budget (`Urgency.FINAL`, from now) unless `priority` says."""
        if priority is None:
            priority = final_from(time.monotonic())
        self.drop_typing()
        while not self.stopped:
            try:
                async with self.turn(priority, steady=False):
                    result = await write()
            except WRITE_ERRORS as exc:
                if await self.recover(exc):
                    continue
                return None
            await self.written()
            return result
        return None

    async def recover(self, exc: BaseException) -> bool:
        """After a failed write: True to try it again (after waiting out Discord), False to drop it."""
        trouble = classify(exc)
        if trouble is Trouble.TRANSIENT:
            return await self._back_off(exc)
        if trouble is Trouble.ARCHIVED:
            return await self._unarchive()
        if trouble in (Trouble.REJECTED, Trouble.MESSAGE_GONE):
            log.warning("Discord refused a write: %s", exc)
            return False
        self._lose(Undeliverable.GONE if trouble is Trouble.GONE else Undeliverable.BLOCKED, trouble, exc)
        return False

    async def _back_off(self, exc: BaseException) -> bool:
        delay = self._outage.failed()
        if self._outage.lasted_s + delay > OUTAGE_GIVE_UP_S:
            self._lose(Undeliverable.UNREACHABLE, Trouble.TRANSIENT, exc)
            return False
        log.warning("Discord did not take a write (%s); trying again in %.0f s", _describe(exc), delay)
        await asyncio.sleep(delay)
        return not self.stopped

    async def _unarchive(self) -> bool:
        """Edits in an archived thread need it active again (sending a message would unarchive it too)."""
        if not isinstance(self._channel, discord.Thread) or self._unarchives >= MAX_UNARCHIVES:
            return False
        self._unarchives += 1
        try:
            await self._channel.edit(archived=False)
        except WRITE_ERRORS as exc:
            trouble = classify(exc)
            if trouble is Trouble.TRANSIENT:
                return await self._back_off(exc)
            self._lose(Undeliverable.GONE if trouble is Trouble.GONE else Undeliverable.BLOCKED, Trouble.LOCKED, exc)
            return False
        log.info("unarchived thread %d to finish a reply", self._channel.id)
        return True

    def _lose(self, why: Undeliverable, trouble: Trouble, exc: BaseException) -> None:
        """Discord will not show this reply here: stop writing and let the core end the turn."""
        log.warning("giving up a reply (%s): %s", trouble.value, _describe(exc))
        self.lost, self.trouble = why, trouble
        self.stopped = True
        self._on_lost(why)

    async def written(self) -> None:
        """Discord took a write: end any outage (remembering a long one), then tell the reply (`on_written`)."""
        lasted = self._outage.answered()
        self._unarchives = 0
        if lasted >= OUTAGE_NOTICE_S:
            log.warning("Discord answered again after %.0f s", lasted)
            self.late_by_s = max(self.late_by_s, lasted)
        await self._on_written()

    async def say_when_reachable(self) -> None:
        """After Discord stayed down past the give-up limit: once it answers again, say the reply was cut off.

        One message, tried with back-off for up to `WAIT_FOR_DISCORD_S`; its nonce keeps retries from posting twice.
        """
        nonce = self.new_nonce()
        while self._outage.lasted_s < WAIT_FOR_DISCORD_S:
            await asyncio.sleep(self._outage.failed())
            await self._pacer.slot(steady=False)
            notice = GAVE_UP.format(duration=duration_in_words(self._outage.lasted_s))
            try:
                await self._channel.send(notice, nonce=nonce, allowed_mentions=NO_PINGS)
                return
            except WRITE_ERRORS as exc:
                if classify(exc) is not Trouble.TRANSIENT:
                    return
        log.warning("Discord stayed unreachable; the cut-off reply was never marked")


def _describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
