"""Turns provider events into Discord messages: the streamed text, whole messages, and the reply's closing lines.

`StreamingReply` is the core's ReplySink. It composes the streamed text (bot/replies/text_stream.py), the Stop
button and working notice (bot/replies/notice.py) and the writer every write goes through, riding out Discord's
bad moments (bot/replies/writes.py): when Discord says the reply can never be shown there, the sink stops
writing and tells the core, which ends the turn.
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import discord

from bot.core.reply_sink import TurnWatcher, Undeliverable
from bot.providers.base import Event, Heard, Notice, Offer, Said, SessionEnded, Source, Sources, SpokenReply, TextDelta
from bot.replies.delivery import Trouble, duration_in_words
from bot.replies.followups import InteractionFollowups
from bot.replies.notice import QUIET_BEFORE_NOTICE_S, StopButton, WorkingNotice
from bot.replies.pacing import WritePacer, final_from, requests_at
from bot.replies.splitting import MESSAGE_LIMIT, split_message
from bot.replies.text_stream import TextStream
from bot.replies.widgets import offer_layout, offer_view, retry_view, sources_embed
from bot.replies.writes import ReplyWriter

log = logging.getLogger(__name__)

INTERRUPT_GRACE_S = 3.0
EMPTY_REPLY = "-# {provider} sent an empty reply."
INTERRUPTED = "⏹️ This reply was cut off because the bot shut down. Send your message again once it is back."
LATE = "-# ⚠️ Discord did not answer for {duration}, so this reply showed up late."
REFUSED = "⚠️ Discord refused part of this reply; the bot owner can find details in the bot's log."
STOPPED = "-# ⏹️ Stopped by {by}."
WHOLE_ANSWER_FILENAME = "answer.md"
LET_GO = " I no longer follow the agent's work; send a message here to check on it again."


class StreamingReply:
    """A ReplySink writing into one Discord channel or thread: streamed text in messages kept up to date, the
    provider's whole messages, offers, sources and audio under them, and the lines that close the reply."""

    def __init__(
        self,
        channel: discord.abc.Messageable,
        pacer: WritePacer,
        *,
        provider_name: str,
        post_audio: Callable[[bytes], Awaitable[None]] | None = None,
        streamed: bool = False,
        followups: InteractionFollowups | None = None,
        notice_after_s: float = QUIET_BEFORE_NOTICE_S,
        max_messages: int | None = None,
        closing_view: Callable[[], discord.ui.View] | None = None,
    ) -> None:
        """`streamed`: the provider sends text as many deltas (`Provider.streams`), so the first write may show
        everything at once; a whole answer (one delta) is held until it is final, so it is written once.
        `followups`: the interaction that started the turn, whose followups (outside the global rate limit)
        carry the reply while its token lasts; the channel carries the rest. `notice_after_s`: how long the reply
        shows nothing new before the WORKING notice goes up (from `QUIET_BEFORE_NOTICE_S` to
        `QUIET_BEFORE_NOTICE_MAX_S`). `max_messages`: the most messages the streamed text may take (past it the
        whole text is attached as a file); `closing_view`: buttons put on the reply's last message once it ended
        (a place's Reply button, bot/core/places.py)."""
        self._post_audio = post_audio
        self._pacer = pacer
        self._provider_name = provider_name
        self._writer = ReplyWriter(
            channel, pacer, followups, known_ids=lambda: self.message_ids, on_written=self._written, on_lost=self._lost
        )
        self._stop = StopButton(self._writer, streamed=streamed)
        self._notice = WorkingNotice(self._writer, self._stop, provider_name=provider_name, after_s=notice_after_s)
        self._stream = TextStream(self._writer, self._stop, self._notice, max_messages=max_messages)
        self._closing_view = closing_view
        self._said_shown: list[str] = []
        self._sources: tuple[Source, ...] = ()
        self._said = False
        self._spoken: bytes | None = None
        self._watcher: TurnWatcher | None = None
        self._reported = ""
        self._text_dropped = False
        self._offers: list[Offer] = []
        self._posted: list[int] = []  # ids of the whole messages this reply posted (agent messages, notices)

    @property
    def lost(self) -> Undeliverable | None:
        """Why the reply was given up, if it was."""
        return self._writer.lost

    @property
    def trouble(self) -> Trouble | None:
        """What Discord answered when the reply was given up (a locked thread, a missing permission...)."""
        return self._writer.trouble

    @property
    def shown_text(self) -> str:
        """The reply as members can see it so far (streamed text, then whole messages, joined)."""
        streamed = self._stream.shown_text
        return "\n\n".join(piece for piece in (streamed, *self._said_shown) if piece)

    @property
    def message_ids(self) -> list[int]:
        """The Discord messages showing the reply, oldest first."""
        return sorted({*(message.id for message in self._stream.messages), *self._posted})

    @property
    def delivered_all(self) -> bool:
        """Everything handed to the reply so far reached Discord."""
        return not (self._writer.stopped or self._text_dropped) and self._stream.delivered

    def watch(self, watcher: TurnWatcher) -> None:
        """Report to `watcher`; from now on the reply offers Stop (naming `watcher.reply_id`)."""
        self._watcher = watcher
        self._stop.reply_id = watcher.reply_id
        self._notice.start(self._stream.on_quiet)

    async def begin(self) -> None:
        """Show the typing indicator until the first text arrives, without holding the turn up: it is sent in the
        background, only when no other request waits for the global budget, and dropped once text is ready."""
        self._writer.show_typing()

    async def handle(self, event: Event) -> None:
        """Show one provider event: text streams into the growing message, whole messages are posted."""
        if self._writer.stopped:
            return
        now = self._notice.touch()
        self._notice.overtake()
        if isinstance(event, TextDelta) and event.text:
            self._stream.add(event.text, at=now, hold=self._watcher is not None)
        elif isinstance(event, Sources):
            self._sources = event.items
        elif isinstance(event, Heard):
            await self._post(f"🎙️ *{discord.utils.escape_markdown(event.text)}*")
        elif isinstance(event, SpokenReply):
            self._spoken = event.wav
        elif isinstance(event, Offer):
            self._offers.append(event)  # posted under the finished text, when the turn ends
            self._said = True
        elif isinstance(event, Said):
            await self._stream.settle()
            self._said = True
            await self._say(event.text)
        elif isinstance(event, SessionEnded | Notice):
            await self._stream.settle()
            await self._post(f"-# {event.reason if isinstance(event, SessionEnded) else event.text}")

    async def finish(self) -> None:
        """The provider answered in full: show all of it, then offers, sources, audio and closing lines."""
        self._end_live()
        await self._stream.drain()
        if self._writer.stopped:
            return
        await self._post_offers()
        if not self._stream.text and not self._said:
            await self._post(EMPTY_REPLY.format(provider=self._provider_name))
        if self._sources:
            await self._attach(sources_embed(self._sources))
        if self._spoken and self._post_audio is not None:
            await self._pacer.slot(steady=False)
            with requests_at(final_from(time.monotonic())):
                await self._post_audio(self._spoken)
        await self._closing_lines()
        await self._seal()

    async def fail(self, message: str) -> None:
        """The failure line; it carries Retry when the member's turn can be sent again."""
        self._end_live()
        await self._stream.drain()
        if not self._writer.stopped:
            retryable = self._watcher is not None and self._watcher.retryable
            await self._post_offers()
            await self._post(f"⚠️ {message}", view=retry_view(self._reply_id) if retryable else None)
            await self._closing_lines()

    async def stopped(self, by: str, *, following: bool) -> None:
        """A member pressed Stop: show what arrived, with who stopped it under it, and no Stop button."""
        self._end_live()
        self._stream.footer = STOPPED.format(by=discord.utils.escape_markdown(by)) + (LET_GO if following else "")
        await self._stream.drain()
        if not self._writer.stopped:
            await self._closing_lines()
            await self._seal()

    async def interrupt(self, *, finished: bool) -> None:
        """The bot is stopping: show what arrived within `INTERRUPT_GRACE_S`, and say it was cut off unless
        `finished` and all of it could be shown."""
        self._end_live()
        try:
            async with asyncio.timeout(INTERRUPT_GRACE_S):
                await self._stream.drain()
                if not self._writer.stopped and not (finished and self.delivered_all):
                    await self._post(INTERRUPTED)
                await self._notice.drop()
        except TimeoutError:
            log.warning("could not mark an interrupted reply in time")
            self.stop()

    async def say_when_reachable(self) -> None:
        """After Discord stayed down past the give-up limit: once it answers again, say the reply was cut off
        (`ReplyWriter.say_when_reachable`)."""
        await self._writer.say_when_reachable()

    def stop(self) -> None:
        """Send nothing more (the turn was abandoned from outside)."""
        self._stop.live = False
        self._stream.cancel()
        self._notice.cancel()
        self._writer.stop()

    def _end_live(self) -> None:
        """No more text will come: the next writes show all of it and take the Stop button away."""
        self._stop.live = False
        self._notice.end()

    @property
    def _reply_id(self) -> int:
        return self._watcher.reply_id if self._watcher is not None else 0

    # Whole messages --------------------------------------------------------------------------

    async def _say(self, text: str) -> None:
        """A whole message of the provider's own, split past 2,000 characters."""
        for chunk in split_message(text):
            if chunk.strip() and await self._post(chunk) is None:
                self._text_dropped = True
                return
        self._said_shown.append(text)
        await self._report_shown()

    async def _post(
        self,
        content: str | None = None,
        *,
        embed: discord.Embed | None = None,
        view: discord.ui.View | discord.ui.LayoutView | None = None,
    ) -> discord.Message | None:
        """A message of its own (a notice, a whole agent message), paced; tried again until Discord takes it.

        A WORKING notice on screen becomes this message (an edit), so the notice costs no write of its own."""
        writer = self._writer
        async with writer.lock:
            notice = self._notice.take()
            posted = None
            if notice is not None:
                posted = await writer.attempt(lambda: writer.edit(notice, content=content, embed=embed, view=view))
            if posted is None and not writer.stopped:
                nonce = writer.new_nonce()
                extra: dict[str, Any] = {"embed": embed} if embed is not None else {}
                if view is not None:
                    extra["view"] = view
                posted = await writer.attempt(lambda: writer.create(content, nonce=nonce, **extra))
            if posted is not None:
                self._posted.append(posted.id)
            return posted

    async def _attach(self, embed: discord.Embed) -> None:
        """Put an embed under the reply: on its last message, or on its own if nothing was shown."""
        last = self._stream.last_shown()
        if last is not None:
            message, content = last
            await self._writer.attempt(lambda: self._writer.edit(message, content=content, embed=embed))
        else:
            await self._post(embed=embed)

    async def _post_offers(self) -> None:
        offers, self._offers = self._offers, []
        for offer in offers:
            await self._offer(offer)

    async def _offer(self, offer: Offer) -> None:
        """Buttons (select menus past 25 choices) whose clicks are understood by id, even after a restart."""
        layout = offer_layout(offer)
        if layout is not None:  # long choices: each whole beside its own button (Components V2, no content)
            await self._post(view=layout)
            return
        view = offer_view(offer)
        try:
            await self._post(offer.prompt[:MESSAGE_LIMIT], view=view)
        finally:
            view.stop()  # cogs/offers.py answers clicks; this view needs no listener

    async def _closing_lines(self) -> None:
        """Say so when Discord refused part of the reply, or held it back for long; clear a WORKING notice."""
        if self._stream.stalled:
            await self._post(REFUSED)
        if self._writer.late_by_s:
            await self._post(LATE.format(duration=duration_in_words(self._writer.late_by_s)))
        await self._notice.drop()

    async def _seal(self) -> None:
        """The reply ended: its last message gets the closing buttons, and the whole text as a file when it needed
        more messages than it may take (one edit for both)."""
        last = self._stream.last_shown()
        if last is None or (self._closing_view is None and not self._stream.overflowed):
            return
        message, content = last
        view = self._closing_view() if self._closing_view is not None else None
        fields: dict[str, Any] = {"content": content} | ({"view": view} if view is not None else {})
        whole = self._stream.text.encode() if self._stream.overflowed else None

        def sealed() -> dict[str, Any]:  # a file is read once: each try gets its own
            if whole is None:
                return fields
            return {**fields, "attachments": [discord.File(io.BytesIO(whole), WHOLE_ANSWER_FILENAME)]}

        try:
            await self._writer.attempt(lambda: self._writer.edit(message, **sealed()))
        finally:
            if view is not None:
                view.stop()  # its clicks are understood by custom_id (a cog's DynamicItem), also after a restart

    # What the core hears ---------------------------------------------------------------------

    async def _written(self) -> None:
        """Discord took a write: the reply was active just now, and members see what it shows."""
        self._notice.touch()
        await self._report_shown()

    def _lost(self, why: Undeliverable) -> None:
        """The writer gave the reply up: let the core end the turn."""
        if self._watcher is not None:
            self._watcher.undeliverable(why)

    async def _report_shown(self) -> None:
        text = self.shown_text
        if self._watcher is not None and text != self._reported:
            self._reported = text
            await self._watcher.shown(text)
