"""bench/capacity on a small database: the bulk fill makes what the store reads, and a turn's store calls run on
it as the bot makes them (`python -m bench.capacity` runs the full million sessions)."""

from __future__ import annotations

import pytest

from bench.capacity import CHANNEL_BASE, OPEN_EVERY, Timings, fill, one_turn
from bot.store import Store
from tests.support.databases import postgres_database


async def test_a_filled_database_answers_every_store_call_of_a_turn() -> None:
    async with postgres_database() as url:
        store = await Store.open(url)
        try:
            await fill(url, 200, 4)
            timings = Timings()
            for turn in range(3):
                await one_turn(store, timings, OPEN_EVERY * (turn + 1), turn)
            history = await store.history((await store.active_session(CHANNEL_BASE + OPEN_EVERY)).id)  # type: ignore[union-attr]
        finally:
            await store.close()
    assert len(timings.calls) == 5 and all(len(times) == 3 for times in timings.calls.values())
    assert len(history) >= 4  # the bulk entries, then the turn's words and reply
    with pytest.raises(AssertionError):  # an ended session has no turn: the bench only picks open ones
        async with postgres_database() as url:
            store = await Store.open(url)
            try:
                await fill(url, 20, 2)
                await one_turn(store, Timings(), 1, 0)
            finally:
                await store.close()
