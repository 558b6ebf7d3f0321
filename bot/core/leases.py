"""Who follows a polled provider's session (Agentverse): exactly one process at a time.

A turn of a provider that works in the background takes the session's follow lease in the shared store
first (waiting while another process holds it), renews it while the turn runs, and gives it back at the
end. A process killed mid-turn cannot give it back: the lease runs out after `FOLLOW_TTL_S`, and the
process that next runs that shard resumes the session.

Renewals ride out the database's bad moments: a renewal that fails is tried again every `RETRY_LEASE_S`
until the lease is `LEASE_MARGIN_S` from running out (measured from when the last confirmed renewal was
sent). Then this process can no longer be sure it alone follows the session, so the turn is told to stop at
once (`LeaseLost.UNCONFIRMED`, which members hear about); a renewal the store answers "taken" means another
process follows it now (`LeaseLost.TAKEN`, silent: that process carries on in the thread). Either way nothing
is polled or posted twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable

from bot.store import DatabaseClosed, StoreUnavailable
from bot.store.coordination import Coordination

log = logging.getLogger(__name__)

FOLLOW_TTL_S = 15.0
RENEW_EVERY_S = 5.0
WAIT_FOR_LEASE_S = 20.0
"""Longer than the TTL: a lease left by a killed process is free again before the wait ends."""
RETRY_LEASE_S = 0.5
LEASE_MARGIN_S = 3.0
"""A lease not confirmed this long before it would run out is given up: another process may take it then."""


class LeaseLost(enum.Enum):
    """Why a turn lost its follow lease."""

    TAKEN = "taken"
    """Another process holds it now (it follows the session from here)."""
    UNCONFIRMED = "unconfirmed"
    """The store did not confirm a renewal in time: this process stops following, nobody may be."""


def process_identity() -> str:
    """A name for this process, unique across machines and restarts."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class FollowLeases:
    """Takes, renews and gives back follow leases for this process (`owner`)."""

    def __init__(self, coordination: Coordination, owner: str) -> None:
        self._coordination = coordination
        self.owner = owner

    @contextlib.asynccontextmanager
    async def hold(self, session_id: int, on_lost: Callable[[LeaseLost], None]) -> AsyncIterator[bool]:
        """Yields True once this process holds the session's lease (renewed until the block ends), or False if
        another process kept it for `WAIT_FOR_LEASE_S`. `on_lost(why)` is called, once, if the lease is lost
        while the block runs. The store's errors while taking it are raised (StoreUnavailable)."""
        if not await self._take(session_id):
            yield False
            return
        renewer = asyncio.create_task(self._renew(session_id, on_lost), name=f"lease-{session_id}")
        try:
            yield True
        finally:
            renewer.cancel()
            await asyncio.gather(renewer, return_exceptions=True)
            try:
                await asyncio.shield(self._coordination.release_follow(session_id, self.owner))
            except (StoreUnavailable, DatabaseClosed) as exc:  # it runs out by itself after FOLLOW_TTL_S
                log.warning("session %d: the follow lease was not given back (%s)", session_id, exc)

    async def _take(self, session_id: int) -> bool:
        deadline = time.monotonic() + WAIT_FOR_LEASE_S
        while not await self._coordination.take_follow(session_id, self.owner, FOLLOW_TTL_S):
            if time.monotonic() > deadline:
                log.warning("session %d: another process kept following it; leaving it to that one", session_id)
                return False
            await asyncio.sleep(RETRY_LEASE_S)
        return True

    async def _renew(self, session_id: int, on_lost: Callable[[LeaseLost], None]) -> None:
        confirmed_at = time.monotonic()  # the lease runs until FOLLOW_TTL_S after the last renewal sent
        while True:
            await asyncio.sleep(RENEW_EVERY_S)
            sent_at = time.monotonic()
            renewed = await self._renew_once(session_id, until=confirmed_at + FOLLOW_TTL_S - LEASE_MARGIN_S)
            if renewed is None:
                log.warning("session %d: the follow lease could not be renewed in time; stopping here", session_id)
                on_lost(LeaseLost.UNCONFIRMED)
                return
            if not renewed:
                log.warning("session %d: the follow lease went to another process; stopping here", session_id)
                on_lost(LeaseLost.TAKEN)
                return
            confirmed_at = sent_at

    async def _renew_once(self, session_id: int, *, until: float) -> bool | None:
        """One renewal, tried again while the store fails, until `until` (monotonic): whether it was renewed, or
        None if the store never answered in time."""
        while True:
            sent_at = time.monotonic()
            try:
                async with asyncio.timeout(max(0.0, until - sent_at)):  # a store stuck behind a lock counts too
                    return await self._coordination.take_follow(session_id, self.owner, FOLLOW_TTL_S)
            except (StoreUnavailable, DatabaseClosed, TimeoutError) as exc:
                log.warning("session %d: renewing the follow lease failed (%s)", session_id, type(exc).__name__)
            if time.monotonic() + RETRY_LEASE_S >= until:
                return None
            await asyncio.sleep(RETRY_LEASE_S)
