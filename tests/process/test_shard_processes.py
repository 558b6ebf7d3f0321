"""Three `python -m bot` processes, one shard each, sharing one PostgreSQL: every server is served by exactly
one process, the three identify without an Invalid Session, and a process killed mid-reply comes back
with its reply marked and its Agentverse session followed again, nothing posted twice."""

from __future__ import annotations

import asyncio
import itertools
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from tests.emulators.ablt import AbltEmulator, Reply
from tests.emulators.agentverse import AgentverseEmulator
from tests.emulators.convai import ConvaiEmulator, StarterScript
from tests.emulators.discord import DiscordEmulator
from tests.support.agentverse import custom_id, offer_with
from tests.support.databases import postgres_database
from tests.support.harness import BOT_TOKEN, REPO, bot_environment, stop_process
from tests.support.journey import bot_posts, chat, offer_posts, shown_reply, thread_for, wait_for_post, wait_for_reply
from tests.support.streams import words

SHARDS = 3
START_S = 60.0  # three identifies 5 s apart, plus starting Python three times

Launch = Callable[[int], Awaitable[asyncio.subprocess.Process]]


@pytest.fixture
async def sharded_discord() -> AsyncIterator[DiscordEmulator]:
    """Discord with one server on each of three shards and Discord's real identify limit (one per 5 s)."""
    emulator = DiscordEmulator(token=BOT_TOKEN, recommended_shards=SHARDS, max_concurrency=1)
    await emulator.start()
    for shard in range(SHARDS):
        emulator.add_guild(f"Shard {shard} server", shard=shard, shard_count=SHARDS)
    try:
        yield emulator
    finally:
        await emulator.close()
    assert emulator.internal_errors == []


@pytest.fixture
async def launch(
    sharded_discord: DiscordEmulator,
    ablt: AbltEmulator,
    convai: ConvaiEmulator,
    agentverse: AgentverseEmulator,
    tmp_path: Path,
) -> AsyncIterator[Launch]:
    """Starts the process for one shard (its log goes to tmp_path/shard-N.log); all are killed at the end."""
    processes: list[asyncio.subprocess.Process] = []
    async with postgres_database() as url:

        async def start(shard: int) -> asyncio.subprocess.Process:
            env = {k: v for k, v in os.environ.items() if not k.isupper() or k in {"PATH", "HOME", "LANG"}}
            env |= bot_environment(sharded_discord, ablt, url, convai=convai, agentverse=agentverse)
            env |= {"SHARD_COUNT": str(SHARDS), "SHARD_IDS": str(shard), "REST_RATE_PER_S": "15"}
            env |= {"PYTHONPATH": str(REPO), "LOG_LEVEL": "INFO"}
            log = (tmp_path / f"shard-{shard}.log").open("a")
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", cwd=tmp_path, env=env, stdout=log, stderr=log
            )
            log.close()
            processes.append(process)
            return process

        yield start
        for process in processes:
            await stop_process(process)


async def eventually_posted(discord: DiscordEmulator, channel_id: int, fragment: str) -> str:
    """A bot message containing `fragment`, allowing for a restart, an identify and a lease running out."""

    def found() -> str | None:
        return next((m.content for m in bot_posts(discord, channel_id) if fragment in m.content), None)

    await discord.wait_for(lambda: found() is not None, START_S, f"a message containing {fragment!r}")
    return found() or ""


def log_of(tmp_path: Path, shard: int) -> str:
    return (tmp_path / f"shard-{shard}.log").read_text()


async def all_shards_ready(discord: DiscordEmulator) -> None:
    def ready() -> bool:
        live = discord.sessions_by_shard
        return all(live.get((shard, SHARDS)) for shard in range(SHARDS)) and discord.core.command_syncs > 0

    await discord.wait_for(ready, START_S, "three shard sessions and the commands")


async def test_three_shard_processes_share_the_work_and_survive_a_kill(
    launch: Launch,
    sharded_discord: DiscordEmulator,
    ablt: AbltEmulator,
    convai: ConvaiEmulator,
    agentverse: AgentverseEmulator,
    tmp_path: Path,
) -> None:
    discord = sharded_discord
    guilds = {shard: discord.guild_ids_on_shard(shard, SHARDS)[0] for shard in range(SHARDS)}
    processes = dict(zip(range(SHARDS), await asyncio.gather(*(launch(k) for k in range(SHARDS))), strict=True))
    await all_shards_ready(discord)

    # Started together, they identified one per 5 s (Discord's max_concurrency 1), none refused.
    accepted = sorted(r.t for r in discord.identifies if r.accepted)
    assert discord.invalid_sessions == 0 and len(accepted) == SHARDS
    assert all(b - a >= 5.0 for a, b in itertools.pairwise(accepted))
    assert sum(1 for r in discord.requests if r.method == "PUT" and r.path.endswith("/commands")) == 1

    # Every server's /chat is answered by exactly the process that runs its shard.
    for shard, guild_id in guilds.items():
        interaction = await chat(discord, f"hello shard {shard}", channel_id=discord.general_channel(guild_id))
        thread = await thread_for(discord, interaction)
        await wait_for_reply(discord, thread.id, f"You said: hello shard {shard}")
        assert interaction.rejected_callbacks == 0
        owners = [k for k in range(SHARDS) if f"opened in channel {thread.id} " in log_of(tmp_path, k)]
        assert owners == [shard]

    # An Agentverse click on shard 1 and a Convai starter click on shard 2 work like with one process.
    agent = await thread_for(
        discord,
        await chat(discord, "Find a flight", provider="agentverse", channel_id=discord.general_channel(guilds[1])),
    )
    tasks = await offer_with(discord, agent.id, "Flights/Flights")
    click = await discord.click_button(tasks.id, custom_id(tasks, "Flights/Flights"))
    await click.wait_for_response(15)
    await wait_for_post(discord, agent.id, "departure city", after=tasks.id)
    convai.enqueue_starters(StarterScript(suggestions=["Who are you?"]))
    character = await thread_for(
        discord, await chat(discord, "Hi!", provider="convai", channel_id=discord.general_channel(guilds[2]))
    )
    await discord.wait_for(lambda: offer_posts(discord, character.id), 15, "starters")
    offer = offer_posts(discord, character.id)[0]
    pick = await discord.click_button(offer.id, offer.components[0]["components"][0]["custom_id"])
    await pick.wait_for_response(15)
    await discord.wait_for(lambda: any(r.fields.get("userText") == "Who are you?" for r in convai.requests), 15)

    # Shard 1's process is killed mid-reply while its agent is also waiting for the engine.
    agentverse.delay_s = 4.0
    await discord.send_user_message(agent.id, "London")
    await agentverse.wait_for_submit("user_message")
    tokens = words(400)
    ablt.enqueue(Reply(tokens=tokens, token_interval_s=0.05))
    streaming = await thread_for(
        discord, await chat(discord, "a long story", channel_id=discord.general_channel(guilds[1]))
    )
    await discord.wait_for(lambda: len(shown_reply(discord, streaming.id).split()) >= 5, 15, "the reply to start")
    processes[1].kill()
    await processes[1].wait()
    await launch(1)

    cut = await eventually_posted(discord, streaming.id, "stopped while writing this reply")
    assert cut.startswith("⏹️")
    await eventually_posted(discord, agent.id, "Please confirm")  # followed again once the dead one's lease ran out
    for thread_id in (agent.id, streaming.id):
        contents = [m.content for m in bot_posts(discord, thread_id)]
        assert len(contents) == len(set(contents)), contents  # nothing posted twice
    assert discord.invalid_sessions == 0
