"""Gateway sharding rules: which shard a guild's events go to, the ``shard`` an IDENTIFY may carry,
the IDENTIFY concurrency buckets and the session start limit.

Sources (discord-api-docs):

* events/gateway.mdx "Sharding": ``shard_id = (guild_id >> 22) % num_shards``; "Gateway events that do
  not contain a ``guild_id`` will only be sent to the first shard (``shard_id: 0``)"; several sessions
  may hold the same ``[shard_id, num_shards]`` or use different ``num_shards`` (routing is per session).
* events/gateway.mdx "Sharding" warning: "Each shard can only support a maximum of 2500 guilds";
  topics/opcodes-and-status-codes.mdx close codes 4010 "Invalid shard" and 4011 "Sharding required".
* events/gateway.mdx "Max Concurrency": ``rate_limit_key = shard_id % max_concurrency``; "Identifying"
  and "Rate Limiting": exceeding the identify concurrency gets Invalid Session (op 9);
  "Session Start Limit Object": ``max_concurrency`` = "Number of identify requests allowed per 5
  seconds", so each bucket admits one IDENTIFY per 5 s.
* events/gateway.mdx "Identifying" warning: "Clients are limited to 1000 IDENTIFY calls to the
  websocket in a 24-hour period. This limit is global and across all shards, but does not include
  RESUME calls" (``total``/``remaining``/``reset_after`` of "Get Gateway Bot").
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

MAX_GUILDS_PER_SESSION = 2500
SESSION_START_TOTAL = 1000
SESSION_START_WINDOW_S = 24 * 60 * 60.0
DISCORD_IDENTIFY_INTERVAL_S = 5.0

Shard = tuple[int, int]  # (shard_id, num_shards)


class InvalidShard(ValueError):
    """The IDENTIFY's ``shard`` is malformed or out of range: close 4010."""


def shard_of(guild_id: int, num_shards: int) -> int:
    """events/gateway.mdx "Sharding Formula"."""
    return (guild_id >> 22) % num_shards


def parse_shard(raw: Any) -> Shard | None:
    """The IDENTIFY ``shard`` field: absent/null means no sharding; otherwise two integers with
    ``0 <= shard_id < num_shards`` ("The first item in this array should be the zero-based integer
    value of the current shard, while the second represents the total number of shards")."""
    if raw is None:
        return None
    ok = isinstance(raw, list) and len(raw) == 2 and all(type(v) is int for v in raw)
    if not ok or not 0 <= raw[0] < raw[1]:
        raise InvalidShard(f"invalid shard {raw!r}")
    return raw[0], raw[1]


def receives(shard: Shard | None, guild_id: int | None) -> bool:
    """Whether a session identified with ``shard`` gets an event of ``guild_id`` (None: a guild-less
    event such as a DM, which only shard 0 gets). Sessions without ``shard`` get everything."""
    if shard is None:
        return True
    if guild_id is None:
        return shard[0] == 0
    return shard_of(guild_id, shard[1]) == shard[0]


@dataclass(frozen=True)
class IdentifyRecord:
    """One IDENTIFY the gateway received, for tests to read (``emu.identifies``).

    ``outcome``: "ready" (session started), "invalid_session" (op 9: identify concurrency exceeded)
    or "closed" (``close_code``: 4004 token, 4010 shard, 4011 sharding required, 4013/4014 intents).
    """

    t: float
    shard: Shard | None
    outcome: str
    bucket: int | None = None
    close_code: int | None = None

    @property
    def accepted(self) -> bool:
        return self.outcome == "ready"


@dataclass
class IdentifyLimiter:
    """The per-bucket IDENTIFY concurrency and the daily session start budget.

    Inferred (not documented): a refused IDENTIFY does not move its bucket's window (the docs only
    say the limit is one per bucket per 5 s), and every IDENTIFY carrying the bot's token is charged
    to ``remaining`` (the warning counts "IDENTIFY calls", refused or not). Running out of the budget
    (Discord then resets the token) is not modelled: ``remaining`` stops at 0.
    """

    max_concurrency: int = 1
    interval_s: float = DISCORD_IDENTIFY_INTERVAL_S
    total: int = SESSION_START_TOTAL
    window_s: float = SESSION_START_WINDOW_S
    clock: Callable[[], float] = time.monotonic
    used: int = 0
    window_start: float | None = None
    last_accepted: dict[int, float] = field(default_factory=dict)  # bucket -> monotonic t

    def __post_init__(self) -> None:
        if self.max_concurrency < 1 or self.interval_s < 0:
            raise ValueError("max_concurrency must be at least 1 and identify_interval_s not negative")

    def bucket(self, shard: Shard | None) -> int:
        """``rate_limit_key = shard_id % max_concurrency``; an unsharded session is shard 0."""
        return (shard[0] if shard else 0) % self.max_concurrency

    def charge(self) -> None:
        """Count one IDENTIFY against the session start budget."""
        self._roll()
        if self.window_start is None:
            self.window_start = self.clock()
        self.used = min(self.total, self.used + 1)

    def admit(self, bucket: int) -> bool:
        """Whether ``bucket`` may identify now; records the start when it may."""
        now = self.clock()
        last = self.last_accepted.get(bucket)
        if last is not None and now - last < self.interval_s:
            return False
        self.last_accepted[bucket] = now
        return True

    def session_start_limit(self) -> dict[str, int]:
        """The Session Start Limit Object ("Get Gateway Bot")."""
        self._roll()
        started = self.window_start
        reset_after = self.window_s if started is None else max(0.0, started + self.window_s - self.clock())
        return {
            "total": self.total,
            "remaining": self.total - self.used,
            "reset_after": int(reset_after * 1000),
            "max_concurrency": self.max_concurrency,
        }

    def _roll(self) -> None:
        """A new 24 h window starts with the first IDENTIFY after the previous one ended (inferred:
        the docs give the window's length, not when it starts)."""
        if self.window_start is not None and self.clock() - self.window_start >= self.window_s:
            self.window_start = None
            self.used = 0
