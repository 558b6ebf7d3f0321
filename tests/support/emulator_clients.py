"""Plain discord.py clients against the Discord emulator, for the emulator's own tests."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any, TypeVar

import aiohttp
import discord
import yarl

from tests.emulators.discord import DiscordEmulator

ClientT = TypeVar("ClientT", bound=discord.Client)


@contextlib.asynccontextmanager
async def fast_emulator(token: str) -> AsyncIterator[DiscordEmulator]:
    """An emulator with short rate-limit windows; fails the test if it logged an internal error."""
    emulator = DiscordEmulator(
        token=token, message_bucket_window_s=1.0, webhook_bucket_window_s=1.0, interaction_callback_timeout_s=3.0
    )
    await emulator.start()
    try:
        yield emulator
    finally:
        await emulator.close()
    assert emulator.internal_errors == []


@contextlib.asynccontextmanager
async def connected(emu: DiscordEmulator, client: ClientT) -> AsyncIterator[ClientT]:
    """Point discord.py at the emulator, connect `client`, and always restore discord.py's class attributes."""
    old_base = discord.http.Route.BASE
    old_gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    discord.http.Route.BASE = emu.api_base_url
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(emu.gateway_url)
    task: asyncio.Task[None] | None = None
    try:
        await client.login(emu.token)
        task = asyncio.create_task(client.connect())
        await emu.wait_until_ready()
        await asyncio.wait_for(client.wait_until_ready(), timeout=5)
        yield client
    finally:
        await client.close()
        if task is not None:
            await asyncio.wait_for(task, timeout=5)
        discord.http.Route.BASE = old_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_gateway


@contextlib.contextmanager
def pointed_at(emu: DiscordEmulator) -> Iterator[None]:
    """Point discord.py's REST base and default gateway (class attributes, shared by every client in
    the process) at the emulator; restore them afterwards."""
    old_base = discord.http.Route.BASE
    old_gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    discord.http.Route.BASE = emu.api_base_url
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(emu.gateway_url)
    try:
        yield
    finally:
        discord.http.Route.BASE = old_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_gateway


@contextlib.asynccontextmanager
async def connected_clients(
    emu: DiscordEmulator, clients: Sequence[ClientT], *, ready_timeout: float = 15.0
) -> AsyncIterator[list[ClientT]]:
    """Start several clients at once, as separate shard processes would (e.g. one
    ``discord.AutoShardedClient(shard_count=n, shard_ids=[k])`` each), wait until every one is ready
    (all its shards and guilds), and close them all afterwards."""
    tasks: list[asyncio.Task[None]] = []
    with pointed_at(emu):
        try:
            for client in clients:
                await client.login(emu.token)
                tasks.append(asyncio.create_task(client.connect()))
            ready = asyncio.gather(*(client.wait_until_ready() for client in clients))
            await asyncio.wait_for(ready, timeout=ready_timeout)
            yield list(clients)
        finally:
            for client in clients:
                await client.close()
            if tasks:
                await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), timeout=5)


MAX_429_WAITS = 5
"""A request answered 429 this many times in a row fails the test rather than looping."""


async def rest(
    session: aiohttp.ClientSession, emu: DiscordEmulator, method: str, path: str, body: Any = None
) -> tuple[int, Any]:
    """One REST request with the bot's token, waiting out a 429's `retry_after` as any client would (at most
    `MAX_429_WAITS` times): the status and the decoded JSON body (None when empty)."""
    headers = {"Authorization": f"Bot {emu.token}"}
    for _ in range(MAX_429_WAITS + 1):
        async with session.request(method, emu.api_base_url + path, json=body, headers=headers) as resp:
            text = await resp.text()
            data = json.loads(text) if text else None
        if resp.status != 429:
            return resp.status, data
        await asyncio.sleep(float(data["retry_after"]))
    raise AssertionError(f"{method} {path} was rate limited {MAX_429_WAITS + 1} times in a row")
