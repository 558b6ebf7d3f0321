"""Settings come from the environment, then `.env`; bad or missing ones stop start-up with one clear line."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config.secret import Secret
from bot.config.settings import ConfigError, load_settings
from bot.ops.logs import RedactingFormatter

BASE = {"DISCORD_TOKEN": "discord-secret-token", "ABLT_API_KEY": "ablt-secret-key"}
PG = {**BASE, "DATABASE_URL": "postgresql://bot:pg-secret@db.example:5432/bot"}


def test_defaults_point_at_the_real_services(tmp_path: Path) -> None:
    settings = load_settings(BASE, tmp_path / "missing.env")
    assert settings.discord_api_base_url == "https://discord.com/api/v10"
    assert settings.discord_gateway_url == "wss://gateway.discord.gg/"
    assert settings.database_url.reveal() == "sqlite:///data/bot.sqlite3"
    assert settings.scale.shard_count is None and settings.scale.shard_ids is None
    assert settings.scale.rest_rate_per_s == 45 and settings.scale.health_port is None
    assert settings.ablt is not None and settings.ablt.base_url == "https://api.ablt.ai"
    assert settings.configured_providers == ("ablt",)


def test_environment_wins_over_dotenv(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("DISCORD_TOKEN=from-file\nABLT_API_KEY=file-key\nABLT_BOT_SLUG=taxson\n")
    settings = load_settings({"DISCORD_TOKEN": "from-env"}, env_file)
    assert settings.discord_token.reveal() == "from-env"
    assert settings.ablt is not None and settings.ablt.api_key.reveal() == "file-key"
    assert settings.ablt.bot_slug == "taxson"


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"ABLT_API_KEY": "k"}, "DISCORD_TOKEN"),
        ({"DISCORD_TOKEN": "t"}, "ABLT_API_KEY"),
        ({**BASE, "DATABASE_URL": "postgres://x"}, "DATABASE_URL"),
        ({**BASE, "DATABASE_URL": "mysql://u@h/db"}, "DATABASE_URL"),
        ({**BASE, "DATABASE_URL": "sqlite://"}, "DATABASE_URL"),
        ({**BASE, "SHARD_COUNT": "four"}, "SHARD_COUNT"),
        ({**BASE, "SHARD_COUNT": "0"}, "SHARD_COUNT"),
        ({**BASE, "SHARD_IDS": "0,1"}, "SHARD_IDS needs SHARD_COUNT"),
        ({**PG, "SHARD_COUNT": "4", "SHARD_IDS": "0,4"}, "shards are numbered 0 to 3"),
        ({**PG, "SHARD_COUNT": "4", "SHARD_IDS": "0-2,1"}, "shard 1 more than once"),
        ({**PG, "SHARD_COUNT": "4", "SHARD_IDS": "a,b"}, "SHARD_IDS must list shard numbers"),
        ({**BASE, "SHARD_COUNT": "4", "SHARD_IDS": "0,1"}, "SQLite serves a single process"),
        ({**BASE, "REST_RATE_PER_S": "60"}, "REST_RATE_PER_S"),
        ({**BASE, "HEALTH_PORT": "70000"}, "HEALTH_PORT"),
        ({**BASE, "ABLT_BASE_URL": "not a url"}, "ABLT_BASE_URL"),
        ({**BASE, "DISCORD_GATEWAY_URL": "http://x"}, "DISCORD_GATEWAY_URL"),
        ({**BASE, "PROVIDER_TIMEOUT_S": "-1"}, "PROVIDER_TIMEOUT_S"),
        ({**BASE, "ABLT_BOT_SLUG": "a", "ABLT_BOT_UID": "b"}, "ABLT_BOT_SLUG"),
        ({**BASE, "ALLOW_DMS": "maybe"}, "ALLOW_DMS"),
        ({**BASE, "DEFAULT_COOLDOWN_S": "-5"}, "DEFAULT_COOLDOWN_S"),
        ({**BASE, "DEFAULT_COOLDOWN_S": "a while"}, "DEFAULT_COOLDOWN_S"),
        ({**BASE, "DEFAULT_MAX_CONVERSATIONS": "2.5"}, "DEFAULT_MAX_CONVERSATIONS"),
        ({**BASE, "CONVERSATION_IDLE_S": "0"}, "CONVERSATION_IDLE_S"),
    ],
)
def test_bad_settings_name_the_variable(tmp_path: Path, env: dict[str, str], names: str) -> None:
    with pytest.raises(ConfigError, match=names):
        load_settings(env, tmp_path / "none")


def test_shards_of_a_process_and_its_rest_share_are_read_with_postgresql() -> None:
    settings = load_settings({**PG, "SHARD_COUNT": "4", "SHARD_IDS": "2-3", "REST_RATE_PER_S": "22.5"}, None)
    assert settings.scale.shard_count == 4 and settings.scale.shard_ids == (2, 3)
    assert settings.scale.rest_rate_per_s == 22.5
    assert "pg-secret" in [secret.reveal() for secret in settings.secrets]  # masked in every log line
    assert "pg-secret" not in repr(settings)


def test_community_defaults_refuse_dms_and_set_no_limits() -> None:
    community = load_settings(BASE, None).community
    assert (community.allow_dms, community.cooldown_s, community.max_conversations) == (False, 0.0, 0)
    assert community.conversation_idle_s == 3600
    chosen = load_settings(
        {**BASE, "ALLOW_DMS": "yes", "DEFAULT_COOLDOWN_S": "12.5", "DEFAULT_MAX_CONVERSATIONS": "20"}, None
    ).community
    assert (chosen.allow_dms, chosen.cooldown_s, chosen.max_conversations) == (True, 12.5, 20)


def test_secrets_never_show_in_repr() -> None:
    settings = load_settings(BASE, None)
    assert "discord-secret-token" not in repr(settings)
    assert "ablt-secret-key" not in repr(settings)
    assert repr(Secret("x")) == "Secret('***')"


def test_log_formatter_masks_secrets_and_authorization_headers() -> None:
    formatter = RedactingFormatter("%(message)s", [Secret("discord-secret-token"), Secret("ablt-secret-key")])
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "headers %r token %s", None, None)
    record.args = ({"Authorization": "Bearer other-token"}, "discord-secret-token")
    text = formatter.format(record)
    assert "discord-secret-token" not in text and "other-token" not in text
    assert "***" in text


def run_bot(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "ABLT_", "DATABASE_"))}
    return subprocess.run(
        [sys.executable, "-m", "bot"],
        env={**clean, **env, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_start_without_token_exits_nonzero_with_one_line(tmp_path: Path) -> None:
    result = run_bot({"ABLT_API_KEY": "k"}, tmp_path)
    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0
    assert "DISCORD_TOKEN" in result.stderr


def test_start_without_any_provider_exits_nonzero_with_one_line(tmp_path: Path) -> None:
    result = run_bot({"DISCORD_TOKEN": "t"}, tmp_path)
    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0
    assert "ABLT_API_KEY" in result.stderr


def test_magicai_and_soundverse_sections(tmp_path: Path) -> None:
    project = "5f738671-0ccc-4d32-9b7a-ddab669ab799"
    settings = load_settings(
        {
            "DISCORD_TOKEN": "t",
            "MAGICAI_API_KEY": "magic-secret",
            "MAGICAI_PROJECT_ID": project,
            "MAGICAI_AUTH_HEADER": "x-api-key",
            "SOUNDVERSE_API_KEY": "sound-secret",
        },
        tmp_path / "none",
    )
    assert settings.configured_providers == ("magicai", "soundverse")
    assert settings.magicai is not None and settings.magicai.project_id == project
    assert settings.magicai.auth_header == "x-api-key" and settings.magicai.base_url == "https://api.magicai.ai"
    assert settings.soundverse is not None and settings.soundverse.chat_path == "/assistant/chat"
    assert {s.reveal() for s in settings.secrets} == {"t", "magic-secret", "sound-secret"}


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"MAGICAI_API_KEY": "k"}, "MAGICAI_PROJECT_ID"),
        ({"MAGICAI_API_KEY": "k", "MAGICAI_PROJECT_ID": "not-a-uuid"}, "MAGICAI_PROJECT_ID"),
        (
            {
                "MAGICAI_API_KEY": "k",
                "MAGICAI_PROJECT_ID": "5f738671-0ccc-4d32-9b7a-ddab669ab799",
                "MAGICAI_AUTH_HEADER": "a b",
            },
            "MAGICAI_AUTH_HEADER",
        ),
        ({"SOUNDVERSE_API_KEY": "k", "SOUNDVERSE_CHAT_PATH": "assistant"}, "SOUNDVERSE_CHAT_PATH"),
    ],
)
def test_bad_provider_settings_name_the_variable(tmp_path: Path, env: dict[str, str], names: str) -> None:
    with pytest.raises(ConfigError, match=names):
        load_settings({"DISCORD_TOKEN": "t", **env}, tmp_path / "none")


@pytest.mark.parametrize(("raw", "expected"), [("off", False), ("No", False), ("1", True), ("", True)])
def test_convai_voice_replies_flag(tmp_path: Path, raw: str, expected: bool) -> None:
    settings = load_settings({"DISCORD_TOKEN": "t", "CONVAI_API_KEY": "k", "CONVAI_VOICE_REPLIES": raw}, None)
    assert settings.convai is not None and settings.convai.voice_replies is expected
    assert settings.convai.character_id is None and settings.convai.base_url == "https://api.convai.com"


def test_convai_voice_replies_rejects_nonsense() -> None:
    with pytest.raises(ConfigError, match="CONVAI_VOICE_REPLIES"):
        load_settings({"DISCORD_TOKEN": "t", "CONVAI_API_KEY": "k", "CONVAI_VOICE_REPLIES": "maybe"}, None)


def test_agentverse_section() -> None:
    settings = load_settings(
        {
            "DISCORD_TOKEN": "t",
            "AGENTVERSE_API_KEY": "av-key",
            "AGENTVERSE_EMAIL": "me@example.com",
            "AGENTVERSE_REFRESH_TOKEN": "av-refresh",
        },
        None,
    )
    av = settings.agentverse
    assert av is not None and av.model == "talkative-01" and av.idle_limit_s == 300.0
    assert av.base_url == "https://agentverse.ai" and av.auth_url == "https://accounts.fetch.ai"
    assert {s.reveal() for s in settings.secrets} >= {"av-key", "av-refresh"}  # both masked in logs


def test_agentverse_needs_an_email() -> None:
    with pytest.raises(ConfigError, match="AGENTVERSE_EMAIL"):
        load_settings({"DISCORD_TOKEN": "t", "AGENTVERSE_API_KEY": "k"}, None)
