"""Store benchmark: what the database costs each conversation turn, on a SQLite file and on PostgreSQL.

    python -m bench.store [--turns 70] [--stores sqlite,postgresql] [--tokens 4] [--rate 0]

The real bot in-process against loopback Discord and aBLT: one `/chat`, then `--turns` short turns one
after another in its thread (a member message; aBLT answers four tokens at once, or `--tokens` at `--rate` a
second: a streamed reply, shown by several Discord writes). Each next message is
sent once the previous reply is shown and recorded (its transcript entry finished) and the thread's write
pacing (one write per 1.1 s, bot/replies/pacing.py) would let the next reply out at once: the turn time is then
the bot's own latency, not the pacing a rapid exchange in one thread meets. That pacing also sets the
pace of the run: about 1.2 s per turn.

Every SQL statement is seen through SQLAlchemy's `before/after_cursor_execute` events on the `Engine`
class (they fire for the bot's async engines too) and counted in the turn whose window (its message
sent -> the next message sent) it started in; a statement the bot runs on its own (the open-conversations
gauge, every 15 s) lands in whichever turn it falls in. Commits are not cursor statements: each is timed
from the engine's `commit` event to the pool's `reset` of that connection (the commit round trip, and
for a write SQLite's fsync of its WAL) and labelled by whether its transaction wrote. SQLite's `BEGIN` /
`BEGIN IMMEDIATE` are statements (bot/store/database.py issues them); asyncpg sends BEGIN inside the first
statement of a transaction, so there it is part of that statement's time. Times are wall time on the
bot's event loop, which the emulators share: what a turn waits for. "Started before the reply showed" is
the store time on the member's path; the rest (saving the shown text, finishing the entry) comes after.
The turns' round trips and CPU (this process's threads, PostgreSQL's server processes) come from
bench/store_meter.py; the statements the store sends aiosqlite itself are counted there, not in the table above.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import re
import statistics
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import Pool

from bench.figures import percentile, table
from bench.store_meter import Work, WorkMeter
from bench.stream import first_shown, visible_timeline
from bot.config.settings import load_settings
from bot.store import Store
from tests.emulators.ablt import AbltEmulator, Reply
from tests.emulators.discord import DiscordEmulator
from tests.support.databases import postgres_database
from tests.support.harness import ABLT_KEY, BOT_TOKEN, BotProcess, bot_environment
from tests.support.journey import WAIT_S, bot_posts, chat, say, thread_for, wait_for_reply

STORES = ("sqlite", "postgresql")
PACING_S = 1.15
"""Send the next message this long after the bot's last write in the thread (its pacing: 1.1 s)."""
SETTLE_S = 0.3
"""After the last turn, how long statements still count (a late write of the last turn)."""
KINDS = ("SELECT", "INSERT", "UPDATE", "DELETE", "BEGIN", "COMMIT", "ROLLBACK")
_STARTED = "bench_statement_started"
_WROTE = "bench_transaction_wrote"
try:
    from bot.store.database import NO_BEGIN
except ImportError:  # an earlier commit's store (bench.compare --bench-from-here) had none
    NO_BEGIN = "bridge_no_begin"
_FINISHED_REPLY = re.compile(r"session \d+: \w+ reply (\w+) \(\d+ characters\)")


@dataclass(frozen=True)
class Statement:
    t: float
    seconds: float
    kind: str
    sql: str


class StatementLog:
    """Every statement and commit any SQLAlchemy engine of this process runs, while installed."""

    def __init__(self) -> None:
        self.statements: list[Statement] = []
        self._ending: dict[int, tuple[float, str]] = {}

    @contextmanager
    def installed(self) -> Iterator[StatementLog]:
        listeners: list[tuple[Any, str, Any]] = [
            (Engine, "before_cursor_execute", self._before),
            (Engine, "after_cursor_execute", self._after),
            (Engine, "commit", self._commit),
            (Engine, "rollback", self._rollback),
            (Pool, "reset", self._reset),
        ]
        for target, name, fn in listeners:
            event.listen(target, name, fn)
        try:
            yield self
        finally:
            for target, name, fn in listeners:
                event.remove(target, name, fn)

    def _before(self, conn: Any, _cursor: Any, _statement: str, *_: Any) -> None:
        self._reset(conn.connection.dbapi_connection, None, None)  # a commit that kept its connection ends here
        conn.info.setdefault(_STARTED, []).append(time.monotonic())

    def _after(self, conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        started = conn.info[_STARTED].pop()
        sql = " ".join(statement.split())
        kind = sql.split(" ", 1)[0].upper()
        if kind in ("INSERT", "UPDATE", "DELETE"):
            conn.info[_WROTE] = True
        self.statements.append(Statement(started, time.monotonic() - started, kind, sql))

    def _commit(self, conn: Any) -> None:
        label = "COMMIT after a write" if conn.info.pop(_WROTE, False) else "COMMIT after reads only"
        self._ending[id(conn.connection.dbapi_connection)] = (time.monotonic(), label)

    def _rollback(self, conn: Any) -> None:
        conn.info.pop(_WROTE, None)
        options = conn.get_execution_options()
        if options.get("isolation_level") == "AUTOCOMMIT" or options.get(NO_BEGIN):
            return  # SQLAlchemy closing an autocommit connection: no transaction, nothing sent (PostgreSQL) to end
        self._ending[id(conn.connection.dbapi_connection)] = (time.monotonic(), "ROLLBACK")

    def _reset(self, dbapi_connection: Any, _record: Any, _state: Any) -> None:
        ending = self._ending.pop(id(dbapi_connection), None)
        if ending is not None:
            started, label = ending
            self.statements.append(Statement(started, time.monotonic() - started, label.split()[0], label))

    def between(self, start: float, end: float) -> list[Statement]:
        return [s for s in self.statements if start <= s.t < end]


class FinishedReplies(logging.Handler):
    """Counts replies the bot recorded: `bot/core/turns.py` logs one line once a reply's entry is finished."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.count = 0
        self.statuses: Counter[str] = Counter()
        self._changed = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        found = _FINISHED_REPLY.search(record.getMessage())
        if found:
            self.count += 1
            self.statuses[found.group(1)] += 1
            self._changed.set()

    async def wait_for(self, count: int) -> None:
        async with asyncio.timeout(WAIT_S):
            while self.count < count:
                self._changed.clear()
                await self._changed.wait()

    @contextmanager
    def attached(self) -> Iterator[FinishedReplies]:
        logger = logging.getLogger("bot.core.turns")
        level = logger.level
        logger.setLevel(logging.INFO)
        logger.addHandler(self)
        try:
            yield self
        finally:
            logger.removeHandler(self)
            logger.setLevel(level)


@dataclass
class TurnTimes:
    sent: float
    shown: float
    writes: int


@dataclass
class StoreRun:
    kind: str
    opening: list[Statement]
    turns: list[list[Statement]]
    times: list[TurnTimes]
    statuses: Counter[str]
    work: Work
    transcript: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class Replies:
    """What aBLT answers each turn: `tokens` tokens, `rate` a second (0: all at once)."""

    tokens: int = 4
    rate: float = 0.0

    def answer(self, turn: int) -> list[str]:
        if self.tokens <= 4:
            return [f"Answer {turn}:", " a", " few", " tokens."][: max(self.tokens, 1)]
        return [f"Answer {turn}:", *(f" word{n}" for n in range(self.tokens - 1))]

    def reply(self, turn: int) -> Reply:
        return Reply(tokens=self.answer(turn), token_interval_s=1 / self.rate if self.rate else 0.0)

    def describe(self) -> str:
        pace = f"at {self.rate:g} tokens/s" if self.rate else "at once"
        return f"one reply of {self.tokens} tokens per turn, {pace}"


async def pause_for_pacing(discord: DiscordEmulator, channel_id: int) -> None:
    """Until the thread's pacing would let the next reply out at once."""
    last = max((t for post in bot_posts(discord, channel_id) for t, _ in post.edits), default=0.0)
    await asyncio.sleep(max(0.0, last + PACING_S - time.monotonic()))


async def converse(
    kind: str,
    discord: DiscordEmulator,
    ablt: AbltEmulator,
    turns: int,
    finished: FinishedReplies,
    log: StatementLog,
    meter: WorkMeter,
    replies: Replies,
) -> tuple[int, StoreRun]:
    """One conversation of `turns` turns after its `/chat`; returns its thread and what each turn cost."""
    opened = time.monotonic()
    ablt.enqueue(replies.reply(0))
    thread = await thread_for(discord, await chat(discord, "Let us talk"))
    await wait_for_reply(discord, thread.id, "".join(replies.answer(0)))
    await finished.wait_for(1)
    times: list[TurnTimes] = []
    await meter.start()
    for turn in range(1, turns + 1):
        await pause_for_pacing(discord, thread.id)
        text = "".join(replies.answer(turn))
        ablt.enqueue(replies.reply(turn))
        sent = time.monotonic()
        mark = await say(discord, thread.id, f"Question {turn}?")
        await wait_for_reply(discord, thread.id, text, after=mark)
        await finished.wait_for(turn + 1)
        posts = [p for p in bot_posts(discord, thread.id) if p.id > mark]
        times.append(TurnTimes(sent, first_shown(visible_timeline(posts), text), sum(len(p.edits) for p in posts)))
    await asyncio.sleep(SETTLE_S)
    work = await meter.stop(turns)
    bounds = [t.sent for t in times] + [time.monotonic()]
    run = StoreRun(
        kind=kind,
        opening=log.between(opened, bounds[0]),
        turns=[log.between(a, b) for a, b in itertools.pairwise(bounds)],
        times=times,
        statuses=Counter(finished.statuses),
        work=work,
    )
    return thread.id, run


@asynccontextmanager
async def database(kind: str, workdir: Path) -> AsyncIterator[str | Path]:
    if kind == "sqlite":
        yield workdir / "bench.sqlite3"
        return
    async with postgres_database() as url:
        yield url


async def one_store(kind: str, turns: int, workdir: Path, replies: Replies) -> StoreRun:
    discord, ablt = DiscordEmulator(token=BOT_TOKEN), AbltEmulator(api_key=ABLT_KEY)
    await discord.start()
    await ablt.start()
    try:
        async with database(kind, workdir) as target:
            bot = BotProcess(load_settings(bot_environment(discord, ablt, target), None), discord)
            finished, log = FinishedReplies(), StatementLog()
            meter = WorkMeter(None if isinstance(target, Path) else str(target))
            with finished.attached(), log.installed(), meter.installed():
                await bot.start()
                try:
                    thread_id, run = await converse(kind, discord, ablt, turns, finished, log, meter, replies)
                finally:
                    await bot.stop()
            store = await Store.open(target if isinstance(target, Path) else str(target))
            try:
                session = await store.latest_session(thread_id)
                entries = await store.entries(session.id) if session else []
                run.transcript = Counter(e["status"] for e in entries if e["role"] == "assistant")
            finally:
                await store.close()
            return run
    finally:
        await ablt.close()
        await discord.close()


LABELS = {"sqlite": "SQLite file", "postgresql": "PostgreSQL 127.0.0.1"}


def summary_rows(run: StoreRun) -> list[tuple[str, str]]:
    """(figure, value) rows for the README table."""
    n = len(run.turns)
    kinds = Counter(s.kind for turn in run.turns for s in turn)
    work = [[s for s in turn if s.kind not in _TRANSACTION] for turn in run.turns]
    cursor_s = [sum(s.seconds for s in turn if s.kind not in ("COMMIT", "ROLLBACK")) for turn in run.turns]
    with_commits_s = [sum(s.seconds for s in turn) for turn in run.turns]
    whole_s = [t.shown - t.sent for t in run.times]
    before_shown_s = [
        sum(s.seconds for s in turn if s.t < times.shown) for turn, times in zip(run.turns, run.times, strict=True)
    ]
    by_kind = ", ".join(f"{k} {kinds[k] / n:.2f}" for k in sorted(kinds, key=_kind_order) if k not in _TRANSACTION)
    ends = ", ".join(f"{k} {kinds[k] / n:.2f}" for k in ("BEGIN", "COMMIT", "ROLLBACK") if kinds[k])
    return [
        ("SQL statements per turn through SQLAlchemy (mean)", f"{statistics.mean(len(t) for t in work):.2f}"),
        ("  by kind", by_kind),
        ("transactions per turn: BEGIN statements (SQLite only) / commits", ends),
        ("statement time per turn (BEGIN included), p50 / p99", _ms(cursor_s)),
        ("  with commit time, p50 / p99", _ms(with_commits_s)),
        ("  of that, started before the reply showed, p50 / p99", _ms(before_shown_s)),
        ("whole turn (message sent -> reply shown), p50 / p99", _ms(whole_s)),
        ("Discord writes per reply (mean)", f"{statistics.mean(t.writes for t in run.times):.2f}"),
        ("SQL statements of the opening /chat", f"{sum(s.kind not in _TRANSACTION for s in run.opening)}"),
        *run.work.rows(),
    ]


_TRANSACTION = frozenset({"BEGIN", "COMMIT", "ROLLBACK"})


def _kind_order(kind: str) -> int:
    return KINDS.index(kind) if kind in KINDS else len(KINDS)


def _ms(seconds: list[float]) -> str:
    return f"{percentile(seconds, 50) * 1000:.2f} / {percentile(seconds, 99) * 1000:.2f} ms"


def breakdown(run: StoreRun) -> str:
    """Each distinct statement: how often per turn, its median time, its share of the store's time."""
    times: defaultdict[str, list[float]] = defaultdict(list)
    for turn in run.turns:
        for s in turn:
            times[s.sql].append(s.seconds)
    total = sum(sum(v) for v in times.values()) or 1.0
    n = len(run.turns)
    rows = [
        (
            _shorten(sql),
            f"{len(v) / n:.2f}",
            f"{statistics.median(v) * 1000:.2f}",
            f"{max(v) * 1000:.1f}",
            f"{sum(v) / total:.0%}",
        )
        for sql, v in sorted(times.items(), key=lambda item: -sum(item[1]))
    ]
    return table(("statement", "per turn", "median ms", "max ms", "share of time"), rows)


def _shorten(sql: str, width: int = 72) -> str:
    return sql if len(sql) <= width else sql[: width - 1] + "…"


async def main(turns: int, stores: list[str], replies: Replies) -> None:
    print(f"{turns} turns after one /chat, per store; {replies.describe()}")
    runs: list[StoreRun] = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in stores:
            started = time.monotonic()
            run = await one_store(kind, turns, Path(tmp) / kind, replies)
            runs.append(run)
            print(f"\n## {LABELS[kind]} ({time.monotonic() - started:.1f} s)")
            print(f"replies logged {dict(run.statuses)}; transcript has {dict(run.transcript)}")
            print(table(("figure", "value"), summary_rows(run)))
            print()
            print(breakdown(run))
            print()
            print(table(("store operation", "calls per turn", "loop CPU per call (µs)"), run.work.by_call_rows()))
    if len(runs) > 1:
        print("\n## Side by side")
        columns = [summary_rows(run) for run in runs]
        rows = [(figure, *(col[i][1] for col in columns)) for i, (figure, _) in enumerate(columns[0])]
        print(table(("figure", *(LABELS[r.kind] for r in runs)), rows))


def parse_stores(value: str) -> list[str]:
    stores = [s.strip() for s in value.split(",") if s.strip()]
    unknown = [s for s in stores if s not in STORES]
    if unknown or not stores:
        raise argparse.ArgumentTypeError(f"stores are {', '.join(STORES)}; got {value!r}")
    return stores


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=70)
    parser.add_argument("--stores", type=parse_stores, default=list(STORES), help="sqlite,postgresql")
    parser.add_argument("--tokens", type=int, default=4, help="tokens per reply")
    parser.add_argument("--rate", type=float, default=0.0, help="tokens a second (0: all at once)")
    args = parser.parse_args()
    asyncio.run(main(args.turns, args.stores, Replies(args.tokens, args.rate)))
