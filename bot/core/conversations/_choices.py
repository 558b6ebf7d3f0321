"""Choices a provider offered (buttons under a reply): checking a click and claiming the choice, once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.providers.base import Pick
from bot.store import Store

STALE_PICK = "These choices belong to a conversation that has ended or moved on. Type your message instead."
ALREADY_YOURS = "You already made this choice; the answer is on its way."
TAKEN = "Someone already made this choice."


class AlreadyHandled(Exception):
    """This very interaction was already taken by another process of the bot (it reached both): say nothing."""


class UnusablePick(Exception):
    """A click on choices that are gone (the conversation ended or moved on) or already taken."""


class Choices:
    """The open offer of a channel's conversation (its state's `offer`): what a click may take, and taking it."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def check(self, channel_id: int, token: str, index: int, by: int, via: int) -> tuple[str, bool]:
        """(label, asks for a reason) of a choice still open here; raises UnusablePick with a reason to show, or
        AlreadyHandled when interaction `via` itself took it (it reached two processes: stay quiet)."""
        session = await self._store.active_session(channel_id)
        state = session.state if session else {}
        label = open_choice(state, token, index, by, via)
        return label, index in state["offer"].get("reason_for", [])

    async def claim(self, channel_id: int, token: str, index: int, by: int, via: int) -> str:
        """Take a choice for member `by` through interaction `via`, once: a repeat or a rival click raises
        UnusablePick (say it privately); the same interaction seen by a second process raises AlreadyHandled.

        The claim is one conditional update in the store, so two clicks arriving together (even in two
        processes) cannot both win; the turn that follows runs later, under the channel's lock.
        """
        session = await self._store.active_session(channel_id)
        state = session.state if session else {}
        label = open_choice(state, token, index, by, via)
        if session is None or not await self._store.claim_offer(session.id, token, by, via):
            fresh = await self._store.active_session(channel_id)
            open_choice(fresh.state if fresh else {}, token, index, by, via)  # says who has it
            raise UnusablePick(STALE_PICK)
        return label


def open_choice(state: Mapping[str, Any], token: str, index: int, by: int, via: int = 0) -> str:
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


def claimed_choice(state: Mapping[str, Any], pick: Pick, by: int) -> None:
    """Under the channel's lock: the offer `pick` came from is still the open one, claimed by `by`; raises
    UnusablePick if not."""
    offer = state.get("offer")
    if not isinstance(offer, dict) or offer.get("token") != pick.token or offer.get("taken_by") != by:
        raise UnusablePick(STALE_PICK)
