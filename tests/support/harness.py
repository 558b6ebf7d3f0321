"""Runs the real bot in-process against the emulators (or stops one run as `python -m bot`); shared by the
tests and the benchmarks."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from bot.config.settings import Settings
from bot.runner import serve
from tests.emulators.ablt import AbltEmulator
from tests.emulators.agentverse import AgentverseEmulator
from tests.emulators.convai import ConvaiEmulator
from tests.emulators.discord import DiscordEmulator
from tests.emulators.magicai import MagicAIEmulator
from tests.emulators.soundverse import SoundverseEmulator

BOT_TOKEN = "emulator-bot-token"
ABLT_KEY = "ablt-test-key"
MAGICAI_KEY = "magicai-test-key"
MAGICAI_PROJECT = "5f738671-0ccc-4d32-9b7a-ddab669ab799"
SOUNDVERSE_KEY = "soundverse-test-key"
CONVAI_KEY = "convai-test-key"
CONVAI_CHARACTER = "char-alpha"
REPO = Path(__file__).resolve().parents[2]
Launcher = Callable[..., Awaitable[asyncio.subprocess.Process]]
"""`await launch(*args, **settings)`: `python -m bot` (or `python <args>`) as its own process, once connected."""


async def stop_process(process: asyncio.subprocess.Process, grace_s: float = 20.0) -> None:
    """SIGTERM (the bot's clean shutdown), then SIGKILL if it has not exited within `grace_s` seconds."""
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), grace_s)
    except TimeoutError:
        process.kill()
        await process.wait()


async def stop(process: asyncio.subprocess.Process, signum: int = signal.SIGTERM) -> str:
    """Signal a bot process launched with stderr piped (SIGTERM: its clean shutdown) and return its log."""
    process.send_signal(signum)
    assert process.stderr is not None
    log = (await asyncio.wait_for(process.stderr.read(), timeout=30)).decode()
    await asyncio.wait_for(process.wait(), timeout=30)
    return log


def bot_environment(
    discord: DiscordEmulator,
    ablt: AbltEmulator,
    database: str | Path,
    *,
    magicai: MagicAIEmulator | None = None,
    soundverse: SoundverseEmulator | None = None,
    convai: ConvaiEmulator | None = None,
    agentverse: AgentverseEmulator | None = None,
    **extra: str,
) -> dict[str, str]:
    """The variables a user would put in `.env`, aimed at the emulators."""
    optional: dict[str, str] = {}
    if magicai is not None:
        optional |= {
            "MAGICAI_API_KEY": MAGICAI_KEY,
            "MAGICAI_PROJECT_ID": MAGICAI_PROJECT,
            "MAGICAI_BASE_URL": magicai.base_url,
        }
    if soundverse is not None:
        optional |= {"SOUNDVERSE_API_KEY": SOUNDVERSE_KEY, "SOUNDVERSE_BASE_URL": soundverse.base_url}
    if agentverse is not None:
        optional |= {
            "AGENTVERSE_API_KEY": "av-access-1",
            "AGENTVERSE_REFRESH_TOKEN": "av-refresh-1",
            "AGENTVERSE_EMAIL": "member@example.com",
            "AGENTVERSE_BASE_URL": agentverse.base_url,
            "AGENTVERSE_AUTH_URL": agentverse.auth_url,
        }
    if convai is not None:
        optional |= {
            "CONVAI_API_KEY": CONVAI_KEY,
            "CONVAI_CHARACTER_ID": CONVAI_CHARACTER,
            "CONVAI_BASE_URL": convai.base_url,
        }
    return {
        **optional,
        "DISCORD_TOKEN": BOT_TOKEN,
        "DISCORD_API_BASE_URL": discord.api_base_url,
        "DISCORD_GATEWAY_URL": discord.gateway_url,
        "DATABASE_URL": database if isinstance(database, str) else f"sqlite:///{database}",
        "ABLT_API_KEY": ABLT_KEY,
        "ABLT_BASE_URL": ablt.base_url,
        "ABLT_BOT_SLUG": "taxson",
        **extra,
    }


class TestClock:
    """Epoch seconds, real until `advance` moves it ahead (a test crosses midnight without sleeping)."""

    __test__ = False  # not a test class, whatever pytest thinks of the name

    def __init__(self) -> None:
        self.offset_s = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset_s

    def advance(self, seconds: float) -> None:
        self.offset_s += seconds


class BotProcess:
    """The real bot, served in-process through the same `serve` entry point `python -m bot` uses."""

    def __init__(self, settings: Settings, discord: DiscordEmulator) -> None:
        self.settings = settings
        self.clock = TestClock()
        """The bot's wall clock (quotas' days and months): real time until a test moves it."""
        self._discord = discord
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._stop = asyncio.Event()
        discord, readies = self._discord, self._discord.ready_count
        task = self._task = asyncio.create_task(serve(self.settings, self._stop, clock=self.clock))
        await discord.wait_for(lambda: discord.ready_count > readies or task.done(), 15, "the bot to connect")
        if task.done():
            task.result()
        await self._discord.wait_for_commands(timeout=10)

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await asyncio.wait_for(self._task, timeout=20)
            self._task = None
