"""Snowflake ids and Discord timestamps.

discord.py derives ``created_at`` from ids, so ids must embed a realistic wall-clock time
(milliseconds since the Discord epoch, shifted left by 22 bits).
"""

from __future__ import annotations

import datetime as dt
import time

DISCORD_EPOCH_MS = 1420070400000


class SnowflakeGenerator:
    """Hands out strictly increasing snowflakes whose timestamp part is the current time."""

    def __init__(self, worker_id: int = 1, process_id: int = 0) -> None:
        self._worker = worker_id & 0x1F
        self._process = process_id & 0x1F
        self._increment = 0
        self._last = 0

    def next(self, at_ms: int | None = None) -> int:
        """Return a new id; ids never repeat and always increase, even within one millisecond."""
        now_ms = int(time.time() * 1000) if at_ms is None else at_ms
        self._increment = (self._increment + 1) & 0xFFF
        candidate = ((now_ms - DISCORD_EPOCH_MS) << 22) | (self._worker << 17) | (self._process << 12) | self._increment
        if candidate <= self._last:
            candidate = self._last + 1
        self._last = candidate
        return candidate

    def next_on_shard(self, shard_id: int, num_shards: int) -> int:
        """A new id that the sharding formula ``(id >> 22) % num_shards`` (events/gateway.mdx
        "Sharding") puts on ``shard_id``: the ids in between are skipped, so the timestamp part runs
        at most ``num_shards - 1`` ms ahead of the clock (ids still only increase)."""
        if not 0 <= shard_id < num_shards:
            raise ValueError(f"shard {shard_id} is not in [0, {num_shards})")
        at_ms = max(int(time.time() * 1000), (self._last >> 22) + DISCORD_EPOCH_MS)
        while True:
            at_ms += (shard_id - (at_ms - DISCORD_EPOCH_MS)) % num_shards
            candidate = self.next(at_ms)
            if (candidate >> 22) % num_shards == shard_id:
                return candidate
            at_ms = (candidate >> 22) + DISCORD_EPOCH_MS + 1


def snowflake_time(snowflake: int) -> dt.datetime:
    """The UTC creation time encoded in ``snowflake``."""
    ms = (snowflake >> 22) + DISCORD_EPOCH_MS
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)


def iso_timestamp(when: dt.datetime | None = None) -> str:
    """Discord's ISO 8601 timestamp format (``2024-01-01T00:00:00.000000+00:00``)."""
    moment = when or dt.datetime.now(tz=dt.UTC)
    return moment.isoformat(timespec="microseconds")


def snowflake_iso(snowflake: int) -> str:
    """ISO timestamp of a snowflake, as used in ``timestamp``/``joined_at`` fields."""
    return iso_timestamp(snowflake_time(snowflake))
