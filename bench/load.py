"""Load benchmark (issue 13): many replies streaming at once through the real bot, on this machine.

    python -m bench.load [--streams 50,200,500] [--idle 1000] [--runs 1] [--quick]
                         [--database sqlite|postgres] [--profile] [--no-warm-up] [--stock-ablt] [--out DIR]

For each N in `--streams`, a fresh `python -m bot` subprocess (SQLite file by default, or a throwaway
PostgreSQL database) runs against the loopback Discord and aBLT emulators in this process. Once it is
connected (and, unless `--no-warm-up`, after a small unmeasured burst), N `/chat`s start at once, each
answered by aBLT with about 1,500 characters at 40 tokens/s (each stream's first token is a unique tag,
so threads are matched to streams by their text). When every reply is complete on screen:

- `/chat` acknowledgement (interaction created -> first callback at Discord), p50 / p99;
- staleness of the visible text behind the provider, per emitted token (as bench/stream.py), p50 / p99,
  next to the limit max(1.1 s, N / 45 s) (N replies sharing the bot's 45 requests/s, 1.1 s per channel);
- last token -> final text visible, p99; 429s Discord answered; replies that failed (a ⚠️ line instead of
  their text: counted, and left out of the other figures);
- event-loop lag inside the bot, from its own /metrics (bot/ops/loop_lag.py, HEALTH_PORT): the histogram's
  change over the burst, p50 / p99 estimated as PromQL's histogram_quantile does;
- the bot's CPU seconds per streamed reply (utime + stime from /proc over the burst, / the replies that did
  not fail) and its peak RSS (VmHWM:
  a fresh process per N, so the peak is this N's);
- in a second table: the bot's part of the acknowledgement (INTERACTION_CREATE written -> callback), the
  most aBLT streams in flight at once (the limit that applies to them), /chat -> aBLT request and -> first
  text, REST requests per reply, the bot's CPU in cores and its event-loop thread's share (/proc/<pid>/task);
- this process's own CPU and event-loop lag, and how late aBLT emitted each token against its schedule
  (start + k x 25 ms), so a bench that cannot keep up is seen rather than blamed on the bot (this process
  does not collect garbage during a burst: a full collection of the emulators' records stalled it 100-150 ms).

Then, with `--idle` C (0 skips it), a fresh bot opens C conversations that each take one short turn (in
batches of 50), waits a few seconds and reads its VmRSS (issue 13: goal under 150 MB at 1,000).

Where the streams go: 10 per channel, 10 channels per server (5 servers at 500). Real Discord answers a
burst of thread creations in one channel with long shared-scope 429s (a 219 s retry_after after rapid
`POST /channels/{id}/threads`, discord/discord-api-docs#7816), and a server holds at most 1,000 active
threads (JSON error 160006), so hundreds of simultaneous conversations are only realistic spread over many
channels and servers. The emulator's per-channel 5 / 5 s message bucket and the 50 / s global limit apply.

aBLT: by default a bench-only subclass of the test emulator (`PacedAblt`) that keeps each stream on its
schedule (token k due at start + (k + 1) x interval, not "sleep after each write", which drifts once the
loop is busy) and writes every due token from one timer instead of one sleeping task per stream. Serving
500 streams to a plain client, the stock emulator took 0.85 of a core and its last tokens came 2.2 s late;
this one 0.4 of a core and under 40 ms. Frames, validation and records are the emulator's own.
`--stock-ablt` uses the unchanged emulator.

`--profile` runs `py-spy record` (pip install -e '.[bench]') on the bot during each measured burst, writes
its collapsed stacks (open them with speedscope or flamegraph.pl) and prints where the bot's time went.
Logs, databases and profiles stay in `--out` (a new temporary folder by default), printed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import heapq
import itertools
import math
import os
import random
import re
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from bench.figures import histogram_quantile, percentile, table
from bench.stream import first_shown, visible_timeline
from bot.ops.loop_lag import LoopLagMonitor
from bot.replies.splitting import join_chunks
from tests.emulators.ablt import AbltEmulator, Emission, Reply
from tests.emulators.ablt.validation import json_bytes
from tests.emulators.discord import DiscordEmulator, InteractionRecord
from tests.support.databases import postgres_database
from tests.support.harness import ABLT_KEY, BOT_TOKEN, bot_environment, stop_process
from tests.support.journey import bot_posts, shown_reply

REPO = Path(__file__).resolve().parents[1]

TOKENS_PER_S = 40.0
REPLY_CHARS = 1500
STREAMS_PER_CHANNEL = 10
CHANNELS_PER_GUILD = 10
REST_RATE_PER_S = 45.0
"""The bot's share of Discord's 50 requests/s (REST_RATE_PER_S's default): N replies get an edit each every N / 45 s."""
CHANNEL_WRITE_INTERVAL_S = 1.1
"""bot/replies/pacing.py's steady spacing of a channel's edits (5 writes per 5 s, with margin)."""
TAG_CHARS = 6  # "S0007:"
WARM_UP_STREAMS = 5
IDLE_BATCH = 50
IDLE_SETTLE_S = 5.0
START_S = 60.0
START_ATTEMPTS = 3
START_RETRY_S = 20.0
LAG_METRIC = "bridgebot_event_loop_lag_seconds"
POLL_S = 0.25

PROSE = (
    "the answer depends on how much you earn and where you live so let us go through it step by step "
    "first check which income counts then subtract the allowances you can claim and keep every receipt "
    "because the office may ask for proof later most people pay less than they expect once deductions "
    "for work travel training equipment and donations are taken into account"
)
VOCABULARY = PROSE.split()


def limit_s(streams: int) -> float:
    """Issue 13's best possible staleness: every reply edited every max(1.1 s, N / 45 s)."""
    return max(CHANNEL_WRITE_INTERVAL_S, streams / REST_RATE_PER_S)


def reply_tokens(tag: str, chars: int = REPLY_CHARS, seed: int = 0) -> list[str]:
    """About `chars` characters of prose as word tokens (about 5.5 characters each), `tag` first; a paragraph
    break every 60 tokens, as a model writes them."""
    rng = random.Random(seed)
    tokens = [tag]
    length = len(tag)
    while length < chars:
        word = rng.choice(VOCABULARY)
        token = f"\n\n{word.capitalize()}" if len(tokens) % 60 == 0 else f" {word}"
        tokens.append(token)
        length += len(token)
    return tokens


# -- aBLT: the test emulator, kept on schedule with one timer ---------------------------------------------


@dataclass(eq=False)
class _Stream:
    """One streamed reply in PacedAblt's timer: its frames (bytes per token), what was sent, and the future its
    handler awaits (set when the last token is written, or to the ConnectionError that ended it)."""

    response: web.StreamResponse
    frames: list[bytes]
    tokens: list[str]
    index: int
    interval_s: float
    done: asyncio.Future[None]
    sent: int = 0
    text: str = ""


class PacedAblt(AbltEmulator):
    """The aBLT emulator with plain streamed replies written by one timer, each token at its scheduled time.

    Everything but the per-token loop is the emulator's (auth, validation, scripted replies, `requests`,
    `emitted`); replies with fault flags (split, bare, malformed, cut off, hanging) take the emulator's own
    path. Token k of a stream is due `(k + 1) x token_interval_s` after its first (empty) frame; the timer
    writes every due token, then sleeps until the next one is due (at least `TICK_S`). `started[i]` is when
    request i's first frame was written (time.monotonic()).
    """

    TICK_S = 0.002

    def __init__(self, api_key: str) -> None:
        super().__init__(api_key=api_key)
        self.started: dict[int, float] = {}
        self._due: list[tuple[float, int, _Stream]] = []
        self._order = itertools.count()
        self._ticker: asyncio.Task[None] | None = None

    async def close(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            await asyncio.gather(self._ticker, return_exceptions=True)
        await super().close()

    async def _stream(self, request: web.Request, reply: Reply, tokens: list[str], index: int) -> web.StreamResponse:
        faults = (reply.malformed_frame_after_tokens, reply.cut_off_after_tokens, reply.hang_after_tokens)
        if reply.bare_json or reply.split_frames or any(n is not None for n in faults):
            return await super()._stream(request, reply, tokens, index)
        key = "message" if reply.use_message_key else "content"
        loop = asyncio.get_running_loop()
        response = web.StreamResponse(status=200)
        response.content_type = "text/event-stream"
        response.charset = "utf-8"
        frames = [b"data: " + json_bytes({key: token}) + b"\n\n" for token in tokens]
        stream = _Stream(response, frames, tokens, index, reply.token_interval_s, loop.create_future())
        try:
            await response.prepare(request)
            await response.write(b"data: " + json_bytes({key: ""}) + b"\n\n")
            self.started[index] = time.monotonic()
            if tokens:
                self._schedule(loop.time() + stream.interval_s, stream)
                await stream.done
            await response.write(b"data: [DONE]\n\n")
        except ConnectionError:  # the client went away mid-stream
            self.requests[index].client_closed_at = time.monotonic()
        return response

    def _schedule(self, due: float, stream: _Stream) -> None:
        heapq.heappush(self._due, (due, next(self._order), stream))
        if self._ticker is None or self._ticker.done():
            self._ticker = asyncio.create_task(self._tick(), name="paced-ablt")

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        due = self._due
        while due:
            now = loop.time()
            while due and due[0][0] <= now:
                at, _, stream = heapq.heappop(due)
                if stream.done.done():  # the handler was cancelled (the client hung up)
                    continue
                try:
                    await stream.response.write(stream.frames[stream.sent])
                except ConnectionError as exc:
                    stream.done.set_exception(exc)
                    continue
                stream.text += stream.tokens[stream.sent]
                stream.sent += 1
                self.emitted.append(Emission(time.monotonic(), stream.text, stream.index))
                if stream.sent == len(stream.tokens):
                    stream.done.set_result(None)
                else:
                    heapq.heappush(due, (at + stream.interval_s, next(self._order), stream))
            if due:
                await asyncio.sleep(max(self.TICK_S, due[0][0] - loop.time()))


# -- the bot as a subprocess ------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads, the ended ones included), from /proc (Linux)."""
    return cpu_seconds_of(Path(f"/proc/{pid}/stat"))


def thread_cpu_seconds(pid: int) -> dict[int, float]:
    """utime + stime of each thread of a process, by thread id (the main thread's id is the pid)."""
    out: dict[int, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            out[int(task.name)] = cpu_seconds_of(task / "stat")
        except (FileNotFoundError, ProcessLookupError):  # the thread ended meanwhile
            continue
    return out


def cpu_seconds_of(stat: Path) -> float:
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory_mib(pid: int, name: str) -> float:
    """A /proc/<pid>/status memory line (`VmRSS`, `VmHWM`), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return int(line.split()[1]) / 1024
    raise KeyError(name)


Buckets = list[tuple[float, float]]
"""A Prometheus histogram's cumulative buckets: (upper bound in seconds, count), ascending, +Inf last."""


def lag_buckets(exposition: str) -> Buckets:
    """The event-loop lag histogram's buckets from a /metrics page."""
    for family in text_string_to_metric_families(exposition):
        if family.name == LAG_METRIC:
            found = [(float(s.labels["le"]), s.value) for s in family.samples if s.name.endswith("_bucket")]
            return sorted(found)
    raise KeyError(f"{LAG_METRIC} is not on /metrics")


class BotUnderTest:
    """`python -m bot` in `workdir` (its log there), aimed at the emulators, with /metrics on a free port."""

    def __init__(self, process: asyncio.subprocess.Process, log: Path, readies: int) -> None:
        self.process = process
        self.log = log
        self.readies = readies
        """The emulator's READY count before this process started."""
        self.metrics_url = ""

    @property
    def pid(self) -> int:
        return self.process.pid

    @classmethod
    async def launch(
        cls, discord: DiscordEmulator, ablt: AbltEmulator, database_url: str, workdir: Path
    ) -> BotUnderTest:
        env = {k: v for k, v in os.environ.items() if not k.isupper() or k in {"PATH", "HOME", "LANG"}}
        env |= bot_environment(discord, ablt, database_url)
        env |= {"HEALTH_PORT": "0", "PYTHONPATH": str(REPO), "LOG_LEVEL": "INFO"}
        log = workdir / "bot.log"
        readies = discord.ready_count
        with log.open("w") as out:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", cwd=workdir, env=env, stdout=out, stderr=out
            )
        return cls(process, log, readies)

    @classmethod
    async def start(
        cls, discord: DiscordEmulator, ablt: AbltEmulator, database_url: str, workdir: Path
    ) -> BotUnderTest:
        """Launch and wait until connected; a bot that exits or does not connect (a tree caught mid-change, say)
        is tried again after START_RETRY_S, START_ATTEMPTS times in all."""
        for attempt in range(1, START_ATTEMPTS + 1):
            bot = await cls.launch(discord, ablt, database_url, workdir)
            try:
                await bot.connected(discord)
            except RuntimeError as exc:
                await bot.stop()
                if attempt == START_ATTEMPTS:
                    raise
                last_line = str(exc).splitlines()[-1] if str(exc) else "no log"
                print(f"  the bot did not start ({last_line[:200]}); trying again in {START_RETRY_S:.0f} s")
                await asyncio.sleep(START_RETRY_S)
            else:
                return bot
        raise AssertionError("unreachable")

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    async def connected(self, discord: DiscordEmulator) -> None:
        """Wait until the gateway session is up, commands are registered, on_ready was logged and /metrics is
        served; the bot's log in the error if it exits or takes longer than START_S."""
        deadline = time.monotonic() + START_S
        while True:
            text = self.log_text()
            port = re.search(r"http://127\.0\.0\.1:(\d+)/healthz", text)
            if (
                port is not None
                and discord.ready_count > self.readies
                and discord.core.command_syncs > 0
                and "connected to Discord as" in text
            ):
                self.metrics_url = f"http://127.0.0.1:{port.group(1)}/metrics"
                return
            if self.process.returncode is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the bot did not connect; its log:\n{text[-4000:]}")
            await asyncio.sleep(0.2)

    async def lag(self, http: aiohttp.ClientSession) -> Buckets:
        async with http.get(self.metrics_url) as response:
            response.raise_for_status()
            return lag_buckets(await response.text())

    async def stop(self) -> None:
        await stop_process(self.process, grace_s=30)


class Profiler:
    """`py-spy record` on one process: collapsed stacks (raw format, no line numbers), CPU samples only."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._process: asyncio.subprocess.Process | None = None

    @staticmethod
    def executable() -> str:
        found = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        if not Path(found).exists():
            raise SystemExit("--profile needs py-spy: pip install -e '.[bench]'")
        return found

    async def start(self, pid: int) -> None:
        with self.path.with_suffix(".log").open("w") as out:
            self._process = await asyncio.create_subprocess_exec(
                self.executable(),
                "record",
                "--pid",
                str(pid),
                "--rate",
                "100",
                "--format",
                "raw",
                "--nolineno",
                "--nonblocking",
                "--output",
                str(self.path),
                stdout=out,
                stderr=out,
            )
        await asyncio.sleep(1.0)  # attached and sampling

    async def stop(self) -> None:
        if self._process is None or self._process.returncode is not None:
            return
        self._process.send_signal(signal.SIGINT)  # py-spy writes its file on Ctrl-C
        try:
            await asyncio.wait_for(self._process.wait(), 60)
        except TimeoutError:
            self._process.kill()
            await self._process.wait()


WAITING_LEAVES = {
    "EpollSelector.select (selectors.py)": "the event loop in epoll_wait (woken and waiting for a CPU, or in the call)",
    "_connection_worker_thread (aiosqlite/core.py)": "aiosqlite's worker thread (running SQLite, or woken and waiting)",
}
"""Leaf frames py-spy counts whenever the thread is runnable: on a busy 2-core machine that is also time spent
waiting for a CPU, so they are set apart from the Python work below (see the per-thread CPU from /proc)."""
ENTRY_FILES = ("bot/__main__.py", "bot/runner.py")
SUBSYSTEMS = (
    ("SQLite, in aiosqlite's worker thread", ("_connection_worker_thread (aiosqlite/",)),
    (
        "the store on the event loop (bot/store, SQLAlchemy, aiosqlite, its thread's wake-ups)",
        ("(bot/store/", "(sqlalchemy/", "(aiosqlite/", "_read_from_self"),
    ),
    (
        "Discord writes: rendering, pacing, discord.py REST",
        (
            "(bot/replies/streaming.py)",
            "(bot/replies/text_stream.py)",
            "(bot/replies/notice.py)",
            "(bot/replies/writes.py)",
            "(bot/replies/pacing.py)",
            "(discord/http.py)",
        ),
    ),
    ("the gateway (discord.py events)", ("(discord/gateway.py)", "(discord/shard.py)", "(discord/state.py)")),
    ("slash commands and cogs (/chat up to the turn)", ("(discord/app_commands/", "(cogs/")),
    (
        "provider streams (bot/core/turns.py, bot/providers: aiohttp reads, SSE)",
        ("(bot/core/turns.py)", "(bot/providers/"),
    ),
    ("socket reads the stacks above do not claim (asyncio, aiohttp)", ("_read_ready", "data_received")),
    ("the event loop in epoll_wait (woken and waiting for a CPU, or in the call)", ("EpollSelector.select",)),
)
"""What a sample's stack is doing, by the first of these whose frame markers it contains."""


def profile_summary(path: Path, top: int = 15) -> str:
    """Where the sampled process spent its time: the waiting leaves above, then by package (self time), the
    busiest functions (self time), and the bot's own functions by inclusive time. Percentages are of all
    samples (py-spy's non-idle samples: threads that were runnable)."""
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    areas: Counter[str] = Counter()
    waiting: Counter[str] = Counter()
    subsystems: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        frames = stack.split(";")
        total += samples
        subsystems[_subsystem(stack)] += samples
        if frames[-1] in WAITING_LEAVES:
            waiting[WAITING_LEAVES[frames[-1]]] += samples
            continue
        self_time[frames[-1]] += samples
        areas[_area(frames[-1])] += samples
        for frame in set(frames):
            if _area(frame) in ("bot", "cogs") and not frame.endswith(tuple(f"({f})" for f in ENTRY_FILES)):
                inclusive[frame] += samples
    if not total:
        return f"no samples in {path}"

    def rows(counter: Counter[str]) -> list[tuple[str, str]]:
        return [(f"{100 * n / total:.1f}%", name) for name, n in counter.most_common(top)]

    busy = total - sum(waiting.values())
    return "\n\n".join(
        [
            f"{total} samples at 100/s ({total / 100:.0f} s of runnable threads); {100 * busy / total:.0f}% in Python"
            " work below, the rest in:",
            table(("samples", "waiting leaf"), rows(waiting)),
            table(("samples", "by subsystem (the first that matches, in this order)"), rows(subsystems)),
            table(("self", "area (package of the running function)"), rows(areas)),
            table(("self", "function"), rows(self_time)),
            table(("inclusive", "the bot's own function"), rows(inclusive)),
        ]
    )


def _subsystem(stack: str) -> str:
    return next(
        (name for name, markers in SUBSYSTEMS if any(m in stack for m in markers)),
        "the rest: the event loop itself, aiohttp request writes, truncated stacks",
    )


def _area(frame: str) -> str:
    """`aiohttp` for `feed_data (aiohttp/streams.py)`; a top-level module's name for `select (selectors.py)`."""
    where = frame.rpartition("(")[2].rstrip(")")
    head = where.split("/", 1)[0]
    return head.removesuffix(".py") if head else where


# -- the world, bursts, figures ---------------------------------------------------------------------------


def channels_for(discord: DiscordEmulator, streams: int) -> list[int]:
    """Enough text channels for `streams` at STREAMS_PER_CHANNEL, CHANNELS_PER_GUILD per server (#general first)."""
    count = max(1, math.ceil(streams / STREAMS_PER_CHANNEL))
    channels: list[int] = []
    guild = discord.guild_id
    while len(channels) < count:
        if len(channels) % CHANNELS_PER_GUILD == 0:
            if channels:
                guild = discord.add_guild(f"Load {len(channels) // CHANNELS_PER_GUILD + 1}")
            channels.append(discord.general_channel(guild))
        else:
            channels.append(discord.add_text_channel(f"load-{len(channels)}", guild_id=guild))
    return channels


@dataclass
class Burst:
    """N /chats started at once and what they were answered with."""

    interactions: list[InteractionRecord]
    """In the order they were created."""
    failed: set[int]
    """Indexes (into `interactions`) of replies that ended with a ⚠️ failure line instead of their text."""
    started: float
    complete_at: float
    probe_acks: list[float] = field(default_factory=list)
    """Acknowledgements of single `/chat`s sent while the burst's replies stream (see `probe`)."""


PROBE_EVERY_S = 0.25
PROBE_UNTIL_LEFT = 0.2
"""Probing stops once fewer than this share of the burst's replies are still streaming."""


async def probe(
    discord: DiscordEmulator,
    ablt: AbltEmulator,
    channel: int,
    reached: int,
    pending: set[int],
    acks: list[float],
) -> None:
    """One `/chat` at a time every PROBE_EVERY_S, once aBLT has had `reached` requests, every stream of the
    burst's among them (so a probe's
    short scripted reply is the next aBLT hands out) and while most of them still stream: what a member who
    runs `/chat` while the bot is busiest waits for its acknowledgement."""
    streams = len(pending)
    while len(ablt.requests) < reached and pending:  # noqa: ASYNC110 - polling the emulator's records
        await asyncio.sleep(0.05)
    number = 0
    while len(pending) > PROBE_UNTIL_LEFT * streams:
        ablt.enqueue(Reply(tokens=[f"P{number:04d}:", " ok"], token_interval_s=0.0))
        interaction = await discord.run_slash_command(
            "chat", {"provider": "ablt", "prompt": f"Probe {number}"}, channel_id=channel
        )
        await interaction.wait_for_response(30.0)
        acks.append(interaction.callbacks[0].t - interaction.created_at)
        number += 1
        await asyncio.sleep(PROBE_EVERY_S)


async def burst(
    discord: DiscordEmulator,
    ablt: AbltEmulator,
    channels: Sequence[int],
    scripts: list[list[str]],
    interval_s: float,
    timeout_s: float,
    bot: BotUnderTest,
    probe_channel: int | None = None,
) -> Burst:
    """`/chat`s at once (stream i in channel i // STREAMS_PER_CHANNEL), each answered by one script; returns
    once every reply is complete on screen or has failed (a ⚠️ line from the bot in its thread)."""
    full = {"".join(script)[:TAG_CHARS]: "".join(script) for script in scripts}
    ablt.enqueue(*(Reply(tokens=script, token_interval_s=interval_s) for script in scripts))
    reached = len(ablt.requests) + len(scripts)
    started = time.monotonic()
    interactions = list(
        await asyncio.gather(
            *(
                discord.run_slash_command(
                    "chat",
                    {"provider": "ablt", "prompt": f"Question {i}: how much tax will I pay?"},
                    channel_id=channels[(i // STREAMS_PER_CHANNEL) % len(channels)],
                )
                for i in range(len(scripts))
            )
        )
    )
    pending = set(range(len(interactions)))
    failed: set[int] = set()
    probe_acks: list[float] = []
    prober = None
    if probe_channel is not None:
        prober = asyncio.create_task(probe(discord, ablt, probe_channel, reached, pending, probe_acks))
    while pending:
        threads = {t.starter_message_id: t.id for t in discord.threads}
        for i in list(pending):
            message = interactions[i].original_message
            thread = threads.get(message.id) if message is not None else None
            if thread is None:
                continue
            posts = bot_posts(discord, thread)
            text = join_chunks([m.content for m in posts])
            if full.get(text[:TAG_CHARS]) == text:
                pending.discard(i)
            elif any(m.content.startswith("⚠️") for m in posts):
                pending.discard(i)
                failed.add(i)
        if not pending:
            break
        if time.monotonic() > started + timeout_s or bot.process.returncode is not None:
            raise RuntimeError(_stuck(discord, interactions, pending, bot))
        await asyncio.sleep(POLL_S)
    complete_at = time.monotonic()
    if prober is not None:
        await prober
    return Burst(interactions, failed, started, complete_at, probe_acks)


def _stuck(
    discord: DiscordEmulator, interactions: list[InteractionRecord], pending: set[int], bot: BotUnderTest
) -> str:
    threads = {t.starter_message_id: t.id for t in discord.threads}
    example = interactions[min(pending)]
    message = example.original_message
    thread = threads.get(message.id) if message is not None else None
    shown = shown_reply(discord, thread)[-300:] if thread is not None else "(no thread)"
    return (
        f"{len(interactions) - len(pending)} of {len(interactions)} replies complete; one still pending shows"
        f" {shown!r} (acknowledged: {example.responded}); 429s so far {discord.rate_limit_hits};"
        f" the bot's log:\n{bot.log_text()[-4000:]}"
    )


@dataclass
class StreamFigures:
    """Per stream (or per token, for staleness and lateness), in seconds."""

    acks: list[float] = field(default_factory=list)
    probe_acks: list[float] = field(default_factory=list)
    """Single `/chat`s sent one at a time while the burst streams (`probe`)."""
    bot_acks: list[float] = field(default_factory=list)
    """The bot's part of each acknowledgement: INTERACTION_CREATE written to the gateway -> callback arrives."""
    staleness: list[float] = field(default_factory=list)
    final: list[float] = field(default_factory=list)
    """Last token emitted -> the whole reply visible."""
    to_request: list[float] = field(default_factory=list)
    """/chat -> its aBLT request arrives."""
    to_first_text: list[float] = field(default_factory=list)
    lateness: list[float] = field(default_factory=list)
    """Each token's emission behind its schedule (stream start + (k + 1) x interval)."""
    last_lateness: list[float] = field(default_factory=list)
    tokens: int = 0
    failed: int = 0
    """Replies that ended with a ⚠️ line instead of their text (left out of every figure above but acks)."""
    peak_streams: int = 0
    """The most aBLT streams in flight at once (first frame -> last token)."""


def measure(discord: DiscordEmulator, ablt: AbltEmulator, done: Burst, interval_s: float) -> StreamFigures:
    """Each /chat's figures, its thread matched to its aBLT stream by the stream's tag."""
    emitted: dict[int, list[Emission]] = {}
    for emission in ablt.emitted:
        emitted.setdefault(emission.request_index, []).append(emission)
    by_tag = {emissions[0].text[:TAG_CHARS]: (index, emissions) for index, emissions in emitted.items()}
    threads = {t.starter_message_id: t.id for t in discord.threads}
    started = ablt.started if isinstance(ablt, PacedAblt) else {}
    out = StreamFigures(failed=len(done.failed))
    out.acks = [i.callbacks[0].t - i.created_at for i in done.interactions if i.callbacks]
    out.probe_acks = done.probe_acks
    out.bot_acks = in_the_bot(discord, done)
    spans: list[tuple[float, int]] = []
    for number, interaction in enumerate(done.interactions):
        if number in done.failed:
            continue
        assert interaction.original_message is not None
        timeline = visible_timeline(bot_posts(discord, threads[interaction.original_message.id]))
        index, emissions = by_tag[timeline[-1][1][:TAG_CHARS]]
        shown = [first_shown(timeline, e.text) for e in emissions]
        spans += [(started.get(index, ablt.requests[index].received_at), 1), (emissions[-1].t, -1)]
        out.staleness += [t - e.t for t, e in zip(shown, emissions, strict=True)]
        out.final.append(shown[-1] - emissions[-1].t)
        received = ablt.requests[index].received_at
        out.to_request.append(received - interaction.created_at)
        out.to_first_text.append(timeline[0][0] - interaction.created_at)
        start = started.get(index, received)
        late = [e.t - (start + (k + 1) * interval_s) for k, e in enumerate(emissions)]
        out.lateness += late
        out.last_lateness.append(late[-1])
        out.tokens += len(emissions)
    out.peak_streams = max(itertools.accumulate(change for _, change in sorted(spans)), default=0)
    return out


def in_the_bot(discord: DiscordEmulator, done: Burst) -> list[float]:
    """Per /chat, INTERACTION_CREATE written to the (one) gateway connection -> the callback arriving: the
    bot's share of the acknowledgement. The burst's events go out in the order the interactions were made."""
    written = [e.t for e in discord.gateway_events if e.event == "INTERACTION_CREATE" and e.t >= done.started]
    written = written[: len(done.interactions)]  # the probes' come later
    if len(written) != len(done.interactions):
        return []  # a reconnect or a stray interaction: no one-to-one match
    return [i.callbacks[0].t - t for i, t in zip(done.interactions, written, strict=True) if i.callbacks]


@dataclass
class StreamResult:
    streams: int
    run: int
    figures: StreamFigures
    duration_s: float
    rate_limited: int
    rate_limited_routes: dict[str, int]
    rate_limited_scopes: dict[str, int]
    requests: int
    lag_p50_s: float
    lag_p99_s: float
    lag_max_bound_s: float
    lag_samples: int
    bot_cpu_s: float
    bot_loop_thread_cpu_s: float
    """The main thread's share of `bot_cpu_s`: the event loop (the rest: aiosqlite's and other threads)."""
    bot_peak_rss_mib: float
    bench_cpu_s: float
    bench_lag: list[float]
    profile: Path | None
    emulator_errors: int


def lag_figures(before: Buckets, after: Buckets) -> tuple[float, float, float, int]:
    """p50, p99 (seconds), the upper bound of the highest bucket that moved, and the sample count, of the lag
    samples taken between two scrapes."""
    delta = [(le, a - b) for (le, a), (_, b) in zip(after, before, strict=True)]
    counts = [(le, count - below) for (le, count), (_, below) in zip(delta, [(0.0, 0.0), *delta[:-1]], strict=True)]
    moved = [le for le, count in counts if count > 0]
    return (
        histogram_quantile(0.5, delta),
        histogram_quantile(0.99, delta),
        moved[-1] if moved else float("nan"),
        int(delta[-1][1]),
    )


@asynccontextmanager
async def database(kind: str, workdir: Path) -> AsyncIterator[str]:
    """The bot's DATABASE_URL: a SQLite file in `workdir`, or a throwaway PostgreSQL database (dropped after)."""
    if kind == "postgres":
        async with postgres_database() as url:
            yield url
    else:
        yield f"sqlite:///{workdir / 'bot.sqlite3'}"


@asynccontextmanager
async def emulators(stock_ablt: bool) -> AsyncIterator[tuple[DiscordEmulator, AbltEmulator]]:
    discord = DiscordEmulator(token=BOT_TOKEN)
    ablt = AbltEmulator(api_key=ABLT_KEY) if stock_ablt else PacedAblt(api_key=ABLT_KEY)
    await discord.start()
    await ablt.start()
    try:
        yield discord, ablt
    finally:
        await ablt.close()
        await discord.close()


@dataclass(frozen=True)
class Options:
    database: str
    warm_up: bool
    stock_ablt: bool
    profile: bool
    out: Path


async def run_streams(streams: int, run: int, options: Options) -> StreamResult:
    """One measured burst of `streams` replies against a fresh bot process."""
    options.out.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix=f"streams-{streams}-run{run}-", dir=options.out))
    interval_s = 1 / TOKENS_PER_S
    async with emulators(options.stock_ablt) as (discord, ablt), database(options.database, workdir) as url:
        channels = channels_for(discord, streams)
        warm_channel = discord.add_text_channel("warm-up", guild_id=discord.guild_id)
        probe_channel = discord.add_text_channel("probes", guild_id=discord.guild_id)
        bot = await BotUnderTest.start(discord, ablt, url, workdir)
        profiler = Profiler(workdir / "profile.txt") if options.profile else None
        try:
            await asyncio.sleep(1.0)  # start-up work (recovery, the first metrics) settles
            timeout_s = 90 + 0.6 * streams
            if options.warm_up:  # short replies in a channel of their own: code paths, pools and caches warm
                warm = [[f"W{i:04d}:", " ok"] for i in range(WARM_UP_STREAMS)]
                await burst(discord, ablt, [warm_channel], warm, 0.0, timeout_s, bot)
                await asyncio.sleep(2.0)
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
                lag_before = await bot.lag(http)
                if profiler is not None:
                    await profiler.start(bot.pid)
                requests, limited = len(discord.requests), discord.rate_limit_hits
                routes_before = discord.rate_limit_hits_by_route
                cpu_before, bench_before = cpu_seconds(bot.pid), time.process_time()
                loop_before = thread_cpu_seconds(bot.pid)[bot.pid]
                bench_lag: list[float] = []
                monitor = LoopLagMonitor(bench_lag.append)
                monitor.start()
                scripts = [reply_tokens(f"S{i:04d}:", seed=i) for i in range(streams)]
                # The emulators' records grow to millions of objects: a full collection here stalls this loop
                # for 100-150 ms at 500 streams, so collections wait until the burst is over.
                gc.disable()
                try:
                    done = await burst(discord, ablt, channels, scripts, interval_s, timeout_s, bot, probe_channel)
                finally:
                    gc.enable()
                    monitor.stop()
                bot_cpu = cpu_seconds(bot.pid) - cpu_before
                loop_cpu = thread_cpu_seconds(bot.pid)[bot.pid] - loop_before
                bench_cpu = time.process_time() - bench_before
                peak = memory_mib(bot.pid, "VmHWM")
                lag_after = await bot.lag(http)
                if profiler is not None:
                    await profiler.stop()
        finally:
            if profiler is not None:
                await profiler.stop()
            await bot.stop()
        figures = measure(discord, ablt, done, interval_s)
        routes = Counter(discord.rate_limit_hits_by_route)
        routes.subtract(routes_before)
        lag_p50, lag_p99, lag_max, lag_samples = lag_figures(lag_before, lag_after)
        return StreamResult(
            streams=streams,
            run=run,
            figures=figures,
            duration_s=done.complete_at - done.started,
            rate_limited=discord.rate_limit_hits - limited,
            rate_limited_routes={route: n for route, n in routes.items() if n},
            rate_limited_scopes=dict(Counter(r.rate_limited for r in discord.requests[requests:] if r.rate_limited)),
            requests=len(discord.requests) - requests,
            lag_p50_s=lag_p50,
            lag_p99_s=lag_p99,
            lag_max_bound_s=lag_max,
            lag_samples=lag_samples,
            bot_cpu_s=bot_cpu,
            bot_loop_thread_cpu_s=loop_cpu,
            bot_peak_rss_mib=peak,
            bench_cpu_s=bench_cpu,
            bench_lag=bench_lag,
            profile=profiler.path if profiler is not None else None,
            emulator_errors=len(discord.internal_errors),
        )


@dataclass
class IdleResult:
    conversations: int
    rss_before_mib: float
    rss_after_mib: float
    peak_mib: float
    duration_s: float
    bot_cpu_s: float
    failed: int


async def run_idle(conversations: int, options: Options) -> IdleResult:
    """A fresh bot opens `conversations` conversations (one short turn each, IDLE_BATCH at a time); its RSS
    before and IDLE_SETTLE_S after."""
    options.out.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix=f"idle-{conversations}-", dir=options.out))
    async with emulators(options.stock_ablt) as (discord, ablt), database(options.database, workdir) as url:
        channels = channels_for(discord, conversations)
        bot = await BotUnderTest.start(discord, ablt, url, workdir)
        try:
            await asyncio.sleep(2.0)
            rss_before = memory_mib(bot.pid, "VmRSS")
            cpu_before = cpu_seconds(bot.pid)
            started = time.monotonic()
            failed = 0
            for first in range(0, conversations, IDLE_BATCH):
                count = min(IDLE_BATCH, conversations - first)
                # Batch b uses channels b*5 ..: 10 conversations per channel over the whole run.
                batch_channels = channels[first // STREAMS_PER_CHANNEL :]
                scripts = [[f"I{first + i:04d}:", " Noted,", " thanks."] for i in range(count)]
                failed += len((await burst(discord, ablt, batch_channels, scripts, 0.0, 120.0, bot)).failed)
            duration = time.monotonic() - started
            await asyncio.sleep(IDLE_SETTLE_S)
            return IdleResult(
                conversations=conversations,
                rss_before_mib=rss_before,
                rss_after_mib=memory_mib(bot.pid, "VmRSS"),
                peak_mib=memory_mib(bot.pid, "VmHWM"),
                duration_s=duration,
                bot_cpu_s=cpu_seconds(bot.pid) - cpu_before,
                failed=failed,
            )
        finally:
            await bot.stop()


# -- report -----------------------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return "n/a" if math.isnan(seconds) else f"{seconds * 1000:,.0f}"


def p50_p99(values: Sequence[float]) -> str:
    """`p50 / p99` in milliseconds."""
    return f"{ms(percentile(values, 50))} / {ms(percentile(values, 99))}"


def main_table(results: Sequence[StreamResult]) -> str:
    rows = []
    for r in results:
        f = r.figures
        stale_p99 = percentile(f.staleness, 99)
        over = stale_p99 - limit_s(r.streams)
        rows.append(
            (
                _label(r, results),
                p50_p99(f.acks),
                f"{p50_p99(f.probe_acks)} ({len(f.probe_acks)})" if f.probe_acks else "n/a",
                p50_p99(f.staleness),
                ms(limit_s(r.streams)),
                f"{over * 1000:+,.0f}",
                ms(percentile(f.final, 99)),
                f"{r.rate_limited}",
                f"{f.failed}",
                f"{ms(r.lag_p50_s)} / {ms(r.lag_p99_s)}",
                f"{r.bot_cpu_s / max(1, r.streams - f.failed):.3f}",
                f"{r.bot_peak_rss_mib:.0f}",
            )
        )
    return table(
        (
            "streams",
            "/chat ack p50 / p99 (ms), all N at once",
            "/chat ack p50 / p99 (ms) while they stream (probes)",
            "staleness p50 / p99 (ms)",
            "limit (ms)",
            "p99 - limit (ms)",
            "last token → final p99 (ms)",
            "429s",
            "failed",
            "loop lag p50 / p99 (ms)",
            "CPU s / reply",
            "peak RSS (MiB)",
        ),
        rows,
    )


def detail_table(results: Sequence[StreamResult]) -> str:
    rows = []
    for r in results:
        f = r.figures
        wall = r.duration_s
        rows.append(
            (
                _label(r, results),
                p50_p99(f.bot_acks),
                f"{f.peak_streams} ({ms(limit_s(f.peak_streams))})",
                p50_p99(f.to_request),
                p50_p99(f.to_first_text),
                f"{wall:.1f}",
                f"{r.requests} ({r.requests / r.streams:.1f})",
                f"{r.bot_cpu_s:.1f} ({r.bot_cpu_s / wall:.2f}) / {r.bot_loop_thread_cpu_s:.1f}",
                f"{r.lag_samples} / ≤ {ms(r.lag_max_bound_s)}",
                f"{r.bench_cpu_s:.1f} ({r.bench_cpu_s / wall:.2f})",
                f"{ms(percentile(r.bench_lag, 99))} / {ms(max(r.bench_lag, default=float('nan')))}",
                f"{ms(percentile(f.lateness, 50))} / {ms(percentile(f.lateness, 99))} / {ms(max(f.lateness))}",
                f"{ms(percentile(f.last_lateness, 99))}",
                f"{f.tokens:,}",
            )
        )
    return table(
        (
            "streams",
            "ack in the bot p50 / p99 (ms)",
            "peak aBLT streams at once (their limit, ms)",
            "/chat → aBLT request p50 / p99 (ms)",
            "/chat → first text p50 / p99 (ms)",
            "burst (s)",
            "REST requests (per reply)",
            "bot CPU s (cores) / loop thread s",
            "bot lag samples / max (ms)",
            "bench CPU s (cores)",
            "bench loop lag p99 / max (ms)",
            "aBLT token lateness p50 / p99 / max (ms)",
            "last token lateness p99 (ms)",
            "tokens",
        ),
        rows,
    )


def _label(result: StreamResult, results: Sequence[StreamResult]) -> str:
    runs = sum(1 for r in results if r.streams == result.streams)
    return f"{result.streams}" if runs == 1 else f"{result.streams} #{result.run}"


def idle_table(result: IdleResult) -> str:
    grown = result.rss_after_mib - result.rss_before_mib
    return table(
        (
            "open idle conversations",
            "RSS before (MiB)",
            f"RSS {IDLE_SETTLE_S:.0f} s after (MiB)",
            "per conversation (KiB)",
            "peak RSS (MiB)",
            "opening them (s)",
            "bot CPU (s)",
            "failed",
        ),
        [
            (
                f"{result.conversations:,}",
                f"{result.rss_before_mib:.1f}",
                f"{result.rss_after_mib:.1f}",
                f"{grown * 1024 / result.conversations:.1f}",
                f"{result.peak_mib:.1f}",
                f"{result.duration_s:.1f}",
                f"{result.bot_cpu_s:.1f}",
                f"{result.failed}",
            )
        ],
    )


def describe_machine() -> str:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        "unknown CPU",
    )
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{os.cpu_count()} CPUs ({model}); load average {load}; Python {sys.version.split()[0]}"


async def main(streams: list[int], runs: int, idle: int, options: Options) -> None:
    sample = "".join(reply_tokens("S0000:"))
    print(describe_machine())
    print(
        f"streams {', '.join(map(str, streams))} ({runs} run(s) each): each reply about {len(reply_tokens('S0000:'))}"
        f" tokens, {len(sample):,} characters, at {TOKENS_PER_S:g} tokens/s; {STREAMS_PER_CHANNEL} streams per channel,"
        f" {CHANNELS_PER_GUILD} channels per server; database {options.database};"
        f" aBLT {'stock emulator' if options.stock_ablt else 'PacedAblt'};"
        f" warm-up {'on' if options.warm_up else 'off'};"
        f" output in {options.out}"
    )
    results: list[StreamResult] = []
    for n in streams:
        for run in range(1, runs + 1):
            began = time.monotonic()
            result = await run_streams(n, run, options)
            results.append(result)
            routes = (
                f"; 429s by scope {result.rate_limited_scopes}, by route {result.rate_limited_routes}"
                if result.rate_limited
                else ""
            )
            failed = f"; {result.figures.failed} replies FAILED (see the bot's log)" if result.figures.failed else ""
            errors = f"; emulator errors {result.emulator_errors}" if result.emulator_errors else ""
            took = time.monotonic() - began
            print(f"  {n} streams, run {run}: done in {took:.0f} s{failed}{routes}{errors}", flush=True)
            if result.profile is not None:
                print(f"\nProfile of the bot at {n} streams ({result.profile}):\n")
                print(profile_summary(result.profile))
                print()
    if results:
        print("\nLimit = max(1.1 s, N / 45 s); lag and CPU are the bot process's own over the burst.\n")
        print(main_table(results))
        print("\nThe bench side (this process runs both emulators), and how the time to first text splits:\n")
        print(detail_table(results))
    if idle:
        began = time.monotonic()
        idle_result = await run_idle(idle, options)
        print(f"\n  idle: done in {time.monotonic() - began:.0f} s\n")
        print(idle_table(idle_result))
    print(f"\nLogs, databases and profiles: {options.out}")


def parse_streams(text: str) -> list[int]:
    values = [int(part) for part in text.split(",") if part.strip()]
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError("a comma-separated list of positive stream counts, e.g. 50,200,500")
    return values


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", type=parse_streams, default=[50, 200, 500], help="comma-separated (50,200,500)")
    parser.add_argument("--idle", type=int, default=1000, help="idle conversations to open (0 skips)")
    parser.add_argument("--runs", type=int, default=1, help="measured bursts per stream count")
    parser.add_argument("--quick", action="store_true", help="20 streams and 100 idle conversations")
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--profile", action="store_true", help="py-spy the bot during each measured burst")
    parser.add_argument("--no-warm-up", dest="warm_up", action="store_false", help="measure a cold bot")
    parser.add_argument("--stock-ablt", action="store_true", help="the tests' aBLT emulator, unchanged")
    parser.add_argument("--out", type=Path, default=None, help="where logs, databases and profiles go")
    args = parser.parse_args()
    if args.quick:
        args.streams, args.idle = [20], 100
    out = args.out or Path(tempfile.mkdtemp(prefix="bench-load-"))
    opts = Options(args.database, args.warm_up, args.stock_ablt, args.profile, out)
    asyncio.run(main(args.streams, args.runs, args.idle, opts))
