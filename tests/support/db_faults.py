"""Database faults made by the database itself, for tests: writes it refuses, connections it drops, locks it holds.

Nothing here touches the bot: each fault is a real feature of SQLite or PostgreSQL, set up from the test's
own connection, so the bot meets the same errors a failing disk, a restarted server or a slow query give it.

- `refuse_writes`: a trigger that refuses matching UPDATEs (SQLite `RAISE(ABORT, ...)`,
  sqlite.org/lang_createtrigger.html "The RAISE() function"; PostgreSQL `RAISE EXCEPTION ... USING ERRCODE =
  'disk_full'` in a trigger function, postgresql.org/docs/15/plpgsql-errors-and-messages.html). `lift` drops it.
- `drop_connections`: `pg_terminate_backend` on every other connection to the database, what clients see
  when the server restarts or a proxy cuts them (postgresql.org/docs/15/functions-admin.html).
- `restarting`: PostgreSQL refusing every connection to the database for a while, its open ones cut
  (`ALTER DATABASE ... ALLOW_CONNECTIONS false` and `pg_terminate_backend`, as during a restart or failover).
- `hold_write_lock`: another connection holding the write lock (SQLite `BEGIN IMMEDIATE`; PostgreSQL
  `LOCK TABLE ... IN EXCLUSIVE MODE`) for a while: a slow query, as the bot's writes see it.
- `disk_full`: a bot process may not grow any file past a few bytes (`prlimit(RLIMIT_FSIZE)`; CPython ignores
  SIGXFSZ, so writes fail with EFBIG and SQLite answers SQLITE_FULL, "database or disk is full").
"""

from __future__ import annotations

import contextlib
import resource
from collections.abc import AsyncIterator, Iterator

import aiosqlite
import asyncpg
from sqlalchemy.engine import make_url

TRIGGER = "injected_fault"


def _is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def _sqlite_path(url: str) -> str:
    return url.removeprefix("sqlite:///")


async def _pg(url: str) -> asyncpg.Connection:
    parsed = make_url(url)
    return await asyncpg.connect(
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 5432,
        user=parsed.username or "postgres",
        password=parsed.password,
        database=parsed.database,
        timeout=5,
    )


async def refuse_writes(
    url: str,
    table: str,
    when: str,
    *,
    events: tuple[str, ...] = ("UPDATE",),
    message: str = "injected fault: no space left",
) -> None:
    """From now on the database refuses every write of `events` (UPDATE, INSERT) to `table` whose new row matches
    `when` (an SQL condition on `NEW.<column>`, written the same for both databases), until `lift`."""
    if _is_sqlite(url):
        async with aiosqlite.connect(_sqlite_path(url)) as db:
            for event in events:
                await db.execute(
                    f"CREATE TRIGGER {TRIGGER}_{event.lower()} BEFORE {event} ON {table} WHEN {when}"
                    f" BEGIN SELECT RAISE(ABORT, '{message}'); END"
                )
            await db.commit()
        return
    connection = await _pg(url)
    try:
        await connection.execute(f"CREATE SEQUENCE IF NOT EXISTS {TRIGGER}_count")
        await connection.execute(
            f"CREATE FUNCTION {TRIGGER}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
            f" IF {when} THEN PERFORM nextval('{TRIGGER}_count');"  # a sequence is not rolled back: it counts
            f" RAISE EXCEPTION '{message}' USING ERRCODE = 'disk_full'; END IF;"
            " RETURN NEW; END $$"
        )
        await connection.execute(
            f"CREATE TRIGGER {TRIGGER} BEFORE {' OR '.join(events)} ON {table}"
            f" FOR EACH ROW EXECUTE FUNCTION {TRIGGER}()"
        )
    finally:
        await connection.close()


async def lift(url: str, table: str) -> None:
    """Drop the trigger `refuse_writes` made: writes are taken again."""
    if _is_sqlite(url):
        async with aiosqlite.connect(_sqlite_path(url)) as db:
            for event in ("insert", "update"):
                await db.execute(f"DROP TRIGGER IF EXISTS {TRIGGER}_{event}")
            await db.commit()
        return
    connection = await _pg(url)
    try:
        await connection.execute(f"DROP TRIGGER IF EXISTS {TRIGGER} ON {table}")
        await connection.execute(f"DROP FUNCTION IF EXISTS {TRIGGER}()")
    finally:
        await connection.close()


async def refusals(url: str) -> int:
    """PostgreSQL only: how many writes `refuse_writes` refused so far (a sequence counts them, outside the
    refused transactions)."""
    connection = await _pg(url)
    try:
        row = await connection.fetchrow(f"SELECT last_value, is_called FROM {TRIGGER}_count")  # noqa: S608
    finally:
        await connection.close()
    return int(row["last_value"]) if row is not None and row["is_called"] else 0


async def drop_connections(url: str) -> int:
    """PostgreSQL only: end every other session on this database at once; how many were ended."""
    connection = await _pg(url)
    try:
        ended = await connection.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await connection.close()
    return sum(1 for row in ended if row[0])


@contextlib.asynccontextmanager
async def hold_write_lock(url: str, table: str = "transcript") -> AsyncIterator[None]:
    """Hold the write lock (SQLite: the database's; PostgreSQL: `table`'s) for the block: writes wait behind it."""
    if _is_sqlite(url):
        async with aiosqlite.connect(_sqlite_path(url), isolation_level=None) as db:
            await db.execute("BEGIN IMMEDIATE")
            try:
                yield
            finally:
                await db.execute("ROLLBACK")
        return
    connection = await _pg(url)
    try:
        transaction = connection.transaction()
        await transaction.start()
        await connection.execute(f"LOCK TABLE {table} IN EXCLUSIVE MODE")
        try:
            yield
        finally:
            await transaction.rollback()
    finally:
        await connection.close()


@contextlib.asynccontextmanager
async def restarting(url: str, admin_url: str) -> AsyncIterator[None]:
    """PostgreSQL only: for the block the database takes no connection and its open ones are cut, as while its
    server restarts; `admin_url` is another database on the same server to switch it back from."""
    name = make_url(url).database
    admin = await _pg(admin_url)
    try:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
        try:
            yield
        finally:
            await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    finally:
        await admin.close()


@contextlib.contextmanager
def disk_full(pid: int) -> Iterator[None]:
    """For the block, process `pid` cannot write past the first bytes of any file (as on a full disk)."""
    before = resource.prlimit(pid, resource.RLIMIT_FSIZE)
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (1, before[1]))
    try:
        yield
    finally:
        resource.prlimit(pid, resource.RLIMIT_FSIZE, before)
