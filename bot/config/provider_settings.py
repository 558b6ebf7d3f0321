"""Each AI provider's settings (`AbltSettings`, ..., `AgentverseSettings`) and their parsing: None when the
provider's API key is not set."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.config.errors import ConfigError
from bot.config.parsing import Getter, flag, positive_float, url
from bot.config.secret import Secret

DEFAULT_ABLT_BASE_URL = "https://api.ablt.ai"
DEFAULT_MAGICAI_BASE_URL = "https://api.magicai.ai"
DEFAULT_SOUNDVERSE_BASE_URL = "https://api.soundverse.ai"
DEFAULT_SOUNDVERSE_CHAT_PATH = "/assistant/chat"
DEFAULT_CONVAI_BASE_URL = "https://api.convai.com"
DEFAULT_AGENTVERSE_BASE_URL = "https://agentverse.ai"
DEFAULT_AGENTVERSE_AUTH_URL = "https://accounts.fetch.ai"
DEFAULT_AGENTVERSE_MODEL = "talkative-01"
DEFAULT_AGENTVERSE_IDLE_S = 300.0
_UUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")


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


def ablt_settings(get: Getter) -> AbltSettings | None:
    """The ABLT_* variables; None without ABLT_API_KEY; raises ConfigError."""
    key = get("ABLT_API_KEY")
    if key is None:
        return None
    slug, uid = get("ABLT_BOT_SLUG"), get("ABLT_BOT_UID")
    if slug and uid:
        raise ConfigError("Set only one of ABLT_BOT_SLUG and ABLT_BOT_UID, not both.")
    return AbltSettings(
        api_key=Secret(key),
        base_url=url(get, "ABLT_BASE_URL", DEFAULT_ABLT_BASE_URL, ("http", "https")),
        bot_slug=slug,
        bot_uid=uid,
    )


def magicai_settings(get: Getter) -> MagicAISettings | None:
    """The MAGICAI_* variables; None without MAGICAI_API_KEY; raises ConfigError."""
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
        base_url=url(get, "MAGICAI_BASE_URL", DEFAULT_MAGICAI_BASE_URL, ("http", "https")),
        auth_header=None if header is None or header.lower() == "authorization" else header,
    )


def soundverse_settings(get: Getter) -> SoundverseSettings | None:
    """The SOUNDVERSE_* variables; None without SOUNDVERSE_API_KEY; raises ConfigError."""
    key = get("SOUNDVERSE_API_KEY")
    if key is None:
        return None
    path = get("SOUNDVERSE_CHAT_PATH") or DEFAULT_SOUNDVERSE_CHAT_PATH
    if not path.startswith("/"):
        raise ConfigError(f"SOUNDVERSE_CHAT_PATH must start with /, for example {DEFAULT_SOUNDVERSE_CHAT_PATH}")
    return SoundverseSettings(
        api_key=Secret(key),
        base_url=url(get, "SOUNDVERSE_BASE_URL", DEFAULT_SOUNDVERSE_BASE_URL, ("http", "https")),
        chat_path=path,
    )


def convai_settings(get: Getter) -> ConvaiSettings | None:
    """The CONVAI_* variables; None without CONVAI_API_KEY; raises ConfigError."""
    key = get("CONVAI_API_KEY")
    if key is None:
        return None
    return ConvaiSettings(
        api_key=Secret(key),
        character_id=get("CONVAI_CHARACTER_ID"),
        base_url=url(get, "CONVAI_BASE_URL", DEFAULT_CONVAI_BASE_URL, ("http", "https")),
        voice_replies=flag(get, "CONVAI_VOICE_REPLIES", default=True),
    )


def agentverse_settings(get: Getter) -> AgentverseSettings | None:
    """The AGENTVERSE_* variables; None without AGENTVERSE_API_KEY; raises ConfigError."""
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
        base_url=url(get, "AGENTVERSE_BASE_URL", DEFAULT_AGENTVERSE_BASE_URL, ("http", "https")),
        auth_url=url(get, "AGENTVERSE_AUTH_URL", DEFAULT_AGENTVERSE_AUTH_URL, ("http", "https")),
        model=get("AGENTVERSE_MODEL") or DEFAULT_AGENTVERSE_MODEL,
        idle_limit_s=positive_float(get, "AGENTVERSE_IDLE_S", DEFAULT_AGENTVERSE_IDLE_S),
    )
