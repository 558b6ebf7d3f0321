"""Faults injected at random (seeded) while members talk: Discord, the database, Agentverse, the process.

- Discord, every 1.5-4 s, on one member thread's message writes (POST a message or PATCH one): JSON 5xx
  and Envoy's plain-text 503 (1-3 in a row), shared and per-route 429s, a write that hangs past the bot's
  20 s read timeout, a lost answer (the message is created, the answer dropped after 22 s or a 500); on
  interaction followups (how a Retry's reply is written) 5xx and lost answers; and now and then the
  gateway dropped (code 4000, the bot RESUMEs) or an op 7 RECONNECT (tests/emulators/discord/faults.py
  cites each shape).
- The database, every 8-20 s. PostgreSQL: every connection of the bot's database terminated
  (`pg_terminate_backend`, as a failover or an operator does), or the transcript table locked (EXCLUSIVE
  mode: reads go on, writes wait) for 2-6 s. SQLite: a write transaction held on the file (`BEGIN
  IMMEDIATE`) for 2-6 s, or for 12 s, past the bot's 10 s busy timeout, so a write is refused.
- Agentverse (when a member talks to it), every 10-25 s: 1-3 polls answer 5xx, a poll hangs, a poll
  carries a broken element, or every access token expires (the bot must refresh it).
- The process: `kill -9` at planned moments (`plan_kills`), then a restart after 1-4 s.

Provider answers (errors, stalls, huge or malformed replies) are drawn per call in bench/chaos/script.py.
Every injection is counted by kind and kept on a timeline, so a lost turn can be put next to what hit it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiosqlite
import asyncpg

from bench.chaos.members import Crowd
from bench.chaos.process import BotProcesses
from tests.emulators.agentverse import AgentverseEmulator
from tests.emulators.discord import DiscordEmulator, Fault

CREATE = "/channels/{channel_id}/messages"
EDIT = "/channels/{channel_id}/messages/{message_id}"
WRITES = (("POST", CREATE), ("PATCH", EDIT))
FOLLOWUP = "/webhooks/{app_id}/{token}"
FOLLOWUP_EDIT = FOLLOWUP + "/messages/{message_id}"
FOLLOWUP_WRITES = (("POST", FOLLOWUP), ("PATCH", FOLLOWUP_EDIT))
DISCORD_EVERY_S = (1.5, 4.0)
DATABASE_EVERY_S = (8.0, 20.0)
AGENTVERSE_EVERY_S = (10.0, 25.0)
RESTART_PAUSE_S = (1.0, 4.0)
FAULT_LIFETIME_S = 60.0
"""An injected Discord fault nobody hit by then is dropped."""
HANG_S = 22.0
"""Past the bot's 20 s REST read timeout (bot/app.py REST_READ_TIMEOUT_S)."""
SQLITE_BUSY_S = 12.0
"""Past the bot's 10 s SQLite busy timeout (bot/store/database.py)."""
BENCH_APPLICATION = "chaos-bench"
"""The bench's own PostgreSQL connections: never terminated by its own fault."""

DISCORD_KINDS = {
    "Discord 5xx on a write": 6,
    "Discord 503 from the proxy": 4,
    "Discord shared 429": 4,
    "Discord per-route 429": 4,
    "Discord write hangs past 20 s": 2,
    "Discord lost answer (message created)": 3,
    "Discord 5xx on a followup": 2,
    "Discord lost answer on a followup (message created)": 2,
    "gateway dropped (RESUME)": 2,
    "gateway RECONNECT (op 7)": 1,
}
AGENTVERSE_KINDS = {
    "Agentverse polls answer 5xx": 3,
    "Agentverse poll hangs": 2,
    "Agentverse poll malformed": 2,
    "Agentverse tokens expired": 2,
}


@dataclass(frozen=True)
class Event:
    """One injection: when (monotonic), what, and the thread it targeted (None: the whole bot)."""

    t: float
    kind: str
    detail: str = ""
    channel_id: int | None = None


@dataclass
class Timeline:
    events: list[Event] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    faults: list[tuple[str, Fault]] = field(default_factory=list)
    """Discord faults with their kind, to count the hits."""

    def add(self, kind: str, detail: str = "", channel_id: int | None = None, *, fault: bool = True) -> None:
        """Put an event on the timeline; `fault` ones are counted by kind for the report."""
        self.events.append(Event(time.monotonic(), kind, detail, channel_id))
        if fault:
            self.counts[kind] += 1

    def hits(self) -> Counter[str]:
        out: Counter[str] = Counter()
        for kind, fault in self.faults:
            out[kind] += fault.hits
        return out


def _pick(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


class DiscordChaos:
    """Faults on member threads' writes, and gateway drops."""

    def __init__(self, discord: DiscordEmulator, rng: random.Random, timeline: Timeline) -> None:
        self._discord = discord
        self._rng = rng
        self._timeline = timeline

    async def inject(self, threads: list[int]) -> None:
        if not threads:
            return
        kind = _pick(self._rng, DISCORD_KINDS)
        if kind == "gateway dropped (RESUME)":
            self._timeline.add(kind)
            await self._discord.disconnect_gateway(4000)
            return
        if kind == "gateway RECONNECT (op 7)":
            self._timeline.add(kind)
            await self._discord.request_reconnect()
            return
        rng = self._rng
        channel: int | None = rng.choice(threads)
        method, route = rng.choice(WRITES)
        if "followup" in kind:  # an interaction's followups (Retry's reply): any channel's
            channel = None
            method, route = ("POST", FOLLOWUP) if "lost answer" in kind else rng.choice(FOLLOWUP_WRITES)
        elif "lost answer" in kind:
            method, route = "POST", CREATE
        make: dict[str, Callable[[], Fault]] = {
            "Discord 5xx on a write": lambda: Fault.server_error(rng.choice((500, 502, 504)), times=rng.randint(1, 3)),
            "Discord 503 from the proxy": lambda: Fault.proxy_503(times=rng.randint(1, 3)),
            "Discord shared 429": lambda: Fault.shared_429(rng.uniform(0.2, 3.0), times=rng.randint(1, 2)),
            "Discord per-route 429": lambda: Fault.route_429(rng.uniform(0.2, 2.0), times=rng.randint(1, 2)),
            "Discord write hangs past 20 s": lambda: Fault.hang(HANG_S, times=1),
            "Discord lost answer (message created)": lambda: Fault.lost_answer(
                HANG_S if rng.random() < 0.5 else 0.2, status=rng.choice((None, 500)), times=1
            ),
            "Discord 5xx on a followup": lambda: Fault.server_error(rng.choice((500, 503)), times=rng.randint(1, 2)),
            "Discord lost answer on a followup (message created)": lambda: Fault.lost_answer(
                HANG_S if rng.random() < 0.5 else 0.2, status=rng.choice((None, 500)), times=1
            ),
        }
        until = time.monotonic() + FAULT_LIFETIME_S
        fault = dataclasses.replace(make[kind](), method=method, route=route, channel_id=channel, until=until)
        self._discord.inject_fault(fault)
        self._timeline.faults.append((kind, fault))
        self._timeline.add(kind, f"{fault.label} on {method} {route} in {channel or 'any channel'}", channel)
        self._discord.core.faults.prune()


class DatabaseChaos:
    """Connections killed and locks held on the bot's PostgreSQL database, or write locks on its SQLite file."""

    def __init__(self, url: str, rng: random.Random, timeline: Timeline) -> None:
        self._url = url
        self._rng = rng
        self._timeline = timeline
        self.sqlite = url.startswith("sqlite")

    async def inject(self) -> None:
        rng = self._rng
        if self.sqlite:
            past_busy = rng.random() < 0.25
            seconds = SQLITE_BUSY_S if past_busy else rng.uniform(2.0, 6.0)
            kind = "SQLite write lock held past the busy timeout" if past_busy else "SQLite write lock held 2-6 s"
            self._timeline.add(kind, f"{seconds:.1f} s")
            await self._hold_sqlite(seconds)
        elif rng.random() < 0.6:
            killed = await self._terminate()
            self._timeline.add("database connections killed", f"{killed} connection(s)")
        else:
            seconds = rng.uniform(2.0, 6.0)
            self._timeline.add("database table locked 2-6 s", f"{seconds:.1f} s")
            await self._lock_postgres(seconds)

    async def _connect(self) -> asyncpg.Connection:
        dsn = self._url.replace("postgresql+asyncpg://", "postgresql://")
        return await asyncpg.connect(dsn, timeout=5, server_settings={"application_name": BENCH_APPLICATION})

    async def _terminate(self) -> int:
        connection = await self._connect()
        try:
            killed = await connection.fetchval(
                "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                " AND application_name <> $1) AS terminated",
                BENCH_APPLICATION,
            )
        finally:
            await connection.close()
        return int(killed or 0)

    async def _lock_postgres(self, seconds: float) -> None:
        connection = await self._connect()
        try:
            async with connection.transaction():
                await connection.execute("SET LOCAL lock_timeout = '3s'")
                await connection.execute("LOCK TABLE transcript IN EXCLUSIVE MODE")
                await asyncio.sleep(seconds)
        except asyncpg.PostgresError as exc:
            self._timeline.add("database lock not taken", type(exc).__name__)
        finally:
            await connection.close()

    async def _hold_sqlite(self, seconds: float) -> None:
        path = Path(self._url.split("///", 1)[1])
        async with aiosqlite.connect(path, timeout=10, isolation_level=None) as connection:
            try:
                await connection.execute("BEGIN IMMEDIATE")
            except aiosqlite.OperationalError as exc:
                self._timeline.add("SQLite write lock not taken", str(exc))
                return
            await asyncio.sleep(seconds)
            await connection.execute("ROLLBACK")


class AgentverseChaos:
    """The engine's polls fail, hang or break, and its tokens expire (the bot refreshes them)."""

    def __init__(self, agentverse: AgentverseEmulator, rng: random.Random, timeline: Timeline) -> None:
        self._agentverse = agentverse
        self._rng = rng
        self._timeline = timeline

    def inject(self) -> None:
        kind = _pick(self._rng, AGENTVERSE_KINDS)
        engine = self._agentverse
        if kind == "Agentverse polls answer 5xx":
            engine.fail_status = self._rng.choice((500, 502, 503))
            engine.fail_polls += self._rng.randint(1, 3)
        elif kind == "Agentverse poll hangs":
            engine.hang_polls += 1
        elif kind == "Agentverse poll malformed":
            engine.malformed_polls += 1
        else:
            engine.expire_access_tokens()
        self._timeline.add(kind)


def plan_kills(rng: random.Random, count: int, duration_s: float) -> list[float]:
    """`count` moments (seconds into the run) for a `kill -9`, between a quarter and four fifths of the run, at
    least 20 s apart where the run is long enough."""
    if count <= 0:
        return []
    low, high = 0.25 * duration_s, 0.8 * duration_s
    span = (high - low) / count
    return [low + span * i + rng.uniform(0, span) for i in range(count)]


class Chaos:
    """Runs every injector until `until` (monotonic): Discord, the database, Agentverse and the planned kills."""

    def __init__(
        self,
        *,
        rng: random.Random,
        discord: DiscordChaos,
        database: DatabaseChaos,
        agentverse: AgentverseChaos | None,
        bot: BotProcesses,
        crowd: Crowd,
        threads: Callable[[], list[int]],
        timeline: Timeline,
    ) -> None:
        self._rng = rng
        self._discord = discord
        self._database = database
        self._agentverse = agentverse
        self._bot = bot
        self._crowd = crowd
        self._threads = threads
        self.timeline = timeline

    async def run(self, started: float, until: float, kills: list[float]) -> None:
        loops = [
            self._every(DISCORD_EVERY_S, until, lambda: self._discord.inject(self._threads())),
            self._every(DATABASE_EVERY_S, until, self._database.inject),
            self._kills(started, until, kills),
        ]
        if self._agentverse is not None:
            chaos = self._agentverse

            async def agentverse() -> None:
                chaos.inject()

            loops.append(self._every(AGENTVERSE_EVERY_S, until, agentverse))
        await asyncio.gather(*loops)

    async def _every(self, pause_s: tuple[float, float], until: float, inject: Callable[[], object]) -> None:
        while True:
            await asyncio.sleep(self._rng.uniform(*pause_s))
            if time.monotonic() >= until:
                return
            if self._crowd.bot_up.is_set():
                result = inject()
                if asyncio.iscoroutine(result):
                    await result

    async def _kills(self, started: float, until: float, kills: list[float]) -> None:
        for at in kills:
            await asyncio.sleep(max(0.0, started + at - time.monotonic()))
            if time.monotonic() >= until:
                return
            self._crowd.bot_up.clear()
            await self._bot.kill()
            self.timeline.add("bot process killed (kill -9)", f"process {len(self._bot.logs)}")
            await asyncio.sleep(self._rng.uniform(*RESTART_PAUSE_S))
            await self._bot.start()
            self.timeline.add("bot process restarted", f"process {len(self._bot.logs)}", fault=False)
            self._crowd.bot_up.set()


async def cancel_quietly(task: asyncio.Task[object]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
