"""A reply's streamed text on Discord: one message edited as the text grows, continued past 2,000 characters.

Deltas only update the text; a single flusher task brings Discord up to date one write at a time, each at a
pacer turn, always with the newest text, so bursts coalesce into one edit. The Stop button rides on these
writes (bot/replies/notice.py), and the first of them takes over a WORKING notice on screen.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import Any

import discord

from bot.replies.delivery import WRITE_ERRORS, Trouble, classify
from bot.replies.notice import StopButton, WorkingNotice
from bot.replies.pacing import Priority, Urgency
from bot.replies.splitting import MESSAGE_LIMIT, join_chunks, open_fence, split_message
from bot.replies.writes import ReplyWriter

log = logging.getLogger(__name__)

NEAR_END = MESSAGE_LIMIT // 2
"""Characters before a message's 2,000 within which a streamed write stops at a word's end (`_at_word_end`): the
last write before the text crosses 2,000 may come anywhere in the message's second half (50 tokens a second
add about 430 characters between two writes 1.1 s apart)."""
OVERFLOW = "-# 📎 The rest of this answer is in the attached file (Discord allows this app no more messages here)."


class TextStream:
    """The streamed text of one reply (`text`, with a closing `footer`) and the messages showing it (`messages`,
    each last shown as in `shown`); `stalled` once Discord refused a streamed write (a bug): it stops there."""

    def __init__(
        self, writer: ReplyWriter, stop: StopButton, notice: WorkingNotice, *, max_messages: int | None = None
    ) -> None:
        """Writes go through `writer`; `stop` says where the button goes; `notice` is taken over by the first
        message. `max_messages`: the most messages the text may take (an interaction's followup limit); past
        it the last one says the rest is attached (`overflowed`), and the reply attaches the whole text."""
        self._max_messages = max_messages
        self.overflowed = False
        """The text needed more than `max_messages` messages: the last one points to the attached file."""
        self._writer = writer
        self._stop = stop
        self._notice = notice
        self.text = ""
        self.footer = ""
        """A closing line under the streamed text (who stopped it)."""
        self.messages: list[discord.Message] = []
        self.shown: list[str] = []
        self.stalled = False
        self._frozen: list[str] = []  # messages kept exactly as last shown when the text moved on
        self._frozen_chars = 0
        self._flusher: asyncio.Task[None] | None = None
        self._creating: dict[int, str] = {}  # message index -> the nonce its creation is being tried with
        self._held = 0  # characters of the newest delta, not shown while live
        self._shown_chars = 0  # characters of text the growing message showed at its last write
        self._arrivals: deque[tuple[int, float]] = deque()  # (end offset in text, monotonic time) per delta not shown

    @property
    def shown_text(self) -> str:
        """The streamed text as Discord shows it, without the footer ("" before the first write)."""
        shown = list(self.shown)
        if self.footer and shown:
            if shown[-1] == self.footer:
                shown.pop()
            else:
                shown[-1] = shown[-1].removesuffix("\n" + self.footer)
        return join_chunks(shown) if shown else ""

    @property
    def delivered(self) -> bool:
        """Discord shows all the text received (and the footer), as it should look now."""
        return not self.stalled and self.shown == self._chunks()

    def last_shown(self) -> tuple[discord.Message, str] | None:
        """The last message and the text it shows, unless there is none or the stream stalled."""
        if self.messages and not self.stalled:
            return self.messages[-1], self.shown[-1]
        return None

    def add(self, text: str, *, at: float, hold: bool) -> None:
        """A delta received at `at` (monotonic s); `hold`: it may be held back while Stop is offered on it."""
        self.text += text
        self._arrivals.append((len(self.text), at))
        self._held = len(text) if hold else 0
        self.kick()

    async def settle(self) -> None:
        """A whole message is about to follow the streamed text: show all of it first, without Stop."""
        if self.text:
            self._held = 0
            self._stop.settled = True
            await self.drain()

    def on_quiet(self) -> bool:
        """The reply went quiet: a stream shown without Stop gets it (`StopButton.due`). True when the reply
        needs no WORKING notice (Stop is in sight, some text is shown, or more is on its way)."""
        if self.messages and not self._stop.buttoned and not self._stop.due:
            self._stop.due = True
            self.kick()
        return bool(self._stop.buttoned or self.messages or not self.current())

    def kick(self) -> None:
        """Start the flusher unless it runs already."""
        if not self._writer.stopped and (self._flusher is None or self._flusher.done()):
            self._flusher = asyncio.create_task(self._flush_until_current(), name="stream-flusher")

    def cancel(self) -> None:
        """The reply stopped: write nothing more."""
        if self._flusher is not None and self._flusher is not asyncio.current_task():
            self._flusher.cancel()

    async def drain(self) -> None:
        """Return once Discord shows all text received so far (or nothing more can be shown)."""
        while not self.current():
            self.kick()
            flusher = self._flusher
            assert flusher is not None  # noqa: S101 - kick just set it
            try:
                await asyncio.shield(flusher)
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if not flusher.cancelled() or (current is not None and current.cancelling()):
                    raise  # we are being cancelled, not just the flusher (stopped from outside)

    def current(self) -> bool:
        """Nothing more to write: Discord shows what it should (or nothing more can be shown)."""
        if self._writer.stopped or self.stalled:
            return True
        chunks = self._chunks()
        at = self._stop_at(chunks)
        return self.shown == chunks and not self._stop.stale(at) and not self._stop.missing(at)

    def _stop_at(self, chunks: list[str]) -> int:
        """The message that should carry Stop now (`StopButton.index`), or -1."""
        return self._stop.index(len(chunks), started=bool(self.messages))

    def _visible(self) -> str:
        """The text Discord should show now: all of it, less the newest delta while Stop is offered on it, and
        near a message's end only up to a word's end (`_at_word_end`)."""
        if not self._stop.offered or self._stop_at([""]) < 0:
            return self.text  # a stream's first write shows everything: nothing delays the first words
        return self._at_word_end(self.text[: max(len(self.text) - self._held, self._shown_chars)])

    def _at_word_end(self, visible: str) -> str:
        """While text streams, a write to a message within `NEAR_END` characters of its end shows text up to the
        last whitespace: the message is then sealed as last shown when the text moves on (it ends where
        split_message cuts), and the continuation is the very next write, not a paced edit later."""
        if not self._stop.live or len(visible) - self._frozen_chars <= MESSAGE_LIMIT - NEAR_END:
            return visible
        cut = max(visible.rfind(" "), visible.rfind("\n")) + 1
        return visible[: max(cut, self._shown_chars)] if cut > self._frozen_chars + MESSAGE_LIMIT // 2 else visible

    def _chunks(self) -> list[str]:
        rest = self._visible()[self._frozen_chars :]
        chunks = self._frozen + (split_message(rest) if rest else [])
        if self.footer:
            last = chunks[-1] if len(chunks) > len(self._frozen) else None
            if last is not None and len(last) + 1 + len(self.footer) <= MESSAGE_LIMIT and not open_fence(last):
                chunks[-1] = f"{last}\n{self.footer}"
            else:
                chunks.append(self.footer)
        cap = self._max_messages
        if cap is not None and len(chunks) > cap:
            self.overflowed = True
            chunks = [*chunks[: cap - 1], OVERFLOW + (f"\n{self.footer}" if self.footer else "")]
        return chunks

    def _freeze_live_message_if_clean(self) -> None:
        """Keep an overflowing message as last shown when that already ends at a word boundary.

        Sealing it at split_message's cut would cost one more paced write before the continuation
        appears; freezing lets the very next write create the new message instead.
        """
        live = len(self._frozen)
        rest = self._visible()[self._frozen_chars :]
        if live >= len(self.shown) or len(rest) <= MESSAGE_LIMIT:
            return
        shown = self.shown[live]
        # Only after the whitespace, as split_message cuts: a message that stopped just before it would leave the
        # continuation opening with a space (an old `or the next character is a space` made that happen, and the
        # continuation test fail whenever a write landed there).
        at_word_boundary = shown[-1:].isspace()
        if len(shown) >= MESSAGE_LIMIT // 2 and at_word_boundary and rest.startswith(shown) and not open_fence(shown):
            self._frozen.append(shown)
            self._frozen_chars += len(shown)

    async def _flush_until_current(self) -> None:
        self._writer.drop_typing()
        while not self.current():
            async with self._writer.lock:
                try:
                    async with self._writer.turn(self._priority, steady=True):
                        wrote = await self._write_next()
                except WRITE_ERRORS as exc:  # waited out (or given up) outside the channel's turn
                    wrote = False
                    if not await self._writer.recover(exc):
                        self.stalled = True
            if wrote:
                await self._writer.written()

    def _priority(self) -> Priority:
        """The next streamed write's place in the global budget: by the age of the oldest text members cannot
        see yet; final (no more text will come, or a whole message waits behind it) before intermediate."""
        urgency = Urgency.WAITING if self._stop.live and not self._stop.settled else Urgency.FINAL
        return urgency, self._arrivals[0][1] if self._arrivals else time.monotonic()

    def _forget_shown(self) -> None:
        """Drop the arrival times of text Discord now shows (streamed chunks and what is frozen)."""
        shown_chars = sum(len(chunk) for chunk in self.shown)
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
        stop_at = self._stop_at(chunks)
        new_text = ((i, c) for i, c in enumerate(chunks) if i >= len(self.shown) or self.shown[i] != c)
        stale = sorted(self._stop.stale(stop_at))  # cleared once the text is all shown
        if self._stop.missing(stop_at):
            stale.append(stop_at)
        index, chunk = next(new_text, (stale[0], chunks[stale[0]]) if stale else (-1, ""))
        if index < 0:
            return False
        with_stop = index == stop_at
        if not await self._write(index, chunk, with_stop=with_stop):
            return False
        if with_stop:
            self._stop.buttoned.add(index)
        else:
            self._stop.buttoned.discard(index)
        if index == len(chunks) - 1:
            self._shown_chars = visible_chars
        self._forget_shown()
        return True

    async def _write(self, index: int, chunk: str, *, with_stop: bool) -> bool:
        """Message `index` made to show `chunk` (and Stop if `with_stop`): an edit, the WORKING notice taken over,
        or a new message. False when the message was deleted (the stream goes on in a new one)."""
        buttons: dict[str, Any] = {"view": self._stop.view()} if with_stop else {}
        adopting = index >= len(self.messages) and self._notice.message is not None
        try:
            if index < len(self.messages):
                if not with_stop and index in self._stop.buttoned:
                    buttons["view"] = None
                await self._writer.edit(self.messages[index], content=chunk, **buttons)
                self.shown[index] = chunk
            elif adopting:  # the first output replaces the WORKING notice, in place
                notice = self._notice.message
                assert notice is not None  # noqa: S101 - checked just above
                await self._writer.edit(notice, content=chunk, view=buttons.get("view"))
                self.messages.append(notice)
                self.shown.append(chunk)
                self._notice.message = None
            else:
                nonce = self._creating.setdefault(index, self._writer.new_nonce())
                message = await self._writer.create(chunk, nonce=nonce, **buttons)
                del self._creating[index]
                self.messages.append(message)
                # A retry with the same nonce gets back the message the lost attempt created, with its older text.
                self.shown.append(message.content)
        except WRITE_ERRORS as exc:
            if classify(exc) is Trouble.MESSAGE_GONE:
                log.info("a streamed message was deleted; continuing in a new one")
                if adopting:
                    self._notice.message = None
                del self.messages[index:], self.shown[index:]
                self._stop.buttoned = {i for i in self._stop.buttoned if i < index}
                return False
            raise
        return True
