"""What an operator can watch: this process's metrics, fed by a trace of Discord requests and an event-loop
lag monitor, and the optional `/healthz` + `/metrics` server on HEALTH_PORT (see bot/ops/health.py,
bot/ops/metrics.py and bot/ops/loop_lag.py)."""

from __future__ import annotations

import asyncio
import logging
import math
import re
from collections.abc import Callable, Mapping
from types import SimpleNamespace

import aiohttp

from bot.ops.health import HealthServer, ShardState
from bot.ops.loop_lag import LoopLagMonitor
from bot.ops.metrics import Metrics
from bot.store import Store

log = logging.getLogger(__name__)

OPEN_CONVERSATIONS_EVERY_S = 15.0
_MESSAGE_WRITE = re.compile(r"/channels/\d+/messages(/\d+)?$")
_SCOPES = ("user", "global", "shared")


class Monitoring:
    """Metrics for one process, the aiohttp trace that counts Discord writes and 429s, the event-loop lag
    monitor, and the health server."""

    def __init__(self, providers: list[str], health_port: int | None, health_host: str = "127.0.0.1") -> None:
        self.metrics = Metrics(providers)
        self._health_port = health_port
        self._health_host = health_host
        self._server: HealthServer | None = None
        self._refresher: asyncio.Task[None] | None = None
        self._loop_lag = LoopLagMonitor(self.metrics.loop_lag)

    def discord_trace(self) -> aiohttp.TraceConfig:
        """Given to discord.py (`http_trace`): every message create/edit and every 429, by scope."""
        trace = aiohttp.TraceConfig()

        async def on_end(
            _session: aiohttp.ClientSession, _context: SimpleNamespace, params: aiohttp.TraceRequestEndParams
        ) -> None:
            status = params.response.status
            if status == 429:
                scope = params.response.headers.get("X-RateLimit-Scope", "user").lower()
                self.metrics.discord_rate_limited(scope if scope in _SCOPES else "user")
            elif 200 <= status < 300 and params.method in ("POST", "PATCH") and _MESSAGE_WRITE.search(params.url.path):
                self.metrics.discord_write("create" if params.method == "POST" else "edit")

        trace.on_request_end.append(on_end)
        return trace

    async def start(
        self,
        store: Store,
        shards: Callable[[], Mapping[int, ShardState]],
        serves: Callable[[int | None], bool],
    ) -> None:
        """Serve health and metrics when HEALTH_PORT is set, keep the open-conversations gauge current, and
        sample the event loop's lag (always: it costs a timer every 50 ms)."""
        self._loop_lag.start()
        self._refresher = asyncio.create_task(self._count_open(store, serves), name="open-conversations")
        if self._health_port is None:
            return
        self._server = HealthServer(self.metrics, shards, store.db.ping, port=self._health_port, host=self._health_host)
        await self._server.start()
        log.info("health and metrics on http://%s:%d/healthz and /metrics", self._health_host, self._server.port)

    @property
    def port(self) -> int | None:
        """The health server's port (None when it is off)."""
        return self._server.port if self._server is not None else None

    async def close(self) -> None:
        self._loop_lag.stop()
        if self._refresher is not None:
            self._refresher.cancel()
            await asyncio.gather(self._refresher, return_exceptions=True)
        if self._server is not None:
            await self._server.close()

    async def _count_open(self, store: Store, serves: Callable[[int | None], bool]) -> None:
        while True:
            try:
                guilds = await store.open_session_guilds()
                self.metrics.set_open_conversations(sum(1 for guild_id in guilds if serves(guild_id)))
            except Exception:
                log.warning("could not count open conversations", exc_info=True)
            await asyncio.sleep(OPEN_CONVERSATIONS_EVERY_S)


def shard_states(shards: Mapping[int, object]) -> dict[int, ShardState]:
    """discord.py's `AutoShardedClient.shards` as the health server reads them."""
    out: dict[int, ShardState] = {}
    for shard_id, shard in shards.items():
        closed = getattr(shard, "is_closed", lambda: True)()
        latency = getattr(shard, "latency", math.nan)
        out[shard_id] = ShardState(connected=not closed, latency_s=latency if math.isfinite(latency) else None)
    return out
