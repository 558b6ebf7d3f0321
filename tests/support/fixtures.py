"""The shared fixtures: the real bot against loopback Discord and provider emulators, a real SQLite file or a
throwaway PostgreSQL database, and the audits every test gets (no secret in the log, no emulator error)."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from bot.config.settings import load_settings
from bot.ops.logs import QUIET_LOGGERS
from bot.store import Store
from tests.emulators.ablt import AbltEmulator
from tests.emulators.agentverse import AgentverseEmulator
from tests.emulators.convai import ConvaiEmulator
from tests.emulators.discord import DiscordEmulator
from tests.emulators.magicai import MagicAIEmulator
from tests.emulators.soundverse import SoundverseEmulator
from tests.support import log_audit
from tests.support.databases import KINDS, postgres_database
from tests.support.harness import (
    ABLT_KEY,
    BOT_TOKEN,
    CONVAI_KEY,
    MAGICAI_KEY,
    MAGICAI_PROJECT,
    REPO,
    SOUNDVERSE_KEY,
    BotProcess,
    Launcher,
    bot_environment,
)

# Property tests (Hypothesis) run on shared, noisy machines: no per-example deadline, and a bounded number of
# examples so the whole suite stays quick. Importing Hypothesis here, at collection, also keeps its pytest
# plugin from importing it at the end of a run, which CPython 3.11.7's assertion rewriting can crash on
# ("AST constructor recursion depth mismatch").
settings.register_profile("suite", deadline=None, max_examples=100, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("suite")

SETTING_PREFIXES = (
    "DISCORD_",
    "ABLT_",
    "DATABASE_",
    "PROVIDER_",
    "LOG_LEVEL",
    "MAGICAI_",
    "SOUNDVERSE_",
    "CONVAI_",
    "AGENTVERSE_",
    "SHARD_",
    "REST_RATE",
    "HEALTH_",
)


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's own settings."""
    for name in list(os.environ):
        if name.startswith(SETTING_PREFIXES):
            monkeypatch.delenv(name)


@pytest.fixture(autouse=True)
def no_emulator_server_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """aiohttp logs handler crashes instead of raising them, so a clean run must log none."""
    yield
    crashes = [r for r in caplog.records if r.name.startswith("aiohttp.server") and r.levelno >= logging.ERROR]
    assert not crashes, [r.getMessage() for r in crashes]


@pytest.fixture(autouse=True)
def no_secrets_in_logs(request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """No log line of any test, as the bot's formatter writes it, shows a secret (tests/support/log_audit.py)."""
    if getattr(request.module, "AUDIT_LOGS_AT_DEBUG", False):
        caplog.set_level(logging.DEBUG)
        for name in QUIET_LOGGERS:
            caplog.set_level(logging.WARNING, logger=name)
    yield
    records = [*caplog.get_records("setup"), *caplog.get_records("call"), *caplog.records]
    leaked = log_audit.leaks(records, log_audit.known_secrets(request))
    assert not leaked, leaked


@pytest.fixture
def forbid_in_logs(request: pytest.FixtureRequest) -> Callable[..., None]:
    """`forbid_in_logs(value, ...)`: no log line of this test may show these values."""
    return lambda *values: log_audit.forbid(request, *values)


@pytest.fixture
async def discord_emulator() -> AsyncIterator[DiscordEmulator]:
    emulator = DiscordEmulator(token=BOT_TOKEN)
    await emulator.start()
    try:
        yield emulator
    finally:
        await emulator.close()
    assert emulator.internal_errors == [], "the Discord emulator itself failed"


@pytest.fixture
async def ablt() -> AsyncIterator[AbltEmulator]:
    emulator = AbltEmulator(api_key=ABLT_KEY)
    await emulator.start()
    try:
        yield emulator
    finally:
        await emulator.close()


@pytest.fixture
async def magicai() -> AsyncIterator[MagicAIEmulator]:
    async with MagicAIEmulator(api_key=MAGICAI_KEY, project_ids=(MAGICAI_PROJECT,)) as emulator:
        yield emulator


@pytest.fixture
async def soundverse() -> AsyncIterator[SoundverseEmulator]:
    async with SoundverseEmulator(api_key=SOUNDVERSE_KEY) as emulator:
        yield emulator


@pytest.fixture
async def convai() -> AsyncIterator[ConvaiEmulator]:
    async with ConvaiEmulator(api_key=CONVAI_KEY) as emulator:
        yield emulator


@pytest.fixture
async def agentverse() -> AsyncIterator[AgentverseEmulator]:
    async with AgentverseEmulator() as emulator:
        yield emulator


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Modules that set `BOTH_STORES = True` run every test using `database` on SQLite and on PostgreSQL (unless
    the test names its own stores with `@pytest.mark.parametrize("database", [...], indirect=True)`)."""
    if "database" in metafunc.fixturenames and getattr(metafunc.module, "BOTH_STORES", False):
        named = [m.args[0] for m in metafunc.definition.iter_markers("parametrize")]
        if not any("database" in (n.split(",") if isinstance(n, str) else n) for n in named):  # a test's own choice
            metafunc.parametrize("database", KINDS, indirect=True)


@pytest.fixture
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """The bot's DATABASE_URL for this test: a SQLite file (the default) or a throwaway PostgreSQL database."""
    if getattr(request, "param", "sqlite") == "postgresql":
        async with postgres_database() as url:
            yield url
    else:
        yield f"sqlite:///{tmp_path / 'data' / 'bot.sqlite3'}"


@pytest.fixture
async def store(database: str) -> AsyncIterator[Store]:
    """The store opened (created and migrated) on this test's `database`, closed after it."""
    opened = await Store.open(database)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def make_bot(
    discord_emulator: DiscordEmulator,
    ablt: AbltEmulator,
    magicai: MagicAIEmulator,
    soundverse: SoundverseEmulator,
    convai: ConvaiEmulator,
    agentverse: AgentverseEmulator,
    database: str,
) -> AsyncIterator[Callable[..., BotProcess]]:
    """Build bots on demand (several share one database to prove restarts); all are stopped at the end."""
    bots: list[BotProcess] = []

    def make(**extra: str) -> BotProcess:
        env = bot_environment(
            discord_emulator,
            ablt,
            database,
            magicai=magicai,
            soundverse=soundverse,
            convai=convai,
            agentverse=agentverse,
            **extra,
        )
        bot = BotProcess(load_settings(env, None), discord_emulator)
        bots.append(bot)
        return bot

    yield make
    for bot in bots:
        await bot.stop()


@pytest.fixture
async def launch(discord_emulator: DiscordEmulator, ablt: AbltEmulator, tmp_path: Path) -> AsyncIterator[Launcher]:
    """`python -m bot` as a user runs it, on a SQLite file in `tmp_path`; every process is killed at the end."""
    processes: list[asyncio.subprocess.Process] = []

    async def start(*args: str, **extra: str) -> asyncio.subprocess.Process:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "ABLT_", "DATABASE_"))}
        env.update(bot_environment(discord_emulator, ablt, tmp_path / "bot.sqlite3", **extra))
        env["PYTHONPATH"] = str(REPO)
        process = await asyncio.create_subprocess_exec(
            sys.executable, *(args or ("-m", "bot")), cwd=tmp_path, env=env, stderr=asyncio.subprocess.PIPE
        )
        processes.append(process)
        readies = discord_emulator.ready_count
        await discord_emulator.wait_for(
            lambda: discord_emulator.ready_count > readies or process.returncode is not None, 30, "bot to connect"
        )
        await discord_emulator.wait_for_commands(timeout=10)
        return process

    yield start
    for process in processes:
        if process.returncode is None:
            process.kill()
            await process.wait()


@pytest.fixture
async def running_bot(make_bot: Callable[..., BotProcess]) -> AsyncIterator[BotProcess]:
    bot = make_bot(PROVIDER_TIMEOUT_S="2")
    await bot.start()
    try:
        yield bot
    finally:
        await bot.stop()
