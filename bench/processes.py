"""Processes benchmark: many streams at once over three servers, served by one process or by three.

    python -m bench.processes [--streams 50] [--tokens 60] [--rate 40]

Discord (the loopback emulator) has three servers, one on each shard of 3; one PostgreSQL database
(created for each set-up, dropped after). Two set-ups of `python -m bot` subprocesses, as in
tests/process/test_shard_processes.py (logs to files, terminated at the end):

- `one`: 1 process running all three shards (SHARD_COUNT=3, no SHARD_IDS, REST_RATE_PER_S=45);
- `split`: 3 processes, one shard each (SHARD_IDS=k, REST_RATE_PER_S=15): the budget split in fixed shares;
- `shared`: the same 3 processes sharing one window of 40 requests/s on Redis (REST_RATE_REDIS_URL, the
  machine's Redis at `--redis`), each keeping 15/s should Redis not answer.

`--setups` picks some (default all three); `--busy-one` sends every stream to the first server, so one process is
busy and the others idle (what a fixed split wastes).

Once every shard is connected, `--streams` `/chat`s start at once, spread evenly over the three servers'
#general channels (or all on the first, with `--busy-one`); aBLT answers each with `--tokens` tokens at `--rate`
tokens/s. aBLT hands its scripted replies out in request order, so each stream's first token is a unique tag and
streams are matched to threads by their text. Per set-up: the `/chat` acknowledgement (interaction created ->
first callback) and the bot's part of it, the staleness of the visible text behind the provider (per emitted
token, as bench/stream.py), how long a `/chat` takes to reach aBLT and to show its first words, the 429s the
emulator answered, the total duration (first `/chat` -> last reply complete on screen) and the CPU time the bot
processes and this process (both emulators) used meanwhile. With `--warm-up` the same burst (with two-token
replies) runs once unmeasured first, so the database pools are open and Python is warm. Also printed: the global
429s, and the requests counted against the global limit in each second the streams ran (the median second and
the busiest), which is what a busy process gets of the bot's 45 per second.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.figures import p50_p99_ms, table
from bench.stream import first_shown, visible_timeline
from bot.replies.shared_rate import SHARED_REQUESTS_PER_S, SharedRate, bot_key
from tests.emulators.ablt import AbltEmulator, Emission, Reply
from tests.emulators.discord import DiscordEmulator, InteractionRecord
from tests.support.databases import postgres_database
from tests.support.harness import ABLT_KEY, BOT_TOKEN, bot_environment, stop_process
from tests.support.journey import bot_posts, shown_reply

REPO = Path(__file__).resolve().parents[1]
SHARDS = 3
START_S = 90.0
"""Starting Python and three IDENTIFYs 5 s apart (Discord's max_concurrency 1)."""
STREAMS_S = 150.0
TAG_CHARS = 6  # "S0007:"


@dataclass(frozen=True)
class Setup:
    name: str
    processes: tuple[tuple[str | None, float], ...]
    """(SHARD_IDS or None for every shard, REST_RATE_PER_S) per process."""
    shared: bool = False
    """The processes share one window on Redis (REST_RATE_REDIS_URL)."""


THREE = (("0", 15.0), ("1", 15.0), ("2", 15.0))
SETUPS = {
    "one": Setup("1 process, 3 shards", ((None, 45.0),)),
    "split": Setup("3 processes, fixed 15/s each", THREE),
    "shared": Setup("3 processes, shared on Redis", THREE, shared=True),
}
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
GLOBAL_EXEMPT = ("/interactions/", "/webhooks/")
"""Interaction callbacks and followups do not count against the global limit (rate-limits.md)."""


@dataclass
class Streams:
    """Per stream (or per token, for staleness), in seconds."""

    acks: list[float] = field(default_factory=list)
    bot_acks: list[float] = field(default_factory=list)
    to_request: list[float] = field(default_factory=list)
    to_first_text: list[float] = field(default_factory=list)
    first_text: list[float] = field(default_factory=list)
    staleness: list[float] = field(default_factory=list)
    last_shown: float = 0.0


@dataclass
class Result:
    setup: str
    streams: Streams
    rate_limited: int
    rate_limited_scopes: dict[str | None, int]
    requests: int
    per_second: list[int]
    """Requests counted against the global limit in each whole second the streams ran."""
    duration_s: float
    bot_cpu_s: float
    bench_cpu_s: float
    emulator_errors: int


def tokens_for(stream: int, count: int) -> list[str]:
    """`count` tokens starting with the stream's unique tag: "S0007:", " w1", " w2"..."""
    return [f"S{stream:04d}:"] + [f" w{k}" for k in range(1, count)]


async def launch(
    discord: DiscordEmulator,
    ablt: AbltEmulator,
    url: str,
    shard_ids: str | None,
    rate: float,
    workdir: Path,
    redis: str | None = None,
) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if not k.isupper() or k in {"PATH", "HOME", "LANG"}}
    env |= bot_environment(discord, ablt, url)
    env |= {"SHARD_COUNT": str(SHARDS), "REST_RATE_PER_S": f"{rate:g}", "PYTHONPATH": str(REPO), "LOG_LEVEL": "INFO"}
    if redis is not None:
        env["REST_RATE_REDIS_URL"] = redis
    if shard_ids is not None:
        env["SHARD_IDS"] = shard_ids
    with (workdir / f"bot-{shard_ids or 'all'}.log").open("a") as log:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", cwd=workdir, env=env, stdout=log, stderr=log
        )


async def stop(processes: list[asyncio.subprocess.Process]) -> None:
    await asyncio.gather(*(stop_process(process) for process in processes))


def logs(workdir: Path) -> str:
    return "".join(path.read_text(errors="replace") for path in sorted(workdir.glob("bot-*.log")))


async def all_connected(discord: DiscordEmulator, processes: list[asyncio.subprocess.Process], workdir: Path) -> None:
    """Every shard has a gateway session, commands are registered, and every process logged that it is ready."""

    def ready() -> bool:
        live = discord.sessions_by_shard
        shards = all(live.get((shard, SHARDS)) for shard in range(SHARDS))
        return (
            shards
            and discord.core.command_syncs > 0
            and logs(workdir).count("connected to Discord as") >= len(processes)
        )

    deadline = time.monotonic() + START_S
    while not ready():
        if time.monotonic() > deadline or any(p.returncode is not None for p in processes):
            raise RuntimeError(f"the bot did not connect; its logs:\n{logs(workdir)[-4000:]}")
        await asyncio.sleep(0.2)


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def complete(discord: DiscordEmulator, interactions: list[InteractionRecord], full: dict[str, str]) -> int:
    """How many /chats have their whole reply visible in their thread."""
    starters = {i.original_message.id for i in interactions if i.original_message is not None}
    done = 0
    for thread in discord.threads:
        if thread.starter_message_id not in starters:
            continue
        text = shown_reply(discord, thread.id)
        done += full.get(text[:TAG_CHARS]) == text
    return done


def in_the_bot(discord: DiscordEmulator, interactions: list[InteractionRecord], guilds: list[int]) -> list[float]:
    """Per /chat, the bot's share of its acknowledgement: INTERACTION_CREATE written to the shard's gateway
    connection -> the callback request arriving at Discord (the rest is the emulator's own time)."""
    written: defaultdict[str, list[float]] = defaultdict(list)
    for record in discord.gateway_events:
        if record.event == "INTERACTION_CREATE" and record.session_id is not None:
            written[record.session_id].append(record.t)
    callbacks = {r.path.split("/")[2]: r.t for r in discord.requests if r.path.endswith("/callback")}
    shares = []
    for shard, guild_id in enumerate(guilds):
        sessions = discord.sessions_by_shard.get((shard, SHARDS), [])
        mine = [i for i in interactions if i.guild_id == guild_id]
        if len(sessions) != 1 or len(written[sessions[0]]) < len(mine):
            continue  # a reconnect: no one-to-one match
        for interaction, t in zip(mine, written[sessions[0]][-len(mine) :], strict=True):
            if str(interaction.id) in callbacks:
                shares.append(callbacks[str(interaction.id)] - t)
    return shares


def measure(discord: DiscordEmulator, ablt: AbltEmulator, interactions: list[InteractionRecord]) -> Streams:
    """Each /chat's figures, its thread matched to its aBLT stream by the stream's tag."""
    emitted: defaultdict[int, list[Emission]] = defaultdict(list)
    for emission in ablt.emitted:
        emitted[emission.request_index].append(emission)
    by_tag = {emissions[0].text[:TAG_CHARS]: emissions for emissions in emitted.values()}
    threads = {t.starter_message_id: t for t in discord.threads}
    out = Streams()
    for interaction in interactions:
        assert interaction.original_message is not None
        timeline = visible_timeline(bot_posts(discord, threads[interaction.original_message.id].id))
        emissions = by_tag[timeline[-1][1][:TAG_CHARS]]
        shown = [first_shown(timeline, e.text) for e in emissions]
        out.acks.append(interaction.callbacks[0].t - interaction.created_at)
        out.to_request.append(ablt.requests[emissions[0].request_index].received_at - interaction.created_at)
        out.to_first_text.append(timeline[0][0] - interaction.created_at)
        out.first_text.append(timeline[0][0] - emissions[0].t)
        out.staleness += [t - e.t for t, e in zip(shown, emissions, strict=True)]
        out.last_shown = max(out.last_shown, shown[-1])
    return out


def per_second(discord: DiscordEmulator, since: int, started: float, ended: float) -> list[int]:
    """Requests counted against the global limit in each whole second from `started` to `ended`."""
    counted = [r.t for r in discord.requests[since:] if not any(part in r.path for part in GLOBAL_EXEMPT)]
    seconds = max(1, int(ended - started))
    return [sum(1 for t in counted if started + k <= t < started + k + 1) for k in range(seconds)]


async def burst(
    discord: DiscordEmulator, ablt: AbltEmulator, general: list[int], scripts: list[list[str]], rate: float
) -> list[InteractionRecord]:
    """`/chat`s at once, spread evenly over the servers, each answered by one script; returns once all are shown."""
    full = {script[0]: "".join(script) for script in scripts}
    ablt.enqueue(*(Reply(tokens=script, token_interval_s=1 / rate) for script in scripts))
    started = time.monotonic()
    interactions = await asyncio.gather(
        *(
            discord.run_slash_command(
                "chat", {"provider": "ablt", "prompt": f"Stream {i}"}, channel_id=general[i % len(general)]
            )
            for i in range(len(scripts))
        )
    )
    while (done := complete(discord, interactions, full)) < len(scripts):
        if time.monotonic() > started + STREAMS_S:
            raise RuntimeError(f"{done} of {len(scripts)} replies complete")
        await asyncio.sleep(0.1)
    return interactions


async def run_setup(
    setup: Setup, streams: int, tokens: int, rate: float, warm_up: bool, workdir: Path, *, busy_one: bool, redis: str
) -> Result:
    discord = DiscordEmulator(token=BOT_TOKEN, recommended_shards=SHARDS, max_concurrency=1)
    ablt = AbltEmulator(api_key=ABLT_KEY)
    await discord.start()
    await ablt.start()
    guilds = [discord.add_guild(f"Shard {k}", shard=k, shard_count=SHARDS) for k in range(SHARDS)]
    general = [discord.general_channel(guild_id) for guild_id in guilds]
    targets = general[:1] if busy_one else general
    if setup.shared:
        window = SharedRate(redis, SHARED_REQUESTS_PER_S, key=bot_key(BOT_TOKEN))
        await window.clear()
        window.close()
    processes: list[asyncio.subprocess.Process] = []
    try:
        async with postgres_database() as url:
            try:
                shared = redis if setup.shared else None
                for shard_ids, rest_rate in setup.processes:
                    processes.append(await launch(discord, ablt, url, shard_ids, rest_rate, workdir, shared))
                await all_connected(discord, processes, workdir)
                await asyncio.sleep(1.0)  # let start-up work (recovery, metrics) settle
                if warm_up:  # the same burst, unmeasured, with short replies: pools and caches are warm after it
                    await burst(discord, ablt, targets, [tokens_for(1000 + i, 2) for i in range(streams)], rate)
                    await asyncio.sleep(2.0)
                requests, limited = len(discord.requests), discord.rate_limit_hits
                cpu_before, bench_cpu_before = [cpu_seconds(p.pid) for p in processes], time.process_time()
                started = time.monotonic()
                try:
                    interactions = await burst(
                        discord, ablt, targets, [tokens_for(i, tokens) for i in range(streams)], rate
                    )
                except RuntimeError as exc:
                    raise RuntimeError(f"{setup.name}: {exc}; the bot's logs:\n{logs(workdir)[-4000:]}") from exc
                bot_cpu = sum(cpu_seconds(p.pid) for p in processes) - sum(cpu_before)
                bench_cpu = time.process_time() - bench_cpu_before
                measured = measure(discord, ablt, interactions)
                measured.bot_acks = in_the_bot(discord, interactions, guilds)
            finally:
                await stop(processes)
    finally:
        await ablt.close()
        await discord.close()
    return Result(
        setup=setup.name,
        streams=measured,
        rate_limited=discord.rate_limit_hits - limited,
        rate_limited_scopes=dict(Counter(r.rate_limited for r in discord.requests[requests:] if r.rate_limited)),
        requests=len(discord.requests) - requests,
        per_second=per_second(discord, requests, started, measured.last_shown),
        duration_s=measured.last_shown - started,
        bot_cpu_s=bot_cpu,
        bench_cpu_s=bench_cpu,
        emulator_errors=len(discord.internal_errors),
    )


def report(results: list[Result]) -> str:
    def row(figure: str, seconds: Callable[[Streams], list[float]]) -> tuple[str, ...]:
        return (figure, *(p50_p99_ms(seconds(r.streams)) for r in results))

    rows = [
        row("/chat acknowledgement, p50 / p99 (ms)", lambda s: s.acks),
        row("  of which in the bot (event written -> callback arrives)", lambda s: s.bot_acks),
        row("staleness of visible text behind aBLT, p50 / p99 (ms)", lambda s: s.staleness),
        row("/chat -> aBLT request (thread, typing first), p50 / p99 (ms)", lambda s: s.to_request),
        row("/chat -> first visible text, p50 / p99 (ms)", lambda s: s.to_first_text),
        row("first token -> first visible text, p50 / p99 (ms)", lambda s: s.first_text),
        ("429s answered by Discord", *(str(r.rate_limited) for r in results)),
        ("  of which global", *(str(r.rate_limited_scopes.get("global", 0)) for r in results)),
        (
            "requests counted against the global limit per second: median / busiest",
            *(f"{statistics.median(r.per_second):.0f} / {max(r.per_second)}" for r in results),
        ),
        ("total duration (first /chat -> last reply complete)", *(f"{r.duration_s:.1f} s" for r in results)),
        ("Discord REST requests", *(str(r.requests) for r in results)),
        (
            "CPU: bot process(es) / this process (emulators)",
            *(f"{r.bot_cpu_s:.1f} s / {r.bench_cpu_s:.1f} s" for r in results),
        ),
    ]
    return table(("figure", *(r.setup for r in results)), rows)


async def main(
    streams: int, tokens: int, rate: float, warm_up: bool, setups: list[str], *, busy_one: bool, redis: str
) -> None:
    where = "all on the first server (one busy process)" if busy_one else f"over {SHARDS} servers (one per shard)"
    print(
        f"{streams} /chats at once {where}, each answered by {tokens} tokens"
        f" at {rate:g}/s ({len(''.join(tokens_for(0, tokens)))} characters); one PostgreSQL database"
        + ("; after an unmeasured warm-up burst" if warm_up else "")
    )
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for index, setup in enumerate(SETUPS[name] for name in setups):
            began = time.monotonic()
            workdir = Path(tempfile.mkdtemp(prefix=f"{index}-", dir=tmp))
            result = await run_setup(setup, streams, tokens, rate, warm_up, workdir, busy_one=busy_one, redis=redis)
            results.append(result)
            extra = f"; 429s by scope {result.rate_limited_scopes}" if result.rate_limited else ""
            errors = f"; emulator errors {result.emulator_errors}" if result.emulator_errors else ""
            print(f"{setup.name}: {len(result.streams.acks)} streams ({time.monotonic() - began:.1f} s){extra}{errors}")
    print(report(results))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", type=int, default=50)
    parser.add_argument("--tokens", type=int, default=60)
    parser.add_argument("--rate", type=float, default=40.0, help="tokens per second")
    parser.add_argument("--warm-up", action="store_true", help="run the same burst once, unmeasured, first")
    parser.add_argument("--setups", default="one,split,shared", help=f"some of {','.join(SETUPS)}")
    parser.add_argument("--busy-one", action="store_true", help="every stream on the first server")
    parser.add_argument("--redis", default=DEFAULT_REDIS, help="Redis for the shared set-up")
    args = parser.parse_args()
    chosen = [name.strip() for name in args.setups.split(",") if name.strip()]
    if not chosen or any(name not in SETUPS for name in chosen):
        parser.error(f"--setups takes some of {','.join(SETUPS)}")
    asyncio.run(
        main(args.streams, args.tokens, args.rate, args.warm_up, chosen, busy_one=args.busy_one, redis=args.redis)
    )
