"""This process's presence in the shared store, and who else is alive: a reply left "being written" belongs to a
live process (a rolling deploy runs the old and the new one at once) or to a dead one (killed, crashed).

Each process renews a heartbeat row every `HEARTBEAT_EVERY_S` for `HEARTBEAT_TTL_S`, and deletes it when it
stops cleanly. A process counts as dead when its heartbeat ran out, or, sooner, when it ran on this same
machine and its process id is gone (a `kill -9` and restart on one machine is recognised at once, without
waiting for the heartbeat to run out). Owners are `process_identity()` strings: `host:pid:random`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable

from bot.store import DatabaseClosed, StoreUnavailable
from bot.store.coordination import Coordination

log = logging.getLogger(__name__)

HEARTBEAT_EVERY_S = 10.0
HEARTBEAT_TTL_S = 30.0
"""Three beats: one or two lost to a database hiccup do not make a live process look dead."""

Liveness = Callable[[str | None], bool]
"""Whether the process that wrote a reply (its owner, None for an earlier release) is still alive."""


_HERE: set[str] = set()
"""The presences running in this OS process (tests and embedding apps may run more than one bot in it)."""


def _on_this_machine_and_gone(owner: str) -> bool:
    """An owner from this machine whose process no longer runs. Its pid may now be this very process's (a
    container restarted): then it is gone unless it is one of the presences running here."""
    host, _, rest = owner.partition(":")
    pid_text, _, _ = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdecimal():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return owner not in _HERE
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # another user's process with that pid: it exists
        return False
    return False


class Presence:
    """Renews this process's heartbeat; tells live owners from dead ones."""

    def __init__(self, coordination: Coordination, owner: str) -> None:
        self._coordination = coordination
        self.owner = owner
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Announce this process (raises the store's errors: a bot that cannot reach its store does not start)."""
        await self._coordination.heartbeat(self.owner, HEARTBEAT_TTL_S)
        _HERE.add(self.owner)
        self._task = asyncio.create_task(self._beat(), name="presence-heartbeat")

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_EVERY_S)
            try:
                await self._coordination.heartbeat(self.owner, HEARTBEAT_TTL_S)
            except (StoreUnavailable, DatabaseClosed) as exc:
                log.warning("the heartbeat was not renewed (%s); trying again in %.0f s", exc, HEARTBEAT_EVERY_S)

    async def liveness(self) -> Liveness:
        """A snapshot of who is alive now, as a predicate on reply owners."""
        alive = await self._coordination.alive()
        me = self.owner

        def is_alive(owner: str | None) -> bool:
            if owner is None:
                return False
            if owner == me:
                return True
            return owner in alive and not _on_this_machine_and_gone(owner)

        return is_alive

    async def stop(self) -> None:
        """Stop beating and say goodbye (this process has marked its own replies by now)."""
        task, self._task = self._task, None
        _HERE.discard(self.owner)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        try:
            await self._coordination.leave(self.owner)
        except (StoreUnavailable, DatabaseClosed) as exc:
            log.warning("could not say goodbye in the store (%s); the heartbeat runs out by itself", exc)
