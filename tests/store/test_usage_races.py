"""Quotas hold across processes: turns racing for a member's last turns get exactly as many as are left, on SQLite
and on PostgreSQL, whether the racers are two stores in one process (each its own connection pool) or two OS
processes; and reserves and finishes sharing counters, listed in any order, never deadlock."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import sys
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from bot.store import CounterCheck, Store, TurnStart, TurnUsage, UsageFinish
from tests.support.harness import REPO

BOTH_STORES = True
DAY = "2025-05-01"
LIMIT, LEFT, RACERS = 10, 3, 16
MEMBER = CounterCheck("member:7:3", f"d:{DAY}", LIMIT, None)
GUILD_DAY = CounterCheck("guild:7", f"d:{DAY}", 1000, None)
GUILD_MONTH = CounterCheck("guild:7", "m:2025-05", None, 10**9)


def turn(member: int = 3, chars: int = 5) -> TurnStart:
    return TurnStart(
        at=1_746_057_600.0,
        day=DAY,
        guild_id=7,
        channel_id=10,
        member_id=member,
        provider="ablt",
        kind="text",
        chars_in=chars,
        audio_in_s=0.0,
        files=0,
    )


@pytest.fixture
async def stores(database: str) -> AsyncIterator[tuple[Store, Store]]:
    first, second = await asyncio.gather(Store.open(database), Store.open(database))
    try:
        yield first, second
    finally:
        await asyncio.gather(first.close(), second.close())


def no_retries(caplog: pytest.LogCaptureFixture) -> None:
    """Nothing was tried again: a deadlock (or a busy SQLite) would have been, hiding it from the counts."""
    tried_again = [
        r.getMessage() for r in caplog.records if r.name == "bot.store.database" and r.levelno >= logging.WARNING
    ]
    assert tried_again == []


async def used_up_but(store: Store, left: int) -> None:
    for _ in range(LIMIT - left):
        assert isinstance(await store.usage.reserve(turn(), [MEMBER, GUILD_DAY, GUILD_MONTH]), int)


async def test_two_stores_racing_for_a_members_last_turns_get_exactly_those_left(
    stores: tuple[Store, Store], caplog: pytest.LogCaptureFixture
) -> None:
    first, second = stores
    await used_up_but(first, LEFT)
    orders = ([MEMBER, GUILD_DAY, GUILD_MONTH], [GUILD_MONTH, GUILD_DAY, MEMBER])  # listed either way round
    racing = [s.usage.reserve(turn(), orders[i % 2]) for i in range(RACERS) for s in (first, second)]
    answers = await asyncio.gather(*racing)
    assert sum(isinstance(a, int) for a in answers) == LEFT
    assert [a for a in answers if not isinstance(a, int)] == [MEMBER] * (2 * RACERS - LEFT)
    assert await second.usage.counters([MEMBER, GUILD_DAY]) == {
        (MEMBER.scope, MEMBER.period): (LIMIT, 5 * LIMIT),
        (GUILD_DAY.scope, GUILD_DAY.period): (LIMIT, 5 * LIMIT),
    }
    (totals,) = await first.usage.totals()
    assert totals.turns == LIMIT
    no_retries(caplog)


WORKER = """
import asyncio, json, sys
from bot.store import CounterCheck, Store, TurnStart

async def main(url, racers):
    store = await Store.open(url)
    checks = [CounterCheck("member:7:3", "d:2025-05-01", 10, None), CounterCheck("guild:7", "d:2025-05-01", 1000, None)]
    start = TurnStart(at=1.0, day="2025-05-01", guild_id=7, channel_id=10, member_id=3, provider="ablt", kind="text",
                      chars_in=5, audio_in_s=0.0, files=0)
    try:
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        orders = (checks, checks[::-1])
        answers = await asyncio.gather(*(store.usage.reserve(start, orders[i % 2]) for i in range(racers)))
        print(json.dumps([a if isinstance(a, int) else None for a in answers]), flush=True)
    finally:
        await store.close()

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""


async def test_two_processes_racing_for_a_members_last_turns_get_exactly_those_left(
    stores: tuple[Store, Store], database: str
) -> None:
    """Two OS processes, each with its own store, released at the same moment with many reserves each."""
    first, _ = stores
    await used_up_but(first, LEFT)
    workers = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            WORKER,
            database,
            str(RACERS),
            cwd=REPO,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        for _ in range(2)
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None
            assert (await asyncio.wait_for(worker.stdout.readline(), 30)).strip() == b"ready"
        for worker in workers:  # both are connected and waiting: let them go together
            assert worker.stdin is not None
            worker.stdin.write(b"go\n")
            await worker.stdin.drain()
        outputs = await asyncio.wait_for(asyncio.gather(*(w.communicate() for w in workers)), 60)
    finally:
        for worker in workers:
            if worker.returncode is None:
                worker.kill()
                await worker.wait()
    assert [w.returncode for w in workers] == [0, 0]
    answers = [answer for out, _ in outputs for answer in json.loads(out)]
    granted = [a for a in answers if a is not None]
    assert len(answers) == 2 * RACERS and len(granted) == LEFT and len(set(granted)) == LEFT
    assert await first.usage.counters([MEMBER]) == {(MEMBER.scope, MEMBER.period): (LIMIT, 5 * LIMIT)}
    async with first.db.read() as conn:
        assert (await conn.execute(text("SELECT COUNT(*) FROM usage_ledger"))).scalar() == LIMIT


async def test_reserves_and_finishes_sharing_counters_in_any_order_never_deadlock(
    stores: tuple[Store, Store], caplog: pytest.LogCaptureFixture
) -> None:
    """Many turns of several members reserve and finish at once through two stores, each listing its counters
    in a random order; every count adds up and nothing had to be tried again."""
    randomly = random.Random(20)
    counters = [CounterCheck(f"member:7:{m}", f"d:{DAY}", None, None) for m in range(4)]
    counters += [GUILD_DAY, GUILD_MONTH, CounterCheck("guild:7:ablt", f"d:{DAY}", None, None)]

    async def one_turn(store: Store, n: int) -> tuple[int, list[CounterCheck]]:
        checks = randomly.sample(counters, k=randomly.randint(1, len(counters)))
        ledger_id = await store.usage.reserve(turn(member=n % 4, chars=n), checks)
        assert isinstance(ledger_id, int)
        randomly.shuffle(checks)
        usage = TurnUsage(chars_out=2 * n, audio_out_s=0.0, provider_s=0.1, outcome="complete")
        await store.usage.finish(UsageFinish(ledger_id, usage, tuple(checks)))
        return n, checks

    first, second = stores
    done = await asyncio.gather(*(one_turn(first if n % 2 else second, n) for n in range(60)))
    (totals,) = await first.usage.totals()
    assert (totals.turns, totals.chars_in, totals.chars_out) == (60, sum(range(60)), 2 * sum(range(60)))
    expected = {(c.scope, c.period): (0, 0) for c in counters}
    for n, checks in done:
        for c in checks:
            turns, chars = expected[(c.scope, c.period)]
            expected[(c.scope, c.period)] = (turns + 1, chars + 3 * n)
    assert await first.usage.counters(counters) == expected
    no_retries(caplog)
