"""Operator endpoints on loopback: `GET /healthz` (shards and store, as JSON) and `GET /metrics` (Prometheus).

The server only reads facts through the two callables its owner passes in, so it needs nothing from
discord.py or the store. Bodies hold shard ids, states, latencies and fixed sentences: never a token,
a URL, an exception's text or anything a member wrote.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Self

from aiohttp import web

from bot.ops.metrics import CONTENT_TYPE_LATEST, Metrics

log = logging.getLogger(__name__)

STORE_TIMEOUT_S = 2.0
DEFAULT_HOST = "127.0.0.1"

StoreResult = Literal["ok", "error", "timeout"]
_STORE_REASONS: dict[StoreResult, str] = {
    "error": "the database check failed",
    "timeout": "the database did not answer",
}


@dataclass(frozen=True)
class ShardState:
    """One shard of this process: whether its gateway connection is up, and its heartbeat latency in
    seconds (None, inf or NaN before the first heartbeat is acknowledged)."""

    connected: bool
    latency_s: float | None


def _latency_ms(latency_s: float | None) -> float | None:
    if latency_s is None or not math.isfinite(latency_s):
        return None  # JSON has no inf/NaN
    return round(latency_s * 1000, 1)


class HealthServer:
    """Serves `/healthz` and `/metrics` on `host:port` (port 0 picks a free one; read `.port` after `start()`).

    The owner provides `shards()`, the current state of every shard this process runs (sync, cheap), and
    `store_ok()`, a quick database round-trip; the server bounds it by `store_timeout_s` and counts a
    timeout or exception as not ok. At most one store check runs at a time, however many scrapers ask.
    """

    def __init__(
        self,
        metrics: Metrics,
        shards: Callable[[], Mapping[int, ShardState]],
        store_ok: Callable[[], Awaitable[bool]],
        *,
        port: int,
        host: str = DEFAULT_HOST,
        store_timeout_s: float = STORE_TIMEOUT_S,
    ) -> None:
        self._metrics = metrics
        self._shards = shards
        self._store_ok = store_ok
        self._host = host
        self._requested_port = port
        self._store_timeout_s = store_timeout_s
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._closed = False
        self._store_check: asyncio.Task[StoreResult] | None = None
        self._last_reasons: tuple[str, ...] | None = None

    @property
    def port(self) -> int:
        """The port actually bound (useful with port 0)."""
        if self._port is None:
            raise RuntimeError("HealthServer is not started")
        return self._port

    async def start(self) -> None:
        """Bind and serve; can be called once."""
        if self._runner is not None or self._closed:
            raise RuntimeError("HealthServer can only be started once")
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics_page)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)  # scrapes would flood the log
        await runner.setup()
        self._runner = runner
        try:
            await web.TCPSite(runner, self._host, self._requested_port).start()
        except OSError:
            await self.close()
            raise
        self._port = int(runner.addresses[0][1])
        log.info("health and metrics endpoints on http://%s:%d/healthz and /metrics", self._host, self._port)

    async def close(self) -> None:
        """Stop serving and cancel a store check still running; safe to call more than once."""
        self._closed = True
        check, self._store_check = self._store_check, None
        if check is not None and not check.done():
            check.cancel()
            await asyncio.gather(check, return_exceptions=True)
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- handlers --------------------------------------------------------------------------------

    async def _healthz(self, request: web.Request) -> web.Response:
        shards = self._read_shards()
        reasons: list[str] = []
        if shards is None:
            reasons.append("the shard state could not be read")
        elif not shards:
            reasons.append("no shard connected yet")
        else:
            down = sorted(sid for sid, state in shards.items() if not state.connected)
            reasons.extend(f"shard {sid} is not connected" for sid in down)
        store = await self._check_store()
        if store != "ok":
            reasons.append(_STORE_REASONS[store])
        body: dict[str, Any] = {
            "status": "unhealthy" if reasons else "ok",
            "shards": {
                str(sid): {"connected": state.connected, "latency_ms": _latency_ms(state.latency_s)}
                for sid, state in sorted((shards or {}).items())
            },
            "store": store,
        }
        if reasons:
            body["reasons"] = reasons
        self._log_change(reasons)
        return web.json_response(body, status=503 if reasons else 200, headers={"Cache-Control": "no-store"})

    async def _metrics_page(self, request: web.Request) -> web.Response:
        shards = self._read_shards()
        if shards is not None:
            for sid, state in shards.items():
                self._metrics.shard_status(sid, state.connected, state.latency_s)
            self._metrics.keep_only_shards(shards)
        # web.Response refuses a charset inside content_type, so the header is set whole.
        return web.Response(body=self._metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    # -- facts -----------------------------------------------------------------------------------

    def _read_shards(self) -> Mapping[int, ShardState] | None:
        try:
            return dict(self._shards())
        except Exception:
            log.exception("health: reading the shard state failed")
            return None

    async def _check_store(self) -> StoreResult:
        """Join the running check or start one; waiting never cancels it, so a scraper hanging up is harmless."""
        check = self._store_check
        if check is None or check.done():
            check = self._store_check = asyncio.create_task(self._run_store_check(), name="health-store-check")
        await asyncio.wait({check})
        return "error" if check.cancelled() else check.result()

    async def _run_store_check(self) -> StoreResult:
        try:
            async with asyncio.timeout(self._store_timeout_s):
                ok = await self._store_ok()
        except TimeoutError:
            log.warning("health: the store did not answer within %.1f s", self._store_timeout_s)
            return "timeout"
        except Exception as exc:  # noqa: BLE001 - any failure is "not ok"; only the type is logged, never its text
            log.warning("health: the store check raised %s", type(exc).__name__)
            return "error"
        if not ok:
            log.warning("health: the store reported it is not ok")
        return "ok" if ok else "error"

    def _log_change(self, reasons: list[str]) -> None:
        """Log when the verdict or its reasons change, not on every scrape."""
        if tuple(reasons) == self._last_reasons:
            return
        self._last_reasons = tuple(reasons)
        if reasons:
            log.warning("health: unhealthy: %s", "; ".join(reasons))
        else:
            log.info("health: ok")
