"""Runs the bot until stopped: the one entry point shared by `python -m bot` and in-process tests."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import discord
import discord.gateway
import discord.http
import yarl

from bot.app import BridgeBot
from bot.config.settings import Settings
from bot.ops.logs import hide_settings

log = logging.getLogger(__name__)


def point_discord_at(settings: Settings) -> None:
    """Aim discord.py's REST and gateway at the configured endpoints (Discord itself by default)."""
    discord.http.Route.BASE = settings.discord_api_base_url
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord_gateway_url)


async def serve(
    settings: Settings, stop: asyncio.Event, *, own_process: bool = False, clock: Callable[[], float] = time.time
) -> None:
    """Run until `stop` is set or the connection fails for good; always close the bot cleanly.

    `own_process`: nothing else runs in this process (`python -m bot`); `clock`: epoch seconds now; see `BridgeBot`."""
    point_discord_at(settings)
    hide_settings(settings.secrets)  # also where logging was set up by someone else (tests, an embedding app)
    bot = BridgeBot(settings, own_process=own_process, clock=clock)
    running = asyncio.create_task(bot.start(settings.discord_token.reveal()), name="discord-client")
    stopping = asyncio.create_task(stop.wait(), name="stop-signal")
    try:
        await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        if not running.done():
            # Stop reading the gateway first: discord.py may otherwise dispatch "disconnect" on a client
            # whose close() has already let go of its event loop.
            running.cancel()
            await asyncio.wait({running}, timeout=10)
        if not bot.is_closed():
            await bot.close()
    if running.done() and not running.cancelled():
        running.result()  # re-raise a login or connection failure
