"""SQLite's side of the usage ledger on a turn's path: reserving a turn and recording its end, in few trips.

These run on every turn, so they go straight to the writer's aiosqlite connection (`Database.sqlite_write`): each
statement is one trip to SQLite's thread, about a tenth of a millisecond, where one through SQLAlchemy takes three
or four. A reserve is one write transaction of two statements: the counters are counted first (`RETURNING` what
they hold now), and if one had no room the transaction is rolled back, so a refused turn leaves nothing behind.
With the member's words (`SaidEntry`) the words' step (bot/store/said.py) rides in the same transaction, so the
ledger costs a turn statements but no transaction of its own (a write transaction's BEGIN IMMEDIATE and COMMIT are
most of its time). SQLite lets one writer at a time through (`BEGIN IMMEDIATE`), whichever process it is in.
"""

from __future__ import annotations

from collections.abc import Sequence

import aiosqlite

from bot.store.database import Database
from bot.store.records import CounterCheck, OpenedTurn, SaidEntry, TurnStart, UsageFinish
from bot.store.said import said_sqlite

_COUNT_TURN = (
    " ON CONFLICT (scope, period) DO UPDATE SET turns = usage_counters.turns + 1,"
    " chars = usage_counters.chars + excluded.chars RETURNING scope, period, turns, chars"
)
_INSERT_LEDGER = (
    "INSERT INTO usage_ledger (at, day, guild_id, channel_id, member_id, provider, kind, chars_in, audio_in_s, files)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id"
)
_FINISH_LEDGER = (
    "UPDATE usage_ledger SET chars_out = ?, audio_out_s = ?, provider_s = ?, outcome = ?"
    " WHERE id = ? AND outcome = 'pending' RETURNING id"
)


class _Refused(Exception):
    """Raised inside the reserve's transaction to roll back the counts of a turn that had no room."""

    def __init__(self, check: CounterCheck) -> None:
        super().__init__(check.scope, check.period)
        self.check = check


def distinct_keys(checks: Sequence[CounterCheck]) -> list[tuple[str, str]]:
    """Each (scope, period) once, in the checks' order."""
    return list(dict.fromkeys((check.scope, check.period) for check in checks))


async def reserve_sqlite(
    db: Database, start: TurnStart, checks: Sequence[CounterCheck], said: SaidEntry | None = None
) -> tuple[int, OpenedTurn] | CounterCheck:
    """`UsageStore.reserve` (and `reserve_turn` with `said`) on SQLite: (ledger row's id, the entries `said` added:
    bot/store/said.py; OpenedTurn(0) without `said`), or the first check without room (nothing changed). Raises
    DuplicateTurn (nothing changed) when `said.message_id` was already taken."""
    try:
        async with db.sqlite_write() as sqlite:
            await _count(sqlite, start, checks)
            where = (start.at, start.day, start.guild_id, start.channel_id, start.member_id, start.provider, start.kind)
            sent = (start.chars_in, float(start.audio_in_s), start.files)
            (inserted,) = await sqlite.execute_fetchall(_INSERT_LEDGER, (*where, *sent))
            added = await said_sqlite(sqlite, said) if said is not None else OpenedTurn(0)
            return int(inserted[0]), added
    except _Refused as refused:
        return refused.check


async def _count(sqlite: aiosqlite.Connection, start: TurnStart, checks: Sequence[CounterCheck]) -> None:
    """Count the turn in each check's counter; raises _Refused (the caller rolls back) for one without room."""
    keys = distinct_keys(checks)
    if not keys:
        return
    values = ", ".join(["(?, ?, 1, ?)"] * len(keys))
    sql = f"INSERT INTO usage_counters (scope, period, turns, chars) VALUES {values}{_COUNT_TURN}"  # noqa: S608
    counted = await sqlite.execute_fetchall(sql, [v for key in keys for v in (*key, start.chars_in)])
    now = {(row[0], row[1]): (int(row[2]), int(row[3])) for row in counted}
    for check in checks:
        turns, chars = now[(check.scope, check.period)]
        if not check.has_room(turns - 1, chars - start.chars_in):
            raise _Refused(check)


async def finish_sqlite(sqlite: aiosqlite.Connection, done: UsageFinish) -> None:
    """Record a turn's end in the write transaction `sqlite` holds (`Database.sqlite_write`): once (only a pending
    row changes), adding its characters out to its checks' counters."""
    usage = done.usage
    changes = (usage.chars_out, usage.audio_out_s, usage.provider_s, usage.outcome, done.ledger_id)
    finished = await sqlite.execute_fetchall(_FINISH_LEDGER, changes)
    keys = distinct_keys(done.checks)
    if list(finished) and keys and usage.chars_out:
        listed = ", ".join(["(?, ?)"] * len(keys))
        sql = f"UPDATE usage_counters SET chars = chars + ? WHERE (scope, period) IN (VALUES {listed})"  # noqa: S608
        await sqlite.execute_fetchall(sql, (usage.chars_out, *(v for key in keys for v in key)))
