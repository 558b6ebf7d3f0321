"""Who follows a polled provider's session (Agentverse): exactly one process at a time.

A turn of a provider that works in the background takes the session's follow lease in the shared store
first (waiting while another process holds it), renews it while the turn runs, and gives it back at the
end. A process killed mid-turn cannot give it back: the lease runs out after `FOLLOW_TTL_S`, and the
process that next runs that shard resumes the session. If a renewal fails (the lease ran out while this
process stalled, and another took it), the turn is told to stop at once so nothing is polled or posted twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable

from bot.store.coordination import Coordination

log = logging.getLogger(__name__)

FOLLOW_TTL_S = 15.0
RENEW_EVERY_S = 5.0
WAIT_FOR_LEASE_S = 20.0
"""Longer than the TTL: a lease left by a killed process is free again before the wait ends."""
RETRY_LEASE_S = 0.5


def process_identity() -> str:
    """A name for this process, unique across machines and restarts."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class FollowLeases:
    """Takes, renews and gives back follow leases for this process (`owner`)."""

    def __init__(self, coordination: Coordination, owner: str) -> None:
        self._coordination = coordination
        self.owner = owner

    @contextlib.asynccontextmanager
    async def hold(self, session_id: int, on_lost: Callable[[], None]) -> AsyncIterator[bool]:
        """Yields True once this process holds the session's lease (renewed until the block ends), or False if
        another process kept it for `WAIT_FOR_LEASE_S`. `on_lost` is called if a renewal fails."""
        if not await self._take(session_id):
            yield False
            return
        renewer = asyncio.create_task(self._renew(session_id, on_lost), name=f"lease-{session_id}")
        try:
            yield True
        finally:
            renewer.cancel()
            await asyncio.gather(renewer, return_exceptions=True)
            await asyncio.shield(self._coordination.release_follow(session_id, self.owner))

    async def _take(self, session_id: int) -> bool:
        deadline = time.monotonic() + WAIT_FOR_LEASE_S
        while not await self._coordination.take_follow(session_id, self.owner, FOLLOW_TTL_S):
            if time.monotonic() > deadline:
                log.warning("session %d: another process kept following it; leaving it to that one", session_id)
                return False
            await asyncio.sleep(RETRY_LEASE_S)
        return True

    async def _renew(self, session_id: int, on_lost: Callable[[], None]) -> None:
        while True:
            await asyncio.sleep(RENEW_EVERY_S)
            if not await self._coordination.take_follow(session_id, self.owner, FOLLOW_TTL_S):
                log.warning("session %d: the follow lease went to another process; stopping here", session_id)
                on_lost()
                return
