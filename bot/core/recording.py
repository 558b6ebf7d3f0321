"""What a turn leaves in the transcript whatever the database does meanwhile: the text members were shown, and
the reply's final status.

Members come first: saving never holds up or ends the reply. The shown text is saved beside the stream, one
save at a time, always the newest text (so after a crash the transcript is at most a write or so behind what
members saw); a save that fails is tried again with back-off until it lands or the reply ends (a late save
never overwrites a finished reply: `Store.save_shown` only touches a reply still being written). The final
status is tried for `FINISH_FOREGROUND_S` while the turn still holds its channel, then in the background until
it lands, so a database that comes back finds every reply finished and the next start posts no false "cut off"
notice.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence

from bot.store import DatabaseClosed, EntryStatus, Store, StoreUnavailable, UsageFinish

log = logging.getLogger(__name__)

STORE_ERRORS = (StoreUnavailable, DatabaseClosed)
"""What a store operation raises when the database did not take it (after its own quick retries)."""
STORE_DOWN = "The bot's database is not answering right now, so I couldn't take that. Send it again in a minute."
"""What a member reads when their message or command could not be taken because of the store."""
RETRY_DELAYS_S = (0.5, 1.0, 2.0, 4.0)
RETRY_EVERY_S = 5.0
"""Back-off between background attempts: `RETRY_DELAYS_S`, then every `RETRY_EVERY_S`."""
FINISH_FOREGROUND_S = 10.0
"""How long a turn keeps its channel while its final status will not save (the next turn waits behind it)."""
FINISH_GIVE_UP_S = 3600.0
"""How long a final status is tried in the background before the bot gives up (and says so in its log)."""


def _delays() -> Iterator[float]:
    return itertools.chain(RETRY_DELAYS_S, itertools.repeat(RETRY_EVERY_S))


class LateWrites:
    """Background writes that must land eventually (final statuses the database did not take in time)."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def keep_trying(self, name: str, write: Callable[[], Awaitable[None]], *, give_up_s: float) -> None:
        """Run `write` until it succeeds, backing off between attempts, for at most `give_up_s` seconds."""
        task = asyncio.create_task(_until_written(name, write, give_up_s), name=f"late-write-{name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def close(self, grace_s: float) -> None:
        """Shutdown: give writes still pending `grace_s` to land (their next attempt comes soon), then stop them."""
        tasks = list(self._tasks)
        if not tasks:
            return
        _, late = await asyncio.wait(tasks, timeout=grace_s)
        for task in late:
            task.cancel()
        if late:
            log.warning(
                "%d final status(es) never reached the database; the next start marks them interrupted", len(late)
            )
            await asyncio.wait(late)


async def _until_written(name: str, write: Callable[[], Awaitable[None]], give_up_s: float) -> None:
    deadline = time.monotonic() + give_up_s
    for delay in _delays():
        await asyncio.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        try:
            await write()
        except STORE_ERRORS as exc:
            if time.monotonic() >= deadline:
                log.error("%s: gave up after %.0f s (%s)", name, give_up_s, exc)
                return
            continue
        log.info("%s: written after the database came back", name)
        return


SHOWN_SAVE_EVERY_S = 1.1
"""What members see of a reply is saved at most this often: one Discord write interval (bot/replies/pacing.py
`WRITE_INTERVAL_S`), so after a crash the history lacks at most the last write; a reply that ends sooner is
saved only by its final status (most short replies: one statement and one transaction fewer per turn)."""


class ShownText:
    """Saves what members see of one reply as it is shown, beside the reply rather than in its way: a save never
    holds up the next Discord write (a slow or failing database cannot stall the stream), at most one save is in
    flight, the newest text is what the next one writes, and saves come at most every `SHOWN_SAVE_EVERY_S`, the
    first one that long after the reply first showed. Never raises for the database's trouble."""

    def __init__(self, store: Store, reply_id: int, *, every_s: float = SHOWN_SAVE_EVERY_S) -> None:
        self._store = store
        self._reply_id = reply_id
        self._every_s = every_s
        self._newest: str | None = None
        self._saving: asyncio.Task[None] | None = None
        self._due = 0.0  # monotonic time before which no save starts (0: none scheduled yet)

    def save(self, text: str) -> None:
        """Save `text` (the reply as members now see it) within `SHOWN_SAVE_EVERY_S`; a save waiting or running
        takes the newest text when its turn comes."""
        self._newest = text
        if not self._due:  # the reply's first showing: its first save one interval later
            self._due = time.monotonic() + self._every_s
        if self._saving is None or self._saving.done():
            self._saving = asyncio.create_task(self._save_newest(), name=f"save-shown-{self._reply_id}")

    async def _save_newest(self) -> None:
        delays = _delays()
        failing = False
        while True:
            await asyncio.sleep(max(0.0, self._due - time.monotonic()))
            text = self._newest
            if text is None:
                return
            self._due = time.monotonic() + self._every_s
            try:
                await self._store.save_shown(self._reply_id, text)
            except STORE_ERRORS as exc:
                if not failing:
                    log.warning("reply %d: its shown text was not saved (%s); trying again", self._reply_id, exc)
                failing = True
                await asyncio.sleep(next(delays))
                continue
            if failing:
                log.info("reply %d: its shown text is saved again", self._reply_id)
                failing, delays = False, _delays()
            if text is self._newest:
                return

    async def stop(self) -> None:
        """The reply ended: its final write supersedes any save still pending."""
        task, self._saving, self._newest = self._saving, None, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def record_final(
    store: Store,
    reply_id: int,
    content: str,
    status: EntryStatus,
    *,
    later: LateWrites,
    usage: UsageFinish | None = None,
    message_ids: Sequence[int] = (),
) -> None:
    """Write a reply's final text and status, the turn's `usage` in the ledger and the Discord messages showing
    it (`message_ids`) with it (one write, so none lands without the others). Tried for `FINISH_FOREGROUND_S`;
    if the database still refuses, handed to `later`, which keeps trying. Never raises for the database's
    trouble."""

    async def write() -> None:
        await store.finish_entry(reply_id, content, status, usage=usage, message_ids=message_ids)

    deadline = time.monotonic() + FINISH_FOREGROUND_S
    for delay in _delays():
        try:
            await asyncio.shield(write())  # a shutdown arriving now must not lose a reply that was shown
            return
        except STORE_ERRORS as exc:
            if time.monotonic() + delay > deadline:
                log.warning(
                    "reply %d: its final status (%s) is not saved yet (%s); trying in the background",
                    reply_id,
                    status,
                    exc,
                )
                later.keep_trying(f"reply {reply_id} {status}", write, give_up_s=FINISH_GIVE_UP_S)
                return
            log.warning("reply %d: saving its final status failed (%s); trying again", reply_id, exc)
            await asyncio.sleep(delay)
