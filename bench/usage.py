"""Usage bench: the store time the usage ledger and quota check add to each turn, on a SQLite file and on PostgreSQL.

    python -m bench.usage [--turns 400] [--backlog 20000] [--stores sqlite,postgresql]

Per store (a SQLite file in a temporary directory; a throwaway PostgreSQL database on the local server, as the
tests make them): one session, a ledger already holding `--backlog` turns of 50 members over 30 days, then
`--turns` triples of turns, one after the other. Each writes what the bot writes for a member's turn: the member's
words (`add_entry`, with their Discord message id) and the reply's final text (`finish_entry`). A plain turn is
just that (what a turn cost before the ledger). A counted turn, as the bot runs it, lets the turn through the
eight checks the bot's own rules make (bot/core/quota_rules.py: the member's and the server's day and month, in
total and for the provider) with the words in the same step (`reserve_turn`: on SQLite one write transaction),
then `finish_entry` with the turn's usage folded in. A separate turn is the earlier path, kept for comparison:
`usage.reserve` in its own transaction, then the words, then the same finish. Each reply's entry is added (untimed)
before its turn, and a write transaction of `SELECT 1` is timed after it: the floor any store write pays on this
machine at that moment. The first 20 triples warm the caches and are left out.

"Added per turn" is a counted turn's time less the median plain turn's. Statements are
what SQLAlchemy sends to the driver (`before_cursor_execute`; SQLite's BEGIN IMMEDIATE is one) and what the store
sends aiosqlite itself (`execute_fetchall`, bot/store/usage_sqlite.py). Round trips on PostgreSQL are asyncpg's
calls that wait for the server: BEGIN, COMMIT and ROLLBACK (`Connection.execute`), a statement prepared for the
first time (`Connection.prepare`) and each statement run (`PreparedStatement.fetch`); on SQLite, the calls into
aiosqlite's thread (`Connection._execute`: a cursor opened, a statement run, rows fetched, a commit...).
The goal (issue 20): under 2 ms p99 added on SQLite; on PostgreSQL one statement, one round trip, more per turn.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import statistics
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from sqlalchemy import text

from bench.figures import percentile, table
from bench.wire import Wire
from bot.config.usage_settings import Limit, UsageSettings
from bot.core.quota_rules import Asker, counted, window, zone
from bot.store import CounterCheck, SaidEntry, Store, TurnStart, TurnUsage, UsageFinish
from tests.support.databases import postgres_database

STORES = ("sqlite", "postgresql")
LABELS = {"sqlite": "SQLite file", "postgresql": "PostgreSQL 127.0.0.1"}
WARM_UP = 20
MEMBERS = 50
DAY, MONTH = "2025-05-31", "2025-05"


@dataclass
class Run:
    kind: str
    plain_s: list[float] = field(default_factory=list)
    reserve_s: list[float] = field(default_factory=list)
    finish_s: list[float] = field(default_factory=list)
    separate_s: list[float] = field(default_factory=list)
    empty_s: list[float] = field(default_factory=list)
    plain_sent: list[tuple[int, int]] = field(default_factory=list)
    counted_sent: list[tuple[int, int]] = field(default_factory=list)

    def added_s(self, spent: list[float] | None = None) -> list[float]:
        """Each counted turn's time (or `spent`'s) less the median plain turn's, seconds."""
        baseline = statistics.median(self.plain_s)
        times = spent if spent is not None else [r + f for r, f in zip(self.reserve_s, self.finish_s, strict=True)]
        return [t - baseline for t in times]


QUOTAS = UsageSettings(
    defaults={
        ("member", "day"): Limit(10**6, 10**9),
        ("member", "month"): Limit(10**7),
        ("server", "day"): Limit(10**8),
    },
    hard_caps={("server", "month"): Limit(chars=10**12)},
)
"""Limits no turn here reaches: every counter is checked and counted, as in a server with quotas."""


def checks_for(member: int) -> tuple[CounterCheck, ...]:
    """The counters the bot's own rules (bot/core/quota_rules.py) give a member's aBLT turn: the member's and the
    server's, per day and month, in total and for the provider (eight)."""
    when = window(dt.datetime.fromisoformat(f"{DAY}T12:00:00+00:00").timestamp(), zone(None))
    found = counted(Asker(7, member), "ablt", [], QUOTAS, when, exempt=False)
    return tuple(c.check for c in found)


def start_of(member: int, day: str = DAY) -> TurnStart:
    return TurnStart(
        at=time.time(),
        day=day,
        guild_id=7,
        channel_id=10,
        member_id=member,
        provider="ablt",
        kind="text",
        chars_in=120,
        audio_in_s=0.0,
        files=0,
    )


async def fill_backlog(store: Store, rows: int) -> None:
    """`rows` finished turns spread over the 30 days before DAY, written in bulk."""
    columns = (
        "at, day, guild_id, channel_id, member_id, provider, kind, outcome, chars_in, chars_out, audio_in_s, files"
    )
    values = ":at, :day, 7, 10, :member, 'ablt', 'text', 'complete', 100, 400, 0.0, 0"
    batch = [{"at": 1.0, "day": f"2025-05-{1 + n % 30:02d}", "member": n % MEMBERS} for n in range(rows)]
    async with store.db.write() as conn:
        for at in range(0, rows, 5000):
            await conn.execute(text(f"INSERT INTO usage_ledger ({columns}) VALUES ({values})"), batch[at : at + 5000])  # noqa: S608


async def one_store(kind: str, target: str, turns: int, backlog: int, wire: Wire) -> Run:
    run = Run(kind)
    store = await Store.open(target)
    try:
        await fill_backlog(store, backlog)
        session = await store.start_session(channel_id=10, guild_id=7, provider="ablt", state={}, started_by=3)
        for n in range(WARM_UP + turns):
            keep = n >= WARM_UP
            said = SaidEntry(session.id, "A question of 120 characters. " * 4, n % MEMBERS, 3 * n, {})
            reply = await store.add_entry(session.id, "assistant", "", author_id=None, status="streaming")
            async with wire.counting(run.plain_sent if keep else []):
                began = time.perf_counter()
                await store.add_said(said)
                await store.finish_entry(reply, f"Answer {n}.", "complete")
                plain_s = time.perf_counter() - began
            member, checks = n % MEMBERS, checks_for(n % MEMBERS)
            reply = await store.add_entry(session.id, "assistant", "", author_id=None, status="streaming")
            async with wire.counting(run.counted_sent if keep else []):
                began = time.perf_counter()
                reserved = await store.reserve_turn(start_of(member), checks, replace(said, message_id=3 * n + 1))
                reserved_at = time.perf_counter()
                assert isinstance(reserved, tuple), reserved
                await store.finish_entry(reply, f"Answer {n}.", "complete", usage=finished(reserved[0], checks))
                finished_at = time.perf_counter()
            separate_s = await separate_turn(store, session.id, replace(said, message_id=3 * n + 2), member, checks)
            floor_began = time.perf_counter()
            async with store.db.write() as conn:
                await conn.execute(text("SELECT 1"))
            empty_s = time.perf_counter() - floor_began
            if keep:
                run.empty_s.append(empty_s)
                run.plain_s.append(plain_s)
                run.reserve_s.append(reserved_at - began)
                run.finish_s.append(finished_at - reserved_at)
                run.separate_s.append(separate_s)
    finally:
        await store.close()
    return run


def finished(ledger_id: int, checks: tuple[CounterCheck, ...]) -> UsageFinish:
    usage = TurnUsage(chars_out=400, audio_out_s=0.0, provider_s=1.2, outcome="complete")
    return UsageFinish(ledger_id, usage, checks)


async def separate_turn(
    store: Store, session_id: int, said: SaidEntry, member: int, checks: tuple[CounterCheck, ...]
) -> float:
    """The earlier path, timed (seconds): the reserve in its own transaction, then the words, then the finish."""
    reply = await store.add_entry(session_id, "assistant", "", author_id=None, status="streaming")
    began = time.perf_counter()
    ledger_id = await store.usage.reserve(start_of(member), checks)
    assert isinstance(ledger_id, int), ledger_id
    await store.add_said(said)
    await store.finish_entry(reply, "Answer.", "complete", usage=finished(ledger_id, checks))
    return time.perf_counter() - began


def _ms(seconds: list[float]) -> str:
    return f"{percentile(seconds, 50) * 1000:.2f} / {percentile(seconds, 99) * 1000:.2f}"


def _mean(sent: list[tuple[int, int]], index: int) -> str:
    return f"{statistics.mean(s[index] for s in sent):.2f}"


def rows(run: Run) -> list[tuple[str, str]]:
    added = run.added_s()
    statements = f"{_mean(run.plain_sent, 0)} -> {_mean(run.counted_sent, 0)}"
    trips = f"{_mean(run.plain_sent, 1)} -> {_mean(run.counted_sent, 1)}"
    return [
        ("a write transaction of SELECT 1 (the floor), p50 / p99 ms", _ms(run.empty_s)),
        ("plain turn: add_entry + finish_entry, p50 / p99 ms", _ms(run.plain_s)),
        ("reserve_turn (8 checks, as the bot makes, with the words), p50 / p99 ms", _ms(run.reserve_s)),
        ("finish_entry with usage, p50 / p99 ms", _ms(run.finish_s)),
        ("ADDED per turn, p50 / p99 ms", _ms(added)),
        ("added by the earlier, separate reserve, p50 / p99 ms", _ms(run.added_s(run.separate_s))),
        ("statements per turn: plain -> counted", statements),
        ("round trips (SQLite: calls into its thread) per turn: plain -> counted", trips),
    ]


async def main(turns: int, backlog: int, stores: list[str]) -> None:
    print(
        f"{turns} plain, {turns} counted and {turns} separately counted turns per store, after {WARM_UP} of each"
        " to warm up;"
        f" a ledger of {backlog} turns before"
    )
    runs: list[Run] = []
    with Wire().installed() as wire, tempfile.TemporaryDirectory() as tmp:
        for kind in stores:
            if kind == "sqlite":
                runs.append(await one_store(kind, f"sqlite:///{Path(tmp) / 'bench.sqlite3'}", turns, backlog, wire))
                continue
            async with postgres_database() as url:
                runs.append(await one_store(kind, url, turns, backlog, wire))
    columns = [rows(run) for run in runs]
    lines = [(figure, *(col[i][1] for col in columns)) for i, (figure, _) in enumerate(columns[0])]
    print(table(("figure", *(LABELS[run.kind] for run in runs)), lines))
    for run in runs:
        added = run.added_s()
        p50, p99, floor_p99 = (
            percentile(added, 50) * 1000,
            percentile(added, 99) * 1000,
            percentile(run.empty_s, 99) * 1000,
        )
        if run.kind == "sqlite":
            print(
                f"\nSQLite: {p50:.2f} ms p50, {p99:.2f} ms p99 added per turn (goal: under 2 ms p99;"
                f" the floor's own p99 here: {floor_p99:.2f} ms)"
            )
        else:
            more = max(c[0] - p[0] for c, p in zip(run.counted_sent, run.plain_sent, strict=True))
            trips = max(c[1] - p[1] for c, p in zip(run.counted_sent, run.plain_sent, strict=True))
            print(
                f"PostgreSQL: at most {more:+d} statement and {trips:+d} round trip per turn (goal: one statement,"
                f" no more round trips); {p50:.2f} ms p50, {p99:.2f} ms p99 added"
            )


def parse_stores(value: str) -> list[str]:
    stores = [s.strip() for s in value.split(",") if s.strip()]
    if not stores or any(s not in STORES for s in stores):
        raise argparse.ArgumentTypeError(f"stores are {', '.join(STORES)}; got {value!r}")
    return stores


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=400)
    parser.add_argument("--backlog", type=int, default=20_000, help="ledger rows written before the timed turns")
    parser.add_argument("--stores", type=parse_stores, default=list(STORES), help="sqlite,postgresql")
    args = parser.parse_args()
    asyncio.run(main(args.turns, args.backlog, args.stores))
