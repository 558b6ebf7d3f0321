"""The Discord emulator's gateway sharding, driven by real discord.py ``AutoShardedClient``s: one
client per shard stands for one shard process (``shard_count=n, shard_ids=[k]``), several at once
against one emulator."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import discord
import pytest
from discord import app_commands

from tests.emulators.discord import DiscordEmulator
from tests.emulators.discord.sharding import shard_of
from tests.support.emulator_clients import connected_clients, pointed_at

TOKEN = "emulator-shard-test-token"
pytestmark = pytest.mark.timeout(40)


# ---- one shard process -------------------------------------------------------------------------------
@app_commands.command(name="where", description="Which shard process answers")
async def where(interaction: discord.Interaction) -> None:
    client = interaction.client
    assert isinstance(client, discord.AutoShardedClient)
    place = f"guild {interaction.guild_id}" if interaction.guild_id else "DM"
    await interaction.response.send_message(f"{place} answered by shards {list(client.shard_ids or [])}")


class ShardClient(discord.AutoShardedClient):
    """Records what reaches it. ``sync`` registers the commands (one process does, as in production);
    ``identify_delay`` replaces discord.py's 5 s sleep before a repeated IDENTIFY."""

    def __init__(
        self,
        *,
        shard_count: int | None = None,
        shard_ids: list[int] | None = None,
        sync: bool = False,
        identify_delay: float | None = None,
    ) -> None:
        intents = discord.Intents.default()
        intents.message_content = True
        options: dict[str, Any] = {}
        if shard_count is not None:
            options["shard_count"] = shard_count
        if shard_ids is not None:
            options["shard_ids"] = shard_ids
        super().__init__(
            intents=intents, guild_ready_timeout=0.05, allowed_mentions=discord.AllowedMentions.none(), **options
        )
        self.tree: app_commands.CommandTree[ShardClient] = app_commands.CommandTree(self)
        self.tree.add_command(where)
        self.sync = sync
        self.identify_delay = identify_delay
        self.received: list[discord.Message] = []
        self.interactions: list[discord.Interaction] = []
        self.joined: list[discord.Guild] = []

    async def setup_hook(self) -> None:
        if self.sync:
            await self.tree.sync()

    async def on_message(self, message: discord.Message) -> None:
        self.received.append(message)

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        self.interactions.append(interaction)

    async def on_guild_join(self, guild: discord.Guild) -> None:
        self.joined.append(guild)

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        if self.identify_delay is None:
            await super().before_identify_hook(shard_id, initial=initial)
        elif not initial:
            await asyncio.sleep(self.identify_delay)

    def people_messages(self) -> set[int]:
        """Ids of messages from members (not the bot's own answers)."""
        return {m.id for m in self.received if not m.author.bot}


@contextlib.asynccontextmanager
async def emulator(**options: Any) -> AsyncIterator[DiscordEmulator]:
    emu = DiscordEmulator(token=TOKEN, message_bucket_window_s=1.0, **options)
    await emu.start()
    try:
        yield emu
    finally:
        await emu.close()
    assert emu.internal_errors == []


def one_guild_per_shard(emu: DiscordEmulator, num_shards: int) -> dict[int, int]:
    """shard id -> its only guild: the default guild where it falls, new guilds on the other shards."""
    guilds = {shard_of(emu.guild_id, num_shards): emu.guild_id}
    for k in range(num_shards):
        if k not in guilds:
            guilds[k] = emu.add_guild(f"Shard {k} guild", shard=k, shard_count=num_shards)
    return guilds


# ---- routing -----------------------------------------------------------------------------------------
async def test_three_shard_processes_each_get_only_their_guild_and_dms_go_to_shard_0() -> None:
    async with emulator(max_concurrency=3) as emu:
        guild_on = one_guild_per_shard(emu, 3)
        assert emu.guild_ids[0] == emu.guild_id and sorted(emu.guild_ids) == sorted(guild_on.values())
        clients = [ShardClient(shard_count=3, shard_ids=[k], sync=k == 0) for k in range(3)]
        async with connected_clients(emu, clients):
            await emu.wait_for_commands()
            # max_concurrency 3: buckets 0, 1, 2 each admit their shard at once, no op 9.
            assert emu.invalid_sessions == 0 and all(r.accepted for r in emu.identifies)
            assert len(emu.identifies) == 3 and {r.bucket for r in emu.identifies} == {0, 1, 2}
            assert max(r.t for r in emu.identifies) - min(r.t for r in emu.identifies) < 5.0
            assert {shard: len(ids) for shard, ids in emu.sessions_by_shard.items()} == {
                (0, 3): 1,
                (1, 3): 1,
                (2, 3): 1,
            }
            for k, client in enumerate(clients):
                assert [g.id for g in client.guilds] == [guild_on[k]]
                assert client.get_guild(guild_on[(k + 1) % 3]) is None

            sent = {k: await emu.send_user_message(emu.general_channel(guild_on[k]), f"hi {k}") for k in range(3)}
            dm = emu.open_dm()
            in_dm = await emu.send_user_message(dm, "hi in a DM")
            asked = {
                k: await emu.run_slash_command("where", channel_id=emu.general_channel(guild_on[k])) for k in range(3)
            }
            asked_in_dm = await emu.run_slash_command("where", channel_id=dm)
            for k, rec in asked.items():
                await rec.wait_for_response()
                assert rec.guild_id == guild_on[k] and rec.payload["guild_id"] == str(guild_on[k])
                assert rec.original_message is not None
                assert rec.original_message.content == f"guild {guild_on[k]} answered by shards [{k}]"
            await asked_in_dm.wait_for_response()
            assert asked_in_dm.guild_id is None and asked_in_dm.original_message is not None
            assert asked_in_dm.original_message.content == "DM answered by shards [0]"
            # Each client answered an interaction dispatched after every message above, so anything
            # misrouted to it would already have been handled (a connection's events stay in order).
            for k, client in enumerate(clients):
                assert client.people_messages() == {sent[k].id} | ({in_dm.id} if k == 0 else set())
                assert {i.id for i in client.interactions} == {asked[k].id} | ({asked_in_dm.id} if k == 0 else set())
            dm_message = next(m for m in clients[0].received if m.id == in_dm.id)
            assert dm_message.guild is None and isinstance(dm_message.channel, discord.DMChannel)


async def test_a_guild_joined_later_reaches_only_its_shard_and_one_shard_can_resume_alone() -> None:
    async with emulator(max_concurrency=2) as emu:
        guild_on = one_guild_per_shard(emu, 2)
        clients = [ShardClient(shard_count=2, shard_ids=[k]) for k in range(2)]
        async with connected_clients(emu, clients):
            joined = emu.add_guild("Late", shard=1, shard_count=2)
            await emu.wait_for(lambda: [g.id for g in clients[1].joined] == [joined])
            assert clients[1].get_guild(joined) is not None and clients[0].get_guild(joined) is None
            bob = emu.add_member("bob", guild_id=joined)
            hello = await emu.send_user_message(emu.general_channel(joined), "new here", user_id=bob)
            await emu.wait_for(lambda: hello.id in clients[1].people_messages())

            identifies = len(emu.identifies)
            await emu.disconnect_gateway(shard=1)  # code 4000: discord.py RESUMEs (no IDENTIFY, no limit)
            missed = await emu.send_user_message(emu.general_channel(guild_on[1]), "while shard 1 was away")
            await emu.wait_for(lambda: missed.id in clients[1].people_messages(), timeout=10)
            assert len(emu.identifies) == identifies and emu.core.gateway.resume_count == 1
            first = await emu.send_user_message(emu.general_channel(guild_on[0]), "shard 0 stayed")
            await emu.wait_for(lambda: first.id in clients[0].people_messages())
            assert clients[0].people_messages() == {first.id}


# ---- GET /gateway/bot and the identify limits --------------------------------------------------------
async def test_auto_sharded_client_without_a_count_opens_the_recommended_shards() -> None:
    async with emulator(recommended_shards=2, identify_interval_s=0.3) as emu:
        guild_on = one_guild_per_shard(emu, 2)
        client = ShardClient(identify_delay=0.4)  # no shard_count: discord.py asks GET /gateway/bot
        async with connected_clients(emu, [client]):
            assert client.shard_count == 2 and sorted(client.shards) == [0, 1]
            assert set(emu.sessions_by_shard) == {(0, 2), (1, 2)}
            assert {g.shard_id: g.id for g in client.guilds} == guild_on
            shards, url, limits = await client.http.get_bot_gateway()
            assert (shards, url) == (2, emu.gateway_url)
            assert limits["total"] == 1000 and limits["remaining"] == 998 and limits["max_concurrency"] == 1
            assert 0 < limits["reset_after"] <= 86_400_000
            assert (await client.fetch_session_start_limits()).remaining == 998 == emu.session_start_limit["remaining"]
            first, second = emu.identifies
            assert first.accepted and second.accepted and second.t - first.t >= 0.3


async def test_identify_too_soon_gets_invalid_session_and_discord_py_identifies_again() -> None:
    """Discord's defaults (max_concurrency 1, one IDENTIFY per 5 s) and discord.py's own
    ``before_identify_hook``, which sleeps 5 s before a repeated IDENTIFY."""
    async with emulator() as emu:
        guild_on = one_guild_per_shard(emu, 2)
        first = ShardClient(shard_count=2, shard_ids=[0])
        async with connected_clients(emu, [first]):
            late = ShardClient(shard_count=2, shard_ids=[1])  # a second process, started right away
            async with connected_clients(emu, [late], ready_timeout=20):
                outcomes = [(r.shard, r.outcome) for r in emu.identifies]
                assert outcomes == [((0, 2), "ready"), ((1, 2), "invalid_session"), ((1, 2), "ready")]
                assert emu.invalid_sessions == 1 and {r.bucket for r in emu.identifies} == {0}
                assert emu.identifies[2].t - emu.identifies[0].t >= 5.0
                assert [g.id for g in late.guilds] == [guild_on[1]] and emu.ready_count == 2
                assert set(emu.sessions_by_shard) == {(0, 2), (1, 2)}
                assert emu.session_start_limit["remaining"] == 1000 - 3


async def test_shards_sharing_a_bucket_identify_one_per_interval() -> None:
    """max_concurrency 2: shards 0 and 2 share bucket 0 (``shard_id % max_concurrency``), shard 1 has
    bucket 1; three processes starting together see exactly one op 9."""
    async with emulator(max_concurrency=2, identify_interval_s=2.0) as emu:
        one_guild_per_shard(emu, 3)
        clients = [ShardClient(shard_count=3, shard_ids=[k], identify_delay=2.1) for k in range(3)]
        async with connected_clients(emu, clients, ready_timeout=20):
            refused = [r for r in emu.identifies if not r.accepted]
            assert len(refused) == 1 and refused[0].shard in {(0, 3), (2, 3)} and refused[0].bucket == 0
            bucket_0 = [r.t for r in emu.identifies if r.accepted and r.bucket == 0]
            assert len(bucket_0) == 2 and bucket_0[1] - bucket_0[0] >= 2.0
            assert set(emu.sessions_by_shard) == {(0, 3), (1, 3), (2, 3)}


async def test_an_out_of_range_shard_is_closed_with_4010() -> None:
    async with emulator() as emu:
        client = ShardClient(shard_count=2, shard_ids=[2])
        with pointed_at(emu):
            await client.login(emu.token)
            with pytest.raises(discord.ConnectionClosed) as closed:
                await asyncio.wait_for(client.connect(), timeout=10)
            await client.close()
        assert closed.value.code == 4010
        last = emu.identifies[-1]
        assert (last.shard, last.outcome, last.close_code) == ((2, 2), "closed", 4010)
        assert emu.ready_count == 0 and emu.gateway_connections == 0


# ---- the gateway by hand -----------------------------------------------------------------------------
async def identify(emu: DiscordEmulator, shard: Any = None, *, sharded: bool = True) -> tuple[int | None, list[Any]]:
    """IDENTIFY over a raw websocket; returns (close code or None, the dispatches received)."""
    data: dict[str, Any] = {"token": emu.token, "intents": 1, "properties": {}}
    if sharded:
        data["shard"] = shard
    received: list[Any] = []
    async with aiohttp.ClientSession() as session, session.ws_connect(emu.gateway_url + "?v=10&encoding=json") as ws:
        hello = json.loads((await ws.receive(timeout=5)).data)
        assert hello["op"] == 10
        await ws.send_json({"op": 2, "d": data})
        while True:
            msg = await ws.receive(timeout=5)
            if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
                return ws.close_code, received
            payload = json.loads(msg.data)
            if payload["op"] == 11:
                continue
            received.append(payload)
            if payload["op"] == 9:
                return None, received
            guilds = len(received[0]["d"]["guilds"])
            if sum(1 for p in received if p["t"] == "GUILD_CREATE") == guilds:
                return None, received


async def test_ready_lists_the_shards_guilds_and_bad_shards_close_4010() -> None:
    async with emulator(identify_interval_s=0.0) as emu:
        guild_on = one_guild_per_shard(emu, 2)
        extra = emu.add_guild("Also on shard 0", shard=0, shard_count=2)
        for bad in ([2, 2], [0, 0], [-1, 2], ["0", 2], [0], "0,1"):
            code, _ = await identify(emu, bad)
            assert code == 4010, bad
        code, frames = await identify(emu, [0, 2])
        ready = frames[0]["d"]
        assert code is None and frames[0]["t"] == "READY" and ready["shard"] == [0, 2]
        assert [g["id"] for g in ready["guilds"]] == [str(guild_on[0]), str(extra)]
        assert all(g["unavailable"] for g in ready["guilds"])
        assert [f["d"]["id"] for f in frames[1:]] == [str(guild_on[0]), str(extra)]
        code, frames = await identify(emu, sharded=False)
        assert code is None and "shard" not in frames[0]["d"] and len(frames[0]["d"]["guilds"]) == 3
        code, frames = await identify(emu, None)  # "shard": null is no sharding
        assert code is None and len(frames) == 4
        await emu.wait_until_ready(count=3)  # a session counts once all its GUILD_CREATEs went out

        emu.core.gateway.max_guilds_per_session = 2  # Discord: 2500 (gateway.mdx "Sharding")
        code, _ = await identify(emu, sharded=False)
        assert code == 4011
        code, frames = await identify(emu, [1, 2])
        assert code is None and [f["d"]["id"] for f in frames[1:]] == [str(guild_on[1])]
        closed = [(r.shard, r.close_code) for r in emu.identifies if r.outcome == "closed"]
        assert closed == [
            ((2, 2), 4010),
            ((0, 0), 4010),
            ((-1, 2), 4010),
            (None, 4010),
            (None, 4010),
            (None, 4010),
            (None, 4011),
        ]
        assert emu.session_start_limit["remaining"] == 1000 - len(emu.identifies)


async def test_an_identify_inside_the_interval_gets_op_9_false() -> None:
    async with emulator(identify_interval_s=60.0, max_concurrency=2) as emu:
        assert (await identify(emu, [0, 2]))[0] is None
        code, frames = await identify(emu, [2, 4])  # bucket 2 % 2 = 0, like shard 0
        assert code is None and frames == [{"op": 9, "d": False, "s": None, "t": None}]
        assert (await identify(emu, [1, 2]))[0] is None  # bucket 1 is free
        assert [r.outcome for r in emu.identifies] == ["ready", "invalid_session", "ready"]
        assert emu.invalid_sessions == 1 and emu.ready_count == 2
