"""The usage ledger and quota counters on SQLite and on PostgreSQL: a turn is let through only while every counter
it must fit in has room, all or nothing; its end is recorded once; totals read the same before and after the
detail is rolled up; the ledger never holds text; a version-8 database keeps its data when it gains them."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy import text

from bench.wire import Wire
from bot.store import (
    LATEST,
    MIGRATIONS,
    CounterCheck,
    Database,
    QuotaRule,
    Store,
    StoreUnavailable,
    TurnStart,
    TurnUsage,
    UsageFinish,
    database_url,
)
from tests.support import db_faults

BOTH_STORES = True
DAY, MONTH = "2025-05-01", "2025-05"
USAGE_TABLES = ("usage_ledger", "usage_daily", "usage_counters", "quota_rules")


def turn(member: int = 3, guild: int = 7, *, day: str = DAY, chars: int = 6, **fields: Any) -> TurnStart:
    values: dict[str, Any] = {"at": 1_746_057_600.0, "channel_id": 10, "provider": "ablt", "kind": "text"}
    values |= {"audio_in_s": 0.0, "files": 0, **fields}
    return TurnStart(day=day, guild_id=guild, member_id=member, chars_in=chars, **values)


def check(
    scope: str = "member",
    period: str = "day",
    *,
    member: int = 3,
    day: str = DAY,
    turns: int | None = None,
    chars: int | None = None,
) -> CounterCheck:
    """A member's (member 3 by default) or the server's counter for `day` or its month, with these limits."""
    return CounterCheck(
        f"member:7:{member}" if scope == "member" else "guild:7",
        f"d:{day}" if period == "day" else f"m:{day[:7]}",
        turns,
        chars,
    )


def member_check(*, period: str = f"d:{DAY}", turns: int | None = None, chars: int | None = None) -> CounterCheck:
    return CounterCheck("member:7:3", period, turns, chars)


def guild_check(*, period: str = f"d:{DAY}", turns: int | None = None, chars: int | None = None) -> CounterCheck:
    return CounterCheck("guild:7", period, turns, chars)


def ended(chars_out: int = 40, outcome: str = "complete", provider_s: float = 1.5) -> TurnUsage:
    return TurnUsage(chars_out=chars_out, audio_out_s=0.0, provider_s=provider_s, outcome=outcome)


async def ledger_rows(store: Store) -> list[dict[str, Any]]:
    async with store.db.read() as conn:
        rows = await conn.execute(text("SELECT * FROM usage_ledger ORDER BY id"))
        return [dict(row) for row in rows.mappings()]


async def counter_rows(store: Store) -> set[tuple[str, str, int, int]]:
    async with store.db.read() as conn:
        rows = await conn.execute(text("SELECT scope, period, turns, chars FROM usage_counters"))
        return {(r[0], r[1], int(r[2]), int(r[3])) for r in rows}


# Reserve -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("limit", ["turns", "chars"])
@pytest.mark.parametrize("scope", ["member", "guild"])
@pytest.mark.parametrize("period", ["day", "month"])
async def test_reserve_refuses_the_turn_past_each_limit_and_only_its_own_counter(
    store: Store, limit: str, scope: str, period: str
) -> None:
    """Two turns of 6 characters fit under 2 turns or under 10 characters (a counter under its limit lets one more
    turn through); the third is refused with the check that has no room, and nothing is counted for it."""
    limits = {"turns": 2} if limit == "turns" else {"chars": 10}
    limited = check(scope, period, **limits)
    unlimited = [check(s, p) for s in ("member", "guild") for p in ("day", "month") if (s, p) != (scope, period)]
    checks = [*unlimited, limited]
    granted = [await store.usage.reserve(turn(), checks) for _ in range(2)]
    assert all(isinstance(g, int) for g in granted) and len(set(granted)) == 2
    before = await store.usage.counters(checks)
    assert before[(limited.scope, limited.period)] == (2, 12)
    assert await store.usage.reserve(turn(), checks) == limited
    assert await store.usage.counters(checks) == before
    assert len(await ledger_rows(store)) == 2
    if scope == "member":  # a member's quota is each member's own
        assert isinstance(await store.usage.reserve(turn(member=4), [check(scope, period, member=4, **limits)]), int)
    # the next day (a daily quota) or month (a monthly one) starts afresh; the next day of the month does not
    assert isinstance(
        await store.usage.reserve(turn(day="2025-06-01"), [check(scope, period, day="2025-06-01", **limits)]), int
    )
    tomorrow = check(scope, period, day="2025-05-02", **limits)
    assert (await store.usage.reserve(turn(day="2025-05-02"), [tomorrow]) == tomorrow) is (period == "month")


async def test_a_refusal_on_the_second_check_leaves_the_first_counter_untouched(store: Store) -> None:
    first, second = member_check(turns=5), guild_check(turns=1)
    assert isinstance(await store.usage.reserve(turn(member=9), [guild_check()]), int)  # the server's turn today
    before = await counter_rows(store)
    assert await store.usage.reserve(turn(), [first, second]) == second
    assert await counter_rows(store) == before  # the member's counter was not even created
    assert await store.usage.counters([first]) == {(first.scope, first.period): (0, 0)}
    assert len(await ledger_rows(store)) == 1
    # with room in both, both count it once
    assert isinstance(await store.usage.reserve(turn(), [first, guild_check(turns=3)]), int)
    assert await store.usage.counters([first, second]) == {
        (first.scope, first.period): (1, 6),
        ("guild:7", f"d:{DAY}"): (2, 12),
    }


async def test_the_first_check_without_room_is_answered_in_the_callers_order(store: Store) -> None:
    full_member, full_guild = member_check(turns=0), guild_check(chars=0)
    assert await store.usage.reserve(turn(), [full_guild, full_member]) == full_guild
    assert await store.usage.reserve(turn(), [full_member, full_guild]) == full_member
    assert await counter_rows(store) == set()


async def test_checks_without_limits_count_but_never_refuse_and_no_checks_still_records(store: Store) -> None:
    open_check = member_check()
    for _ in range(5):
        assert isinstance(await store.usage.reserve(turn(chars=100), [open_check, open_check]), int)  # the same twice
    assert await store.usage.counters([open_check]) == {(open_check.scope, open_check.period): (5, 500)}
    assert isinstance(await store.usage.reserve(turn(guild=0, kind="voice", audio_in_s=3.5, files=1), []), int)
    row = (await ledger_rows(store))[-1]
    assert (row["guild_id"], row["kind"], row["audio_in_s"], row["files"], row["outcome"]) == (
        0,
        "voice",
        3.5,
        1,
        "pending",
    )


async def test_bad_values_are_refused_before_reaching_the_database() -> None:
    with pytest.raises(ValueError):
        turn(kind="essay")
    with pytest.raises(ValueError):
        ended(outcome="pending")
    with pytest.raises(ValueError):
        CounterCheck("member:7:3", "2025-05-01", 1, None)
    with pytest.raises(ValueError):
        QuotaRule(7, "member", "", "week", 1, None)


# Finish ------------------------------------------------------------------------------------------------


async def test_a_turns_end_is_recorded_once_however_often_it_is_reported(store: Store) -> None:
    checks = (member_check(turns=10), guild_check(period=f"m:{MONTH}", chars=1000))
    ledger_id = await store.usage.reserve(turn(), checks)
    assert isinstance(ledger_id, int)
    session = await store.start_session(channel_id=10, guild_id=7, provider="ablt", state={}, started_by=3)
    reply = await store.add_entry(session.id, "assistant", "", author_id=None, status="streaming")
    finish = UsageFinish(ledger_id, ended(chars_out=40), checks)
    await store.finish_entry(reply, "Hello there.", "complete", usage=finish)
    await store.finish_entry(reply, "Hello there.", "complete", usage=finish)
    await store.usage.finish(finish)
    await store.usage.finish(UsageFinish(ledger_id, ended(chars_out=999, outcome="failed"), checks))
    assert await store.usage.counters(checks) == {(c.scope, c.period): (1, 46) for c in checks}
    row = (await ledger_rows(store))[0]
    assert (row["outcome"], row["chars_out"], row["provider_s"]) == ("complete", 40, 1.5)
    entry = await store.entry(reply)
    assert entry is not None and (entry.content, entry.status) == ("Hello there.", "complete")
    await store.finish_entry(reply, "Changed.", "stopped")  # without usage it is as before
    entry = await store.entry(reply)
    assert entry is not None and (entry.content, entry.status) == ("Changed.", "stopped")


async def test_the_ledger_costs_postgresql_one_statement_per_turn_and_no_round_trip(store: Store) -> None:
    """PostgreSQL: the reserve is one statement in one round trip (autocommit); a reply's final status with its
    turn's end is one statement, as it is without, sent alone (no BEGIN and COMMIT round trips around it). SQLite:
    one transaction each, whose statements go straight to SQLite's thread (bot/store/usage_sqlite.py)."""
    checks = (member_check(turns=10), guild_check(turns=100), guild_check(period=f"m:{MONTH}", chars=10**6))
    session = await store.start_session(channel_id=10, guild_id=7, provider="ablt", state={}, started_by=3)
    sent: list[tuple[int, int]] = []
    with Wire().installed() as wire:
        for _ in range(6):  # a statement new to a pooled connection is prepared first (one more round trip): the last
            sent.clear()
            first, second = [await store.add_entry(session.id, "assistant", "", author_id=None) for _ in range(2)]
            async with wire.counting(sent):
                ledger_id = await store.usage.reserve(turn(), checks)
            assert isinstance(ledger_id, int)
            async with wire.counting(sent):
                await store.finish_entry(first, "text", "complete")
            async with wire.counting(sent):
                await store.finish_entry(second, "text", "complete", usage=UsageFinish(ledger_id, ended(), checks))
    reserving, plain, with_usage = sent
    if (
        store.db.kind == "postgresql"
    ):  # (statements, round trips); BEGIN and COMMIT are round trips, autocommit has none
        assert (reserving, plain, with_usage) == ((1, 1), (1, 3), (1, 1))
    else:  # (statements, calls into SQLite's thread); BEGIN IMMEDIATE is a statement here
        assert (reserving, plain, with_usage) == ((3, 5), (2, 8), (4, 6))
    assert await store.usage.counters(checks[:1]) == {(checks[0].scope, checks[0].period): (6, 6 * 46)}


async def test_a_write_the_database_refuses_leaves_the_counters_and_the_reply_as_they_were(
    store: Store, database: str
) -> None:
    """The ledger row's insert refused: the counters counted in the same transaction are not kept. The turn's end
    refused: the reply's final status, in the same statement (PostgreSQL) or transaction (SQLite), is not kept."""
    checks = (member_check(turns=5), guild_check())
    await db_faults.refuse_writes(database, "usage_ledger", "1 = 1", events=("INSERT",))
    with pytest.raises(StoreUnavailable):
        await store.usage.reserve(turn(), checks)
    assert await counter_rows(store) == set()
    await db_faults.lift(database, "usage_ledger")
    ledger_id = await store.usage.reserve(turn(), checks)
    assert isinstance(ledger_id, int)

    session = await store.start_session(channel_id=10, guild_id=7, provider="ablt", state={}, started_by=3)
    reply = await store.add_entry(session.id, "assistant", "so far", author_id=None, status="streaming")
    await db_faults.refuse_writes(database, "usage_ledger", "1 = 1")
    with pytest.raises(StoreUnavailable):
        await store.finish_entry(reply, "Done.", "complete", usage=UsageFinish(ledger_id, ended(), checks))
    entry = await store.entry(reply)
    assert entry is not None and (entry.content, entry.status) == ("so far", "streaming")
    assert await store.usage.counters(checks) == {(c.scope, c.period): (1, 6) for c in checks}
    await db_faults.lift(database, "usage_ledger")
    await store.finish_entry(reply, "Done.", "complete", usage=UsageFinish(ledger_id, ended(), checks))
    assert await store.usage.counters(checks) == {(c.scope, c.period): (1, 46) for c in checks}


# Totals and roll-ups -----------------------------------------------------------------------------------

GROUPINGS: list[tuple[str, ...]] = [
    (),
    *((g,) for g in ("day", "provider", "member_id", "guild_id", "kind", "outcome")),
    ("day", "provider"),
    ("guild_id", "member_id"),
    ("provider", "kind", "outcome"),
]


async def a_month_of_turns(store: Store) -> list[tuple[TurnStart, TurnUsage | None]]:
    """Turns over several days, servers, members, providers and kinds; most finished, some still pending."""
    made = []
    combos = itertools.product(("2025-04-29", "2025-04-30", "2025-05-01"), (7, 8), (3, 4), ("ablt", "convai"))
    for n, (day, guild, member, provider) in enumerate(combos):
        start = turn(
            member,
            guild,
            day=day,
            chars=n + 1,
            provider=provider,
            kind=("text", "voice", "retry")[n % 3],
            audio_in_s=0.5 * (n % 2),
            files=n % 2,
        )
        ledger_id = await store.usage.reserve(start, [CounterCheck(f"member:{guild}:{member}", f"d:{day}", None, None)])
        assert isinstance(ledger_id, int)
        usage = (
            None
            if n % 5 == 0
            else ended(chars_out=10 * n, outcome=("complete", "failed", "stopped")[n % 3], provider_s=0.25 * n)
        )
        if usage is not None:
            await store.usage.finish(UsageFinish(ledger_id, usage, ()))
        made.append((start, usage))
    return made


def expected_totals(made: Sequence[tuple[TurnStart, TurnUsage | None]], groups: Sequence[str]) -> list[tuple[Any, ...]]:
    sums: dict[tuple[Any, ...], list[float]] = {}
    for start, usage in made:
        fields = {
            "day": start.day,
            "provider": start.provider,
            "member_id": start.member_id,
            "guild_id": start.guild_id,
            "kind": start.kind,
            "outcome": usage.outcome if usage else "pending",
        }
        key = tuple(fields[g] for g in groups)
        amounts = [
            1,
            start.chars_in,
            usage.chars_out if usage else 0,
            start.audio_in_s,
            0.0,
            start.files,
            usage.provider_s if usage else 0.0,
        ]
        sums[key] = [a + b for a, b in zip(sums.get(key, [0] * 7), amounts, strict=True)]
    return sorted((*key, *(round(v, 6) for v in values)) for key, values in sums.items())


def as_tuples(rows: Sequence[Any], groups: Sequence[str]) -> list[tuple[Any, ...]]:
    return [
        (
            *(getattr(r, g) for g in groups),
            r.turns,
            r.chars_in,
            r.chars_out,
            round(r.audio_in_s, 6),
            round(r.audio_out_s, 6),
            r.files,
            round(r.provider_s, 6),
        )
        for r in rows
    ]


async def test_totals_group_every_way_and_read_the_same_before_and_after_the_roll_up(store: Store) -> None:
    made = await a_month_of_turns(store)
    for groups in GROUPINGS:
        found = await store.usage.totals(group_by=groups)
        assert as_tuples(found, groups) == expected_totals(made, groups), groups
        assert all(
            getattr(r, g) is None
            for r in found
            for g in {"day", "provider", "member_id", "guild_id", "kind", "outcome"} - set(groups)
        )
    before = {groups: await store.usage.totals(group_by=groups) for groups in GROUPINGS}
    filtered = {"guild_id": 7, "member_id": 3, "since_day": "2025-04-30", "until_day": "2025-04-30"}
    narrow = await store.usage.totals(**filtered, group_by=("provider",))  # type: ignore[arg-type]
    chosen = [(s, u) for s, u in made if (s.guild_id, s.member_id, s.day) == (7, 3, "2025-04-30")]
    assert as_tuples(narrow, ("provider",)) == expected_totals(chosen, ("provider",))

    assert await store.usage.roll_up("2025-05-01") == 16  # two days x two servers x two members x two providers
    assert {row["day"] for row in await ledger_rows(store)} == {"2025-05-01"}
    for groups in GROUPINGS:
        assert await store.usage.totals(group_by=groups) == before[groups], groups
    assert await store.usage.totals(**filtered, group_by=("provider",)) == narrow  # type: ignore[arg-type]
    assert await store.usage.roll_up("2025-05-01") == 0  # nothing left to fold
    # A later detail row for a rolled-up day (a late clock) adds into the same day's roll-up.
    assert isinstance(await store.usage.reserve(turn(day="2025-04-30"), []), int)
    assert await store.usage.roll_up("2025-05-01") == 1
    assert as_tuples(await store.usage.totals(), ())[0][0] == len(made) + 1


async def test_totals_of_nothing_are_zero_and_groups_are_checked(store: Store) -> None:
    (row,) = await store.usage.totals(guild_id=99)
    assert (row.turns, row.chars_in, row.provider_s, row.day) == (0, 0, 0.0, None)
    assert await store.usage.totals(guild_id=99, group_by=("day",)) == []
    with pytest.raises(ValueError):
        await store.usage.totals(group_by=("content",))


async def test_roll_up_removes_counters_whose_period_is_over(store: Store) -> None:
    periods = ["d:2025-04-30", "d:2025-05-01", "d:2025-05-02", "m:2025-04", "m:2025-05"]
    for period in periods:
        assert isinstance(await store.usage.reserve(turn(), [member_check(period=period)]), int)
    await store.usage.roll_up("2025-05-01")
    assert {row[1] for row in await counter_rows(store)} == {"d:2025-05-01", "d:2025-05-02", "m:2025-05"}


# Schema ------------------------------------------------------------------------------------------------

TEXT_COLUMNS = {"day", "provider", "kind", "outcome", "scope", "period", "target"}
"""The only text-typed columns of the usage tables: dates, keys and labels, never what anyone wrote."""


async def columns(store: Store, table: str) -> dict[str, str]:
    async with store.db.read() as conn:
        if store.db.kind == "sqlite":
            rows = await conn.execute(text(f"PRAGMA table_info({table})"))
            return {row[1]: row[2].upper() for row in rows}
        rows = await conn.execute(
            text("SELECT column_name, data_type FROM information_schema.columns WHERE table_name = :t"), {"t": table}
        )
        return {row[0]: row[1].upper() for row in rows}


async def test_no_usage_table_has_a_column_that_could_hold_text(store: Store) -> None:
    for table in USAGE_TABLES:
        found = await columns(store, table)
        assert found, table
        texts = {name for name, kind in found.items() if "TEXT" in kind or "CHAR" in kind}
        assert texts <= TEXT_COLUMNS, (table, texts)
        assert not {"content", "text", "message", "prompt", "reply"} & set(found), table


async def version_8(url: str) -> None:
    """A database as release 8 left it, with a session, its transcript and a server's settings."""
    db = Database(database_url(url))
    try:
        async with db.write() as conn:
            if db.kind == "postgresql":
                await conn.execute(text("CREATE TABLE schema_version (version INTEGER NOT NULL)"))
                await conn.execute(text("INSERT INTO schema_version (version) VALUES (8)"))
            for migration in MIGRATIONS[:8]:
                for statement in migration.sqlite if db.kind == "sqlite" else migration.postgresql:
                    await conn.execute(text(statement))
            if db.kind == "sqlite":
                await conn.exec_driver_sql("PRAGMA user_version = 8")
            await conn.execute(
                text(
                    "INSERT INTO sessions (id, channel_id, guild_id, provider, state, started_by, started_at)"
                    " VALUES (1, 10, 7, 'ablt', '{}', 3, 1000.0)"
                )
            )
            await conn.execute(
                text(
                    "INSERT INTO transcript (session_id, role, content, author_id, status, created_at)"
                    " VALUES (1, 'user', 'hi', 3, 'complete', 1500.0)"
                )
            )
            await conn.execute(
                text("INSERT INTO server_settings (guild_id, default_provider, cooldown_s) VALUES (7, 'ablt', 30.0)")
            )
    finally:
        await db.close()


async def test_a_version_8_database_keeps_its_data_and_gains_the_ledger(database: str) -> None:
    await version_8(database)
    store = await Store.open(database)
    try:
        assert [(e["role"], e["content"]) for e in await store.entries(1)] == [("user", "hi")]
        rules = await store.server_rules.load(7)
        assert (rules.default_provider, rules.cooldown_s, rules.timezone, rules.quota_exempt_managers) == (
            "ablt",
            30.0,
            None,
            None,
        )
        assert isinstance(await store.usage.reserve(turn(), [member_check(turns=1)]), int)
        if store.db.kind == "sqlite":
            async with store.db.read() as conn:
                assert (await conn.exec_driver_sql("PRAGMA user_version")).scalar() == LATEST == 9
    finally:
        await store.close()


# Quotas and server settings ------------------------------------------------------------------------------


async def test_quota_rules_are_set_replaced_listed_and_cleared(store: Store) -> None:
    member_day = QuotaRule(7, "member", "", "day", 20, None)
    supporters = QuotaRule(7, "role:55", "", "day", 100, 50_000)
    server_month = QuotaRule(7, "server", "ablt", "month", None, 2_000_000)
    for rule in (member_day, supporters, server_month, QuotaRule(8, "member", "", "day", 1, 1)):
        await store.quota_rules.set(rule, by=3)
    raised = QuotaRule(7, "member", "", "day", 30, 10_000)
    await store.quota_rules.set(raised, by=4)
    assert await store.quota_rules.load(7) == [raised, supporters, server_month]
    assert await store.quota_rules.clear(7, "role:55", "", "day")
    assert not await store.quota_rules.clear(7, "role:55", "", "day")
    assert await store.quota_rules.load(7) == [raised, server_month]
    assert await store.quota_rules.load(9) == []


async def test_a_servers_timezone_and_manager_exemption_round_trip(store: Store) -> None:
    await store.server_rules.set(7, "timezone", "Europe/Paris")
    await store.server_rules.set(7, "quota_exempt_managers", False)
    rules = await store.server_rules.load(7)
    assert (rules.timezone, rules.quota_exempt_managers) == ("Europe/Paris", False)
    await store.server_rules.set(7, "quota_exempt_managers", True)
    await store.server_rules.set(7, "timezone", None)
    rules = (await store.server_rules.load_all())[7]
    assert (rules.timezone, rules.quota_exempt_managers) == (None, True)


async def test_a_released_turn_leaves_no_row_and_gives_its_room_back_once(store: Store) -> None:
    checks = [check(turns=1), check("server", "month", turns=5)]
    kept = await store.usage.reserve(turn(chars=6), checks)
    assert isinstance(kept, int)
    assert await store.usage.reserve(turn(chars=6), checks) == checks[0]  # the member's one turn is taken

    assert await store.usage.release(kept, checks, 6) is True
    assert await store.usage.release(kept, checks, 6) is False  # once
    assert await ledger_rows(store) == []
    assert set((await store.usage.counters(checks)).values()) == {(0, 0)}
    again = await store.usage.reserve(turn(chars=6), checks)
    assert isinstance(again, int)
    await store.usage.finish(UsageFinish(again, ended(), tuple(checks)))
    assert await store.usage.release(again, checks, 6) is False  # a finished turn is not given back
