"""Injected transient failures (proxy errors, 5xx, shared 429s, delays, lost responses) against a
real discord.py client and plain aiohttp."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import aiohttp
import discord
import pytest

from tests.emulators.discord import ENVOY_RESET_BODY, DiscordEmulator, Fault
from tests.support.emulator_clients import connected, fast_emulator

TOKEN = "emulator-faults-token"
MESSAGES = "/channels/{channel_id}/messages"
pytestmark = pytest.mark.timeout(30)


class Recorder(discord.Client):
    def __init__(self) -> None:
        intents = discord.Intents.default()
        intents.message_content = True
        super().__init__(intents=intents, guild_ready_timeout=0.05)
        self.received: list[discord.Message] = []

    async def on_message(self, message: discord.Message) -> None:
        self.received.append(message)


@pytest.fixture
async def emu() -> AsyncIterator[DiscordEmulator]:
    async with fast_emulator(TOKEN) as emulator:
        yield emulator


@pytest.fixture
async def client(emu: DiscordEmulator) -> AsyncIterator[Recorder]:
    async with connected(emu, Recorder()) as connected_client:
        yield connected_client


def channel(client: discord.Client, emu: DiscordEmulator) -> discord.TextChannel:
    found = client.get_channel(emu.channel_id)
    assert isinstance(found, discord.TextChannel)
    return found


def posts(emu: DiscordEmulator, text: str) -> list[int]:
    return [m.id for m in emu.messages() if m.content == text]


async def test_proxy_503_is_not_retried_and_shows_its_text_body(emu: DiscordEmulator, client: Recorder) -> None:
    fault = emu.inject_fault(Fault.proxy_503(method="POST", route=MESSAGES, times=1))
    with pytest.raises(discord.DiscordServerError) as failed:
        await channel(client, emu).send("through the proxy")
    assert failed.value.status == 503 and failed.value.text == ENVOY_RESET_BODY
    assert fault.hits == 1 and posts(emu, "through the proxy") == []
    (record,) = [r for r in emu.requests if r.fault is fault]
    assert record.status == 503 and record.channel_id == emu.channel_id
    await channel(client, emu).send("through the proxy")  # the fault is used up
    assert len(posts(emu, "through the proxy")) == 1


async def test_discord_py_retries_500s_by_itself(emu: DiscordEmulator, client: Recorder) -> None:
    fault = emu.inject_fault(Fault.server_error(500, method="POST", route=MESSAGES, times=2))
    sent = await channel(client, emu).send("eventually")  # discord.py sleeps 1 s, then 3 s, then succeeds
    assert fault.hits == 2 and posts(emu, "eventually") == [sent.id]
    statuses = [r.status for r in emu.requests if r.route == "POST " + MESSAGES]
    assert statuses == [500, 500, 200]


async def test_shared_429_is_slept_through(emu: DiscordEmulator, client: Recorder) -> None:
    fault = emu.inject_fault(Fault.shared_429(retry_after=0.3, method="POST", route=MESSAGES, times=1))
    started = time.monotonic()
    sent = await channel(client, emu).send("after the wait")
    assert time.monotonic() - started >= 0.3
    assert fault.hits == 1 and posts(emu, "after the wait") == [sent.id]
    first = next(r for r in emu.requests if r.fault is fault)
    assert first.status == 429 and first.rate_limited == "shared"
    assert emu.rate_limit_hits == 0  # not one of the emulator's own buckets


async def test_lost_response_with_enforce_nonce_posts_once(emu: DiscordEmulator, client: Recorder) -> None:
    lost = emu.inject_fault(Fault.server_error(500, method="POST", route=MESSAGES, times=1, after_handling=True))
    sent = await channel(client, emu).send("exactly once", nonce="retry-safe-1")
    assert lost.hits == 1 and posts(emu, "exactly once") == [sent.id]  # created by the first try, returned to the retry
    attempts = [r for r in emu.requests if r.route == "POST " + MESSAGES]
    assert [r.status for r in attempts] == [500, 200]
    assert all(r.json["nonce"] == "retry-safe-1" and r.json["enforce_nonce"] is True for r in attempts)
    await emu.wait_for(lambda: any(m.id == sent.id for m in client.received), description="MESSAGE_CREATE")
    marker = await channel(client, emu).send("marker")
    await emu.wait_for(lambda: any(m.id == marker.id for m in client.received), description="marker")
    assert sum(m.id == sent.id for m in client.received) == 1  # the retry dispatched nothing


async def test_lost_response_without_enforce_nonce_posts_twice(emu: DiscordEmulator) -> None:
    """discord.py always sends a nonce with enforce_nonce; a client that does not, and retries after a
    lost response, posts twice."""
    emu.inject_fault(Fault.server_error(500, method="POST", route=MESSAGES, times=1, after_handling=True))
    headers = {"Authorization": f"Bot {emu.token}"}
    url = f"{emu.api_base_url}/channels/{emu.channel_id}/messages"
    async with aiohttp.ClientSession() as session:
        for expected in (500, 200):
            async with session.post(url, json={"content": "twice", "nonce": "n-1"}, headers=headers) as resp:
                assert resp.status == expected
    assert len(posts(emu, "twice")) == 2


async def test_fault_scope_channel_and_deadline(emu: DiscordEmulator, client: Recorder) -> None:
    other = emu.add_text_channel("other")
    await emu.wait_for(lambda: client.get_channel(other) is not None, description="CHANNEL_CREATE")
    emu.inject_fault(Fault.proxy_503(channel_id=other))
    await channel(client, emu).send("unaffected")
    other_channel = client.get_channel(other)
    assert isinstance(other_channel, discord.TextChannel)
    with pytest.raises(discord.DiscordServerError):
        await other_channel.send("affected")
    emu.clear_faults()
    await other_channel.send("recovered")
    expired = emu.inject_fault(Fault.proxy_503(until=time.monotonic() - 1))
    await other_channel.send("deadline passed")
    assert expired.hits == 0


async def test_faults_come_before_auth(emu: DiscordEmulator) -> None:
    emu.inject_fault(Fault.proxy_503(route="/users/@me"))
    url, headers = emu.api_base_url + "/users/@me", {"Authorization": "Bot wrong"}
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as resp:
        assert resp.status == 503 and resp.content_type == "text/plain"
        assert await resp.text() == ENVOY_RESET_BODY


async def test_delay_makes_clients_time_out(emu: DiscordEmulator) -> None:
    emu.inject_fault(Fault(route="/users/@me", delay_s=5, status=200, body=b"{}", times=1))
    timeout = aiohttp.ClientTimeout(total=0.3)
    headers = {"Authorization": f"Bot {emu.token}"}
    async with aiohttp.ClientSession(timeout=timeout) as session:
        with pytest.raises(asyncio.TimeoutError):
            async with session.get(emu.api_base_url + "/users/@me", headers=headers):
                pass


async def test_a_delayed_answer_ends_when_the_emulator_closes() -> None:
    emulator = DiscordEmulator(token=TOKEN)
    await emulator.start()
    emulator.inject_fault(Fault(delay_s=60, status=200, body=b"{}"))
    headers = {"Authorization": f"Bot {emulator.token}"}
    async with aiohttp.ClientSession() as session:

        async def hang() -> None:
            async with session.get(emulator.api_base_url + "/users/@me", headers=headers) as resp:
                await resp.read()

        request = asyncio.create_task(hang())
        await emulator.wait_for(lambda: any(f.hits for f in emulator.faults), description="the request arrives")
        started = time.monotonic()
        await emulator.close()
        with pytest.raises(aiohttp.ClientError):
            await asyncio.wait_for(request, timeout=5)
        assert time.monotonic() - started < 2


async def test_dropped_connection_after_handling(emu: DiscordEmulator, client: Recorder) -> None:
    dropped = emu.inject_fault(Fault(method="POST", route=MESSAGES, drop_connection=True, after_handling=True, times=1))
    with pytest.raises(aiohttp.ClientError):
        await channel(client, emu).send("did it arrive?")
    assert dropped.hits == 1 and len(posts(emu, "did it arrive?")) == 1  # it did; the answer was lost
    assert next(r for r in emu.requests if r.fault is dropped).status == 0
    await channel(client, emu).send("the next request works")


async def test_a_per_route_429_is_slept_through_and_recorded_with_the_user_scope(
    emu: DiscordEmulator, client: Recorder
) -> None:
    fault = emu.inject_fault(Fault.route_429(retry_after=0.3, method="POST", route=MESSAGES, times=1))
    started = time.monotonic()
    sent = await channel(client, emu).send("after the route's wait")
    assert time.monotonic() - started >= 0.3
    assert fault.hits == 1 and posts(emu, "after the route's wait") == [sent.id]
    first = next(r for r in emu.requests if r.fault is fault)
    assert first.status == 429 and first.rate_limited == "user"


async def test_a_hung_write_gets_no_answer_and_creates_nothing(emu: DiscordEmulator) -> None:
    fault = emu.inject_fault(Fault.hang(0.5, method="POST", route=MESSAGES, times=1))
    headers = {"Authorization": f"Bot {emu.token}"}
    url = f"{emu.api_base_url}/channels/{emu.channel_id}/messages"
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientError):  # the connection is dropped once the delay is over
            async with session.post(url, json={"content": "never made"}, headers=headers) as resp:
                await resp.read()
    assert fault.hits == 1 and posts(emu, "never made") == []


@pytest.mark.parametrize("status", [None, 500])
async def test_a_lost_answer_comes_after_the_message_was_created(emu: DiscordEmulator, status: int | None) -> None:
    fault = emu.inject_fault(Fault.lost_answer(0.2, status=status, method="POST", route=MESSAGES, times=1))
    headers = {"Authorization": f"Bot {emu.token}"}
    url = f"{emu.api_base_url}/channels/{emu.channel_id}/messages"
    async with aiohttp.ClientSession() as session:
        if status is None:
            with pytest.raises(aiohttp.ClientError):
                async with session.post(url, json={"content": "made"}, headers=headers) as resp:
                    await resp.read()
        else:
            async with session.post(url, json={"content": "made"}, headers=headers) as resp:
                assert resp.status == 500 and (await resp.json())["message"] == "500: Internal Server Error"
    assert fault.hits == 1 and len(posts(emu, "made")) == 1


async def test_prune_forgets_faults_that_can_no_longer_match(emu: DiscordEmulator, client: Recorder) -> None:
    used = emu.inject_fault(Fault.proxy_503(method="POST", route=MESSAGES, times=1))
    expired = emu.inject_fault(Fault.proxy_503(route="/users/@me", until=time.monotonic() - 1))
    waiting = emu.inject_fault(Fault.proxy_503(route="/users/@me", times=1))
    with pytest.raises(discord.DiscordServerError):
        await channel(client, emu).send("refused once")
    emu.core.faults.prune()
    assert used.hits == 1 and expired.hits == 0 and emu.faults == [waiting]
