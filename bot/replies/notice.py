"""A live reply's Stop button: which streamed message carries it, and the "working" notice that carries it instead.

While the reply is being written it carries Stop at no cost in writes: the button rides on the stream's own edits,
and the newest delta is held back until the stream ends, so the stream's final write (which shows it) always
exists to take the button away. A reply that shows nothing for a couple of seconds (Magic AI and Soundverse answer
whole, the Agentverse engine works for a while) gets a short "working" notice with Stop instead, which its first
output then replaces.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import discord

from bot.replies.pacing import waiting_since
from bot.replies.widgets import stop_view
from bot.replies.writes import ReplyWriter

log = logging.getLogger(__name__)

WORKING = "-# ⏳ {provider} is working on it…"
QUIET_BEFORE_NOTICE_S = 2.0
"""A reply that shows nothing new for this long (and has no Stop button in sight) posts the WORKING notice."""
QUIET_BEFORE_NOTICE_MAX_S = 5.0
"""However long a provider usually takes, the notice (and with it Stop) is not held back longer than this."""


class StopButton:
    """Where a reply's Stop button should be and where it is, by index among its streamed messages."""

    def __init__(self, writer: ReplyWriter, *, streamed: bool) -> None:
        """`streamed`: the provider sends text as many deltas, so the stream's first write goes without Stop."""
        self._writer = writer
        self._streamed = streamed
        self.reply_id: int | None = None
        """The reply the button names, once the turn is watched (no Stop before)."""
        self.live = True
        """The provider may still send text: Stop is offered, the newest delta held back."""
        self.settled = False
        """A whole message followed the streamed text: it is shown in full, without Stop."""
        self.due = False
        """A stream went quiet after its first write (which had no Stop): add it."""
        self.buttoned: set[int] = set()
        """Messages whose last write carried the button."""

    @property
    def offered(self) -> bool:
        """The reply offers Stop now: its turn is watched, live, and neither stopped nor settled."""
        return self.live and self.reply_id is not None and not self._writer.stopped and not self.settled

    def view(self) -> discord.ui.View:
        """The button, naming the reply."""
        return stop_view(self.reply_id or 0)

    def index(self, count: int, *, started: bool) -> int:
        """Which of `count` streamed messages should carry Stop now (the one still growing), or -1; `started`:
        the stream has a message on Discord.

        A stream's first write goes without it: it shows everything at once (nothing delays the first words),
        and a reply that then ends needs no write to take a button away. Stop rides on the next write, or on
        an edit of its own if the stream goes quiet first (`due`)."""
        if not self.offered or (self._streamed and not started):
            return -1
        return count - 1

    def missing(self, at: int) -> bool:
        """The stream went quiet after a first write without Stop: message `at` (`index`) needs the button now."""
        return self.due and at >= 0 and at not in self.buttoned

    def stale(self, at: int) -> set[int]:
        """Messages carrying Stop that should no longer, `at` being `index`: none while the reply is live (a
        message the stream moved on from keeps its button until then, so moving on costs no write), all but the
        growing one after."""
        if self.offered:
            return set()
        return self.buttoned - {at}


class WorkingNotice:
    """The WORKING notice (with Stop) a live reply posts when it shows nothing for a while; `message` is the
    notice on Discord, which the reply's next output takes over (or `drop` deletes)."""

    def __init__(self, writer: ReplyWriter, stop: StopButton, *, provider_name: str, after_s: float) -> None:
        """`after_s`: how long the reply shows nothing new before the notice goes up (from `QUIET_BEFORE_NOTICE_S`
        to `QUIET_BEFORE_NOTICE_MAX_S`)."""
        self._writer = writer
        self._stop = stop
        self._provider_name = provider_name
        self._after_s = min(max(after_s, QUIET_BEFORE_NOTICE_S), QUIET_BEFORE_NOTICE_MAX_S)
        self.message: discord.Message | None = None
        self.last_activity = time.monotonic()
        """When the reply last received an event or had a write taken (monotonic s)."""
        self._task: asyncio.Task[None] | None = None
        self._attempt: asyncio.Task[discord.Message | None] | None = None  # the notice's write, once due
        self._sending = False  # that write has its slot and is being sent: it is no longer given up

    def touch(self) -> float:
        """The reply is active now: the quiet before the notice starts again. Returns the time (monotonic s)."""
        self.last_activity = time.monotonic()
        return self.last_activity

    def start(self, on_quiet: Callable[[], bool]) -> None:
        """Watch for quiet from now on, while the reply is live; `on_quiet` is called when it is quiet, and says
        whether the reply needs no notice (Stop is in sight, or output is on its way)."""
        if self._task is None and self._stop.live:
            self._task = asyncio.create_task(self._when_quiet(on_quiet), name="working-notice")

    def end(self) -> None:
        """The reply is no longer live: a notice not yet being sent is not posted."""
        task = self._task
        if task is not None and not self._sending and task is not asyncio.current_task():
            task.cancel()  # a notice being sent completes, and the closing writes replace it

    def cancel(self) -> None:
        """The reply stopped: post nothing more."""
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()

    def take(self) -> discord.Message | None:
        """The notice on screen, for the caller to turn into its own message (None if there is none)."""
        notice, self.message = self.message, None
        return notice

    def overtake(self) -> None:
        """Output arrived: a WORKING notice still waiting for its slot gives it up."""
        attempt = self._attempt
        if attempt is not None and not self._sending and attempt is not asyncio.current_task():
            attempt.cancel()

    async def drop(self) -> None:
        """A WORKING notice nothing replaced (the provider said nothing more) is deleted at the end."""
        notice = self.take()
        if notice is not None:
            await self._writer.attempt(lambda: self._writer.delete(notice))

    async def _when_quiet(self, on_quiet: Callable[[], bool]) -> None:
        """While the reply is live and no Stop button is in sight for a while: let `on_quiet` put Stop on the
        streamed text if some is shown, else post the WORKING notice (with Stop), which the next output replaces."""
        while self._stop.live:
            wait = self.last_activity + self._after_s - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            needs_none = on_quiet()
            if self.message is not None or needs_none:
                self.last_activity = time.monotonic()
                continue
            async with self._writer.lock:
                if not self._stop.offered or self.message is not None or self._stop.buttoned:
                    continue
                try:
                    await self._post()
                finally:
                    self.last_activity = time.monotonic()

    async def _post(self) -> None:
        """The WORKING notice, unless output arrives while it waits for its slot: then it gives its place up
        (`overtake`) and the output goes instead. Under load the notice would otherwise be posted just in
        time to be edited into that output, and the output (waiting for the write lock) would wait at the
        notice's place in the global queue."""
        text, view = WORKING.format(provider=self._provider_name), self._stop.view()
        nonce = self._writer.new_nonce()
        quiet_since = self.last_activity

        async def post_if_still_quiet() -> discord.Message | None:
            if self.last_activity != quiet_since:
                return None
            self._sending = True  # from here on the notice is not given up: it may be on Discord already
            return await self._writer.create(text, nonce=nonce, view=view)

        attempt = asyncio.create_task(self._writer.attempt(post_if_still_quiet, priority=waiting_since(quiet_since)))
        self._attempt = attempt
        try:
            self.message = await attempt
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if not attempt.cancelled() or (current is not None and current.cancelling()):
                raise
        finally:
            self._attempt, self._sending = None, False
