"""The conversation core: one session per channel, turns in order, provider events to a reply sink."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

from bot.locks import KeyedLocks
from bot.providers.base import Event, Heard, Pick, Provider, Said, StateSaved, TextDelta, Turn, VoiceInput
from bot.providers.errors import ProviderError
from bot.store import Binding, EntryStatus, SessionExists, SessionRecord, Store

log = logging.getLogger(__name__)

SHUTDOWN_GRACE_S = 5.0
"""How long shutdown waits for interrupted replies to say so in Discord."""
UNEXPECTED_ERROR_MESSAGE = "Something went wrong on the bot's side; the bot owner can find details in its log."


class ReplySink(Protocol):
    """Where a turn's events go; the Discord renderer implements it. Must not raise (but may be cancelled)."""

    async def handle(self, event: Event) -> None: ...

    async def finish(self) -> None: ...

    async def fail(self, message: str) -> None: ...

    async def interrupt(self) -> None: ...


@dataclass(frozen=True)
class LastCall:
    """How a provider's most recent turn went, for `/providers`."""

    ok: bool
    at: float
    why: str = ""


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


class UnusableOptions(Exception):
    """`/chat` options the provider cannot start with; the message is safe to show."""


class UnusablePick(Exception):
    """A click on choices that are gone (the conversation ended or moved on) or already taken."""


STALE_PICK = "These choices belong to a conversation that has ended or moved on. Type your message instead."


class Conversations:
    """Finds sessions, serialises each channel's turns, and records what was said."""

    def __init__(self, store: Store, providers: Mapping[str, Provider]) -> None:
        self._store = store
        self.providers = dict(providers)
        self._locks = KeyedLocks()
        self._running: set[asyncio.Task[object]] = set()
        self.last_calls: dict[str, LastCall] = {}

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
        return await self._store.unbind(channel_id)

    async def binding(self, channel_id: int) -> Binding | None:
        return await self._store.binding(channel_id)

    async def active(self, channel_id: int) -> SessionRecord | None:
        return await self._store.active_session(channel_id)

    async def latest(self, channel_id: int) -> SessionRecord | None:
        return await self._store.latest_session(channel_id)

    async def end(self, channel_id: int) -> SessionRecord | None:
        """End the channel's session at once; a reply already streaming still finishes and is recorded."""
        session = await self._store.active_session(channel_id)
        if session is None:
            return None
        await self._store.end_session(session.id)
        log.info("session %d ended in channel %d", session.id, channel_id)
        provider = self.providers.get(session.provider)
        if provider is not None:
            try:
                await provider.close_session(session.state)
            except ProviderError as exc:  # ended here either way; the vendor's side times out by itself
                log.warning("session %d: could not close the %s session: %s", session.id, provider.key, exc)
        return session

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
        """Replace the channel's session with a fresh provider session keeping its settings."""
        session, provider = await self._configured_session(channel_id)
        fresh = await self._store.restart_session(session, provider.reset_state(session.state), by)
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

    async def remember(self, session: SessionRecord, changes: Mapping[str, Any]) -> SessionRecord:
        """Merge bookkeeping (such as which suggestion was taken) into the session's stored state."""
        return replace(session, state=await self._store.update_state(session.id, changes))

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

    async def check_pick(self, channel_id: int, token: str, index: int) -> tuple[str, bool]:
        """(label, asks for a reason) of a choice still open here; raises UnusablePick with a reason to show."""
        session = await self._store.active_session(channel_id)
        state = session.state if session else {}
        label = _open_choice(state, token, index)
        return label, index in state["offer"].get("reason_for", [])

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
    ) -> None:
        """Run one turn after any earlier turn in this channel; raises NoActiveSession.

        For a voice note, `text` describes it until the provider says what it heard. A pick is
        re-checked and marked taken under the channel's lock, so each offer is answered once.
        """
        task = asyncio.current_task()
        if task is not None:
            self._running.add(task)
        try:
            async with self._locks[channel_id]:
                session = await self._store.active_session(channel_id)
                if session is None:
                    raise NoActiveSession(channel_id)
                if pick is not None:
                    try:
                        _open_choice(session.state, pick.token, pick.index)
                    except UnusablePick as exc:
                        await sink.fail(str(exc))
                        return
                    offer = dict(session.state["offer"])
                    session = await self.remember(session, {"offer": {**offer, "taken_by": speaker.id}})
                await self._run_turn(session, speaker, text, sink, voice, pick, resume)
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
        resume: bool = False,
    ) -> None:
        provider = self.providers.get(session.provider)
        history = await self._store.history(session.id) if provider and provider.needs_history else ()
        said_id = await self._store.add_entry(session.id, "user", text, author_id=speaker.id) if text else 0
        if provider is None:
            await sink.fail(f"This conversation's provider ({session.provider}) is no longer set up on this bot.")
            return
        if voice is not None and not provider.accepts_audio:
            await sink.fail(f"{provider.display_name} reads text only: type your message.")
            return
        reply_id = await self._store.add_entry(session.id, "assistant", "", author_id=None, status="streaming")
        turn = Turn(text, history, session.state, speaker.id, speaker.name, voice=voice, pick=pick, resume=resume)
        parts: list[str] = []
        outcome: EntryStatus = "complete"
        failure: str | None = None
        try:
            await self._relay(provider, session, turn, said_id, parts, sink)
        except ProviderError as exc:
            log.warning("session %d: %s turn failed: %s", session.id, provider.key, exc)
            outcome, failure = "failed", exc.user_message
        except asyncio.CancelledError:
            log.info("session %d: reply interrupted by shutdown", session.id)
            await asyncio.shield(self._store.finish_entry(reply_id, "".join(parts), "interrupted"))
            await sink.interrupt()
            raise
        except Exception:
            log.exception("session %d: unexpected error in %s turn", session.id, provider.key)
            outcome, failure = "failed", UNEXPECTED_ERROR_MESSAGE
        self.last_calls[provider.key] = LastCall(failure is None, time.time(), failure or "")
        # Shielded: a shutdown arriving now must not lose a reply the provider already finished.
        await asyncio.shield(self._store.finish_entry(reply_id, "".join(parts), outcome))
        if failure is None:
            await sink.finish()
            log.info("session %d: %s replied with %d characters", session.id, provider.key, len("".join(parts)))
        else:
            await sink.fail(failure)

    async def _relay(
        self, provider: Provider, session: SessionRecord, turn: Turn, said_id: int, parts: list[str], sink: ReplySink
    ) -> None:
        """Pass the provider's events to the sink, keeping the text, state changes and what was heard."""
        async for event in provider.reply(turn):
            if isinstance(event, TextDelta):
                parts.append(event.text)
            elif isinstance(event, StateSaved):
                await self._store.update_state(session.id, event.state)
            elif isinstance(event, Heard):
                await self._store.set_entry_content(said_id, event.text)
            elif isinstance(event, Said):
                parts.append(("\n\n" if parts else "") + event.text)
            await sink.handle(event)

    async def shutdown(self) -> None:
        """Cancel turns in flight and give them a moment to mark their replies interrupted."""
        running = [task for task in self._running if not task.done()]
        for task in running:
            task.cancel()
        if running:
            await asyncio.wait(running, timeout=SHUTDOWN_GRACE_S)


def _open_choice(state: Mapping[str, Any], token: str, index: int) -> str:
    offer = state.get("offer")
    labels = offer.get("labels") if isinstance(offer, dict) else None
    if not isinstance(offer, dict) or offer.get("token") != token or not isinstance(labels, list):
        raise UnusablePick(STALE_PICK)
    if not 0 <= index < len(labels):
        raise UnusablePick(STALE_PICK)
    if offer.get("taken_by"):
        raise UnusablePick("Someone already made this choice.")
    return str(labels[index])


__all__ = [
    "Conversations",
    "LastCall",
    "NoActiveSession",
    "ReplySink",
    "SessionExists",
    "SessionInfo",
    "Speaker",
    "UnusableOptions",
    "UnusablePick",
]
