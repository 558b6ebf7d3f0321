"""Discord's global request rate shared by every process of the bot: one moving window on Redis.

Discord counts the global limit per bot, whichever process sends (rate-limits.md, "Global Rate Limit": 50
requests per second). A fixed split (`REST_RATE_PER_S` = 45/N) leaves a busy process a third of the budget
while two others idle. With `REST_RATE_REDIS_URL` every request first takes its place in one moving window of
`SHARED_REQUESTS_PER_S` per second kept in Redis, through the `limits` library (`MovingWindowRateLimiter`: an
atomic script per hit, so no second ever holds more than 40 requests of all processes together), and a busy
process may use what the idle ones leave.

Redis not answering must not stop the bot: the process then keeps to its own share (`REST_RATE_PER_S`) and
asks Redis again after `RETRY_REDIS_S` (logged once per outage).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time

from limits import RateLimitItemPerSecond
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

log = logging.getLogger(__name__)

SHARED_REQUESTS_PER_S = 40
"""The whole bot's requests in any second, counted when each is granted: 10 under Discord's 50, because a request
reaches Discord a little after it is counted, and under load (50 streams in one process) those delays bunch
requests counted over a second into less (`python -m bench.processes --busy-one` met a global 429 at 45)."""
REDIS_ANSWER_S = 2.0
"""A Redis call not answered this quickly counts as Redis failing: every REST request waits on it, so a hung Redis
must not hold the bot's requests (it keeps to its own share instead). A first call opens the connection and loads
the limiter's script: 0.5 s was too short for that on a busy machine (CI's six test workers on two cores)."""
RETRY_REDIS_S = 5.0
"""After Redis failed, the process keeps to its own share this long before asking Redis again."""
NAMESPACE = "discord-global"
MIN_WAIT_S = 0.001


def bot_key(token: str) -> str:
    """The name the bot's window has in Redis: a digest of its token (the token itself never leaves the process),
    the same in every process of that bot."""
    return hashlib.sha256(token.encode()).hexdigest()[:24]


class SharedRate:
    """One bot's global request window shared through Redis; `take()` counts a request or waits for room."""

    def __init__(self, url: str, per_s: float, *, key: str) -> None:
        """`url`: redis://host:port[/db] (the `async+` prefix the library wants is added); `per_s`: requests per
        second for the whole bot; `key`: `bot_key` of its token."""
        target = url if url.startswith("async+") else f"async+{url}"
        self._storage = storage_from_string(target)
        self._limiter = MovingWindowRateLimiter(self._storage)
        self._item = RateLimitItemPerSecond(max(1, int(per_s)))
        self._key = key
        self._down_until = 0.0

    @property
    def healthy(self) -> bool:
        """False for `RETRY_REDIS_S` after Redis failed: the caller then keeps to its own share."""
        return time.monotonic() >= self._down_until

    async def take(self) -> bool:
        """Count one request in the shared window, waiting while it is full; False (nothing counted) when Redis
        failed or did not answer within `REDIS_ANSWER_S`, so the caller keeps to its own share for now."""
        while True:
            try:
                async with asyncio.timeout(REDIS_ANSWER_S):
                    if await self._limiter.hit(self._item, NAMESPACE, self._key):
                        return True
                    stats = await self._limiter.get_window_stats(self._item, NAMESPACE, self._key)
            except Exception as exc:  # noqa: BLE001 - any Redis or connection failure means: fall back
                if self.healthy:
                    log.warning("the shared request window on Redis failed (%s); keeping to this process's share", exc)
                self._down_until = time.monotonic() + RETRY_REDIS_S
                return False
            await asyncio.sleep(max(MIN_WAIT_S, stats.reset_time - time.time()))

    def close(self) -> None:
        """Drop the connections to Redis (the bot is stopping)."""
        client = getattr(getattr(self._storage, "bridge", None), "storage", None)
        pool = getattr(client, "connection_pool", None)
        if pool is not None:
            pool.disconnect()

    async def clear(self) -> None:
        """Forget the window (tests and benchmarks start from an empty one)."""
        await self._limiter.clear(self._item, NAMESPACE, self._key)
