"""One turn, run: the provider's events go to a reply sink, and the transcript keeps what members saw.

The provider is read in a task of its own (the relay), so the turn can be cut short from outside:
when the sink finds that Discord can no longer show the reply (the thread was deleted, locked, the bot
lost a permission, Discord stayed down), or when the thread is deleted under it, the relay is
cancelled, which closes the provider's HTTP response at once. While the reply streams, every text the
sink gets onto Discord is saved, so even a killed process leaves the transcript holding what members
saw; the next start marks such a reply interrupted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field

from bot.audio.headers import wav_duration_s
from bot.core.quotas import Admission
from bot.core.recording import STORE_ERRORS, LateWrites, ShownText, record_final
from bot.core.reply_cap import CUT_NOTICE, DEFAULT_MAX_REPLY_CHARS, ReplyCap
from bot.core.reply_sink import ReplySink, TurnMetrics, Undeliverable
from bot.providers.base import (
    Event,
    Heard,
    Notice,
    Provider,
    Said,
    Sources,
    SpokenReply,
    StateSaved,
    TextDelta,
    Turn,
)
from bot.providers.errors import ProviderError
from bot.store import EntryStatus, OpenedTurn, SessionRecord, Store, TurnUsage, UsageFinish

log = logging.getLogger(__name__)

UNEXPECTED_ERROR_MESSAGE = "Something went wrong on the bot's side; the bot owner can find details in its log."
STORE_TROUBLE_MESSAGE = (
    "The bot's database stopped answering partway, so this conversation may not remember this reply;"
    " try again in a minute."
)


@dataclass(frozen=True)
class LastCall:
    """How a provider's most recent turn went, for `/providers`."""

    ok: bool
    at: float
    why: str = ""


@dataclass
class TurnTiming:
    """When a turn started and when the provider's first event arrived (monotonic seconds)."""

    started_at: float = field(default_factory=time.monotonic)
    first_event_at: float | None = None
    last_event_at: float | None = None
    audio_out_s: float = 0.0
    """Seconds of spoken answer the provider sent."""
    cut: bool = False
    """The reply reached the reply cap and was cut there."""


@dataclass(frozen=True)
class Stopper:
    """Who pressed Stop on a reply."""

    id: int
    name: str


@dataclass
class RunningTurn:
    """A turn in progress: its relay task, its sink, and why it was abandoned or stopped (if it was)."""

    relay: asyncio.Task[None]
    sink: ReplySink
    timing: TurnTiming
    reply_id: int = 0
    asker_id: int = 0
    """The member whose turn this answers (who may stop it besides moderators)."""
    abandoned: Undeliverable | None = None
    stopped_by: Stopper | None = None

    def stop(self, by: Stopper) -> bool:
        """A member's Stop: stop reading the provider now (its HTTP response is closed); the sink still shows
        what arrived. False if the turn was already stopped or abandoned."""
        if self.abandoned is not None or self.stopped_by is not None or self.relay.done():
            return False
        self.stopped_by = by
        self.relay.cancel()
        return True

    def abandon(self, why: Undeliverable) -> None:
        """End the turn now: stop reading the provider and stop writing to Discord."""
        if self.abandoned is not None:
            return
        self.abandoned = why
        self.relay.cancel()
        self.sink.stop()


class _Recorder:
    """The core's side of a sink: saves what was shown (never failing the reply, bot/core/recording.py), abandons the
    turn when nothing more can be shown."""

    def __init__(self, store: Store, reply_id: int, running: RunningTurn, *, retryable: bool) -> None:
        self._reply_id = reply_id
        self._running = running
        self._retryable = retryable
        self.shown_text = ShownText(store, reply_id)

    @property
    def reply_id(self) -> int:
        return self._reply_id

    @property
    def retryable(self) -> bool:
        return self._retryable

    async def shown(self, text: str) -> None:
        self.shown_text.save(text)

    def undeliverable(self, why: Undeliverable) -> None:
        log.info("reply %d can no longer be shown (%s); ending the turn", self._reply_id, why.value)
        self._running.abandon(why)


class TurnRunner:
    """Runs turns (one per channel at a time; the caller holds the channel's lock) and remembers them."""

    def __init__(
        self,
        store: Store,
        metrics: TurnMetrics | None = None,
        *,
        owner: str | None = None,
        max_reply_chars: int = DEFAULT_MAX_REPLY_CHARS,
    ) -> None:
        """`owner`: this process's name in the store; the replies it writes carry it (bot/core/presence.py).
        `max_reply_chars`: a reply is cut there, and the provider no longer read (bot/core/reply_cap.py)."""
        self._store = store
        self._metrics = metrics
        self.owner = owner
        """This process's name in the store (the replies it writes carry it)."""
        self._max_reply_chars = max_reply_chars
        self.running: dict[int, RunningTurn] = {}
        self.last_calls: dict[str, LastCall] = {}
        self.late_writes = LateWrites()
        """Final statuses the database did not take in time, still being tried."""

    def find(self, channel_id: int, reply_id: int) -> RunningTurn | None:
        """The turn writing reply `reply_id` in this process, if it is still running."""
        running = self.running.get(channel_id)
        return running if running is not None and running.reply_id == reply_id else None

    async def run(
        self,
        session: SessionRecord,
        provider: Provider,
        turn: Turn,
        added: OpenedTurn,
        sink: ReplySink,
        admission: Admission | None = None,
    ) -> Undeliverable | None:
        """Answer `turn` into `sink`, recording the reply; returns why it was abandoned, if it was.

        `added.said_id` is the member's transcript entry the reply answers (0 for none: a resumption), and
        `added.reply_id` the reply's entry if the words' step opened it (else it is opened here). An `admission`
        (the turn let through its quotas) gets the turn's usage with the reply's final write."""
        said_id = added.said_id
        reply_id = added.reply_id or await self._store.add_entry(
            session.id, "assistant", "", author_id=None, status="streaming", owner=self.owner
        )
        parts: list[str] = []
        timing = TurnTiming()
        relay = asyncio.create_task(
            self._relay(provider, session, turn, (said_id, reply_id), parts, sink, timing), name="relay"
        )
        running = RunningTurn(relay, sink, timing, reply_id=reply_id, asker_id=turn.user_id)
        self.running[session.channel_id] = running
        recorder = _Recorder(self._store, reply_id, running, retryable=said_id > 0 and not turn.resume)
        sink.watch(recorder)
        try:
            outcome, failure = await self._outcome(running, provider, session)
            if running.stopped_by is not None:
                await self._stopped(running, provider, session, reply_id)
            elif running.abandoned is None:
                self.last_calls[provider.key] = LastCall(failure is None, time.time(), failure or "")
                await (sink.finish() if failure is None else sink.fail(failure))
        except asyncio.CancelledError:
            await recorder.shown_text.stop()
            await self._cut_short_by_shutdown(running, reply_id, parts, admission)
            raise
        finally:
            if self.running.get(session.channel_id) is running:
                del self.running[session.channel_id]
        await recorder.shown_text.stop()
        delivered = sink.delivered_all and running.abandoned is None and running.stopped_by is None
        status: EntryStatus = "stopped" if running.stopped_by else outcome if delivered else "interrupted"
        content = "".join(parts) if delivered else sink.shown_text
        usage = self._usage(status, content, running.timing, admission)
        shown_in = sink.message_ids
        await record_final(
            self._store, reply_id, content, status, later=self.late_writes, usage=usage, message_ids=shown_in
        )
        log.info("session %d: %s reply %s (%d characters)", session.id, provider.key, status, len(content))
        self._count(provider.key, status, running)
        return running.abandoned

    async def _stopped(self, running: RunningTurn, provider: Provider, session: SessionRecord, reply_id: int) -> None:
        """A member stopped the reply: the sink says so, and a provider followed in the background is let go."""
        by = running.stopped_by
        assert by is not None  # noqa: S101 - only called for stopped turns
        log.info("session %d: reply %d stopped by member %d", session.id, reply_id, by.id)
        let_go = provider.state_after_stop(session.state)
        try:
            await self._store.add_extras(reply_id, {"stopped_by": by.id})
            if let_go:
                await self._store.update_state(session.id, let_go)
        except STORE_ERRORS as exc:
            log.warning("session %d: who stopped reply %d was not recorded (%s)", session.id, reply_id, exc)
        await running.sink.stopped(by.name, following=bool(let_go))

    def _usage(
        self, status: EntryStatus, content: str, timing: TurnTiming, admission: Admission | None
    ) -> UsageFinish | None:
        """What the ledger records of an admitted turn as it ends (None for a turn nobody admitted)."""
        if admission is None:
            return None
        ended = timing.last_event_at or time.monotonic()
        outcome = "cut" if timing.cut and status == "complete" else status
        usage = TurnUsage(
            chars_out=len(content),
            audio_out_s=round(timing.audio_out_s, 3),
            provider_s=round(max(0.0, ended - timing.started_at), 3),
            outcome=outcome,
        )
        if self._metrics is not None:
            self._metrics.usage_recorded(admission.provider, outcome, usage, admission.chars_in, admission.audio_in_s)
        return admission.finish(usage)

    def _count(self, provider: str, status: EntryStatus, running: RunningTurn) -> None:
        if self._metrics is None:
            return
        timing = running.timing
        first = None if timing.first_event_at is None else timing.first_event_at - timing.started_at
        self._metrics.turn_finished(provider, status, first, time.monotonic() - timing.started_at)

    async def _outcome(
        self, running: RunningTurn, provider: Provider, session: SessionRecord
    ) -> tuple[EntryStatus, str | None]:
        """How the provider's part went: complete, failed (with what to tell members), stopped or interrupted."""
        try:
            await running.relay
        except ProviderError as exc:
            log.warning("session %d: %s turn failed: %s", session.id, provider.key, exc)
            return "failed", exc.user_message
        except STORE_ERRORS as exc:
            log.warning("session %d: the store failed during a %s turn: %s", session.id, provider.key, exc)
            return "failed", STORE_TROUBLE_MESSAGE
        except asyncio.CancelledError:
            current = asyncio.current_task()
            cut_short = running.abandoned is not None or running.stopped_by is not None
            if not cut_short or (current is not None and current.cancelling()):
                raise  # the turn itself is being cancelled (shutdown), not just its relay
            return ("stopped" if running.stopped_by is not None else "interrupted"), None
        except Exception:
            log.exception("session %d: unexpected error in %s turn", session.id, provider.key)
            return "failed", UNEXPECTED_ERROR_MESSAGE
        return "complete", None

    async def _cut_short_by_shutdown(
        self, running: RunningTurn, reply_id: int, parts: list[str], admission: Admission | None
    ) -> None:
        """Shutdown: show what arrived and say it was cut off, then record it (also if it had finished)."""
        relay = running.relay
        finished = relay.done() and not relay.cancelled() and relay.exception() is None
        log.info("reply %d interrupted by shutdown", reply_id)
        await running.sink.interrupt(finished=finished)
        whole = finished and running.sink.delivered_all
        content = "".join(parts) if whole else running.sink.shown_text
        status: EntryStatus = "complete" if whole else "interrupted"
        usage = self._usage(status, content, running.timing, admission)
        await record_final(self._store, reply_id, content, status, later=self.late_writes, usage=usage)

    async def _relay(
        self,
        provider: Provider,
        session: SessionRecord,
        turn: Turn,
        entries: tuple[int, int],
        parts: list[str],
        sink: ReplySink,
        timing: TurnTiming,
    ) -> None:
        """Pass the provider's events to the sink, keeping the text, state changes, what was heard and the
        sources (`entries`: the member's entry and the reply's)."""
        said_id, reply_id = entries
        cap = ReplyCap(self._max_reply_chars)
        async with _closing(provider.reply(turn)) as events:  # leaving closes the provider's response
            async for arrived in events:
                timing.last_event_at = time.monotonic()
                if timing.first_event_at is None:
                    timing.first_event_at = timing.last_event_at
                event = cap.admit(arrived)
                if isinstance(event, TextDelta):
                    parts.append(event.text)
                elif isinstance(event, StateSaved):
                    await self._store.update_state(session.id, event.state)
                elif isinstance(event, Heard):
                    await _noted(self._store.set_entry_content(said_id, event.text), "what was heard", said_id)
                elif isinstance(event, Sources):
                    sources = [{"title": source.title, "url": source.url} for source in event.items]
                    await _noted(self._store.add_extras(reply_id, {"sources": sources}), "its sources", reply_id)
                elif isinstance(event, Said):
                    parts.append(("\n\n" if parts else "") + event.text)
                elif isinstance(event, SpokenReply):
                    timing.audio_out_s += wav_duration_s(event.wav)
                if event is not None:
                    await sink.handle(event)
                if cap.cut:
                    timing.cut = True
                    log.info(
                        "session %d: the %s reply reached %d characters; cut there",
                        session.id,
                        provider.key,
                        cap.max_chars,
                    )
                    await sink.handle(Notice(CUT_NOTICE.format(provider=provider.display_name, chars=cap.max_chars)))
                    return


async def _noted(write: Awaitable[None], what: str, entry_id: int) -> None:
    """A detail of the transcript (what a voice note said, an answer's sources): recorded if the database takes
    it, logged if not; the reply goes on either way (it is shown in Discord regardless)."""
    try:
        await write
    except STORE_ERRORS as exc:
        log.warning("entry %d: %s not recorded (%s)", entry_id, what, exc)


@contextlib.asynccontextmanager
async def _closing(events: AsyncIterator[Event]) -> AsyncIterator[AsyncIterator[Event]]:
    """The provider's events; leaving the block closes them (an async generator's `aclose`), so a turn that stops
    reading early (the reply cap) closes the provider's response at once rather than when it is collected."""
    try:
        yield events
    finally:
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            await aclose()
