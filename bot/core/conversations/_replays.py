"""Retry and Regenerate: claiming a reply to be answered again, once, and giving the claim back."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

from bot.core.locks import KeyedLocks
from bot.core.turns import TurnRunner
from bot.providers.base import Provider
from bot.store import Entry, EntryStatus, SessionRecord, Store

log = logging.getLogger(__name__)

RECORDING_GRACE_S = 2.0
"""How long Regenerate waits for its reply's turn to record how it ended (well within the 3 s an application
command has for its answer)."""
RETRY_GRACE_S = 10.0
"""How long Retry, pressed on a failure line, waits for its turn to record the failure. The line shows before
the turn's last paced writes in a busy thread, which can take seconds; a button still working after 2 s is
acknowledged in time (bot/command_tree.py `answers_failures`), so it may wait longer than the 3 s."""
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
    regenerate: bool = False
    """Regenerate (a finished reply asked again) rather than Retry (a failed one)."""


class Replays:
    """Which reply a Retry or Regenerate press may answer again, and the claim on it (the turn itself runs in
    `ChannelTurns`). `turns` and `locks` are the conversation's own: a press waits for a turn still recording."""

    def __init__(self, store: Store, providers: Mapping[str, Provider], turns: TurnRunner, locks: KeyedLocks) -> None:
        self._store = store
        self._providers = providers
        self._turns = turns
        self._locks = locks

    async def reply_in_message(self, channel_id: int, message_id: int) -> Entry | None:
        """The reply of this channel's open conversation that Discord message `message_id` shows, if any."""
        entry = await self._store.reply_shown_in(message_id)
        session = await self._store.active_session(channel_id)
        return entry if entry is not None and session is not None and entry.session_id == session.id else None

    async def claim(self, channel_id: int, reply_id: int, *, regenerate: bool) -> Replay:
        """Take reply `reply_id` to be answered again, once however often it is asked: Retry (a failed reply) or
        Regenerate (any finished reply, not for agents that work in the background). The reply is marked replaced
        at once; `give_back` undoes that if the turn cannot run after all. Raises CannotReplay."""
        reply = await self._store.entry(reply_id)
        if reply is not None:
            reply = await self._once_recorded(channel_id, reply, RECORDING_GRACE_S if regenerate else RETRY_GRACE_S)
        session = await self._store.active_session(channel_id)
        if reply is None or session is None or reply.session_id != session.id or reply.role != "assistant":
            raise CannotReplay(NOT_A_REPLY if regenerate else MOVED_ON)
        provider = self._providers.get(session.provider)
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
        return Replay(reply_id, reply.status, asked, regenerate=regenerate)

    async def _once_recorded(self, channel_id: int, reply: Entry, grace_s: float) -> Entry:
        """The reply as recorded once its turn, ending in this process, has said how it ended.

        A failure line (and its Retry) shows a moment before the turn records the failure: a press in that
        moment waits for it (up to `grace_s`) instead of being told the reply is still being written.
        """
        running = self._turns.find(channel_id, reply.id)
        if reply.status != "streaming" or (running is not None and not running.relay.done()):
            return reply
        deadline = time.monotonic() + grace_s
        while self._locks[channel_id].locked() and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
            recorded = await self._store.entry(reply.id)
            if recorded is None or recorded.status != "streaming":
                return recorded or reply
        return await self._store.entry(reply.id) or reply

    async def give_back(self, replay: Replay) -> None:
        """A claimed replay that did not run: the reply is as it was, so Retry or Regenerate can be tried again."""
        await self._store.change_status(replay.reply_id, ("replaced",), replay.previous_status)

    async def still_replayable(self, session: SessionRecord, replay: Replay) -> None:
        """Under the channel's lock: nobody spoke since the replay was claimed; else it is given back and
        CannotReplay raised."""
        if replay.asked.session_id == session.id and await self._store.is_latest_reply(replay.reply_id):
            return
        await self.give_back(replay)
        raise CannotReplay(MOVED_ON)


def _why_not_replayable(status: EntryStatus, regenerate: bool) -> str:
    if status == "replaced":
        return ALREADY_REPLACED if regenerate else ALREADY_RETRIED
    if status == "streaming":
        return "This reply is still being written; Stop it first, or wait for it to finish."
    return MOVED_ON if regenerate else "Only a failed reply can be retried; use **Regenerate** on a finished one."
