"""Fixtures that run the real bot against loopback Discord and provider emulators with a real SQLite file."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings, load_settings
from bot.runner import serve
from tests.emulators.ablt import AbltEmulator
from tests.emulators.discord import DiscordEmulator

BOT_TOKEN = "emulator-bot-token"
ABLT_KEY = "ablt-test-key"
SETTING_PREFIXES = ("DISCORD_", "ABLT_", "DATABASE_", "PROVIDER_", "LOG_LEVEL", "MAGICAI_", "SOUNDVERSE_")


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's own settings."""
    for name in list(os.environ):
        if name.startswith(SETTING_PREFIXES):
            monkeypatch.delenv(name)


@pytest.fixture
async def discord_emulator() -> AsyncIterator[DiscordEmulator]:
    emulator = DiscordEmulator(token=BOT_TOKEN)
    await emulator.start()
    try:
        yield emulator
    finally:
        await emulator.close()


@pytest.fixture
async def ablt() -> AsyncIterator[AbltEmulator]:
    emulator = AbltEmulator(api_key=ABLT_KEY)
    await emulator.start()
    try:
        yield emulator
    finally:
        await emulator.close()


def bot_environment(discord: DiscordEmulator, ablt: AbltEmulator, database: Path, **extra: str) -> dict[str, str]:
    """The variables a user would put in `.env`, aimed at the emulators."""
    return {
        "DISCORD_TOKEN": BOT_TOKEN,
        "DISCORD_API_BASE_URL": discord.api_base_url,
        "DISCORD_GATEWAY_URL": discord.gateway_url,
        "DATABASE_URL": f"sqlite:///{database}",
        "ABLT_API_KEY": ABLT_KEY,
        "ABLT_BASE_URL": ablt.base_url,
        "ABLT_BOT_SLUG": "taxson",
        **extra,
    }


class BotProcess:
    """The real bot, served in-process through the same `serve` entry point `python -m bot` uses."""

    def __init__(self, settings: Settings, discord: DiscordEmulator) -> None:
        self.settings = settings
        self._discord = discord
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._stop = asyncio.Event()
        discord, readies = self._discord, self._discord.ready_count
        task = self._task = asyncio.create_task(serve(self.settings, self._stop))
        await discord.wait_for(lambda: discord.ready_count > readies or task.done(), 15, "the bot to connect")
        if task.done():
            task.result()
        await self._discord.wait_for_commands(timeout=10)

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await asyncio.wait_for(self._task, timeout=20)
            self._task = None


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return tmp_path / "data" / "bot.sqlite3"


@pytest.fixture
async def make_bot(
    discord_emulator: DiscordEmulator, ablt: AbltEmulator, database: Path
) -> AsyncIterator[Callable[..., BotProcess]]:
    """Build bots on demand (several share one database to prove restarts); all are stopped at the end."""
    bots: list[BotProcess] = []

    def make(**extra: str) -> BotProcess:
        env = bot_environment(discord_emulator, ablt, database, **extra)
        bot = BotProcess(load_settings(env, None), discord_emulator)
        bots.append(bot)
        return bot

    yield make
    for bot in bots:
        await bot.stop()


@pytest.fixture
async def running_bot(make_bot: Callable[..., BotProcess]) -> AsyncIterator[BotProcess]:
    bot = make_bot(PROVIDER_TIMEOUT_S="2")
    await bot.start()
    try:
        yield bot
    finally:
        await bot.stop()


def messages_text(records: list[Any]) -> list[str]:
    return [record.content for record in records]
