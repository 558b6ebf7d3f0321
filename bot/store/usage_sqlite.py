"""SQLite's side of the usage ledger on a turn's path: reserving a turn and recording its end, in few trips.

These run on every turn, so they go straight to the writer's aiosqlite connection (`Database.sqlite_write`): each
statement is one trip to SQLite's thread, about a tenth of a millisecond, where one through SQLAlchemy takes three
or four. A reserve is one write transaction of two statements: the counters are counted first (`RETURNING` what
they hold now), and if one had no room the transaction is rolled back, so a refused turn leaves nothing behind.
SQLite lets one writer at a time through (`BEGIN IMMEDIATE`), whichever process it is in.
"""

from __future__ import annotations

from collections.abc import Sequence

import aiosqlite

from bot.store.database import Database
from bot.store.records import CounterCheck, TurnStart, UsageFinish

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


async def reserve_sqlite(db: Database, start: TurnStart, checks: Sequence[CounterCheck]) -> int | CounterCheck:
    """`UsageStore.reserve` on SQLite: the ledger row's id, or the first check without room (nothing changed)."""
    keys = distinct_keys(checks)
    try:
        async with db.sqlite_write() as sqlite:
            if keys:
                values = ", ".join(["(?, ?, 1, ?)"] * len(keys))
                sql = f"INSERT INTO usage_counters (scope, period, turns, chars) VALUES {values}{_COUNT_TURN}"  # noqa: S608
                counted = await sqlite.execute_fetchall(sql, [v for key in keys for v in (*key, start.chars_in)])
                now = {(row[0], row[1]): (int(row[2]), int(row[3])) for row in counted}
                for check in checks:
                    turns, chars = now[(check.scope, check.period)]
                    if not check.has_room(turns - 1, chars - start.chars_in):
                        raise _Refused(check)
            where = (start.at, start.day, start.guild_id, start.channel_id, start.member_id, start.provider, start.kind)
            sent = (start.chars_in, float(start.audio_in_s), start.files)
            (inserted,) = await sqlite.execute_fetchall(_INSERT_LEDGER, (*where, *sent))
            return int(inserted[0])
    except _Refused as refused:
        return refused.check


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
