"""Capacity bench: each store operation a turn makes, timed on PostgreSQL holding a big bot's data.

    python -m bench.capacity [--sessions 1000000] [--entries 10] [--turns 400]

A throwaway PostgreSQL database (as the tests make them) is filled in bulk (`generate_series`, then ANALYZE):
`--sessions` sessions (one in ten still open, one channel each, over 100,000 servers) with `--entries`
transcript entries each (a member's words with their Discord message id, then the reply, alternately; 120
characters each) and each reply's Discord message in `reply_messages`. Then `--turns` turns, one after another,
each on a random open session, make the store calls the bot makes for a member's text message in a thread
(bot/core/conversations, bot/core/turns.py), each timed: the event claimed, the session read (by the cog), the
turn reserved with its words' step (8 quota counters, as the bot's rules make them; the words, the session's last
activity, the reply's entry, the session's state and the history: bot/store/said.py), what was shown saved once,
and the reply finished with its usage and its Discord message. Printed: the database's size,
and p50 / p99 of each call and of the turn's store time in all (docs/capacity.md builds its model on these).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from bench.figures import percentile, table
from bench.usage import checks_for, start_of
from bot.store import SaidEntry, Store, TurnUsage, UsageFinish
from tests.support.databases import postgres_database

SERVERS = 100_000
OPEN_EVERY = 10
"""One session in ten is still open (the rest ended): a bot's history outgrows what is going on."""
CHANNEL_BASE = 10**15
MESSAGE_BASE = 2 * 10**15


@dataclass
class Timings:
    """Seconds per call, by the store call's name, in the order first seen."""

    calls: dict[str, list[float]] = field(default_factory=dict)

    async def time(self, name: str, call: Callable[[], Awaitable[Any]]) -> Any:
        began = time.perf_counter()
        try:
            return await call()
        finally:
            self.calls.setdefault(name, []).append(time.perf_counter() - began)


async def fill(url: str, sessions: int, entries: int) -> None:
    """The bulk data, straight through asyncpg (the store's schema already made by `Store.open`)."""
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        now = time.time()
        await connection.execute(
            "INSERT INTO sessions (channel_id, guild_id, provider, state, started_by, started_at, ended_at,"
            " last_active_at) SELECT $1::bigint + g, 1 + g % $2::int, 'ablt', '{}', 1 + g % 5000000,"
            " $3::float8 - g, CASE WHEN g % $4::int = 0 THEN NULL ELSE $3::float8 - g / 2 END, $3::float8 - g / 2"
            " FROM generate_series(1, $5::int) AS g",
            CHANNEL_BASE,
            SERVERS,
            now,
            OPEN_EVERY,
            sessions,
        )
        await connection.execute(
            "INSERT INTO transcript (session_id, role, content, author_id, status, created_at, message_id, extras)"
            " SELECT s, CASE WHEN k % 2 = 1 THEN 'user' ELSE 'assistant' END, repeat('lorem ipsum ', 10),"
            " CASE WHEN k % 2 = 1 THEN 1 + s % 5000000 END, 'complete', $1::float8 - s + k,"
            " CASE WHEN k % 2 = 1 THEN $2::bigint + s::bigint * 100 + k END, '{}'"
            " FROM generate_series(1, $3::int) AS s, generate_series(1, $4::int) AS k",
            now,
            MESSAGE_BASE,
            sessions,
            entries,
        )
        await connection.execute(
            "INSERT INTO reply_messages (message_id, entry_id) SELECT $1::bigint + id, id FROM transcript"
            " WHERE role = 'assistant'",
            MESSAGE_BASE * 2,
        )
        await connection.execute("ANALYZE")
    finally:
        await connection.close()


async def size_of(url: str) -> str:
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        return str(await connection.fetchval("SELECT pg_size_pretty(pg_database_size(current_database()))"))
    finally:
        await connection.close()


async def one_turn(store: Store, timings: Timings, session_number: int, turn: int) -> None:
    """The store calls of one member's message in an open session's thread, each timed."""
    channel_id = CHANNEL_BASE + session_number
    message_id = 3 * MESSAGE_BASE + turn
    await timings.time("claim the event", lambda: store.coordination.claim_event(message_id, "bench"))
    session = await timings.time("read the session (cog)", lambda: store.active_session(channel_id))
    assert session is not None, channel_id
    member = turn % 50
    checks = checks_for(member)
    text = "A question of about 120 characters. " * 3
    said = SaidEntry(session.id, text, member, message_id, {}, opens_reply=True, reply_owner="bench", with_history=True)
    reserved = await timings.time(
        "reserve the turn with its words' step (the words, the activity, the reply's entry, the history)",
        lambda: store.reserve_turn(start_of(member), checks, said),
    )
    assert isinstance(reserved, tuple), reserved
    reply = reserved[1].reply_id
    await timings.time("save what was shown", lambda: store.save_shown(reply, "The answer so far"))
    usage = UsageFinish(reserved[0], TurnUsage(400, 0.0, 1.2, "complete"), checks)
    await timings.time(
        "finish the reply (usage, message)",
        lambda: store.finish_entry(reply, "The whole answer.", "complete", usage, message_ids=[message_id + 1]),
    )


async def main(sessions: int, entries: int, turns: int) -> None:
    async with postgres_database() as url:
        began = time.monotonic()
        store = await Store.open(url)
        try:
            await fill(url, sessions, entries)
            filled_s = time.monotonic() - began
            size = await size_of(url)
            timings = Timings()
            rng = random.Random(1)
            open_sessions = [n for n in range(1, sessions + 1) if n % OPEN_EVERY == 0]
            totals = []
            for turn in range(turns):
                mark = sum(len(v) for v in timings.calls.values())
                began_turn = time.perf_counter()
                await one_turn(store, timings, rng.choice(open_sessions), turn)
                totals.append(time.perf_counter() - began_turn)
                assert sum(len(v) for v in timings.calls.values()) > mark
        finally:
            await store.close()
    print(
        f"PostgreSQL 15 on this machine: {sessions:,} sessions ({len(open_sessions):,} open), "
        f"{sessions * entries:,} transcript entries, {size}; filled in {filled_s:.0f} s; {turns} turns"
    )
    rows = [
        (name, f"{percentile(values, 50) * 1000:.2f}", f"{percentile(values, 99) * 1000:.2f}")
        for name, values in timings.calls.items()
    ]
    rows.append(("a turn's store calls in all", *(f"{percentile(totals, q) * 1000:.2f}" for q in (50, 99))))
    print(table(("store call", "p50 ms", "p99 ms"), rows))
    print(f"mean store time per turn: {statistics.mean(totals) * 1000:.2f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--entries", type=int, default=10, help="transcript entries per session")
    parser.add_argument("--turns", type=int, default=400)
    args = parser.parse_args()
    asyncio.run(main(args.sessions, args.entries, args.turns))
