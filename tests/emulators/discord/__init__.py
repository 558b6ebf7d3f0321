"""A loopback Discord emulator (REST v10 + gateway) for testing an unmodified discord.py bot.

Usage::

    emu = DiscordEmulator(token="emulator-token", message_bucket_window_s=1.0)
    await emu.start()
    discord.http.Route.BASE = emu.api_base_url
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(emu.gateway_url)
    await bot.login(emu.token)
    task = asyncio.create_task(bot.connect())
    await emu.wait_until_ready()
    await emu.wait_for_commands()
    inter = await emu.run_slash_command("chat", {"provider": "ablt", "prompt": "hi"})
    await inter.wait_for_response()
    await emu.wait_for(lambda: bool(inter.followups))
    ...
    await bot.close(); await task; await emu.close()

Module map: ``world`` (state), ``payloads`` (JSON shapes), ``gateway`` + ``compression``
(websocket), ``server`` (middleware: auth, rate limits, errors, recording), ``routes_*``
(REST), ``messaging`` / ``threads`` / ``interactions`` / ``commands`` / ``members`` (behaviour),
``interaction_context`` (guild vs bot-DM interaction shape and which commands are offered where),
``validation`` + ``mentions`` (Discord's rules), ``ratelimit``, ``records`` (what tests read).
"""

from .core import EmulatorConfig
from .emulator import DiscordEmulator
from .errors import ApiError
from .records import (
    COMPONENTS_V2_FLAG,
    EPHEMERAL_FLAG,
    LOADING_FLAG,
    SUPPRESS_NOTIFICATIONS_FLAG,
    VOICE_MESSAGE_FLAG,
    AttachmentRecord,
    AttachmentSpec,
    CallbackRecord,
    GatewayEventRecord,
    InteractionRecord,
    MessageRecord,
    Pings,
    RequestRecord,
    ThreadRecord,
)

__all__ = [
    "COMPONENTS_V2_FLAG",
    "EPHEMERAL_FLAG",
    "LOADING_FLAG",
    "SUPPRESS_NOTIFICATIONS_FLAG",
    "VOICE_MESSAGE_FLAG",
    "ApiError",
    "AttachmentRecord",
    "AttachmentSpec",
    "CallbackRecord",
    "DiscordEmulator",
    "EmulatorConfig",
    "GatewayEventRecord",
    "InteractionRecord",
    "MessageRecord",
    "Pings",
    "RequestRecord",
    "ThreadRecord",
]
