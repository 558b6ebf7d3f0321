"""Which shards this process runs, and the IDENTIFY spacing every process of the bot keeps to.

Discord routes a server's events to shard `(guild_id >> 22) % shard_count` and guild-less ones (DMs) to
shard 0 (gateway.mdx "Sharding"). It allows one IDENTIFY per 5 s in each of `max_concurrency` buckets,
bucket `shard_id % max_concurrency`, across all of a bot's connections; an early one gets op 9 Invalid
Session (gateway.mdx "Rate Limiting"). discord.py's default `before_identify_hook` only sleeps 5 s between
its own shards, so processes started together would collide: the hook here takes the bucket's slot in the
shared store instead (`Coordination.identify_slot`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.config.scale import ScaleSettings
from bot.store.coordination import Coordination

log = logging.getLogger(__name__)

IDENTIFY_INTERVAL_S = 5.25
"""Discord's 5 s per bucket, plus a margin for the time between taking the slot and sending IDENTIFY."""


@dataclass(frozen=True)
class ShardPlan:
    """The shards this process runs (`ids`, None: every shard) out of `count` (None: Discord's choice)."""

    count: int | None
    ids: tuple[int, ...] | None

    @classmethod
    def from_settings(cls, scale: ScaleSettings) -> ShardPlan:
        return cls(scale.shard_count, scale.shard_ids)

    @property
    def runs_every_shard(self) -> bool:
        return self.ids is None or self.count is None or len(self.ids) == self.count

    def shard_of(self, guild_id: int | None) -> int:
        """The shard Discord sends this server's events to (DMs: shard 0)."""
        if guild_id is None or not self.count:
            return 0
        return (guild_id >> 22) % self.count

    def serves(self, guild_id: int | None) -> bool:
        """Whether this process receives the server's (or, for None, the DMs') events."""
        return self.runs_every_shard or self.shard_of(guild_id) in (self.ids or ())

    @property
    def syncs_commands(self) -> bool:
        """Slash commands are registered by one process only: the one that runs shard 0."""
        return self.runs_every_shard or 0 in (self.ids or ())


class IdentifyGate:
    """`before_identify_hook` for every process of the bot: waits for the shard's bucket slot in the store."""

    def __init__(self, coordination: Coordination, max_concurrency: int) -> None:
        self._coordination = coordination
        self._max_concurrency = max(1, max_concurrency)

    async def wait(self, shard_id: int | None) -> None:
        bucket = (shard_id or 0) % self._max_concurrency
        waited = await self._coordination.identify_slot(bucket, IDENTIFY_INTERVAL_S)
        if waited:
            log.info("shard %s waited %.1f s for its identify slot (bucket %d)", shard_id, waited, bucket)
