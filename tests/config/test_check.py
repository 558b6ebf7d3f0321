"""`python -m bot check`: every setting validated with its `.env` line, one real call per service."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from tests.emulators.ablt import AbltEmulator
from tests.emulators.agentverse import AgentverseEmulator
from tests.emulators.convai import ConvaiEmulator
from tests.emulators.discord import DiscordEmulator
from tests.emulators.magicai import MagicAIEmulator
from tests.emulators.soundverse import SoundverseEmulator
from tests.support.databases import postgres_database
from tests.support.harness import CONVAI_KEY, MAGICAI_KEY, REPO, bot_environment


async def check(env: dict[str, str], cwd: Path) -> tuple[int, str]:
    clean = {k: v for k, v in os.environ.items() if not k.isupper() or k in {"PATH", "HOME", "LANG"}}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "check",
        cwd=cwd,
        env={**clean, **env, "PYTHONPATH": str(REPO)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode()


@pytest.fixture
def every_service(
    discord_emulator: DiscordEmulator,
    ablt: AbltEmulator,
    magicai: MagicAIEmulator,
    soundverse: SoundverseEmulator,
    convai: ConvaiEmulator,
    agentverse: AgentverseEmulator,
    tmp_path: Path,
) -> dict[str, str]:
    """The `.env` of a set-up with every service, aimed at the emulators."""
    return bot_environment(
        discord_emulator,
        ablt,
        tmp_path / "db.sqlite3",
        magicai=magicai,
        soundverse=soundverse,
        convai=convai,
        agentverse=agentverse,
    )


async def test_all_services_answer_and_the_table_says_ok(every_service: dict[str, str], tmp_path: Path) -> None:
    code, out = await check(every_service, tmp_path)
    assert code == 0, out
    for service in ("Database", "Discord", "aBLT", "Magic AI", "Soundverse", "Convai", "Agentverse"):
        assert any(line.startswith(service) and " ok " in line for line in out.splitlines()), out
    assert "db.sqlite3; this process runs every shard" in out


async def test_the_postgresql_database_and_this_processs_shards_are_reported(
    every_service: dict[str, str], tmp_path: Path
) -> None:
    async with postgres_database() as url:
        code, out = await check(every_service | {"DATABASE_URL": url, "SHARD_COUNT": "4", "SHARD_IDS": "2,3"}, tmp_path)
    assert code == 0, out
    row = next(line for line in out.splitlines() if line.startswith("Database"))
    assert " ok " in row and "postgresql" in row and "runs shards 2,3 of 4" in row


async def test_an_unreachable_postgresql_fails_its_row_without_showing_the_password(
    every_service: dict[str, str], tmp_path: Path
) -> None:
    url = "postgresql://bot:hunter2-secret@127.0.0.1:9/bot"
    code, out = await check(every_service | {"DATABASE_URL": url}, tmp_path)
    assert code == 1
    row = next(line for line in out.splitlines() if line.startswith("Database"))
    assert "FAILED" in row and "cannot open it" in row
    assert "hunter2-secret" not in out


async def test_refused_keys_and_unreachable_services_fail_with_reasons(
    every_service: dict[str, str], tmp_path: Path
) -> None:
    env = every_service | {
        "ABLT_API_KEY": "wrong",
        "DISCORD_TOKEN": "wrong",
        "SOUNDVERSE_BASE_URL": "http://127.0.0.1:9",
    }
    code, out = await check(env, tmp_path)
    assert code == 1
    rows = {line.split("  ")[0].strip(): line for line in out.splitlines()[1:]}
    assert "FAILED" in rows["aBLT"] and "401" in rows["aBLT"] and "key refused" in rows["aBLT"]
    assert "FAILED" in rows["Discord"] and "401" in rows["Discord"]
    assert "cannot reach it" in rows["Soundverse"]
    assert " ok " in rows["Magic AI"]
    assert "wrong" not in out and MAGICAI_KEY not in out and CONVAI_KEY not in out  # keys are never printed


async def test_bad_settings_are_all_listed_with_their_env_lines(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "# comment\nDISCORD_TOKEN=token\nMAGICAI_API_KEY=key\nMAGICAI_PROJECT_ID=not-a-uuid\nPROVIDER_TIMEOUT_S=-3\n"
    )
    code, out = await check({}, tmp_path)
    assert code == 1
    assert ".env line 4: MAGICAI_PROJECT_ID" in out
    assert ".env line 5: PROVIDER_TIMEOUT_S" in out


async def test_bad_shard_settings_stop_with_one_line_each(tmp_path: Path) -> None:
    env = {"DISCORD_TOKEN": "t", "ABLT_API_KEY": "k", "DATABASE_URL": "postgresql://u@h/db"}
    code, out = await check(env | {"SHARD_COUNT": "3", "SHARD_IDS": "1,3"}, tmp_path)
    assert code == 1 and "SHARD_IDS lists shard 3, but with SHARD_COUNT=3 shards are numbered 0 to 2" in out
    code, out = await check(env | {"SHARD_COUNT": "many"}, tmp_path)
    assert code == 1 and "SHARD_COUNT must be a number of shards" in out
