"""What the store's work costs a run of turns: round trips and CPU, for bench.store.

`WorkMeter` counts, between `start` and `stop`, the round trips the bot's store makes (asyncpg's, and every call
into aiosqlite's thread: bench/wire.py) and the CPU time the store spends:

- on the event loop: every store operation runs as a task of its own (bot/store/database.py `_shield` runs
  `_with_retries` in a task), so the meter steps that coroutine itself and adds the thread's CPU time
  (`time.thread_time`) of each step: SQLAlchemy, the drivers' Python and the store's own code. What the drivers
  do in the loop's callbacks (asyncpg parsing a reply, aiosqlite handing a result back) is not in it, so this
  is a floor;
- in this process's other threads: SQLite runs in aiosqlite's worker threads (the loop's executor is otherwise
  idle here);
- in the PostgreSQL server processes serving this database's connections (`pg_stat_activity`, then the first
  field of `/proc/<pid>/schedstat`: nanoseconds on a CPU, proc(5)).

The bot, its cogs and the emulators share the loop; their CPU is printed too, as the loop's whole CPU.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from bench.wire import Wire
from bot.store import database as store_database


@dataclass
class Work:
    """What a run of `turns` turns cost in all (seconds of CPU; counts)."""

    turns: int
    round_trips: int
    statements: int
    store_loop_cpu_s: float
    loop_cpu_s: float
    threads_cpu_s: float
    server_cpu_s: float
    by_call: dict[str, tuple[int, float]] = field(default_factory=dict)
    """Store operation (its method's qualified name) -> (calls, loop CPU seconds in its task)."""

    def by_call_rows(self) -> list[tuple[str, str, str]]:
        """(store operation, calls per turn, loop CPU per call in µs), the most CPU first."""
        n = max(self.turns, 1)
        ranked = sorted(self.by_call.items(), key=lambda item: -item[1][1])
        return [(name, f"{calls / n:.2f}", f"{spent / max(calls, 1) * 1e6:.0f}") for name, (calls, spent) in ranked]

    def rows(self) -> list[tuple[str, str]]:
        """(figure, value) rows, per turn."""
        n = max(self.turns, 1)
        store = self.store_loop_cpu_s + self.threads_cpu_s + self.server_cpu_s

        def ms(seconds: float) -> str:
            return f"{seconds / n * 1000:.2f} ms"

        return [
            ("round trips per turn (PostgreSQL) / calls into SQLite's thread", f"{self.round_trips / n:.1f}"),
            (
                "SQL statements per turn, every path (SQLAlchemy's and straight to aiosqlite)",
                f"{self.statements / n:.2f}",
            ),
            ("store CPU per turn (the three below)", ms(store)),
            ("  on the event loop, in the store's own tasks", ms(self.store_loop_cpu_s)),
            ("  in SQLite's threads", ms(self.threads_cpu_s)),
            ("  in PostgreSQL's server processes", ms(self.server_cpu_s)),
            ("the event loop's whole CPU per turn (bot, emulators, store)", ms(self.loop_cpu_s)),
        ]


@dataclass
class _StepClock:
    """Thread CPU seconds spent stepping the store's tasks (nested store calls counted once)."""

    on: bool = False
    spent_s: float = 0.0
    depth: int = 0
    calls: Counter[str] = field(default_factory=Counter)
    by_call_s: Counter[str] = field(default_factory=Counter)

    def timed(self, run: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        clock = self

        async def stepped(method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
            if clock.on:
                clock.calls[method.__qualname__] += 1
            return await _Stepped(run(method, *args, **kwargs), clock, method.__qualname__)

        return stepped


class _Stepped:
    """Awaits a coroutine by stepping it, timing each step with the thread's CPU clock."""

    def __init__(self, coro: Any, clock: _StepClock, name: str) -> None:
        self._coro, self._clock, self._name = coro, clock, name

    def __await__(self) -> Generator[Any, Any, Any]:
        clock, coro = self._clock, self._coro
        send: Any = None
        thrown: BaseException | None = None
        while True:
            outer = clock.depth == 0
            clock.depth += 1
            began = time.thread_time()
            try:
                yielded = coro.send(send) if thrown is None else coro.throw(thrown)
            except StopIteration as stop:
                return stop.value
            finally:
                clock.depth -= 1
                if outer and clock.on:
                    spent = time.thread_time() - began
                    clock.spent_s += spent
                    clock.by_call_s[self._name] += spent
            try:
                send, thrown = (yield yielded), None
            except BaseException as exc:  # noqa: BLE001 - handed on to the coroutine, as `await` would
                send, thrown = None, exc


@dataclass
class WorkMeter:
    """Counts between `start` and `stop` (both called on the event loop's thread)."""

    database_url: str | None = None
    wire: Wire = field(default_factory=Wire)
    _clock: _StepClock = field(default_factory=_StepClock)
    _began: tuple[float, float] = (0.0, 0.0)
    _server_began: dict[int, float] = field(default_factory=dict)

    @contextlib.contextmanager
    def installed(self) -> Iterator[WorkMeter]:
        original = store_database._with_retries
        store_database._with_retries = self._clock.timed(original)  # type: ignore[assignment]
        try:
            with self.wire.installed():
                yield self
        finally:
            store_database._with_retries = original

    async def start(self) -> None:
        self._server_began = await self._server_cpu()
        self.wire.statements = self.wire.round_trips = 0
        self._clock.spent_s = 0.0
        self._clock.calls.clear()
        self._clock.by_call_s.clear()
        self._began = (time.thread_time(), time.process_time())
        self.wire.on = self._clock.on = True

    async def stop(self, turns: int) -> Work:
        self.wire.on = self._clock.on = False
        loop_s, process_s = time.thread_time() - self._began[0], time.process_time() - self._began[1]
        server_now = await self._server_cpu()
        server_s = sum(cpu - self._server_began.get(pid, 0.0) for pid, cpu in server_now.items())
        clock = self._clock
        by_call = {name: (calls, clock.by_call_s[name]) for name, calls in clock.calls.items()}
        return Work(
            turns,
            self.wire.round_trips,
            self.wire.statements,
            clock.spent_s,
            loop_s,
            process_s - loop_s,
            server_s,
            by_call,
        )

    async def _server_cpu(self) -> dict[int, float]:
        """CPU seconds so far of each server process connected to this database (not the meter's own)."""
        if self.database_url is None:
            return {}
        url = self.database_url.replace("postgresql+asyncpg://", "postgresql://")
        connection = await asyncpg.connect(url)
        try:
            pids = await connection.fetch(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        finally:
            await connection.close()
        return {row["pid"]: cpu for row in pids if (cpu := _cpu_of(row["pid"])) is not None}


def _cpu_of(pid: int) -> float | None:
    """Seconds process `pid` has spent on a CPU (proc(5): /proc/<pid>/schedstat, first field, in ns); None if
    it is gone."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9
    except (OSError, IndexError, ValueError):
        return None
