"""Turns provider events into Discord messages: one message edited as text streams, continued past 2,000.

While the reply is being written it carries a Stop button, at no cost in writes: the button rides on the
stream's own edits, and the newest delta is held back until the stream ends, so the stream's final write
(which shows it) always exists to take the button away. A reply that shows nothing for a couple of
seconds (Magic AI and Soundverse answer whole, the Agentverse engine works for a while) gets a short
"working" notice with Stop instead, which its first output then replaces.

Every write rides out Discord's bad moments (see bot/replies/delivery.py): a transient failure is tried again
with back-off, always with the newest text; a new message carries a nonce Discord enforces, so a retry
after a lost response never posts twice; an archived thread is unarchived; and when Discord says the
reply can never be shown there (thread deleted, locked, access or a permission taken away, Discord
down for too long) the sink stops writing and tells the core, which ends the turn.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import discord

from bot.core.turns import TurnWatcher, Undeliverable
from bot.providers.base import Event, Heard, Notice, Offer, Said, SessionEnded, Source, Sources, SpokenReply, TextDelta
from bot.replies.delivery import (
    OUTAGE_GIVE_UP_S,
    OUTAGE_NOTICE_S,
    WRITE_ERRORS,
    Outage,
    Trouble,
    classify,
    followup_token_trouble,
)
from bot.replies.followups import InteractionFollowups
from bot.replies.pacing import Priority, PriorityOf, Urgency, WritePacer, requests_at, waiting_since
from bot.replies.splitting import MESSAGE_LIMIT, join_chunks, open_fence, split_message
from bot.replies.widgets import offer_view, retry_view, sources_embed, stop_view

log = logging.getLogger(__name__)

NO_PINGS = discord.AllowedMentions.none()
INTERRUPT_GRACE_S = 3.0
EMPTY_REPLY = "-# {provider} sent an empty reply."
INTERRUPTED = "⏹️ This reply was cut off because the bot shut down. Send your message again once it is back."
LATE = "-# ⚠️ Discord did not answer for {duration}, so this reply showed up late."
GAVE_UP = "⚠️ Discord could not be reached for {duration}, so this reply was cut off above. Send your message again."
WAIT_FOR_DISCORD_S = 3600.0
"""How long a reply given up on keeps waiting for Discord to come back, to say it was cut off."""
MAX_UNARCHIVES = 3
"""Unarchiving a thread that at once says archived again means it cannot be written in: stop trying."""
REFUSED = "⚠️ Discord refused part of this reply; the bot owner can find details in the bot's log."
WORKING = "-# ⏳ {provider} is working on it…"
QUIET_BEFORE_NOTICE_S = 2.0
"""A reply that shows nothing new for this long (and has no Stop button in sight) posts the WORKING notice."""
QUIET_BEFORE_NOTICE_MAX_S = 5.0
"""However long a provider usually takes, the notice (and with it Stop) is not held back longer than this."""
STOPPED = "-# ⏹️ Stopped by {by}."
LET_GO = " I no longer follow the agent's work; send a message here to check on it again."
LOST_FOLLOWUP_LOOKBACK = 10
"""Messages looked through for a followup whose answer was lost (it is among the newest, if Discord made it)."""
T = TypeVar("T")


class StreamingReply:
    """A ReplySink writing into one Discord channel or thread.

    Text deltas only update `_text`; a single flusher task brings Discord up to date one write at a
    time, each at a pacer slot, always with the newest text, so bursts coalesce into one edit.
    """

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
    ) -> None:
        """`streamed`: the provider sends text as many deltas (`Provider.streams`), so the first write may show
        everything at once; a whole answer (one delta) is held until it is final, so it is written once.
        `followups`: the interaction that started the turn, whose followups (outside the global rate limit)
        carry the reply while its token lasts; the channel carries the rest. `notice_after_s`: how long the reply
        shows nothing new before the WORKING notice goes up (from `QUIET_BEFORE_NOTICE_S` to
        `QUIET_BEFORE_NOTICE_MAX_S`)."""
        self._channel = channel
        self._notice_after_s = min(max(notice_after_s, QUIET_BEFORE_NOTICE_S), QUIET_BEFORE_NOTICE_MAX_S)
        self._followups = followups
        self._post_audio = post_audio
        self._pacer = pacer
        self._provider_name = provider_name
        self._streamed = streamed
        self._text = ""
        self._frozen: list[str] = []  # messages kept exactly as last shown when the text moved on
        self._frozen_chars = 0
        self._messages: list[discord.Message] = []
        self._shown: list[str] = []
        self._said_shown: list[str] = []
        self._flusher: asyncio.Task[None] | None = None
        self._sources: tuple[Source, ...] = ()
        self._said = False
        self._spoken: bytes | None = None
        self._watcher: TurnWatcher | None = None
        self._reported = ""
        self._outage = Outage()
        self._late_by_s = 0.0
        self._nonce_prefix = secrets.token_hex(8)
        self._nonce_numbers = itertools.count()
        self._creating: dict[int, str] = {}  # message index -> the nonce its creation is being tried with
        self._stalled = False  # Discord refused a streamed write (a bug): the stream stops where it is
        self._text_dropped = False
        self._stopped = False
        self._unarchives = 0
        self._live = True  # the provider may still send text: the Stop button is offered, the newest delta held
        self._settled = False  # a whole message followed the streamed text: it is shown in full, without Stop
        self._offers: list[Offer] = []
        self._posted: list[int] = []  # ids of the whole messages this reply posted (agent messages, notices)
        self._held = 0  # characters of the newest delta, not shown while live
        self._shown_chars = 0  # characters of _text the growing message showed at its last write
        self._stop_due = False  # a stream went quiet after its first write (which had no Stop): add it
        self._footer = ""  # a closing line under the streamed text (who stopped it)
        self._buttoned: set[int] = set()  # messages whose last write carried the Stop button
        self._notice: discord.Message | None = None  # the WORKING notice, replaced by the next output
        self._notice_task: asyncio.Task[None] | None = None
        self._notice_attempt: asyncio.Task[discord.Message | None] | None = None  # the notice's write, once due
        self._notice_sending = False  # that write has its slot and is being sent: it is no longer given up
        self._last_activity = time.monotonic()
        self._write_lock = asyncio.Lock()  # one message write at a time: a notice is never posted beside output
        self._arrivals: deque[tuple[int, float]] = deque()  # (end offset in _text, monotonic time) per delta not shown
        self._typing: asyncio.Task[None] | None = None
        self.lost: Undeliverable | None = None
        self.trouble: Trouble | None = None
        """What Discord answered when the reply was given up (a locked thread, a missing permission...)."""

    @property
    def shown_text(self) -> str:
        shown = list(self._shown)
        if self._footer and shown:
            if shown[-1] == self._footer:
                shown.pop()
            else:
                shown[-1] = shown[-1].removesuffix("\n" + self._footer)
        streamed = join_chunks(shown) if shown else ""
        return "\n\n".join(piece for piece in (streamed, *self._said_shown) if piece)

    @property
    def message_ids(self) -> list[int]:
        return sorted({*(message.id for message in self._messages), *self._posted})

    @property
    def delivered_all(self) -> bool:
        return not (self._stopped or self._stalled or self._text_dropped) and self._shown == self._chunks()

    def watch(self, watcher: TurnWatcher) -> None:
        """Report to `watcher`; from now on the reply offers Stop (naming `watcher.reply_id`)."""
        self._watcher = watcher
        if self._notice_task is None and self._live:
            self._notice_task = asyncio.create_task(self._notice_when_quiet(), name="working-notice")

    async def begin(self) -> None:
        """Show the typing indicator until the first text arrives, without holding the turn up: it is sent in the
        background, only when no other request waits for the global budget, and dropped once text is ready."""
        self._typing = asyncio.create_task(self._show_typing(), name="typing-indicator")

    async def _show_typing(self) -> None:
        try:
            with requests_at(lambda: (Urgency.BACKGROUND, 0.0)):
                await self._channel.typing()
        except WRITE_ERRORS as exc:
            log.debug("typing indicator failed: %s", exc)

    def _drop_typing(self) -> None:
        """Text is about to show: a typing indicator still waiting for its slot is pointless now."""
        if self._typing is not None and not self._typing.done():
            self._typing.cancel()

    async def handle(self, event: Event) -> None:
        if self._stopped:
            return
        self._last_activity = time.monotonic()
        self._overtake_notice()
        if isinstance(event, TextDelta) and event.text:
            self._text += event.text
            self._arrivals.append((len(self._text), self._last_activity))
            self._held = len(event.text) if self._watcher is not None else 0
            self._kick()
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
            await self._settle_stream()
            self._said = True
            await self._say(event.text)
        elif isinstance(event, SessionEnded | Notice):
            await self._settle_stream()
            await self._post(f"-# {event.reason if isinstance(event, SessionEnded) else event.text}")

    async def finish(self) -> None:
        self._end_live()
        await self._drain()
        if self._stopped:
            return
        await self._post_offers()
        if not self._text and not self._said:
            await self._post(EMPTY_REPLY.format(provider=self._provider_name))
        if self._sources:
            await self._attach(sources_embed(self._sources))
        if self._spoken and self._post_audio is not None:
            await self._pacer.slot(steady=False)
            with requests_at(_final_from(time.monotonic())):
                await self._post_audio(self._spoken)
        await self._closing_lines()

    async def fail(self, message: str) -> None:
        """The failure line; it carries Retry when the member's turn can be sent again."""
        self._end_live()
        await self._drain()
        if not self._stopped:
            retryable = self._watcher is not None and self._watcher.retryable
            await self._post_offers()
            await self._post(f"⚠️ {message}", view=retry_view(self._reply_id) if retryable else None)
            await self._closing_lines()

    async def stopped(self, by: str, *, following: bool) -> None:
        self._end_live()
        self._footer = STOPPED.format(by=discord.utils.escape_markdown(by)) + (LET_GO if following else "")
        await self._drain()
        if not self._stopped:
            await self._closing_lines()

    async def interrupt(self, *, finished: bool) -> None:
        self._end_live()
        try:
            async with asyncio.timeout(INTERRUPT_GRACE_S):
                await self._drain()
                if not self._stopped and not (finished and self.delivered_all):
                    await self._post(INTERRUPTED)
                await self._drop_notice()
        except TimeoutError:
            log.warning("could not mark an interrupted reply in time")
            self.stop()

    async def say_when_reachable(self) -> None:
        """After Discord stayed down past the give-up limit: once it answers again, say the reply was cut off.

        One message, tried with back-off for up to `WAIT_FOR_DISCORD_S`; its nonce keeps retries from posting twice.
        """
        nonce = self._new_nonce()
        while self._outage.lasted_s < WAIT_FOR_DISCORD_S:
            await asyncio.sleep(self._outage.failed())
            await self._pacer.slot(steady=False)
            notice = GAVE_UP.format(duration=_duration(self._outage.lasted_s))
            try:
                await self._channel.send(notice, nonce=nonce, allowed_mentions=NO_PINGS)
                return
            except WRITE_ERRORS as exc:
                if classify(exc) is not Trouble.TRANSIENT:
                    return
        log.warning("Discord stayed unreachable; the cut-off reply was never marked")

    def stop(self) -> None:
        self._stopped = True
        self._live = False
        for task in (self._flusher, self._notice_task, self._typing):
            if task is not None and task is not asyncio.current_task():
                task.cancel()

    # The Stop button -------------------------------------------------------------------------

    def _end_live(self) -> None:
        """No more text will come: the next writes show all of it and take the Stop button away."""
        self._live = False
        task = self._notice_task
        if task is not None and not self._notice_sending and task is not asyncio.current_task():
            task.cancel()  # a notice being sent completes, and the closing writes replace it

    @property
    def _reply_id(self) -> int:
        return self._watcher.reply_id if self._watcher is not None else 0

    def _offers_stop(self) -> bool:
        return self._live and self._watcher is not None and not self._stopped and not self._settled

    async def _settle_stream(self) -> None:
        """A whole message is about to follow the streamed text: show all of it first, without Stop."""
        if self._text:
            self._held = 0
            self._settled = True
            await self._drain()

    def _stop_index(self, chunks: list[str]) -> int:
        """The message that should carry Stop now (the one still growing), or -1.

        A stream's first write goes without it: it shows everything at once (nothing delays the first words),
        and a reply that then ends needs no write to take a button away. Stop rides on the next write, or on
        an edit of its own if the stream goes quiet first (`_stop_due`)."""
        if not self._offers_stop() or (self._streamed and not self._messages):
            return -1
        return len(chunks) - 1

    def _stop_missing(self, chunks: list[str]) -> bool:
        """The stream went quiet after a first write without Stop: it needs the button now."""
        index = self._stop_index(chunks)
        return self._stop_due and index >= 0 and index not in self._buttoned

    async def _notice_when_quiet(self) -> None:
        """While the reply is live and no Stop button is in sight for a while: put Stop on the streamed text if
        some is shown, else post the WORKING notice (with Stop), which the next output replaces."""
        while self._live:
            wait = self._last_activity + self._notice_after_s - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            if self._messages and not self._buttoned and not self._stop_due:
                self._stop_due = True
                self._kick()
            if self._notice is not None or self._buttoned or self._messages or not self._current():
                self._last_activity = time.monotonic()
                continue
            async with self._write_lock:
                if not self._offers_stop() or self._notice is not None or self._buttoned:
                    continue
                try:
                    await self._post_notice()
                finally:
                    self._last_activity = time.monotonic()

    async def _post_notice(self) -> None:
        """The WORKING notice, unless output arrives while it waits for its slot: then it gives its place up
        (`_overtake_notice`) and the output goes instead. Under load the notice would otherwise be posted just in
        time to be edited into that output, and the output (waiting for the write lock) would wait at the
        notice's place in the global queue."""
        text, view, nonce = WORKING.format(provider=self._provider_name), stop_view(self._reply_id), self._new_nonce()
        quiet_since = self._last_activity

        async def post_if_still_quiet() -> discord.Message | None:
            if self._last_activity != quiet_since:
                return None
            self._notice_sending = True  # from here on the notice is not given up: it may be on Discord already
            return await self._create(text, nonce=nonce, view=view)

        attempt = asyncio.create_task(self._attempt(post_if_still_quiet, priority=waiting_since(quiet_since)))
        self._notice_attempt = attempt
        try:
            self._notice = await attempt
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if not attempt.cancelled() or (current is not None and current.cancelling()):
                raise
        finally:
            self._notice_attempt, self._notice_sending = None, False

    def _overtake_notice(self) -> None:
        """Output arrived: a WORKING notice still waiting for its slot gives it up."""
        attempt = self._notice_attempt
        if attempt is not None and not self._notice_sending and attempt is not asyncio.current_task():
            attempt.cancel()

    async def _drop_notice(self) -> None:
        """A WORKING notice nothing replaced (the provider said nothing more) is deleted at the end."""
        notice, self._notice = self._notice, None
        if notice is not None:
            await self._attempt(lambda: self._delete(notice))

    # Streaming -------------------------------------------------------------------------------

    def _kick(self) -> None:
        if not self._stopped and (self._flusher is None or self._flusher.done()):
            self._flusher = asyncio.create_task(self._flush_until_current(), name="stream-flusher")

    async def _drain(self) -> None:
        """Return once Discord shows all text received so far (or nothing more can be shown)."""
        while not self._current():
            self._kick()
            flusher = self._flusher
            assert flusher is not None  # noqa: S101 - _kick just set it
            try:
                await asyncio.shield(flusher)
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if not flusher.cancelled() or (current is not None and current.cancelling()):
                    raise  # we are being cancelled, not just the flusher (stopped from outside)

    def _current(self) -> bool:
        if self._stopped or self._stalled:
            return True
        chunks = self._chunks()
        return self._shown == chunks and not self._stale_buttons(chunks) and not self._stop_missing(chunks)

    def _stale_buttons(self, chunks: list[str]) -> set[int]:
        """Messages carrying Stop that should no longer: none while the reply is live (a message the stream
        moved on from keeps its button until then, so moving on costs no write), all but the growing one after."""
        if self._offers_stop():
            return set()
        return self._buttoned - {self._stop_index(chunks)}

    def _visible(self) -> str:
        """The text Discord should show now: all of it, less the newest delta while Stop is offered on it."""
        if not self._offers_stop() or self._stop_index([""]) < 0:
            return self._text  # a stream's first write shows everything: nothing delays the first words
        return self._text[: max(len(self._text) - self._held, self._shown_chars)]

    def _chunks(self) -> list[str]:
        rest = self._visible()[self._frozen_chars :]
        chunks = self._frozen + (split_message(rest) if rest else [])
        if self._footer:
            last = chunks[-1] if len(chunks) > len(self._frozen) else None
            if last is not None and len(last) + 1 + len(self._footer) <= MESSAGE_LIMIT and not open_fence(last):
                chunks[-1] = f"{last}\n{self._footer}"
            else:
                chunks.append(self._footer)
        return chunks

    def _freeze_live_message_if_clean(self) -> None:
        """Keep an overflowing message as last shown when that already ends at a word boundary.

        Sealing it at split_message's cut would cost one more paced write before the continuation
        appears; freezing lets the very next write create the new message instead.
        """
        live = len(self._frozen)
        rest = self._visible()[self._frozen_chars :]
        if live >= len(self._shown) or len(rest) <= MESSAGE_LIMIT:
            return
        shown = self._shown[live]
        after = rest[len(shown) : len(shown) + 1]
        at_word_boundary = shown[-1:].isspace() or after.isspace()
        if len(shown) >= MESSAGE_LIMIT // 2 and at_word_boundary and rest.startswith(shown) and not open_fence(shown):
            self._frozen.append(shown)
            self._frozen_chars += len(shown)

    async def _flush_until_current(self) -> None:
        self._drop_typing()
        while not self._current():
            async with self._write_lock:
                try:
                    async with self._pacer.turn(self._stream_priority, steady=True, followup=self._via_followups):
                        wrote = await self._write_next()
                except WRITE_ERRORS as exc:  # waited out (or given up) outside the channel's turn
                    wrote = False
                    if not await self._recover(exc):
                        self._stalled = True
            if wrote:
                await self._written()

    def _stream_priority(self) -> Priority:
        """The next streamed write's place in the global budget: by the age of the oldest text members cannot
        see yet; final (no more text will come, or a whole message waits behind it) before intermediate."""
        urgency = Urgency.WAITING if self._live and not self._settled else Urgency.FINAL
        return urgency, self._arrivals[0][1] if self._arrivals else time.monotonic()

    def _forget_shown(self) -> None:
        """Drop the arrival times of text Discord now shows (streamed chunks and what is frozen)."""
        shown_chars = sum(len(chunk) for chunk in self._shown)
        while self._arrivals and self._arrivals[0][0] <= shown_chars:
            self._arrivals.popleft()

    async def _write_next(self) -> bool:
        """One create or edit, with the newest text: the first message that differs from what Discord should
        show (its text, or a Stop button it should no longer carry). True when Discord took it, False when
        there was nothing to write or the message was deleted; raises Discord's other refusals (WRITE_ERRORS).

        The caller holds the write lock and a pacer turn (whose global slot this write uses)."""
        self._freeze_live_message_if_clean()
        visible_chars = len(self._visible())
        chunks = self._chunks()
        stop_at = self._stop_index(chunks)
        new_text = ((i, c) for i, c in enumerate(chunks) if i >= len(self._shown) or self._shown[i] != c)
        stale = sorted(self._stale_buttons(chunks))  # cleared once the text is all shown
        if self._stop_missing(chunks):
            stale.append(stop_at)
        index, chunk = next(new_text, (stale[0], chunks[stale[0]]) if stale else (-1, ""))
        if index < 0:
            return False
        with_stop = index == stop_at
        buttons: dict[str, Any] = {"view": stop_view(self._reply_id)} if with_stop else {}
        adopting = index >= len(self._messages) and self._notice is not None
        try:
            if index < len(self._messages):
                if not with_stop and index in self._buttoned:
                    buttons["view"] = None
                await self._edit(self._messages[index], content=chunk, **buttons)
                self._shown[index] = chunk
            elif adopting:  # the first output replaces the WORKING notice, in place
                assert self._notice is not None  # noqa: S101 - checked just above
                await self._edit(self._notice, content=chunk, view=buttons.get("view"))
                self._messages.append(self._notice)
                self._shown.append(chunk)
                self._notice = None
            else:
                nonce = self._creating.setdefault(index, self._new_nonce())
                message = await self._create(chunk, nonce=nonce, **buttons)
                del self._creating[index]
                self._messages.append(message)
                # A retry with the same nonce gets back the message the lost attempt created, with its older text.
                self._shown.append(message.content)
        except WRITE_ERRORS as exc:
            if classify(exc) is Trouble.MESSAGE_GONE:
                log.info("a streamed message was deleted; continuing in a new one")
                if adopting:
                    self._notice = None
                del self._messages[index:], self._shown[index:]
                self._buttoned = {i for i in self._buttoned if i < index}
                return False
            raise
        if with_stop:
            self._buttoned.add(index)
        else:
            self._buttoned.discard(index)
        if index == len(chunks) - 1:
            self._shown_chars = visible_chars
        self._forget_shown()
        return True

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
        self, content: str | None = None, *, embed: discord.Embed | None = None, view: discord.ui.View | None = None
    ) -> discord.Message | None:
        """A message of its own (a notice, a whole agent message), paced; tried again until Discord takes it.

        A WORKING notice on screen becomes this message (an edit), so the notice costs no write of its own."""
        async with self._write_lock:
            notice, self._notice = self._notice, None
            posted = None
            if notice is not None:
                posted = await self._attempt(lambda: self._edit(notice, content=content, embed=embed, view=view))
            if posted is None and not self._stopped:
                nonce = self._new_nonce()
                extra: dict[str, Any] = {"embed": embed} if embed is not None else {}
                if view is not None:
                    extra["view"] = view
                posted = await self._attempt(lambda: self._create(content, nonce=nonce, **extra))
            if posted is not None:
                self._posted.append(posted.id)
            return posted

    async def _attach(self, embed: discord.Embed) -> None:
        """Put an embed under the reply: on its last message, or on its own if nothing was shown."""
        if self._messages and not self._stalled:
            last, content = self._messages[-1], self._shown[-1]
            await self._attempt(lambda: self._edit(last, content=content, embed=embed))
        else:
            await self._post(embed=embed)

    async def _post_offers(self) -> None:
        offers, self._offers = self._offers, []
        for offer in offers:
            await self._offer(offer)

    async def _offer(self, offer: Offer) -> None:
        """Buttons (select menus past 25 choices) whose clicks are understood by id, even after a restart."""
        view = offer_view(offer)
        try:
            await self._post(offer.prompt[:MESSAGE_LIMIT], view=view)
        finally:
            view.stop()  # cogs/offers.py answers clicks; this view needs no listener

    async def _closing_lines(self) -> None:
        """Say so when Discord refused part of the reply, or held it back for long; clear a WORKING notice."""
        if self._stalled:
            await self._post(REFUSED)
        if self._late_by_s:
            await self._post(LATE.format(duration=_duration(self._late_by_s)))
        await self._drop_notice()

    # Where writes go --------------------------------------------------------------------------

    @property
    def _via_followups(self) -> bool:
        """Writes go out as the interaction's followups now, outside the bot's global budget."""
        return self._followups is not None and self._followups.usable

    async def _create(self, content: str | None, *, nonce: str, **fields: Any) -> discord.Message:
        """A new message of this reply: a followup while they are usable, else a channel message with `nonce`.

        A followup Discord refused for its token, or did not answer, is not tried again as one: the reply goes
        on through the channel at once, keeping the followup if Discord made it after all (`_landed`: a followup
        has no nonce). Discord's other refusals (an archived thread, a bad request) are raised, as for a
        channel message."""
        followups = self._followups
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
        interaction_id, known = self._followups.interaction_id, set(self.message_ids)
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

    async def _edit(self, message: discord.Message, **fields: Any) -> discord.Message:
        return await self._write_existing(message, lambda target: target.edit(allowed_mentions=NO_PINGS, **fields))

    async def _delete(self, message: discord.Message) -> None:
        await self._write_existing(message, lambda target: target.delete())

    async def _write_existing(self, message: discord.Message, write: Callable[[discord.Message], Awaitable[T]]) -> T:
        """`write` applied to one of this reply's messages: a followup through its interaction while followups
        are usable, else through the channel (where the bot may edit and delete its interaction messages too,
        also once the token has expired)."""
        if isinstance(message, discord.WebhookMessage):
            followups = self._followups
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
        raise Discord's other refusals (`_recover` handles them as for a channel write)."""
        if not followup_token_trouble(exc):
            raise exc
        log.info("a followup failed (%s); the reply goes on through the channel", _describe(exc))
        if self._followups is not None:
            self._followups.give_up()

    # Discord's answers -----------------------------------------------------------------------

    async def _attempt(self, write: Callable[[], Awaitable[T]], *, priority: PriorityOf | None = None) -> T | None:
        """One discrete write at a pacer turn, tried again while Discord's trouble is passing.

        It goes before streamed edits in the global budget (`Urgency.FINAL`, from now) unless `priority` says."""
        if priority is None:
            priority = _final_from(time.monotonic())
        self._drop_typing()
        while not self._stopped:
            try:
                async with self._pacer.turn(priority, steady=False, followup=self._via_followups):
                    result = await write()
            except WRITE_ERRORS as exc:
                if await self._recover(exc):
                    continue
                return None
            await self._written()
            return result
        return None

    async def _recover(self, exc: BaseException) -> bool:
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
        return not self._stopped

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
        self._stopped = True
        if self._watcher is not None:
            self._watcher.undeliverable(why)

    async def _written(self) -> None:
        """Discord took a write: end any outage (remembering a long one) and save what members now see."""
        lasted = self._outage.answered()
        self._unarchives = 0
        self._last_activity = time.monotonic()
        if lasted >= OUTAGE_NOTICE_S:
            log.warning("Discord answered again after %.0f s", lasted)
            self._late_by_s = max(self._late_by_s, lasted)
        await self._report_shown()

    async def _report_shown(self) -> None:
        text = self.shown_text
        if self._watcher is not None and text != self._reported:
            self._reported = text
            await self._watcher.shown(text)

    def _new_nonce(self) -> str:
        """Discord keeps one message per nonce for a few minutes (`enforce_nonce`): retries never post twice."""
        return f"{self._nonce_prefix}{next(self._nonce_numbers)}"


def _final_from(since: float) -> PriorityOf:
    priority = (Urgency.FINAL, since)
    return lambda: priority


def _describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def _duration(seconds: float) -> str:
    return f"about {round(seconds)} seconds" if seconds < 90 else f"about {round(seconds / 60)} minutes"
