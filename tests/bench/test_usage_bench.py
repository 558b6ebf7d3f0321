"""bench/usage's turns, a few of them on each store: they write what the bot writes (the words and the reply's end,
the quota check folded in), every kind of turn is timed and its statements counted (`python -m bench.usage` runs
the full benchmark)."""

from __future__ import annotations

from sqlalchemy import text

from bench.usage import WARM_UP, one_store, rows
from bench.wire import Wire
from bot.store import Store

BOTH_STORES = True


async def test_each_kind_of_turn_is_timed_and_counted(database: str) -> None:
    with Wire().installed() as wire:
        run = await one_store("sqlite" if database.startswith("sqlite") else "postgresql", database, 3, 50, wire)
    timed = (run.plain_s, run.reserve_s, run.finish_s, run.separate_s, run.empty_s)
    assert all(len(times) == 3 and all(t > 0 for t in times) for times in timed)
    figures = dict(rows(run))
    assert len(figures) == 8 and all("/" in v or "->" in v for v in figures.values())
    if database.startswith("sqlite"):  # words' step (BEGIN IMMEDIATE, session, words, activity), finish 2; reserve +2
        assert {sent[0] for sent in run.plain_sent} == {6} and {sent[0] for sent in run.counted_sent} == {10}
    else:  # the words' statement, the finish; the reserve is a CTE of the first
        assert {sent[0] for sent in run.plain_sent} == {sent[0] for sent in run.counted_sent} == {2}
    store = await Store.open(database)
    try:
        async with store.db.read() as conn:
            users = (await conn.execute(text("SELECT COUNT(*) FROM transcript WHERE role = 'user'"))).scalar_one()
            pending = (await conn.execute(text("SELECT COUNT(*) FROM usage_ledger WHERE outcome = 'pending'"))).scalar()
    finally:
        await store.close()
    assert users == 3 * (WARM_UP + 3)  # plain, counted and separate turns each took the member's words
    assert pending == 0  # every counted turn's end was recorded
