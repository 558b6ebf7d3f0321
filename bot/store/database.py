"""The database behind the store: SQLite (embedded, one process) or PostgreSQL (shared by shard processes).

One SQL code path serves both: SQLAlchemy 2's async Core runs the same `text()` statements with `:name`
binds over aiosqlite or asyncpg; the few places where the two dialects differ (JSON, locks) ask `kind`.

- SQLite: WAL, a 10 s busy timeout, foreign keys on. Writes go through one connection that starts every
  transaction with `BEGIN IMMEDIATE`, so writers queue instead of meeting SQLITE_BUSY on lock upgrades
  (sqlite.org/lang_transaction.html); reads use a small pool. Locks are in-process: SQLite is for one
  process on one machine ("WAL does not work over a network filesystem", sqlite.org/wal.html). The few
  statements every turn adds (the usage ledger's) go to the writer's aiosqlite connection itself (`sqlite_write`).
- Transactions only where they are needed: a read (`read`) and a write that is one statement, atomic on its own
  (`one_statement`), run without BEGIN and COMMIT around them (PostgreSQL's autocommit; SQLite's own
  autocommit, the connection's `isolation_level = None`): one round trip instead of three. A read of several
  statements that must agree with each other is a `snapshot`.
- PostgreSQL: one pool; every transaction on its own connection. Cross-process locks are
  `pg_advisory_lock` on a dedicated connection (postgresql.org/docs/15/functions-admin.html), freed
  when released or when the process dies with its connection.

Faults: statement parameters (members' text, stored tokens) never appear in errors or logs
(`hide_parameters`). Each store operation is one short transaction, so one that failed left nothing behind:
a failure that may pass (a dropped or refused connection, a busy or full database, a server restarting) is
tried again a few times within about two seconds (`RETRY_DELAYS_S`); what still fails is raised as
`StoreUnavailable`. A constraint's answer (IntegrityError) and a bad statement (ProgrammingError) are never
retried. A connection lost while its COMMIT was in flight leaves the outcome unknown; the retry then runs the
operation again, which every statement here tolerates except a plain insert without a unique key (rare: the
connection must drop between the last statement and the commit's answer).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, Literal, TypeVar

import aiosqlite
from sqlalchemy import event, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

log = logging.getLogger(__name__)

Kind = Literal["sqlite", "postgresql"]
SQLITE_BUSY_TIMEOUT_MS = 10_000
SQLITE_READERS = 4
POSTGRES_POOL = 10
CLOSE_GRACE_S = 5.0
NO_BEGIN = "bridge_no_begin"
"""A connection's execution option: SQLite statements in autocommit, no BEGIN (`Database._autocommit`)."""
RETRY_DELAYS_S = (0.1, 0.4, 1.2)
"""Waits before the 2nd, 3rd and 4th try of a store operation that failed in a way that may pass."""


class DatabaseUrlError(ValueError):
    """DATABASE_URL is not a SQLite or PostgreSQL URL this bot can use; the message says how to write one."""


def database_url(raw: str | Path) -> URL:
    """A SQLAlchemy URL for `sqlite:///relative/path`, `sqlite:////absolute/path`, `postgresql://...`
    or `postgres://...` (asyncpg is the driver); a Path means a SQLite file. Raises DatabaseUrlError."""
    if isinstance(raw, Path):
        return URL.create("sqlite+aiosqlite", database=str(raw))
    try:
        url = make_url(raw)
    except Exception as exc:
        raise DatabaseUrlError(_EXPECTED) from exc
    backend = url.get_backend_name()
    if backend == "sqlite":
        if not url.database or url.database == ":memory:":
            raise DatabaseUrlError("DATABASE_URL must name a SQLite file, like sqlite:///data/bot.sqlite3.")
        return url.set(drivername="sqlite+aiosqlite")
    if backend in ("postgresql", "postgres"):
        if not url.database:
            raise DatabaseUrlError("DATABASE_URL must name the PostgreSQL database, like postgresql://u:p@host/bot.")
        return url.set(drivername="postgresql+asyncpg")
    raise DatabaseUrlError(_EXPECTED)


_EXPECTED = (
    "DATABASE_URL must look like sqlite:///data/bot.sqlite3 (the default, nothing to install)"
    " or postgresql://user:password@host:5432/dbname."
)


_C = TypeVar("_C", bound=type)


def shielded(cls: _C) -> _C:
    """Class decorator: every public coroutine method runs to its end even if its caller is cancelled.

    Cancelling a task in the middle of a transaction can leave the connection mid-transaction and
    abandoned (SQLAlchemy's asyncio docs warn about this), and an abandoned SQLite connection keeps the
    write lock until it is garbage collected. Store operations are short, so each runs in a task of its
    own, shielded; a cancelled caller stops waiting and the operation finishes (and `close` waits for it).
    """
    for name, method in list(vars(cls).items()):
        if name.startswith("_") or name in {"open", "close"} or not inspect.iscoroutinefunction(method):
            continue
        setattr(cls, name, _shield(method))
    return cls


def _shield(method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(method)
    async def run(*args: Any, **kwargs: Any) -> Any:
        task = asyncio.ensure_future(_with_retries(method, args, kwargs))
        task.add_done_callback(_retrieve)
        return await asyncio.shield(task)

    return run


class StoreUnavailable(RuntimeError):
    """The database did not take a store operation, tried again a few times: it is down, restarting, full or
    refusing writes. The message names the operation and the database's error class, never parameters."""


def may_pass(exc: BaseException) -> bool:
    """Whether a failed operation is worth trying again: connection trouble, a busy, full or restarting database.
    A constraint's answer and a malformed statement are final."""
    if isinstance(exc, sa_exc.IntegrityError | sa_exc.ProgrammingError | DatabaseClosed):
        return False
    return isinstance(exc, sa_exc.DBAPIError | sa_exc.TimeoutError | sa_exc.InterfaceError | OSError)


async def _with_retries(method: Callable[..., Awaitable[Any]], args: Any, kwargs: Any) -> Any:
    """Run one store operation, again after `RETRY_DELAYS_S` while its failure may pass; a failure of the
    database's that remains is raised as StoreUnavailable (domain errors the method raises pass unchanged)."""
    for delay in (*RETRY_DELAYS_S, None):
        try:
            return await method(*args, **kwargs)
        except (sa_exc.SQLAlchemyError, OSError) as exc:
            if delay is None or not may_pass(exc):
                raise StoreUnavailable(f"{method.__qualname__}: {_kind_of(exc)}") from exc
            log.warning("store: %s failed (%s); trying again in %.1f s", method.__qualname__, _kind_of(exc), delay)
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def _kind_of(exc: BaseException) -> str:
    """The error's class and, for a driver error, the driver's class: what the log may say about a failure."""
    original = getattr(exc, "orig", None)
    return f"{type(exc).__name__}/{type(original).__name__}" if original is not None else type(exc).__name__


def _retrieve(task: asyncio.Future[Any]) -> None:
    """A shielded operation whose caller was cancelled still may fail: log it rather than lose it."""
    if not task.cancelled() and task.exception() is not None:
        log.debug("store operation failed after its caller stopped waiting: %r", task.exception())


class DatabaseClosed(RuntimeError):
    """The store was closed (the bot is stopping); no more work is taken."""


class Database:
    """Transactions and cross-process locks over one SQLite file or one PostgreSQL database."""

    def __init__(self, url: URL) -> None:
        self.url = url
        self.kind: Kind = "postgresql" if url.get_backend_name() == "postgresql" else "sqlite"
        self._locks: dict[int, asyncio.Lock] = {}
        self._in_use = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._closing = False
        if self.kind == "sqlite":
            Path(url.database or "").parent.mkdir(parents=True, exist_ok=True)
            self._writer = create_async_engine(url, pool_size=1, max_overflow=0, hide_parameters=True)
            self._reader = create_async_engine(url, pool_size=SQLITE_READERS, max_overflow=0, hide_parameters=True)
            _sqlite_setup(self._writer, begin="BEGIN IMMEDIATE")
            _sqlite_setup(self._reader, begin="BEGIN")
        else:
            self._writer = self._reader = create_async_engine(
                url, pool_size=POSTGRES_POOL, max_overflow=POSTGRES_POOL, hide_parameters=True
            )

    @property
    def where(self) -> str:
        """Where the data lives, without credentials (for logs and `check`)."""
        return self.url.render_as_string(hide_password=True)

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A transaction that may write; committed when the block ends, rolled back if it raises.
        Raises DatabaseClosed once `close` began."""
        async with self._tracked(), self._writer.begin() as conn:
            yield conn

    @contextlib.asynccontextmanager
    async def one_statement(self) -> AsyncIterator[AsyncConnection]:
        """A connection for ONE statement that writes, atomic on its own: run in autocommit, its own transaction,
        one round trip, no BEGIN and COMMIT around it. (On SQLite it is the one writer's, so it queues behind a
        transaction in progress; a lone statement needs no BEGIN IMMEDIATE, which is there for transactions that
        read before they write.) Raises DatabaseClosed once closing."""
        async with self._tracked(), self._writer.connect() as conn:
            await self._autocommit(conn)
            yield conn

    @contextlib.asynccontextmanager
    async def sqlite_write(self) -> AsyncIterator[aiosqlite.Connection]:
        """SQLite only: a write transaction (`BEGIN IMMEDIATE`) on the writer's own aiosqlite connection, for the
        few statements every turn sends (`?` placeholders). Each call there is one trip to SQLite's thread, where
        a statement through SQLAlchemy takes three or four; committed when the block ends, rolled back if it
        raises. SQLite's errors are raised as SQLAlchemy's would be, so they are tried again and reported alike."""
        if self.kind != "sqlite":
            raise RuntimeError("sqlite_write is for SQLite")
        async with self._tracked(), self._writer.connect() as conn:
            sqlite: aiosqlite.Connection | None = (await conn.get_raw_connection()).driver_connection
            assert sqlite is not None  # noqa: S101 - a connection checked out always has its driver connection
            try:
                await sqlite.execute_fetchall("BEGIN IMMEDIATE")
                yield sqlite
                await sqlite.commit()
            except BaseException as exc:
                with contextlib.suppress(sqlite3.Error):
                    await sqlite.rollback()
                if isinstance(exc, sqlite3.Error):
                    raise _as_sqlalchemy_error(exc) from exc
                raise

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reads in autocommit: each statement sees the database as it is when it runs, in one
        round trip (no BEGIN and COMMIT). For several reads that must agree, `snapshot`. Raises DatabaseClosed
        once closing."""
        async with self._tracked(), self._reader.connect() as conn:
            await self._autocommit(conn)
            yield conn

    @contextlib.asynccontextmanager
    async def snapshot(self) -> AsyncIterator[AsyncConnection]:
        """A read transaction whose statements all see one snapshot of the database (SQLite: a deferred
        transaction; PostgreSQL: REPEATABLE READ, since at its default READ COMMITTED each statement would see what
        was committed when it began). Raises DatabaseClosed once closing."""
        async with self._tracked(), self._reader.connect() as conn:
            if self.kind == "postgresql":
                await conn.execution_options(isolation_level="REPEATABLE READ")
            async with conn.begin():
                yield conn

    async def _autocommit(self, conn: AsyncConnection) -> None:
        """No transaction around this connection's statements. PostgreSQL: SQLAlchemy's AUTOCOMMIT (asyncpg then
        sends no BEGIN). SQLite: the connection is in autocommit already (`isolation_level = None`); the option
        below tells `_sqlite_setup`'s begin hook to send no BEGIN. Setting either costs no round trip."""
        if self.kind == "postgresql":
            await conn.execution_options(isolation_level="AUTOCOMMIT")
        else:
            await conn.execution_options(**{NO_BEGIN: True})

    @contextlib.asynccontextmanager
    async def _tracked(self) -> AsyncIterator[None]:
        """Counts work in progress, so `close` can wait for it instead of stranding its connection."""
        if self._closing:
            raise DatabaseClosed("the store is closed")
        self._in_use += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._in_use -= 1
            if not self._in_use:
                self._idle.set()

    @contextlib.asynccontextmanager
    async def exclusive(self, key: int) -> AsyncIterator[None]:
        """Hold lock `key` (a 64-bit number) against every process sharing this database, for the block."""
        if self.kind == "sqlite":
            async with self._locks.setdefault(key, asyncio.Lock()):
                yield
            return
        async with self._tracked(), self._writer.connect() as conn:
            await conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
            await conn.commit()
            try:
                yield
            finally:
                await conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                await conn.commit()

    async def prepare(self) -> None:
        """SQLite: switch the file to WAL once (the mode stays with the file). Switching needs a moment
        alone with the file, which SQLite's busy timeout does not wait for, so it is retried here."""
        if self.kind != "sqlite":
            return
        deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
        async with self._writer.connect() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            assert raw is not None  # noqa: S101 - a fresh connection always has its driver connection
            while True:
                try:
                    await raw.execute("PRAGMA journal_mode=WAL")
                    return
                except sqlite3.OperationalError:
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.05)

    async def ping(self) -> bool:
        """Whether the database answers a trivial query."""
        async with self.read() as conn:
            return (await conn.execute(text("SELECT 1"))).scalar() == 1

    async def close(self, grace_s: float = CLOSE_GRACE_S) -> None:
        """Refuse new work, let work in progress finish (up to `grace_s`), then close every connection."""
        self._closing = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), grace_s)
        await self._writer.dispose()
        if self._reader is not self._writer:
            await self._reader.dispose()


def _as_sqlalchemy_error(exc: sqlite3.Error) -> sa_exc.DBAPIError:
    """The error SQLAlchemy raises for this driver error (without the statement or its parameters)."""
    if isinstance(exc, sqlite3.IntegrityError):
        return sa_exc.IntegrityError(None, None, exc)
    if isinstance(exc, sqlite3.ProgrammingError):
        return sa_exc.ProgrammingError(None, None, exc)
    return sa_exc.OperationalError(None, None, exc)


def _sqlite_setup(engine: AsyncEngine, *, begin: str) -> None:
    """Pragmas on every new connection, and transactions begun by us rather than by pysqlite (the
    SQLAlchemy recipe for SQLite transactions: dialects/sqlite "Serializable isolation")."""

    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(conn: Any) -> None:
        if not conn.get_execution_options().get(NO_BEGIN):
            conn.exec_driver_sql(begin)
