"""Discord-style rate limiting: per-resource fixed-window buckets plus a global per-token limit.

A bucket's window opens at its first request and lasts ``window_s``; when it ends the bucket
resets. Responses carry the ``X-RateLimit-*`` headers discord.py uses to sleep pre-emptively;
429s carry ``Via: 1.1 google`` and a JSON body, otherwise discord.py assumes a Cloudflare ban.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass


def _ceil_ms(seconds: float) -> float:
    """Round up to whole milliseconds so a client that waits exactly this long is never early."""
    return max(0.0, math.ceil(seconds * 1000) / 1000)


def bucket_hash(kind: str) -> str:
    """A stable, opaque 32-hex-char bucket id, like the ones Discord sends."""
    return hashlib.sha256(f"discord-emulator:{kind}".encode()).hexdigest()[:32]


@dataclass
class Decision:
    """Outcome of consuming one request from a bucket."""

    allowed: bool
    limit: int
    remaining: int
    reset_after: float
    bucket: str | None
    is_global: bool = False

    def headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        if not self.is_global:
            headers.update(
                {
                    "X-RateLimit-Limit": str(self.limit),
                    "X-RateLimit-Remaining": str(self.remaining),
                    "X-RateLimit-Reset": f"{time.time() + self.reset_after:.3f}",
                    "X-RateLimit-Reset-After": f"{self.reset_after:.3f}",
                }
            )
            if self.bucket is not None:
                headers["X-RateLimit-Bucket"] = self.bucket
        if not self.allowed:
            headers["Retry-After"] = str(max(1, math.ceil(self.reset_after)))
            headers["X-RateLimit-Scope"] = "global" if self.is_global else "user"
            headers["Via"] = "1.1 google"
            if self.is_global:
                headers["X-RateLimit-Global"] = "true"
        return headers

    def body(self) -> bytes:
        return json.dumps(
            {"message": "You are being rate limited.", "retry_after": self.reset_after, "global": self.is_global}
        ).encode()


class FixedWindowBucket:
    """``limit`` requests per window; the window starts at the first request after a reset."""

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit = limit
        self.window_s = window_s
        self.window_end: float | None = None
        self.used = 0

    def take(self, now: float) -> tuple[bool, int, float]:
        """Consume one request; returns ``(allowed, remaining, reset_after)``."""
        if self.window_end is None or now >= self.window_end:
            self.window_end = now + self.window_s
            self.used = 0
        reset_after = _ceil_ms(self.window_end - now)
        if self.used >= self.limit:
            return False, 0, reset_after
        self.used += 1
        return True, self.limit - self.used, reset_after


class RateLimiter:
    """All buckets of one emulator. ``kind`` names a bucket family (e.g. ``"messages"``)."""

    def __init__(self, limits: dict[str, tuple[int, float]], global_limit: int, global_window_s: float = 1.0) -> None:
        self.limits = limits
        self.global_limit = global_limit
        self.global_window_s = global_window_s
        self._buckets: dict[tuple[str, str], FixedWindowBucket] = {}
        self._global: dict[str, FixedWindowBucket] = {}

    def take_global(self, token: str, now: float | None = None) -> Decision:
        bucket = self._global.get(token)
        if bucket is None:
            bucket = self._global[token] = FixedWindowBucket(self.global_limit, self.global_window_s)
        allowed, remaining, reset_after = bucket.take(time.monotonic() if now is None else now)
        return Decision(allowed, self.global_limit, remaining, reset_after, None, is_global=True)

    def take(self, kind: str, key: str, now: float | None = None) -> Decision:
        limit, window_s = self.limits[kind]
        bucket = self._buckets.get((kind, key))
        if bucket is None:
            bucket = self._buckets[(kind, key)] = FixedWindowBucket(limit, window_s)
        allowed, remaining, reset_after = bucket.take(time.monotonic() if now is None else now)
        return Decision(allowed, limit, remaining, reset_after, bucket_hash(kind))
