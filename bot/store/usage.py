"""The usage ledger and quota counters: a turn reserved before it reaches a provider, finished once, totalled.

- `usage_ledger`: one row per turn (when, where, who, which provider, what kind, characters, audio seconds,
  files, provider time, outcome), never any text. Past a retention, `roll_up` folds rows into `usage_daily`.
- `usage_counters`: turns and characters used per quota scope and period ("member:7:3", "d:2025-05-01"),
  what `reserve` checks a turn against and counts it in, atomically across processes: on PostgreSQL one
  statement (`bridge_usage_reserve`, bot/store/usage_sql.py), on SQLite one write transaction (SQLite lets
  one writer at a time through, whichever process it is in).

A reserve whose COMMIT answer was lost with its connection is tried again (bot/store/database.py) and may then
count that turn twice: the connection must drop in that instant, and the count errs towards the operator's bill.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store.database import Database, shielded
from bot.store.records import GROUPS, CounterCheck, TurnStart, UsageFinish, UsageRow
from bot.store.usage_sql import RESERVE, finish_statement
from bot.store.usage_sqlite import distinct_keys, finish_sqlite, reserve_sqlite

_KEY_COLUMNS = "day, guild_id, member_id, provider, kind, outcome"
_AMOUNTS = ("chars_in", "chars_out", "audio_in_s", "audio_out_s", "files", "provider_s")
_FOLD = (
    f"INSERT INTO usage_daily ({_KEY_COLUMNS}, turns, {', '.join(_AMOUNTS)})"  # noqa: S608 - this module's names
    f" SELECT {_KEY_COLUMNS}, COUNT(*), {', '.join(f'SUM({a})' for a in _AMOUNTS)} FROM {{source}}"
    f" GROUP BY {_KEY_COLUMNS}"
    f" ON CONFLICT ({_KEY_COLUMNS}) DO UPDATE SET turns = usage_daily.turns + excluded.turns,"
    f" {', '.join(f'{a} = usage_daily.{a} + excluded.{a}' for a in _AMOUNTS)}"
)
"""Detail rows of `{source}` added into their day's roll-up (one per day, server, member, provider, kind, outcome)."""
_ROLL_UP_POSTGRESQL = (
    "WITH gone AS (DELETE FROM usage_ledger WHERE day < :before RETURNING *),"  # noqa: S608 - this module's SQL
    f" folded AS ({_FOLD.format(source='gone')}) SELECT COUNT(*) FROM gone"
)
"""One statement: a row a turn's end changes at the same moment is folded as it ends (the delete waits for it)."""
_SUMS = ", ".join(
    [
        "CAST(COALESCE(SUM(turns), 0) AS BIGINT)",
        *(f"CAST(COALESCE(SUM({a}), 0) AS BIGINT)" for a in ("chars_in", "chars_out")),
        *(f"COALESCE(SUM({a}), 0.0)" for a in ("audio_in_s", "audio_out_s")),
        "CAST(COALESCE(SUM(files), 0) AS BIGINT)",
        "COALESCE(SUM(provider_s), 0.0)",
    ]
)


@shielded
class UsageStore:
    """The ledger and the quota counters over one `Database`; every method is one short transaction."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def reserve(self, start: TurnStart, checks: Sequence[CounterCheck]) -> int | CounterCheck:
        """If every check has room (a counter not there yet counts 0), count the turn (1 turn, `start.chars_in`
        characters) in each check's counter and insert its ledger row (outcome "pending"): its id. Otherwise
        change nothing and return the first check, in the given order, without room."""
        if self._db.kind == "postgresql":
            async with self._db.one_statement() as conn:
                answer = int((await conn.execute(text(RESERVE), reserve_binds(start, checks))).scalar_one())
            return answer if answer > 0 else checks[-answer - 1]
        reserved = await reserve_sqlite(self._db, start, checks)
        return reserved[0] if isinstance(reserved, tuple) else reserved

    async def finish(self, finish: UsageFinish) -> None:
        """Record a turn's end once (only a pending row changes; later calls do nothing) and add its `chars_out`
        to its checks' counters."""
        if self._db.kind == "postgresql":
            async with self._db.one_statement() as conn:
                await finish_postgresql(conn, finish)
            return
        async with self._db.sqlite_write() as sqlite:
            await finish_sqlite(sqlite, finish)

    async def release(self, ledger_id: int, checks: Sequence[CounterCheck], chars_in: int) -> bool:
        """Give back a reserved turn that never ran: its pending ledger row goes, and its checks' counters lose
        the turn and its `chars_in` characters. Once: False (nothing changed) when the row is gone or finished."""
        keys = distinct_keys(checks)
        async with self._db.write() as conn:
            gone = await conn.execute(
                text("DELETE FROM usage_ledger WHERE id = :id AND outcome = 'pending'"), {"id": ledger_id}
            )
            if not gone.rowcount:
                return False
            if keys:
                rows, binds = _key_list(keys)
                sql = (
                    "UPDATE usage_counters SET turns = turns - 1, chars = chars - :chars"  # noqa: S608 - this module's
                    f" WHERE (scope, period) IN (VALUES {rows})"
                )
                await conn.execute(text(sql), {**binds, "chars": chars_in})
        return True

    async def counters(self, checks: Sequence[CounterCheck]) -> dict[tuple[str, str], tuple[int, int]]:
        """(turns, characters) used per (scope, period) of each check; (0, 0) for a counter not there yet."""
        keys = distinct_keys(checks)
        async with self._db.read() as conn:
            used = await _used(conn, keys)
        return {key: used.get(key, (0, 0)) for key in keys}

    async def totals(
        self,
        *,
        guild_id: int | None = None,
        member_id: int | None = None,
        since_day: str | None = None,
        until_day: str | None = None,
        group_by: Sequence[str] = (),
    ) -> list[UsageRow]:
        """Totals over detail rows and daily roll-ups together, for the days `since_day`..`until_day` (both
        included, "YYYY-MM-DD"), grouped by `group_by` (some of GROUPS, else ValueError) and ordered by it.
        Without `group_by`, one row (zeros when nothing was used)."""
        groups = list(dict.fromkeys(group_by))
        if not set(groups) <= set(GROUPS):
            raise ValueError(f"totals group by some of {GROUPS}, not {group_by!r}")
        filters: dict[str, object] = {"guild_id = :guild_id": guild_id, "member_id = :member_id": member_id}
        filters |= {"day >= :since_day": since_day, "day <= :until_day": until_day}
        where = " AND ".join([condition for condition, value in filters.items() if value is not None] or ["1 = 1"])
        columns = f"{_KEY_COLUMNS}, {', '.join(_AMOUNTS)}"
        rows = (
            f"SELECT {columns}, 1 AS turns FROM usage_ledger WHERE {where} UNION ALL"  # noqa: S608 - this module's
            f" SELECT {columns}, turns FROM usage_daily WHERE {where}"
        )
        grouped = ", ".join(groups)
        sql = f"SELECT {grouped + ', ' if groups else ''}{_SUMS} FROM ({rows}) AS detail_and_daily"  # noqa: S608 - checked names
        if groups:
            sql += f" GROUP BY {grouped} ORDER BY {grouped}"
        binds = {"guild_id": guild_id, "member_id": member_id, "since_day": since_day, "until_day": until_day}
        async with self._db.read() as conn:
            found = (await conn.execute(text(sql), binds)).all()
        return [_usage_row(groups, row) for row in found]

    async def roll_up(self, before_day: str) -> int:
        """Fold the detail rows of days before `before_day` ("YYYY-MM-DD") into their daily roll-ups and delete
        them; returns how many were folded. Counters whose period is over go too (a day before `before_day`,
        a month before its month)."""
        binds = {"before": before_day, "day_cut": f"d:{before_day}", "month_cut": f"m:{before_day[:7]}"}
        async with self._db.write() as conn:
            if self._db.kind == "postgresql":
                folded = int((await conn.execute(text(_ROLL_UP_POSTGRESQL), binds)).scalar_one())
            else:
                await conn.execute(text(_FOLD.format(source="usage_ledger WHERE day < :before")), binds)
                folded = (await conn.execute(text("DELETE FROM usage_ledger WHERE day < :before"), binds)).rowcount
            await _forget_counters(conn, binds)
        return int(folded)

    async def forget_counters(self, before_day: str) -> None:
        """Drop quota counters whose period is over: a day before `before_day`, a month before its month (a
        counter is only ever read for the current day and month)."""
        binds = {"day_cut": f"d:{before_day}", "month_cut": f"m:{before_day[:7]}"}
        async with self._db.write() as conn:
            await _forget_counters(conn, binds)


async def _forget_counters(conn: AsyncConnection, binds: dict[str, str]) -> None:
    await conn.execute(
        text(
            "DELETE FROM usage_counters WHERE (substr(period, 1, 2) = 'd:' AND period < :day_cut)"
            " OR (substr(period, 1, 2) = 'm:' AND period < :month_cut)"
        ),
        binds,
    )


async def finish_postgresql(conn: AsyncConnection, finish: UsageFinish, before: str = "", **binds: Any) -> None:
    """Record a turn's end on PostgreSQL in one statement, which also runs `before` (a data-modifying CTE
    "name AS (...), " with its `binds`): see `finish_statement`."""
    usage, keys = finish.usage, distinct_keys(finish.checks)
    changes = {"ledger_id": finish.ledger_id, "chars_out": usage.chars_out, "outcome": usage.outcome}
    changes |= {"audio_out_s": usage.audio_out_s, "provider_s": usage.provider_s}
    keyed = {"scopes": [scope for scope, _ in keys], "periods": [period for _, period in keys]}
    await conn.execute(text(finish_statement(before)), {**binds, **changes, **keyed})


def _key_list(keys: Sequence[tuple[str, str]]) -> tuple[str, dict[str, str]]:
    """`(:s0, :p0), (:s1, :p1)...` for these keys, and its binds."""
    rows = ", ".join(f"(:s{i}, :p{i})" for i in range(len(keys)))
    binds = {f"{name}{i}": value for i, key in enumerate(keys) for name, value in zip("sp", key, strict=True)}
    return rows, binds


async def _used(conn: AsyncConnection, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], tuple[int, int]]:
    """(turns, characters) of the counters among `keys` that exist."""
    if not keys:
        return {}
    rows, binds = _key_list(keys)
    sql = f"SELECT scope, period, turns, chars FROM usage_counters WHERE (scope, period) IN (VALUES {rows})"  # noqa: S608
    return {(r[0], r[1]): (int(r[2]), int(r[3])) for r in await conn.execute(text(sql), binds)}


def reserve_binds(start: TurnStart, checks: Sequence[CounterCheck]) -> dict[str, Any]:
    """The binds of PostgreSQL's `RESERVE` (bot/store/usage_sql.py) for a turn and its checks."""
    return {
        "scopes": [c.scope for c in checks],
        "periods": [c.period for c in checks],
        "max_turns": [c.max_turns for c in checks],
        "max_chars": [c.max_chars for c in checks],
        **_start_binds(start),
    }


def _start_binds(start: TurnStart) -> dict[str, Any]:
    return {
        "at": start.at,
        "day": start.day,
        "guild_id": start.guild_id,
        "channel_id": start.channel_id,
        "member_id": start.member_id,
        "provider": start.provider,
        "kind": start.kind,
        "chars_in": start.chars_in,
        "audio_in_s": float(start.audio_in_s),
        "files": start.files,
    }


def _usage_row(groups: Sequence[str], row: Sequence[Any]) -> UsageRow:
    """A totals row: the group fields first (others None), then the sums in `_SUMS`' order."""
    keys: dict[str, Any] = dict.fromkeys(GROUPS)
    keys.update(zip(groups, row, strict=False))
    turns, chars_in, chars_out, audio_in_s, audio_out_s, files, provider_s = row[len(groups) :]
    return UsageRow(
        **keys,
        turns=int(turns),
        chars_in=int(chars_in),
        chars_out=int(chars_out),
        audio_in_s=float(audio_in_s),
        audio_out_s=float(audio_out_s),
        files=int(files),
        provider_s=float(provider_s),
    )
