"""Injected transient failures: what a bot sees when Discord's edge or API misbehaves.

A :class:`Fault` is matched in the middleware *before* authentication and rate limiting, because
a proxy error never reaches Discord's API. It can answer with any status/body, wait first (so
clients time out), close the TCP connection without an answer, or run the real handler first and
then answer with the fault (a "lost response": the side effect happened, the client cannot know).

The convenience constructors reproduce real responses:

* :meth:`Fault.proxy_503`: Discord's Envoy edge answering 503 with a plain-text body. discord.py
  retries only 500/502/504/524 (discord/http.py, ``HTTPClient.request``), so a 503 surfaces at once
  as ``DiscordServerError``.
* :meth:`Fault.server_error`: Discord's JSON ``{"message": "500: Internal Server Error", "code": 0}``
  (the 502/504 bodies follow the same pattern: inferred).
* :meth:`Fault.shared_429`: a per-resource 429, ``X-RateLimit-Scope: shared``, which "are not counted
  against you" for the invalid-request limit (topics/rate-limits.mdx "Invalid Request Limit"); its
  body follows the docs' "Example Exceeded Resource Rate Limit Response". It carries ``Via`` and a
  JSON body, since discord.py treats a 429 without either as a Cloudflare ban.
* :meth:`Fault.route_429`: a per-route 429 of the bot's own bucket, ``X-RateLimit-Scope: user`` with
  the bucket headers at 0 remaining, as in the docs' "Example Exceeded User Rate Limit Response"
  (topics/rate-limits.mdx; "user" is the per-bot limit, "Header Format"). It counts towards the
  invalid-request limit, unlike a shared one. ``X-RateLimit-Bucket`` is left out, so the client keeps
  the bucket it learnt for the route (a made-up hash would move discord.py's route-to-bucket map), and so
  is the absolute ``X-RateLimit-Reset`` (a fault is made before it answers; ``Reset-After`` says the same).
* :meth:`Fault.hang`: no answer until the client gives up (the bot reads with a 20 s timeout), then
  the connection is dropped.
* :meth:`Fault.lost_answer`: Discord does the work (the message is created), but the answer never
  reaches the bot: it hangs past the client's timeout, or is a 5xx from the edge. Nonces
  (``enforce_nonce``, message.mdx "Create Message") are how a client avoids posting twice then.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from aiohttp import web

ENVOY_RESET_BODY = "upstream connect error or disconnect/reset before headers. reset reason: connection termination"
DROPPED = 0  # the status recorded for a request whose connection was closed without an answer


@dataclass(eq=False)
class Fault:
    """One injected failure. Matching: ``method`` (None = any), ``route`` (a template such as
    ``"/channels/{channel_id}/messages"``, None = any) and ``channel_id`` (None = any). Lifetime:
    ``times`` hits (None = until cleared) and/or until the monotonic deadline ``until``."""

    method: str | None = None
    route: str | None = None
    channel_id: int | None = None
    status: int = 500
    body: str | bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    times: int | None = None
    until: float | None = None
    delay_s: float = 0.0
    after_handling: bool = False
    drop_connection: bool = False
    label: str = "fault"
    hits: int = 0

    # ---- matching ----------------------------------------------------------------------------------
    def active(self, now: float) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        return self.until is None or now < self.until

    def matches(self, method: str, route: str, channel_id: int | None) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        if self.route is not None and self.route != route:
            return False
        return self.channel_id is None or self.channel_id == channel_id

    # ---- the answer ----------------------------------------------------------------------------------
    def response(self) -> web.Response:
        body = self.body.encode() if isinstance(self.body, str) else self.body
        headers = {"Content-Type": self.content_type, **self.headers}
        return web.Response(body=body, status=self.status, headers=headers)

    @property
    def recorded_status(self) -> int:
        return DROPPED if self.drop_connection else self.status

    @property
    def rate_limit_scope(self) -> str | None:
        """``X-RateLimit-Scope`` of an answered 429 (``shared`` when the fault names none); None otherwise."""
        if self.status != 429 or self.drop_connection:
            return None
        return self.headers.get("X-RateLimit-Scope", "shared")

    # ---- real-world shapes ---------------------------------------------------------------------------
    @classmethod
    def proxy_503(cls, **options: Any) -> Fault:
        """Envoy's "upstream connect error" 503 with a text/plain body (not JSON)."""
        return cls(status=503, body=ENVOY_RESET_BODY, content_type="text/plain", label="proxy_503", **options)

    @classmethod
    def server_error(cls, status: int = 500, **options: Any) -> Fault:
        """A 500/502/504 from Discord's API with its JSON error body."""
        reason = HTTPStatus(status).phrase
        body = json.dumps({"message": f"{status}: {reason}", "code": 0})
        return cls(status=status, body=body, content_type="application/json", label=f"server_error_{status}", **options)

    @classmethod
    def shared_429(cls, retry_after: float = 0.5, **options: Any) -> Fault:
        """A shared-scope (per-resource) 429 that discord.py sleeps through and retries."""
        message = "The resource is being rate limited."
        body = json.dumps({"message": message, "retry_after": retry_after, "global": False})
        headers = {
            "Retry-After": str(max(1, math.ceil(retry_after))),
            "X-RateLimit-Scope": "shared",
            "Via": "1.1 google",
            **options.pop("headers", {}),
        }
        return cls(
            status=429, body=body, content_type="application/json", headers=headers, label="shared_429", **options
        )

    @classmethod
    def route_429(cls, retry_after: float = 0.5, **options: Any) -> Fault:
        """A per-route (``user`` scope) 429 of the bot's own bucket, which discord.py sleeps through and retries."""
        body = json.dumps({"message": "You are being rate limited.", "retry_after": retry_after, "global": False})
        headers = {
            "Retry-After": str(max(1, math.ceil(retry_after))),
            "X-RateLimit-Limit": "5",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset-After": f"{retry_after:.3f}",
            "X-RateLimit-Scope": "user",
            "Via": "1.1 google",
            **options.pop("headers", {}),
        }
        return cls(
            status=429, body=body, content_type="application/json", headers=headers, label="route_429", **options
        )

    @classmethod
    def hang(cls, delay_s: float = 25.0, **options: Any) -> Fault:
        """No answer for ``delay_s`` seconds (past the client's read timeout), then the connection is dropped."""
        return cls(delay_s=delay_s, drop_connection=True, label="hang", **options)

    @classmethod
    def lost_answer(cls, delay_s: float = 25.0, status: int | None = None, **options: Any) -> Fault:
        """The request is handled (a message is created), then its answer is lost: dropped after ``delay_s``
        seconds, or (``status``) a 5xx with Discord's JSON body after the same wait."""
        if status is None:
            return cls(delay_s=delay_s, after_handling=True, drop_connection=True, label="lost_answer", **options)
        error = cls.server_error(status)
        return cls(
            status=status,
            body=error.body,
            delay_s=delay_s,
            after_handling=True,
            label=f"lost_answer_{status}",
            **options,
        )


class FaultInjector:
    """The emulator's active faults; the first active match answers a request."""

    def __init__(self) -> None:
        self.faults: list[Fault] = []
        self.closing = asyncio.Event()  # set when the emulator shuts down: delays end at once

    def add(self, fault: Fault) -> Fault:
        self.faults.append(fault)
        return fault

    def clear(self) -> None:
        self.faults.clear()

    def prune(self) -> None:
        """Forget faults that can no longer match (used up or past ``until``), so a long run's list stays short."""
        now = time.monotonic()
        self.faults = [fault for fault in self.faults if fault.active(now)]

    def take(self, method: str, route: str, channel_id: int | None) -> Fault | None:
        """The fault answering this request (its ``hits`` counted), or None."""
        now = time.monotonic()
        for fault in self.faults:
            if fault.active(now) and fault.matches(method, route, channel_id):
                fault.hits += 1
                return fault
        return None

    async def answer(self, request: web.Request, fault: Fault) -> web.StreamResponse:
        """Wait ``delay_s`` (cut short if the emulator closes), then answer or drop the connection."""
        closed = False
        if fault.delay_s > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.closing.wait(), fault.delay_s)
                closed = True
        if fault.drop_connection or closed:
            return drop(request)
        return fault.response()


def drop(request: web.Request) -> web.Response:
    """Close the TCP connection without a response. aiohttp then fails to write the placeholder
    response with ``ConnectionResetError``, which it treats as a client disconnect (no error log)."""
    transport = request.transport
    if transport is not None:
        transport.close()
    return web.Response(status=500)  # never reaches the client
