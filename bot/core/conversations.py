"""The conversation core: one session per channel, turns in order, provider events to a reply sink."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from bot.core.leases import FollowLeases, LeaseLost, process_identity
from bot.core.locks import KeyedLocks
from bot.core.presence import Liveness
from bot.core.reply_cap import DEFAULT_MAX_REPLY_CHARS
from bot.core.turns import LastCall, ReplySink, Stopper, TurnMetrics, TurnRunner, Undeliverable
from bot.providers.base import Pick, Provider, Turn, VoiceInput
from bot.providers.errors import ProviderError
from bot.store import Binding, DuplicateTurn, Entry, EntryStatus, SessionExists, SessionRecord, Store, UnfinishedReply

log = logging.getLogger(__name__)

SHUTDOWN_GRACE_S = 5.0
RECORDING_GRACE_S = 2.0
"""How long a Retry pressed on a failure line waits for its turn to record the failure (well within the 3 s
an interaction has for its answer)."""
"""How long shutdown waits for interrupted replies to say so in Discord."""
RESET_BY = "reset_by"
"""State key: who made this session with `/reset` (a fresh reset has nothing to forget)."""
GONE_REMEMBERED = 10_000
"""Deleted channels remembered (newest first), so nothing more is sent to them."""


@dataclass(frozen=True)
class SessionInfo:
    """What `/session` shows."""

    provider: str
    started_at: float
    turns: int
    details: list[tuple[str, str]]


@dataclass(frozen=True)
class Speaker:
    id: int
    name: str


class NoActiveSession(Exception):
    """The channel has no active conversation."""


class JustChanged(Exception):
    """Another `/reset` or `/end` changed the conversation a moment before this one: nothing more to do."""


class UnusableOptions(Exception):
    """`/chat` options the provider cannot start with; the message is safe to show."""


class AlreadyHandled(Exception):
    """This very interaction was already taken by another process of the bot (it reached both): say nothing."""


class UnusablePick(Exception):
    """A click on choices that are gone (the conversation ended or moved on) or already taken."""


class CannotReplay(Exception):
    """Retry or Regenerate cannot run (the reply was already retried, the conversation moved on...); `str(exc)`
    says why in a sentence to show privately."""


@dataclass(frozen=True)
class Replay:
    """A member's turn to send again (Retry after a failure, Regenerate): the reply it replaces (already marked
    replaced, once) and the member's transcript entry it answered."""

    reply_id: int
    previous_status: EntryStatus
    asked: Entry


STALE_PICK = "These choices belong to a conversation that has ended or moved on. Type your message instead."
ALREADY_YOURS = "You already made this choice; the answer is on its way."
REPLY_ENDED = "This reply has already ended."
ALREADY_RETRIED = "This turn was already sent again; its new answer is on the way or above."
ALREADY_REPLACED = "This reply was already replaced by a newer answer."
MOVED_ON = "The conversation has moved on since this reply; only the last reply can be asked for again."
NOT_A_REPLY = "That message is not one of my replies in a conversation that is still open here."
NO_REGENERATE = (
    "{provider} replies can't be regenerated: the agent's engine works through its own steps and cannot take one"
    " back. Send a new message instead."
)
NOTHING_TO_REPLAY = "There is no member message before this reply to send again."
RETRYABLE: tuple[EntryStatus, ...] = ("failed",)
REGENERABLE: tuple[EntryStatus, ...] = ("complete", "stopped", "interrupted", "failed")
TAKEN = "Someone already made this choice."


class Conversations:
    """Finds sessions, serialises each channel's turns, and records what was said."""

    def __init__(
        self,
        store: Store,
        providers: Mapping[str, Provider],
        *,
        owner: str | None = None,
        metrics: TurnMetrics | None = None,
        max_reply_chars: int = DEFAULT_MAX_REPLY_CHARS,
    ) -> None:
        self._store = store
        self.providers = dict(providers)
        self.owner = owner or process_identity()
        """This process, as the store knows it: it holds follow leases and writes replies under this name."""
        self._leases = FollowLeases(store.coordination, self.owner)
        self._locks = KeyedLocks()
        self._running: set[asyncio.Task[object]] = set()
        self._turns = TurnRunner(store, metrics, owner=self.owner, max_reply_chars=max_reply_chars)
        self._gone: OrderedDict[int, None] = OrderedDict()

    @property
    def last_calls(self) -> dict[str, LastCall]:
        """How each provider's most recent turn went, by provider key."""
        return self._turns.last_calls

    def prepare(self, provider_key: str, options: Mapping[str, str | None]) -> dict[str, Any]:
        """The initial session state for `/chat`'s options; raises UnusableOptions with a showable reason."""
        try:
            return self.providers[provider_key].start_state(options)
        except ValueError as exc:
            raise UnusableOptions(str(exc)) from exc

    async def open(
        self, *, channel_id: int, guild_id: int | None, provider_key: str, state: dict[str, Any], by: int
    ) -> SessionRecord:
        """Start a session in a channel with a state from `prepare`; raises SessionExists."""
        session = await self._store.start_session(
            channel_id=channel_id, guild_id=guild_id, provider=provider_key, state=state, started_by=by
        )
        log.info("session %d opened in channel %d with %s", session.id, channel_id, provider_key)
        return session

    async def bind(self, binding: Binding, *, by: int) -> None:
        await self._store.bind(binding, by=by)
        log.info("channel %d bound to %s (%s mode)", binding.channel_id, binding.provider, binding.mode)

    async def unbind(self, channel_id: int) -> bool:
        """Remove a channel's binding; a channel-mode conversation in the channel itself ends with it."""
        if not await self._store.unbind(channel_id):
            return False
        await self.end(channel_id)
        return True

    async def binding(self, channel_id: int) -> Binding | None:
        return await self._store.binding(channel_id)

    async def active(self, channel_id: int) -> SessionRecord | None:
        return await self._store.active_session(channel_id)

    async def latest(self, channel_id: int) -> SessionRecord | None:
        return await self._store.latest_session(channel_id)

    async def end(self, channel_id: int) -> SessionRecord | None:
        """End the channel's session at once; a reply already streaming still finishes and is recorded.

        Returns None when there is nothing to end, also when another `/end` got there first.
        """
        session = await self._store.active_session(channel_id)
        if session is None or not await self._store.end_session(session.id):
            return None
        log.info("session %d ended in channel %d", session.id, channel_id)
        provider = self.providers.get(session.provider)
        if provider is not None:
            try:
                await provider.close_session(session.state)
            except ProviderError as exc:  # ended here either way; the vendor's side times out by itself
                log.warning("session %d: could not close the %s session: %s", session.id, provider.key, exc)
        return session

    async def channel_gone(self, channel_id: int) -> None:
        """The channel or thread was deleted: end its conversation and any turn running there, sending nothing."""
        self._gone[channel_id] = None
        while len(self._gone) > GONE_REMEMBERED:
            self._gone.popitem(last=False)
        running = self._turns.running.get(channel_id)
        if running is not None:
            running.abandon(Undeliverable.GONE)
        if await self.end(channel_id) is not None:
            log.info("channel %d was deleted; its conversation ended", channel_id)

    def asker_of(self, channel_id: int, reply_id: int) -> int | None:
        """The member whose turn reply `reply_id` answers, while this process is still writing it; else None."""
        running = self._turns.find(channel_id, reply_id)
        return None if running is None else running.asker_id

    def stop(self, channel_id: int, reply_id: int, by: Speaker) -> bool:
        """Stop writing reply `reply_id` (a member's Stop): the provider's response is closed at once and the reply
        keeps what was shown, marked stopped. False when it is not being written here any more."""
        running = self._turns.find(channel_id, reply_id)
        return running is not None and running.stop(Stopper(by.id, by.name))

    async def transcript(self, session_id: int) -> list[Entry]:
        """Every entry of a session, oldest first, with statuses and extras (for `/export`)."""
        return await self._store.transcript(session_id)

    async def reply_status(self, reply_id: int) -> EntryStatus | None:
        entry = await self._store.entry(reply_id)
        return None if entry is None else entry.status

    async def reply_in_message(self, channel_id: int, message_id: int) -> Entry | None:
        """The reply of this channel's open conversation that Discord message `message_id` shows, if any."""
        entry = await self._store.reply_shown_in(message_id)
        session = await self._store.active_session(channel_id)
        return entry if entry is not None and session is not None and entry.session_id == session.id else None

    async def claim_replay(self, channel_id: int, reply_id: int, *, regenerate: bool) -> Replay:
        """Take reply `reply_id` to be answered again, once however often it is asked: Retry (a failed reply) or
        Regenerate (any finished reply, not for agents that work in the background). The reply is marked replaced
        at once; `give_back` undoes that if the turn cannot run after all. Raises CannotReplay."""
        reply = await self._store.entry(reply_id)
        if reply is not None:
            reply = await self._once_recorded(channel_id, reply)
        session = await self._store.active_session(channel_id)
        if reply is None or session is None or reply.session_id != session.id or reply.role != "assistant":
            raise CannotReplay(NOT_A_REPLY if regenerate else MOVED_ON)
        provider = self.providers.get(session.provider)
        if regenerate and provider is not None and provider.works_in_background:
            raise CannotReplay(NO_REGENERATE.format(provider=provider.display_name))
        allowed = REGENERABLE if regenerate else RETRYABLE
        if reply.status not in allowed:
            raise CannotReplay(_why_not_replayable(reply.status, regenerate))
        if not await self._store.is_latest_reply(reply_id) or await self._store.last_reply_id(session.id) != reply_id:
            raise CannotReplay(MOVED_ON)
        asked = await self._store.turn_before(reply_id)
        if asked is None:
            raise CannotReplay(NOTHING_TO_REPLAY)
        if not await self._store.change_status(reply_id, (reply.status,), "replaced"):
            raise CannotReplay(ALREADY_RETRIED if not regenerate else ALREADY_REPLACED)
        log.info("reply %d in session %d will be answered again", reply_id, session.id)
        return Replay(reply_id, reply.status, asked)

    async def _once_recorded(self, channel_id: int, reply: Entry) -> Entry:
        """The reply as recorded once its turn, ending in this process, has said how it ended.

        A failure line (and its Retry) shows a moment before the turn records the failure: a press in that
        moment waits for it (up to RECORDING_GRACE_S) instead of being told the reply is still being written.
        """
        running = self._turns.find(channel_id, reply.id)
        if reply.status != "streaming" or (running is not None and not running.relay.done()):
            return reply
        deadline = time.monotonic() + RECORDING_GRACE_S
        while self._locks[channel_id].locked() and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
            recorded = await self._store.entry(reply.id)
            if recorded is None or recorded.status != "streaming":
                return recorded or reply
        return await self._store.entry(reply.id) or reply

    async def give_back(self, replay: Replay) -> None:
        """A claimed replay that did not run: the reply is as it was, so Retry or Regenerate can be tried again."""
        await self._store.change_status(replay.reply_id, ("replaced",), replay.previous_status)

    async def answered(self, message_id: int) -> bool:
        """Whether a member's Discord message was already taken as a turn."""
        return await self._store.answered(message_id)

    def is_gone(self, channel_id: int) -> bool:
        """Whether Discord said this channel was deleted (nothing should be sent there)."""
        return channel_id in self._gone

    async def take_unfinished(
        self, serves: Callable[[int | None], bool] | None = None, alive: Liveness | None = None
    ) -> list[UnfinishedReply]:
        """Replies a process that is gone left streaming (it was killed): marked interrupted, keeping what was shown.

        `serves(guild_id)` keeps this to the servers this process runs; `alive(owner)` spares the replies of
        processes still running (bot/core/presence.py)."""
        return await self._store.take_unfinished(serves, alive)

    async def following(self) -> list[SessionRecord]:
        """Active sessions whose provider was still being followed when the bot stopped."""
        return await self._store.sessions_where_state("following")

    async def _configured_session(self, channel_id: int) -> tuple[SessionRecord, Provider]:
        """The channel's active session and its provider; raises NoActiveSession or UnusableOptions."""
        session = await self._store.active_session(channel_id)
        if session is None:
            raise NoActiveSession(channel_id)
        provider = self.providers.get(session.provider)
        if provider is None:
            raise UnusableOptions(f"{session.provider} is no longer set up on this bot; use /end and /chat.")
        return session, provider

    async def reset(self, channel_id: int, *, by: int) -> SessionRecord:
        """Replace the channel's session with a fresh provider session keeping its settings.

        Raises JustChanged when there is nothing to forget: the session is itself a reset nobody spoke in yet
        (two `/reset`s at once, or one right after another, take effect once).
        """
        session, provider = await self._configured_session(channel_id)
        if session.state.get(RESET_BY) and not await self._store.count_turns(session.id):
            raise JustChanged(channel_id)
        state = {**provider.reset_state(session.state), RESET_BY: by}
        try:
            fresh = await self._store.restart_session(session, state, by)
        except SessionExists as exc:
            raise JustChanged(channel_id) from exc
        log.info("session %d reset as %d in channel %d", session.id, fresh.id, channel_id)
        return fresh

    async def change_setting(self, channel_id: int, name: str, value: str) -> SessionRecord:
        """Change one conversation setting (Soundverse's action, say) for the rest of the thread."""
        session, provider = await self._configured_session(channel_id)
        try:
            changed = provider.change_setting(session.state, name, value)
        except ValueError as exc:
            raise UnusableOptions(str(exc)) from exc
        state = await self._store.update_state(session.id, {name: changed[name]})
        return replace(session, state=state)

    def setting_labels(self, name: str) -> dict[str, str]:
        """Values and labels of a choice setting across the configured providers."""
        return {
            value: label
            for provider in self.providers.values()
            for option in provider.chat_options
            if option.name == name
            for value, label in option.choices.items()
        }

    async def info(self, channel_id: int) -> SessionInfo | None:
        session = await self._store.active_session(channel_id)
        if session is None:
            return None
        provider = self.providers.get(session.provider)
        details = provider.details(session.state) if provider else []
        turns = await self._store.count_turns(session.id)
        return SessionInfo(self.describe(session), session.started_at, turns, details)

    def describe(self, session: SessionRecord) -> str:
        return self.describe_state(session.provider, session.state)

    def describe_state(self, provider_key: str, state: Mapping[str, Any]) -> str:
        provider = self.providers.get(provider_key)
        return provider.describe(state) if provider else provider_key

    async def check_pick(self, channel_id: int, token: str, index: int, by: int, via: int) -> tuple[str, bool]:
        """(label, asks for a reason) of a choice still open here; raises UnusablePick with a reason to show, or
        AlreadyHandled when interaction `via` itself took it (it reached two processes: stay quiet)."""
        session = await self._store.active_session(channel_id)
        state = session.state if session else {}
        label = _open_choice(state, token, index, by, via)
        return label, index in state["offer"].get("reason_for", [])

    async def claim_pick(self, channel_id: int, token: str, index: int, by: int, via: int) -> str:
        """Take a choice for member `by` through interaction `via`, once: a repeat or a rival click raises
        UnusablePick (say it privately); the same interaction seen by a second process raises AlreadyHandled.

        The claim is one conditional update in the store, so two clicks arriving together (even in two
        processes) cannot both win; the turn that follows runs later, under the channel's lock.
        """
        session = await self._store.active_session(channel_id)
        state = session.state if session else {}
        label = _open_choice(state, token, index, by, via)
        if session is None or not await self._store.claim_offer(session.id, token, by, via):
            fresh = await self._store.active_session(channel_id)
            _open_choice(fresh.state if fresh else {}, token, index, by, via)  # says who has it
            raise UnusablePick(STALE_PICK)
        return label

    async def take_turn(
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
    ) -> Undeliverable | None:
        """Run one turn after any earlier turn in this channel.

        For a voice note, `text` describes it until the provider says what it heard. `message_id` is
        the Discord message the turn answers: the same message is answered once, however often Discord
        delivers it. `files` names the text files whose contents `text` carries (for the transcript).
        A `replay` (from `claim_replay`) sends the member's turn it names again, with the history it had.
        Raises NoActiveSession; UnusablePick when a claimed choice is no longer open; CannotReplay when
        the conversation moved on before a replay's turn came: tell the member privately. Returns why
        Discord could not show the reply, when it could not (the turn ended early).
        """
        task = asyncio.current_task()
        if task is not None:
            self._running.add(task)
        try:
            async with self._locks[channel_id]:
                session = await self._store.active_session(channel_id)
                if session is None:
                    raise NoActiveSession(channel_id)
                if pick is not None and replay is None:
                    _claimed_choice(session.state, pick, speaker.id)
                if replay is not None:
                    await self._still_replayable(session, replay)
                    lost = await self._replay_turn(session, replay, speaker, sink, voice, pick)
                else:
                    said = _said(voice, pick, files)
                    lost = await self._run_turn(session, speaker, text, sink, voice, pick, resume, message_id, said)
            if lost is Undeliverable.GONE:
                await self.channel_gone(channel_id)
            return lost
        finally:
            if task is not None:
                self._running.discard(task)

    async def _run_turn(
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
        provider = self.providers.get(session.provider)
        history = await self._store.history(session.id) if provider and provider.needs_history else ()
        try:
            said_id = (
                await self._store.add_entry(
                    session.id, "user", text, author_id=speaker.id, message_id=message_id, extras=said
                )
                if text
                else 0
            )
        except DuplicateTurn:
            log.info("message %s was already answered; not answering it again", message_id)
            return None
        if provider is None:
            await sink.fail(f"This conversation's provider ({session.provider}) is no longer set up on this bot.")
            return None
        if voice is not None and not provider.accepts_audio:
            await sink.fail(f"{provider.display_name} reads text only: type your message.")
            return None
        turn = Turn(text, history, session.state, speaker.id, speaker.name, voice=voice, pick=pick, resume=resume)
        return await self._run(session, provider, turn, said_id, sink)

    async def _still_replayable(self, session: SessionRecord, replay: Replay) -> None:
        """Under the channel's lock: nobody spoke since the replay was claimed (else it is given back)."""
        if replay.asked.session_id == session.id and await self._store.is_latest_reply(replay.reply_id):
            return
        await self.give_back(replay)
        raise CannotReplay(MOVED_ON)

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
        provider = self.providers.get(session.provider)
        if provider is None:
            await sink.fail(f"This conversation's provider ({session.provider}) is no longer set up on this bot.")
            return None
        asked = replay.asked
        history = await self._store.history(session.id, before=asked.id) if provider.needs_history else ()
        turn = Turn(asked.content, history, session.state, speaker.id, speaker.name, voice=voice, pick=pick)
        return await self._run(session, provider, turn, asked.id, sink)

    async def _run(
        self, session: SessionRecord, provider: Provider, turn: Turn, said_id: int, sink: ReplySink
    ) -> Undeliverable | None:
        """Run a prepared turn; a provider that works in the background is followed under this process's lease."""
        if not provider.works_in_background:
            return await self._turns.run(session, provider, turn, said_id, sink)
        async with self._leases.hold(session.id, lambda why: self._lost_lease(session.channel_id, why)) as held:
            if not held:
                return Undeliverable.MOVED
            # Another process may have followed the session while this one waited for the lease: go on from
            # where that one left it, or not at all if a resumed session no longer needs following.
            fresh = await self._store.session(session.id)
            if fresh is None or not fresh.active or (turn.resume and not fresh.state.get("following")):
                return None
            return await self._turns.run(fresh, provider, replace(turn, state=fresh.state), said_id, sink)

    def _lost_lease(self, channel_id: int, why: LeaseLost) -> None:
        """Stop the turn following the provider here at once (nothing more is polled or posted)."""
        running = self._turns.running.get(channel_id)
        if running is not None:
            running.abandon(Undeliverable.MOVED if why is LeaseLost.TAKEN else Undeliverable.UNFOLLOWED)

    async def shutdown(self) -> None:
        """Cancel turns in flight and give them a moment to mark their replies interrupted."""
        running = [task for task in self._running if not task.done()]
        for task in running:
            task.cancel()
        if running:
            await asyncio.wait(running, timeout=SHUTDOWN_GRACE_S)
        await self._turns.late_writes.close(SHUTDOWN_GRACE_S)


def _open_choice(state: Mapping[str, Any], token: str, index: int, by: int, via: int = 0) -> str:
    """The label of choice `index` if that offer is still open; UnusablePick (private wording) if not."""
    offer = state.get("offer")
    labels = offer.get("labels") if isinstance(offer, dict) else None
    if isinstance(offer, dict) and via and offer.get("via") == via:
        raise AlreadyHandled(via)
    if not isinstance(offer, dict) or offer.get("token") != token or not isinstance(labels, list):
        raise UnusablePick(STALE_PICK)
    if not 0 <= index < len(labels):
        raise UnusablePick(STALE_PICK)
    if offer.get("taken_by") == by:
        raise UnusablePick(ALREADY_YOURS)
    if offer.get("taken_by"):
        raise UnusablePick(TAKEN)
    return str(labels[index])


def _why_not_replayable(status: EntryStatus, regenerate: bool) -> str:
    if status == "replaced":
        return ALREADY_REPLACED if regenerate else ALREADY_RETRIED
    if status == "streaming":
        return "This reply is still being written; Stop it first, or wait for it to finish."
    return MOVED_ON if regenerate else "Only a failed reply can be retried; use **Regenerate** on a finished one."


def _said(voice: VoiceInput | None, pick: Pick | None, files: tuple[str, ...]) -> dict[str, Any]:
    """What the transcript notes about a member's turn besides its text."""
    extras: dict[str, Any] = {"files": list(files)} if files else {}
    if voice is not None:
        extras["voice"] = round(voice.duration_s, 1)
    if pick is not None:
        extras["pick"] = pick.label
    return extras


def _claimed_choice(state: Mapping[str, Any], pick: Pick, by: int) -> None:
    """Under the channel's lock: the offer `pick` came from is still the open one, claimed by `by`."""
    offer = state.get("offer")
    if not isinstance(offer, dict) or offer.get("token") != pick.token or offer.get("taken_by") != by:
        raise UnusablePick(STALE_PICK)


__all__ = [
    "AlreadyHandled",
    "CannotReplay",
    "Conversations",
    "JustChanged",
    "LastCall",
    "NoActiveSession",
    "Replay",
    "ReplySink",
    "SessionExists",
    "SessionInfo",
    "Speaker",
    "Undeliverable",
    "UnusableOptions",
    "UnusablePick",
]
