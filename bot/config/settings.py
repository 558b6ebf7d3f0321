"""Settings from the environment and `.env`, validated once at start-up; secrets never printed."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar
from urllib.parse import unquote

from dotenv import dotenv_values

from bot.config.errors import ConfigError as ConfigError
from bot.config.parsing import Getter, bounded_number, flag, positive_float, url
from bot.config.provider_settings import (
    AbltSettings,
    AgentverseSettings,
    ConvaiSettings,
    MagicAISettings,
    SoundverseSettings,
    ablt_settings,
    agentverse_settings,
    convai_settings,
    magicai_settings,
    soundverse_settings,
)
from bot.config.scale import (
    DEFAULT_DATABASE_URL,
    ScaleSettings,
    database_password,
    database_setting,
    redis_password,
    scale_settings,
)
from bot.config.secret import Secret
from bot.config.usage_settings import UsageSettings, usage_settings

DEFAULT_DISCORD_API_BASE_URL = "https://discord.com/api/v10"
DEFAULT_DISCORD_GATEWAY_URL = "wss://gateway.discord.gg/"
DEFAULT_PROVIDER_TIMEOUT_S = 60.0
DEFAULT_CONVERSATION_IDLE_S = 3600.0
MAX_COOLDOWN_S = 3600.0
DEFAULT_MAX_REPLY_CHARS = 20_000
"""Ten Discord messages of 2,000 characters (bot/core/reply_cap.py cuts a reply there)."""
MIN_REPLY_CHARS = 2_000
MAX_REPLY_CHARS = 200_000

_T = TypeVar("_T")


@dataclass(frozen=True)
class CommunitySettings:
    """Bot-wide defaults for every server (each server's managers may change theirs), and DMs."""

    allow_dms: bool = False
    cooldown_s: float = 0.0
    """Seconds a member waits between messages to the AI; 0: no cooldown."""
    max_conversations: int = 0
    """Conversations a server may have going at once; 0: no cap."""
    conversation_idle_s: float = DEFAULT_CONVERSATION_IDLE_S
    """A conversation nobody spoke in for this long no longer counts towards the cap."""
    user_installs: bool = False
    """Members may add the app to their own account and use it anywhere (bot/core/places.py)."""
    user_install_providers: tuple[str, ...] = ()
    """The providers members may use through their own install; empty: every configured one."""


@dataclass(frozen=True)
class Settings:
    discord_token: Secret
    discord_api_base_url: str = DEFAULT_DISCORD_API_BASE_URL
    discord_gateway_url: str = DEFAULT_DISCORD_GATEWAY_URL
    database_url: Secret = field(default_factory=lambda: Secret(DEFAULT_DATABASE_URL))
    """SQLite file or PostgreSQL database; a Secret because a PostgreSQL URL carries its password."""
    scale: ScaleSettings = field(default_factory=ScaleSettings)
    provider_timeout_s: float = DEFAULT_PROVIDER_TIMEOUT_S
    max_reply_chars: int = DEFAULT_MAX_REPLY_CHARS
    """A reply longer than this is cut there and the provider no longer read (bot/core/reply_cap.py)."""
    log_level: str = "INFO"
    community: CommunitySettings = field(default_factory=CommunitySettings)
    usage: UsageSettings = field(default_factory=UsageSettings)
    """Quotas and the usage ledger (bot/config/usage_settings.py)."""
    ablt: AbltSettings | None = None
    magicai: MagicAISettings | None = None
    soundverse: SoundverseSettings | None = None
    convai: ConvaiSettings | None = None
    agentverse: AgentverseSettings | None = None
    secrets: tuple[Secret, ...] = field(default=(), repr=False)

    @property
    def configured_providers(self) -> tuple[str, ...]:
        sections = (
            ("ablt", self.ablt),
            ("magicai", self.magicai),
            ("soundverse", self.soundverse),
            ("convai", self.convai),
            ("agentverse", self.agentverse),
        )
        return tuple(name for name, value in sections if value is not None)


def load_settings(environ: Mapping[str, str], env_file: Path | None = Path(".env")) -> Settings:
    """Build settings from `environ`, falling back to `env_file`; raise the first ConfigError found."""
    settings, problems = inspect_settings(environ, env_file)
    if problems:
        raise problems[0]
    assert settings is not None  # noqa: S101 - no problems means settings were built
    return settings


def inspect_settings(
    environ: Mapping[str, str], env_file: Path | None = Path(".env")
) -> tuple[Settings | None, list[ConfigError]]:
    """Settings and every problem found (not just the first), for start-up and `python -m bot check`."""
    values = merged_values(environ, env_file)
    problems: list[ConfigError] = []

    def get(name: str) -> str | None:
        value = values.get(name)
        return value.strip() if value and value.strip() else None

    def attempt(parse: Callable[[], _T], fallback: _T) -> _T:
        try:
            return parse()
        except ConfigError as exc:
            problems.append(exc)
            return fallback

    database_url = attempt(lambda: database_setting(get), DEFAULT_DATABASE_URL)
    token = get("DISCORD_TOKEN")
    if token is None:
        problems.append(
            ConfigError("DISCORD_TOKEN is not set: copy .env.example to .env and put your bot token there.")
        )
    settings = Settings(
        discord_token=Secret(token or ""),
        ablt=attempt(lambda: ablt_settings(get), None),
        magicai=attempt(lambda: magicai_settings(get), None),
        soundverse=attempt(lambda: soundverse_settings(get), None),
        convai=attempt(lambda: convai_settings(get), None),
        agentverse=attempt(lambda: agentverse_settings(get), None),
        discord_api_base_url=attempt(
            lambda: url(get, "DISCORD_API_BASE_URL", DEFAULT_DISCORD_API_BASE_URL, ("http", "https")), ""
        ),
        discord_gateway_url=attempt(
            lambda: url(get, "DISCORD_GATEWAY_URL", DEFAULT_DISCORD_GATEWAY_URL, ("ws", "wss")), ""
        ),
        database_url=Secret(database_url),
        scale=attempt(lambda: scale_settings(get, database_url), ScaleSettings()),
        provider_timeout_s=attempt(
            lambda: positive_float(get, "PROVIDER_TIMEOUT_S", DEFAULT_PROVIDER_TIMEOUT_S), DEFAULT_PROVIDER_TIMEOUT_S
        ),
        max_reply_chars=attempt(lambda: _max_reply_chars(get), DEFAULT_MAX_REPLY_CHARS),
        log_level=attempt(lambda: _log_level(get("LOG_LEVEL") or "INFO"), "INFO"),
        community=attempt(lambda: _community_settings(get), CommunitySettings()),
        usage=attempt(lambda: usage_settings(get), UsageSettings()),
    )  # the keywords in this order, so problems are reported in it: the providers before the rest
    if not problems and not settings.configured_providers:
        problems.append(
            ConfigError(
                "No AI provider is configured: set ABLT_API_KEY, MAGICAI_API_KEY, SOUNDVERSE_API_KEY, CONVAI_API_KEY"
                " or AGENTVERSE_API_KEY (see .env.example for every provider's settings)."
            )
        )
    if problems:
        return None, problems
    return replace(settings, secrets=_secrets(settings)), []


def _secrets(settings: Settings) -> tuple[Secret, ...]:
    """Every credential in `settings` (the token, API keys, Agentverse's refresh token, the database password),
    for the log to mask."""
    sections = (settings.ablt, settings.magicai, settings.soundverse, settings.convai, settings.agentverse)
    keys = [section.api_key for section in sections if section is not None]
    agentverse = settings.agentverse
    if agentverse is not None and agentverse.refresh_token is not None:
        keys.append(agentverse.refresh_token)
    redis = redis_password(settings.scale.rest_rate_redis_url)
    if settings.scale.rest_rate_redis_url is not None:
        keys.append(settings.scale.rest_rate_redis_url)
    if redis:
        keys.extend({Secret(redis), Secret(unquote(redis))})
    password = database_password(settings.database_url.reveal())
    if password:  # as written in the URL (%-encoded) and as the driver sees it (decoded): mask both
        keys.extend({Secret(password), Secret(unquote(password))})
    return tuple(s for s in (settings.discord_token, *keys) if s.reveal())


def env_line(env_file: Path, variable: str) -> int | None:
    """The line of `.env` that sets `variable`, to point a person at it."""
    if not env_file.is_file():
        return None
    pattern = re.compile(rf"^\s*(export\s+)?{re.escape(variable)}\s*=")
    for number, line in enumerate(env_file.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        if pattern.match(line):
            return number
    return None


def merged_values(environ: Mapping[str, str], env_file: Path | None) -> dict[str, str]:
    """The environment wins over `.env`, as python-dotenv's `override=False` does."""
    merged: dict[str, str] = {}
    if env_file is not None and env_file.is_file():
        merged.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    merged.update(environ)
    return merged


def _community_settings(get: Getter) -> CommunitySettings:
    return CommunitySettings(
        allow_dms=flag(get, "ALLOW_DMS", default=False),
        cooldown_s=bounded_number(get, "DEFAULT_COOLDOWN_S", 0.0, MAX_COOLDOWN_S),
        max_conversations=int(bounded_number(get, "DEFAULT_MAX_CONVERSATIONS", 0, 10_000, whole=True)),
        conversation_idle_s=positive_float(get, "CONVERSATION_IDLE_S", DEFAULT_CONVERSATION_IDLE_S),
        user_installs=flag(get, "USER_INSTALLS", default=False),
        user_install_providers=_user_install_providers(get),
    )


PROVIDER_KEYS = ("ablt", "magicai", "soundverse", "convai", "agentverse")
BACKGROUND_PROVIDERS = ("agentverse",)
"""Providers whose answers may come after the turn (polled in the background): through a member's own install
there is no channel to post them in once the interaction's token is gone, so they are not offered there."""


def _user_install_providers(get: Getter) -> tuple[str, ...]:
    """USER_INSTALL_PROVIDERS: comma-separated provider keys (none of BACKGROUND_PROVIDERS); empty: all."""
    raw = get("USER_INSTALL_PROVIDERS")
    keys = tuple(dict.fromkeys(k.strip().lower() for k in (raw or "").split(",") if k.strip()))
    allowed = [k for k in PROVIDER_KEYS if k not in BACKGROUND_PROVIDERS]
    if unknown := [k for k in keys if k not in allowed]:
        raise ConfigError(
            f"USER_INSTALL_PROVIDERS: {', '.join(unknown)} cannot be offered through members' own installs;"
            f" use some of {', '.join(allowed)}, or leave it empty for all of them."
        )
    return keys


def _max_reply_chars(get: Getter) -> int:
    """MAX_REPLY_CHARS: from one Discord message to a hundred; the default when unset."""
    if get("MAX_REPLY_CHARS") is None:
        return DEFAULT_MAX_REPLY_CHARS
    return int(bounded_number(get, "MAX_REPLY_CHARS", MIN_REPLY_CHARS, MAX_REPLY_CHARS, whole=True))


def _log_level(value: str) -> str:
    level = value.upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ConfigError("LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR.")
    return level
