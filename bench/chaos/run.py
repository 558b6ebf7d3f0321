"""One chaos run: the world, the bot, the members and the faults, then the invariants."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from dataclasses import dataclass
from pathlib import Path

from bench.chaos.injectors import AgentverseChaos, Chaos, DatabaseChaos, DiscordChaos, Timeline, plan_kills
from bench.chaos.invariants import (
    Findings,
    find_duplicates,
    find_stranded,
    judge_turns,
    search_logs,
    write_threads,
)
from bench.chaos.members import Crowd, Member
from bench.chaos.process import BotProcesses
from bench.chaos.script import ProviderScript
from bench.chaos.world import PROVIDER_TIMEOUT_S, PROVIDERS, World, world

DRAIN_S = 300.0
"""After the talking ends, how long members may still wait for their last turns (faults have stopped)."""
SAMPLE_EVERY_S = 5.0
OPEN_STAGGER_S = 0.4
"""Members open their threads this far apart, as people arriving would."""


@dataclass(frozen=True)
class Options:
    minutes: float
    seed: int
    database: str
    threads: int
    kills: int | None
    log_level: str
    out: Path


@dataclass
class Outcome:
    findings: Findings
    timeline: Timeline
    provider_faults: dict[str, int]
    bot: BotProcesses
    exit_code: int | None
    duration_s: float
    emulator_errors: list[str]
    secrets_searched: int


def _members(w: World, crowd: Crowd, count: int, rng: random.Random) -> list[Member]:
    members = []
    for number in range(count):
        guild_index = number % len(w.guilds)
        guild = w.guilds[guild_index]
        name = f"member{number + 1:02d}"
        user = w.discord.add_member(name, guild_id=guild)
        per_server = len(w.channels) // len(w.guilds)
        channel = w.channels[guild_index * per_server + (number // len(w.guilds)) % per_server]
        provider = PROVIDERS[number % len(PROVIDERS)]
        members.append(Member(crowd, name, user, channel, provider, rng.randrange(2**32)))
    return members


def _script(w: World, script: ProviderScript) -> None:
    w.ablt.script_with(script.ablt)
    w.magicai.script_with(script.magicai)
    w.soundverse.script_with(script.soundverse)
    w.convai.script_with(script.convai)
    w.agentverse.use_flow(script.agentverse_flow())


async def _sample(bot: BotProcesses) -> None:
    while True:
        await asyncio.sleep(SAMPLE_EVERY_S)
        await bot.sample()


async def run(options: Options) -> Outcome:
    """Start everything, let members talk for `options.minutes` under faults, stop the bot cleanly, judge."""
    seeds = random.Random(options.seed)
    rng = {name: random.Random(seeds.randrange(2**32)) for name in ("script", "crowd", "chaos", "kills", "members")}
    workdir = options.out
    workdir.mkdir(parents=True, exist_ok=True)
    async with world(options.database, workdir) as w:
        script = ProviderScript(rng["script"], PROVIDER_TIMEOUT_S)
        _script(w, script)
        bot = BotProcesses(w.discord, w.environment(options.log_level), workdir)
        try:
            await bot.start()
        except BaseException:
            await bot.stop()
            raise
        crowd = Crowd(w.discord, script, rng["crowd"])
        crowd.bot_up.set()
        members = _members(w, crowd, options.threads, rng["members"])
        duration_s = options.minutes * 60
        started = time.monotonic()
        talk_until, wait_until = started + duration_s, started + duration_s + DRAIN_S
        kills = options.kills
        if kills is None:
            kills = 1 if options.minutes < 2 else rng["kills"].choice((1, 2))
        timeline = Timeline()
        agentverse = AgentverseChaos(w.agentverse, rng["chaos"], timeline) if "agentverse" in PROVIDERS else None
        chaos = Chaos(
            rng=rng["chaos"],
            discord=DiscordChaos(w.discord, rng["chaos"], timeline),
            database=DatabaseChaos(w.database_url, rng["chaos"], timeline),
            agentverse=agentverse,
            bot=bot,
            crowd=crowd,
            threads=lambda: [m.thread_id for m in members if m.thread_id is not None],
            timeline=timeline,
        )
        sampler = asyncio.create_task(_sample(bot))
        faults = asyncio.create_task(chaos.run(started, talk_until, plan_kills(rng["kills"], kills, duration_s)))

        async def talk(member: Member, delay_s: float) -> None:
            await asyncio.sleep(delay_s)
            await member.run(talk_until, wait_until)

        try:
            await asyncio.gather(*(talk(m, i * OPEN_STAGGER_S) for i, m in enumerate(members)), faults)
        finally:
            for task in (faults, sampler):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            w.discord.clear_faults()
            exit_code = await bot.stop()
        findings = Findings(turns=crowd.turns)
        judge_turns(w.discord, script, findings, timeline.events)
        find_duplicates(w.discord, script, findings)
        write_threads(workdir / "threads.txt", w.discord, crowd.turns)
        await find_stranded(w.database_url, findings)
        secrets = w.secrets()
        search_logs(bot.ops.logs, secrets, crowd.canaries, findings, set(script.by_tag))
        return Outcome(
            findings=findings,
            timeline=timeline,
            provider_faults=dict(script.faults),
            bot=bot,
            exit_code=exit_code,
            duration_s=time.monotonic() - started,
            emulator_errors=list(w.discord.internal_errors),
            secrets_searched=len(secrets),
        )
