"""Settings from the environment and `.env`, validated once at start-up; secrets never printed."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar
from urllib.parse import unquote, urlparse

from dotenv import dotenv_values

from bot.config.errors import ConfigError as ConfigError
from bot.config.scale import (
    DEFAULT_DATABASE_URL,
    ScaleSettings,
    database_password,
    database_setting,
    scale_settings,
)

DEFAULT_DISCORD_API_BASE_URL = "https://discord.com/api/v10"
DEFAULT_DISCORD_GATEWAY_URL = "wss://gateway.discord.gg/"
DEFAULT_ABLT_BASE_URL = "https://api.ablt.ai"
DEFAULT_MAGICAI_BASE_URL = "https://api.magicai.ai"
DEFAULT_SOUNDVERSE_BASE_URL = "https://api.soundverse.ai"
DEFAULT_SOUNDVERSE_CHAT_PATH = "/assistant/chat"
DEFAULT_CONVAI_BASE_URL = "https://api.convai.com"
DEFAULT_AGENTVERSE_BASE_URL = "https://agentverse.ai"
DEFAULT_AGENTVERSE_AUTH_URL = "https://accounts.fetch.ai"
DEFAULT_AGENTVERSE_MODEL = "talkative-01"
DEFAULT_AGENTVERSE_IDLE_S = 300.0
DEFAULT_PROVIDER_TIMEOUT_S = 60.0
DEFAULT_CONVERSATION_IDLE_S = 3600.0
MAX_COOLDOWN_S = 3600.0
DEFAULT_MAX_REPLY_CHARS = 20_000
"""Ten Discord messages of 2,000 characters (bot/core/reply_cap.py cuts a reply there)."""
MIN_REPLY_CHARS = 2_000
MAX_REPLY_CHARS = 200_000
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_UUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")

_Getter = Callable[[str], "str | None"]
_T = TypeVar("_T")


class Secret:
    """A credential that never shows itself in `repr`, `str`, logs or tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class AbltSettings:
    api_key: Secret
    base_url: str = DEFAULT_ABLT_BASE_URL
    bot_slug: str | None = None
    bot_uid: str | None = None


@dataclass(frozen=True)
class MagicAISettings:
    api_key: Secret
    project_id: str
    base_url: str = DEFAULT_MAGICAI_BASE_URL
    auth_header: str | None = None
    """None: `Authorization: Bearer <key>`; otherwise the key is sent raw in this header."""


@dataclass(frozen=True)
class SoundverseSettings:
    api_key: Secret
    base_url: str = DEFAULT_SOUNDVERSE_BASE_URL
    chat_path: str = DEFAULT_SOUNDVERSE_CHAT_PATH


@dataclass(frozen=True)
class ConvaiSettings:
    api_key: Secret
    character_id: str | None = None
    """Default character when `/chat` names none."""
    base_url: str = DEFAULT_CONVAI_BASE_URL
    voice_replies: bool = True


@dataclass(frozen=True)
class AgentverseSettings:
    api_key: Secret
    email: str
    refresh_token: Secret | None = None
    base_url: str = DEFAULT_AGENTVERSE_BASE_URL
    auth_url: str = DEFAULT_AGENTVERSE_AUTH_URL
    model: str = DEFAULT_AGENTVERSE_MODEL
    idle_limit_s: float = DEFAULT_AGENTVERSE_IDLE_S
    """How long the engine may stay silent before the bot stops waiting (a message resumes)."""


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
    values = _merged_values(environ, env_file)
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
    ablt = attempt(lambda: _ablt_settings(get), None)
    magicai = attempt(lambda: _magicai_settings(get), None)
    soundverse = attempt(lambda: _soundverse_settings(get), None)
    convai = attempt(lambda: _convai_settings(get), None)
    agentverse = attempt(lambda: _agentverse_settings(get), None)
    settings = Settings(
        discord_token=Secret(token or ""),
        discord_api_base_url=attempt(
            lambda: _url(get, "DISCORD_API_BASE_URL", DEFAULT_DISCORD_API_BASE_URL, ("http", "https")), ""
        ),
        discord_gateway_url=attempt(
            lambda: _url(get, "DISCORD_GATEWAY_URL", DEFAULT_DISCORD_GATEWAY_URL, ("ws", "wss")), ""
        ),
        database_url=Secret(database_url),
        scale=attempt(lambda: scale_settings(get, database_url), ScaleSettings()),
        provider_timeout_s=attempt(
            lambda: _positive_float(get, "PROVIDER_TIMEOUT_S", DEFAULT_PROVIDER_TIMEOUT_S), DEFAULT_PROVIDER_TIMEOUT_S
        ),
        max_reply_chars=attempt(lambda: _max_reply_chars(get), DEFAULT_MAX_REPLY_CHARS),
        log_level=attempt(lambda: _log_level(get("LOG_LEVEL") or "INFO"), "INFO"),
        community=attempt(lambda: _community_settings(get), CommunitySettings()),
        ablt=ablt,
        magicai=magicai,
        soundverse=soundverse,
        convai=convai,
        agentverse=agentverse,
    )
    sections = (ablt, magicai, soundverse, convai, agentverse)
    if not problems and all(section is None for section in sections):
        problems.append(
            ConfigError(
                "No AI provider is configured: set ABLT_API_KEY, MAGICAI_API_KEY, SOUNDVERSE_API_KEY, CONVAI_API_KEY"
                " or AGENTVERSE_API_KEY (see .env.example for every provider's settings)."
            )
        )
    if problems:
        return None, problems
    keys = [section.api_key for section in sections if section is not None]
    if agentverse is not None and agentverse.refresh_token is not None:
        keys.append(agentverse.refresh_token)
    password = database_password(database_url)
    if password:  # as written in the URL (%-encoded) and as the driver sees it (decoded): mask both
        keys.extend({Secret(password), Secret(unquote(password))})
    secrets = tuple(s for s in (settings.discord_token, *keys) if s.reveal())
    return replace(settings, secrets=secrets), []


def env_line(env_file: Path, variable: str) -> int | None:
    """The line of `.env` that sets `variable`, to point a person at it."""
    if not env_file.is_file():
        return None
    pattern = re.compile(rf"^\s*(export\s+)?{re.escape(variable)}\s*=")
    for number, line in enumerate(env_file.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        if pattern.match(line):
            return number
    return None


def _merged_values(environ: Mapping[str, str], env_file: Path | None) -> dict[str, str]:
    """The environment wins over `.env`, as python-dotenv's `override=False` does."""
    merged: dict[str, str] = {}
    if env_file is not None and env_file.is_file():
        merged.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    merged.update(environ)
    return merged


def _ablt_settings(get: _Getter) -> AbltSettings | None:
    key = get("ABLT_API_KEY")
    if key is None:
        return None
    slug, uid = get("ABLT_BOT_SLUG"), get("ABLT_BOT_UID")
    if slug and uid:
        raise ConfigError("Set only one of ABLT_BOT_SLUG and ABLT_BOT_UID, not both.")
    return AbltSettings(
        api_key=Secret(key),
        base_url=_url(get, "ABLT_BASE_URL", DEFAULT_ABLT_BASE_URL, ("http", "https")),
        bot_slug=slug,
        bot_uid=uid,
    )


def _magicai_settings(get: _Getter) -> MagicAISettings | None:
    key = get("MAGICAI_API_KEY")
    if key is None:
        return None
    project = get("MAGICAI_PROJECT_ID")
    if project is None or not _UUID.match(project):
        raise ConfigError("MAGICAI_PROJECT_ID must be your Magic AI project id (a UUID) when MAGICAI_API_KEY is set.")
    header = get("MAGICAI_AUTH_HEADER")
    if header is not None and not _HEADER_NAME.match(header):
        raise ConfigError("MAGICAI_AUTH_HEADER must be an HTTP header name such as x-api-key, or left empty.")
    return MagicAISettings(
        api_key=Secret(key),
        project_id=project,
        base_url=_url(get, "MAGICAI_BASE_URL", DEFAULT_MAGICAI_BASE_URL, ("http", "https")),
        auth_header=None if header is None or header.lower() == "authorization" else header,
    )


def _soundverse_settings(get: _Getter) -> SoundverseSettings | None:
    key = get("SOUNDVERSE_API_KEY")
    if key is None:
        return None
    path = get("SOUNDVERSE_CHAT_PATH") or DEFAULT_SOUNDVERSE_CHAT_PATH
    if not path.startswith("/"):
        raise ConfigError(f"SOUNDVERSE_CHAT_PATH must start with /, for example {DEFAULT_SOUNDVERSE_CHAT_PATH}")
    return SoundverseSettings(
        api_key=Secret(key),
        base_url=_url(get, "SOUNDVERSE_BASE_URL", DEFAULT_SOUNDVERSE_BASE_URL, ("http", "https")),
        chat_path=path,
    )


def _convai_settings(get: _Getter) -> ConvaiSettings | None:
    key = get("CONVAI_API_KEY")
    if key is None:
        return None
    return ConvaiSettings(
        api_key=Secret(key),
        character_id=get("CONVAI_CHARACTER_ID"),
        base_url=_url(get, "CONVAI_BASE_URL", DEFAULT_CONVAI_BASE_URL, ("http", "https")),
        voice_replies=_flag(get, "CONVAI_VOICE_REPLIES", default=True),
    )


def _agentverse_settings(get: _Getter) -> AgentverseSettings | None:
    key = get("AGENTVERSE_API_KEY")
    if key is None:
        return None
    email = get("AGENTVERSE_EMAIL")
    if email is None or "@" not in email:
        raise ConfigError("AGENTVERSE_EMAIL must be your Agentverse account's email when AGENTVERSE_API_KEY is set.")
    refresh = get("AGENTVERSE_REFRESH_TOKEN")
    return AgentverseSettings(
        api_key=Secret(key),
        email=email,
        refresh_token=Secret(refresh) if refresh else None,
        base_url=_url(get, "AGENTVERSE_BASE_URL", DEFAULT_AGENTVERSE_BASE_URL, ("http", "https")),
        auth_url=_url(get, "AGENTVERSE_AUTH_URL", DEFAULT_AGENTVERSE_AUTH_URL, ("http", "https")),
        model=get("AGENTVERSE_MODEL") or DEFAULT_AGENTVERSE_MODEL,
        idle_limit_s=_positive_float(get, "AGENTVERSE_IDLE_S", DEFAULT_AGENTVERSE_IDLE_S),
    )


def _community_settings(get: _Getter) -> CommunitySettings:
    return CommunitySettings(
        allow_dms=_flag(get, "ALLOW_DMS", default=False),
        cooldown_s=_bounded_number(get, "DEFAULT_COOLDOWN_S", 0.0, MAX_COOLDOWN_S),
        max_conversations=int(_bounded_number(get, "DEFAULT_MAX_CONVERSATIONS", 0, 10_000, whole=True)),
        conversation_idle_s=_positive_float(get, "CONVERSATION_IDLE_S", DEFAULT_CONVERSATION_IDLE_S),
    )


def _max_reply_chars(get: _Getter) -> int:
    """MAX_REPLY_CHARS: from one Discord message to a hundred; the default when unset."""
    if get("MAX_REPLY_CHARS") is None:
        return DEFAULT_MAX_REPLY_CHARS
    return int(_bounded_number(get, "MAX_REPLY_CHARS", MIN_REPLY_CHARS, MAX_REPLY_CHARS, whole=True))


def _bounded_number(get: _Getter, name: str, low: float, high: float, *, whole: bool = False) -> float:
    """A number in [low, high]; `low` when unset."""
    raw = get(name)
    if raw is None:
        return low
    kind = "a whole number" if whole else "a number"
    try:
        value = int(raw) if whole else float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be {kind} from {low:g} to {high:g}, or left empty.") from None
    if not math.isfinite(value) or not low <= value <= high:
        raise ConfigError(f"{name} must be {kind} from {low:g} to {high:g}, or left empty.")
    return value


def _flag(get: _Getter, name: str, *, default: bool) -> bool:
    raw = get(name)
    if raw is None:
        return default
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise ConfigError(f"{name} must be on or off (true/false, yes/no, 1/0).")


def _url(get: _Getter, name: str, default: str, schemes: tuple[str, ...]) -> str:
    value = get(name) or default
    parsed = urlparse(value)
    if parsed.scheme not in schemes or not parsed.netloc:
        raise ConfigError(f"{name} must be a {' or '.join(schemes)} URL, for example {default}")
    return value.rstrip("/") if schemes[0] == "http" else value


def _positive_float(get: _Getter, name: str, default: float) -> float:
    raw = get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, for example {default:g}") from None
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{name} must be a positive number of seconds, for example {default:g}")
    return value


def _log_level(value: str) -> str:
    level = value.upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ConfigError("LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR.")
    return level
