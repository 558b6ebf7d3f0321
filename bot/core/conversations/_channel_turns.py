"""Running turns: one at a time per channel, background providers followed under this process's lease."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from bot.core.conversations._choices import claimed_choice
from bot.core.conversations._replays import Replay, Replays
from bot.core.leases import FollowLeases, LeaseLost
from bot.core.locks import KeyedLocks
from bot.core.quota_rules import Asker
from bot.core.quotas import Admission, OverQuota, Quotas
from bot.core.reply_sink import ReplySink, Undeliverable
from bot.core.turns import LastCall, Stopper, TurnRunner
from bot.providers.base import Pick, Provider, Turn, VoiceInput
from bot.store import DuplicateTurn, OpenedTurn, SaidEntry, SessionEnded, SessionRecord, Store

log = logging.getLogger(__name__)

SHUTDOWN_GRACE_S = 5.0
"""How long shutdown waits for interrupted replies to say so in Discord."""
REPLY_ENDED = "This reply has already ended."


@dataclass(frozen=True)
class Speaker:
    """The member a turn is taken for (or who pressed Stop): Discord user id and display name, and for quotas
    their roles on the server and whether they manage it."""

    id: int
    name: str
    role_ids: frozenset[int] = frozenset()
    manages_server: bool = False


class NoActiveSession(Exception):
    """The channel has no active conversation."""


class ChannelTurns:
    """Serialises each channel's turns and runs them with `TurnRunner`; stops them on request or at shutdown.

    `locks` are the conversation's per-channel locks (replays wait on them too); `on_gone(channel_id)` is
    called when Discord said a turn's channel was deleted.
    """

    def __init__(
        self,
        store: Store,
        providers: Mapping[str, Provider],
        runner: TurnRunner,
        *,
        locks: KeyedLocks,
        leases: FollowLeases,
        replays: Replays,
        on_gone: Callable[[int], Awaitable[None]],
        quotas: Quotas | None = None,
    ) -> None:
        """`quotas`: every member's turn is admitted against them and entered in the usage ledger (None: neither)."""
        self._store = store
        self.quotas = quotas
        self._providers = providers
        self._runner = runner
        self._locks = locks
        self._leases = leases
        self._replays = replays
        self._on_gone = on_gone
        self._running: set[asyncio.Task[object]] = set()

    @property
    def last_calls(self) -> dict[str, LastCall]:
        """How each provider's most recent turn went, by provider key."""
        return self._runner.last_calls

    async def take(
        self,
        channel_id: int,
        speaker: Speaker,
        text: str,
        sink: ReplySink,
        *,
        voice: VoiceInput | None = None,
        pick: Pick | None = None,
        resume: bool = False,
        message_id: int | None = None,
        replay: Replay | None = None,
        files: tuple[str, ...] = (),
        seen: SessionRecord | None = None,
    ) -> Undeliverable | None:
        """Run one turn after any earlier turn in this channel.

        For a voice note, `text` describes it until the provider says what it heard. `message_id` is
        the Discord message the turn answers: the same message is answered once, however often Discord
        delivers it. `files` names the text files whose contents `text` carries (for the transcript).
        A `replay` (from `Replays.claim`) sends the member's turn it names again, with the history it had.
        Raises NoActiveSession; UnusablePick when a claimed choice is no longer open; CannotReplay when
        the conversation moved on before a replay's turn came: tell the member privately. Returns why
        Discord could not show the reply, when it could not (the turn ended early).

        `seen`: the channel's session as the caller just read it. A turn of words (not a choice, a replay or a
        resumption) then reads nothing more before its words' step, which checks the session is still going and
        brings its state as it is now (bot/store/said.py); the others read the session again under the lock.
        """
        task = asyncio.current_task()
        if task is not None:
            self._running.add(task)
        try:
            async with self._locks[channel_id]:
                words_only = bool(text) and pick is None and replay is None and not resume
                fresh = seen is not None and seen.channel_id == channel_id and seen.active and words_only
                session = seen if fresh else await self._store.active_session(channel_id)
                if session is None:
                    raise NoActiveSession(channel_id)
                if pick is not None and replay is None:
                    claimed_choice(session.state, pick, speaker.id)
                if replay is not None:
                    await self._replays.still_replayable(session, replay)
                    lost = await self._replay_turn(session, replay, speaker, sink, voice, pick)
                else:
                    said = _said(voice, pick, files)
                    lost = await self._new_turn(session, speaker, text, sink, voice, pick, resume, message_id, said)
            if lost is Undeliverable.GONE:
                await self._on_gone(channel_id)
            return lost
        finally:
            if task is not None:
                self._running.discard(task)

    async def _new_turn(
        self,
        session: SessionRecord,
        speaker: Speaker,
        text: str,
        sink: ReplySink,
        voice: VoiceInput | None,
        pick: Pick | None,
        resume: bool,
        message_id: int | None,
        said: dict[str, Any],
    ) -> Undeliverable | None:
        """A member's new turn: admitted against quotas (a resumption is no new turn), recorded (once per Discord
        message: the admission, the words, the session's activity and, for a provider that answers at once, the
        reply's entry are one step, which also brings the session's state and the history), then run."""
        provider = self._providers.get(session.provider)
        needs_history = provider is not None and provider.needs_history
        runnable = provider is not None and (voice is None or provider.accepts_audio)
        kind = "voice" if voice is not None else "choice" if pick is not None else "text"
        files = len(said.get("files", ()))
        opens_reply = runnable and provider is not None and not provider.works_in_background
        words = (
            SaidEntry(session.id, text, speaker.id, message_id, said, opens_reply, self._runner.owner, needs_history)
            if text
            else None
        )
        history = await self._store.history(session.id) if words is None and needs_history else ()
        admission: Admission | None = None
        try:
            try:
                if runnable and not resume:
                    admission = await self._admit(session, speaker, kind, text, voice, files, words)
                added = await self._said(admission, words)
            except DuplicateTurn:
                log.info("message %s was already answered; not answering it again", message_id)
                return None
            except SessionEnded:
                raise NoActiveSession(session.channel_id) from None
            if added.state is not None:  # the words' step ran: the session and the history as they are now
                session, history = replace(session, state=added.state), added.history
            if provider is None:
                await sink.fail(f"This conversation's provider ({session.provider}) is no longer set up on this bot.")
                return None
            if voice is not None and not provider.accepts_audio:
                await sink.fail(f"{provider.display_name} reads text only: type your message.")
                return None
            turn = Turn(text, history, session.state, speaker.id, speaker.name, voice=voice, pick=pick, resume=resume)
            return await self._run(session, provider, turn, added, sink, admission)
        finally:
            await self._settle(admission)

    async def _replay_turn(
        self,
        session: SessionRecord,
        replay: Replay,
        speaker: Speaker,
        sink: ReplySink,
        voice: VoiceInput | None,
        pick: Pick | None,
    ) -> Undeliverable | None:
        """The member's turn again, with the history it had then (the replaced reply is left out of it)."""
        provider = self._providers.get(session.provider)
        if provider is None:
            await sink.fail(f"This conversation's provider ({session.provider}) is no longer set up on this bot.")
            return None
        asked = replay.asked
        kind = "regenerate" if replay.regenerate else "retry"
        try:
            admission = await self._admit(session, speaker, kind, asked.content, voice, 0)
        except OverQuota:
            await self._replays.give_back(replay)  # the reply is as it was: Retry or Regenerate once there is room
            raise
        try:
            history = await self._store.history(session.id, before=asked.id) if provider.needs_history else ()
            turn = Turn(asked.content, history, session.state, speaker.id, speaker.name, voice=voice, pick=pick)
            return await self._run(session, provider, turn, OpenedTurn(asked.id), sink, admission)
        finally:
            await self._settle(admission)

    async def _said(self, admission: Admission | None, words: SaidEntry | None) -> OpenedTurn:
        """The transcript entries of the member's words (and of the reply, if the words' step opened it): the ones
        their admission added, else added now (OpenedTurn(0) for a turn without words: a resumption). Raises
        DuplicateTurn when the message was already taken."""
        if words is None:
            return OpenedTurn(0)
        if admission is not None and admission.said is not None:
            return admission.said
        return await self._store.add_said(words)

    async def _admit(
        self,
        session: SessionRecord,
        speaker: Speaker,
        kind: str,
        text: str,
        voice: VoiceInput | None,
        files: int,
        words: SaidEntry | None = None,
    ) -> Admission | None:
        """Let a member's turn through its quotas and into the ledger, with `words` into the transcript in the
        same step; raises OverQuota (nothing recorded) or DuplicateTurn (nothing counted)."""
        if self.quotas is None:
            return None
        asker = Asker(session.guild_id or 0, speaker.id, speaker.role_ids, speaker.manages_server)
        return await self.quotas.admit(
            asker,
            session.provider,
            kind,
            channel_id=session.channel_id,
            chars_in=len(text),
            audio_in_s=voice.duration_s if voice is not None else 0.0,
            files=files + (1 if voice is not None else 0),
            said=words,
        )

    async def _settle(self, admission: Admission | None) -> None:
        """A turn admitted but never run (already answered, lease elsewhere, store trouble) is given back."""
        if admission is not None and self.quotas is not None and not admission.recorded:
            await self.quotas.release(admission)

    async def _run(
        self,
        session: SessionRecord,
        provider: Provider,
        turn: Turn,
        added: OpenedTurn,
        sink: ReplySink,
        admission: Admission | None = None,
    ) -> Undeliverable | None:
        """Run a prepared turn; a provider that works in the background is followed under this process's lease
        (its reply's entry is opened once the lease is held, so a turn that moved on leaves none)."""
        if not provider.works_in_background:
            return await self._runner.run(session, provider, turn, added, sink, admission)
        async with self._leases.hold(session.id, lambda why: self._lost_lease(session.channel_id, why)) as held:
            if not held:
                return Undeliverable.MOVED
            # Another process may have followed the session while this one waited for the lease: go on from
            # where that one left it, or not at all if a resumed session no longer needs following.
            fresh = await self._store.session(session.id)
            if fresh is None or not fresh.active or (turn.resume and not fresh.state.get("following")):
                return None
            return await self._runner.run(fresh, provider, replace(turn, state=fresh.state), added, sink, admission)

    def _lost_lease(self, channel_id: int, why: LeaseLost) -> None:
        """Stop the turn following the provider here at once (nothing more is polled or posted)."""
        running = self._runner.running.get(channel_id)
        if running is not None:
            running.abandon(Undeliverable.MOVED if why is LeaseLost.TAKEN else Undeliverable.UNFOLLOWED)

    def asker_of(self, channel_id: int, reply_id: int) -> int | None:
        """The member whose turn reply `reply_id` answers, while this process is still writing it; else None."""
        running = self._runner.find(channel_id, reply_id)
        return None if running is None else running.asker_id

    def stop(self, channel_id: int, reply_id: int, by: Speaker) -> bool:
        """Stop writing reply `reply_id` (a member's Stop): the provider's response is closed at once and the reply
        keeps what was shown, marked stopped. False when it is not being written here any more."""
        running = self._runner.find(channel_id, reply_id)
        return running is not None and running.stop(Stopper(by.id, by.name))

    async def shutdown(self) -> None:
        """Cancel turns in flight and give them a moment to mark their replies interrupted."""
        running = [task for task in self._running if not task.done()]
        for task in running:
            task.cancel()
        if running:
            await asyncio.wait(running, timeout=SHUTDOWN_GRACE_S)
        await self._runner.late_writes.close(SHUTDOWN_GRACE_S)


def _said(voice: VoiceInput | None, pick: Pick | None, files: tuple[str, ...]) -> dict[str, Any]:
    """What the transcript notes about a member's turn besides its text."""
    extras: dict[str, Any] = {"files": list(files)} if files else {}
    if voice is not None:
        extras["voice"] = round(voice.duration_s, 1)
    if pick is not None:
        extras["pick"] = pick.label
    return extras
