"""`Conversations`: opening, binding, ending and resetting a channel's session; the turn, replay and choice parts."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from bot.core.conversations._channel_turns import ChannelTurns, NoActiveSession
from bot.core.conversations._choices import Choices
from bot.core.conversations._replays import Replays
from bot.core.leases import FollowLeases, process_identity
from bot.core.locks import KeyedLocks
from bot.core.quotas import Quotas
from bot.core.reply_cap import DEFAULT_MAX_REPLY_CHARS
from bot.core.reply_sink import TurnMetrics, Undeliverable
from bot.core.turns import TurnRunner
from bot.providers.base import Provider
from bot.providers.errors import ProviderError
from bot.store import Binding, SessionExists, SessionRecord, Store

log = logging.getLogger(__name__)

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


class JustChanged(Exception):
    """Another `/reset` or `/end` changed the conversation a moment before this one: nothing more to do."""


class UnusableOptions(Exception):
    """`/chat` options the provider cannot start with; the message is safe to show."""


class Conversations:
    """One session per channel: opens, ends and resets it, and describes it.

    Its parts: `turns` runs each channel's turns in order, `replays` claims replies for Retry and Regenerate,
    `choices` claims the choices a provider offered. What is only read from the store (the active session, a
    binding, a transcript) the callers read from the store itself.
    """

    def __init__(
        self,
        store: Store,
        providers: Mapping[str, Provider],
        *,
        owner: str | None = None,
        metrics: TurnMetrics | None = None,
        max_reply_chars: int = DEFAULT_MAX_REPLY_CHARS,
        quotas: Quotas | None = None,
    ) -> None:
        """`quotas`: member turns are admitted against them and entered in the usage ledger."""
        self._store = store
        self.providers = dict(providers)
        self.owner = owner or process_identity()
        """This process, as the store knows it: it holds follow leases and writes replies under this name."""
        self._runner = TurnRunner(store, metrics, owner=self.owner, max_reply_chars=max_reply_chars)
        locks = KeyedLocks()
        self.replays = Replays(store, self.providers, self._runner, locks)
        self.choices = Choices(store)
        self.turns = ChannelTurns(
            store,
            self.providers,
            self._runner,
            locks=locks,
            leases=FollowLeases(store.coordination, self.owner),
            replays=self.replays,
            on_gone=self.channel_gone,
            quotas=quotas,
        )
        self._gone: OrderedDict[int, None] = OrderedDict()

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
        """Bind a channel to a provider (`/bind`), replacing any binding it had."""
        await self._store.bind(binding, by=by)
        log.info("channel %d bound to %s (%s mode)", binding.channel_id, binding.provider, binding.mode)

    async def unbind(self, channel_id: int) -> bool:
        """Remove a channel's binding; a channel-mode conversation in the channel itself ends with it."""
        if not await self._store.unbind(channel_id):
            return False
        await self.end(channel_id)
        return True

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
        running = self._runner.running.get(channel_id)
        if running is not None:
            running.abandon(Undeliverable.GONE)
        if await self.end(channel_id) is not None:
            log.info("channel %d was deleted; its conversation ended", channel_id)

    def is_gone(self, channel_id: int) -> bool:
        """Whether Discord said this channel was deleted (nothing should be sent there)."""
        return channel_id in self._gone

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
        """What `/session` shows about the channel's conversation; None without one."""
        session = await self._store.active_session(channel_id)
        if session is None:
            return None
        provider = self.providers.get(session.provider)
        details = provider.details(session.state) if provider else []
        turns = await self._store.count_turns(session.id)
        return SessionInfo(self.describe(session), session.started_at, turns, details)

    def describe(self, session: SessionRecord) -> str:
        """The session's provider and settings in a few words (its key when the provider is gone)."""
        return self.describe_state(session.provider, session.state)

    def describe_state(self, provider_key: str, state: Mapping[str, Any]) -> str:
        """A provider's session `state` in a few words (the key when that provider is not set up)."""
        provider = self.providers.get(provider_key)
        return provider.describe(state) if provider else provider_key
