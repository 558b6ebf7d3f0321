"""Settings for running past one process: the database, which shards this process runs, its share of
Discord's REST budget, and its health port. Parsed with the rest of `bot/config/settings.py`."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from bot.config.errors import ConfigError
from bot.config.parsing import Getter
from bot.config.secret import Secret

DEFAULT_DATABASE_URL = "sqlite:///data/bot.sqlite3"
DEFAULT_REST_RATE_PER_S = 45.0
DISCORD_GLOBAL_RATE_PER_S = 50.0
"""Discord's global limit per bot token, across all its processes (topics/rate-limits.mdx "Global Rate Limit")."""
MAX_SHARDS = 65_536


@dataclass(frozen=True)
class ScaleSettings:
    """How this process fits into the whole bot."""

    shard_count: int | None = None
    """Shards the bot runs as in all (None: Discord's recommended count, all in this process)."""
    shard_ids: tuple[int, ...] | None = None
    """The shards this process runs (None: all of them)."""
    rest_rate_per_s: float = DEFAULT_REST_RATE_PER_S
    """This process's share of Discord's 50 requests/s (45/N for N processes); with `rest_rate_redis_url`, the
    share it keeps while Redis does not answer."""
    rest_rate_redis_url: Secret | None = None
    """Redis shared by every process: Discord's global rate counted in one window (bot/replies/shared_rate.py)."""
    health_port: int | None = None
    """Where `/healthz` and `/metrics` are served (None: off; 0: any free port, logged)."""
    health_host: str = "127.0.0.1"
    """The address the health server listens on (0.0.0.0 for a scraper on another machine)."""

    @property
    def runs_every_shard(self) -> bool:
        return self.shard_ids is None or self.shard_count is None or len(self.shard_ids) == self.shard_count


def database_kind(url: str) -> str:
    """`sqlite` or `postgresql` for a DATABASE_URL (as validated by `database_setting`)."""
    return "sqlite" if urlsplit(url).scheme.startswith("sqlite") else "postgresql"


def database_setting(get: Getter) -> str:
    """DATABASE_URL: `sqlite:///relative/file`, `sqlite:////absolute/file`, `postgresql://…` or `postgres://…`."""
    url = get("DATABASE_URL") or DEFAULT_DATABASE_URL
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0]
    if scheme == "sqlite" and url.startswith(f"{parts.scheme}:///") and len(parts.path) > 1:
        return url
    if scheme in ("postgresql", "postgres") and parts.hostname and parts.path.strip("/"):
        return url
    raise ConfigError(
        "DATABASE_URL must look like sqlite:///data/bot.sqlite3 (the default, nothing to install)"
        " or postgresql://user:password@host:5432/dbname."
    )


def database_password(url: str) -> str | None:
    """The password inside a DATABASE_URL, so logs can mask it."""
    return urlsplit(url).password


def scale_settings(get: Getter, database_url: str) -> ScaleSettings:
    """SHARD_COUNT, SHARD_IDS, REST_RATE_PER_S, REST_RATE_REDIS_URL and HEALTH_PORT, checked against each other
    and the database."""
    count = _whole(get, "SHARD_COUNT", 1, MAX_SHARDS, "a number of shards")
    ids = _shard_ids(get("SHARD_IDS"), count)
    settings = ScaleSettings(
        shard_count=count,
        shard_ids=ids,
        rest_rate_per_s=_rate(get("REST_RATE_PER_S")),
        rest_rate_redis_url=_redis_url(get("REST_RATE_REDIS_URL")),
        health_port=_whole(get, "HEALTH_PORT", 0, 65_535, "a TCP port"),
        health_host=_host(get("HEALTH_HOST")),
    )
    if database_kind(database_url) == "sqlite" and not settings.runs_every_shard:
        raise ConfigError(
            "SHARD_IDS runs only some shards here, but SQLite serves a single process: drop SHARD_IDS to run every"
            " shard in this one, or point DATABASE_URL at PostgreSQL shared by all processes."
        )
    return settings


def _whole(get: Getter, name: str, low: int, high: int, what: str) -> int | None:
    raw = get(name)
    if raw is None:
        return None
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise ConfigError(f"{name} must be {what}, a whole number from {low} to {high} (it is {raw!r}).")
    return int(raw)


def _shard_ids(raw: str | None, count: int | None) -> tuple[int, ...] | None:
    """`0,1`, `2-3` or a mix; every id once and below SHARD_COUNT."""
    if raw is None:
        return None
    if count is None:
        raise ConfigError("SHARD_IDS needs SHARD_COUNT too: the number of shards the bot runs in all.")
    ids: list[int] = []
    for part in raw.replace(" ", "").split(","):
        low, _, high = part.partition("-")
        if not low.isdigit() or (high and not high.isdigit()) or (high and int(high) < int(low)):
            raise ConfigError(f"SHARD_IDS must list shard numbers like 0,1 or 2-3 (it has {part!r}).")
        ids.extend(range(int(low), int(high or low) + 1))
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise ConfigError(f"SHARD_IDS lists shard {repeated[0]} more than once; give each shard once.")
    outside = [i for i in ids if i >= count]
    if outside:
        raise ConfigError(
            f"SHARD_IDS lists shard {outside[0]}, but with SHARD_COUNT={count} shards are numbered 0 to {count - 1}."
        )
    return tuple(sorted(ids))


def _host(raw: str | None) -> str:
    if raw is None:
        return "127.0.0.1"
    try:
        ipaddress.ip_address(raw)
    except ValueError:
        raise ConfigError(
            f"HEALTH_HOST must be an IP address to listen on, like 127.0.0.1 or 0.0.0.0 (it is {raw!r})."
        ) from None
    return raw


def _redis_url(raw: str | None) -> Secret | None:
    """REST_RATE_REDIS_URL: redis://[:password@]host:port[/db] or rediss://...; None when unset."""
    if raw is None:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in ("redis", "rediss") or not parts.hostname:
        raise ConfigError("REST_RATE_REDIS_URL must look like redis://127.0.0.1:6379/0 (or rediss:// with TLS).")
    return Secret(raw)


def redis_password(url: Secret | None) -> str | None:
    """The password inside REST_RATE_REDIS_URL, so logs can mask it."""
    return urlsplit(url.reveal()).password if url is not None else None


def _rate(raw: str | None) -> float:
    if raw is None:
        return DEFAULT_REST_RATE_PER_S
    try:
        rate = float(raw)
    except ValueError:
        rate = -1.0
    if not 0 < rate <= DISCORD_GLOBAL_RATE_PER_S:
        raise ConfigError(
            f"REST_RATE_PER_S must be a number of requests per second above 0 and at most 50 (Discord's limit"
            f" for the whole bot), for example 15 for each of 3 processes (it is {raw!r})."
        )
    return rate
