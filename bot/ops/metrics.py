"""Prometheus metrics for operators: turns, usage and quota refusals, provider latency, Discord writes and 429s,
polls, shards, loop lag.

Each `Metrics` owns its own `CollectorRegistry` (never prometheus_client's global one), so several bots
can live in one process. Label values come only from the fixed vocabularies below, provider keys and
shard ids; anything else raises `ValueError` (without echoing the value), so a secret or a member's
message text can never become a label.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

if TYPE_CHECKING:
    from bot.store import TurnUsage

__all__ = [
    "CONTENT_TYPE_LATEST",
    "POLL_RESULTS",
    "QUOTA_LIMITS",
    "RATE_LIMIT_SCOPES",
    "TURN_OUTCOMES",
    "USAGE_OUTCOMES",
    "WRITE_KINDS",
    "Metrics",
]

TURN_OUTCOMES = ("complete", "failed", "interrupted", "stopped")
USAGE_OUTCOMES = (*TURN_OUTCOMES, "cut")
DIRECTIONS = ("in", "out")
QUOTA_LIMITS = ("member_day", "member_month", "server_day", "server_month")
WRITE_KINDS = ("create", "edit")
RATE_LIMIT_SCOPES = ("user", "global", "shared")
POLL_RESULTS = ("messages", "empty", "failed")

# From a fast first byte (50 ms) to the longest turn worth telling apart (5 min).
LATENCY_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)

# Event-loop lag (bot/ops/loop_lag.py): an idle loop is well under a millisecond; 50 ms is where members start
# to notice (acknowledgements, typing, edits all wait on the loop), so the buckets are dense around it.
LOOP_LAG_BUCKETS_S = (0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0)

# The shape of `Provider.key` ("ablt", "magicai", ...): no spaces, capitals or punctuation, so a
# prompt or a token passed by mistake is refused.
_PROVIDER_KEY = re.compile(r"[a-z][a-z0-9_]{0,31}")


def _checked(value: str, allowed: tuple[str, ...], what: str) -> str:
    if value not in allowed:
        raise ValueError(f"unknown {what}; expected one of {', '.join(allowed)}")
    return value


def _provider(key: str) -> str:
    if not _PROVIDER_KEY.fullmatch(key):
        raise ValueError("a provider label must be a provider key such as 'ablt'")
    return key


def _shard(shard_id: int) -> str:
    if shard_id < 0:
        raise ValueError("a shard id is never negative")
    return str(shard_id)


class Metrics:
    """The bot's metrics; the owner calls the small methods below as things happen, `render()` serves them.

    `providers` (provider keys) only pre-creates their series at zero, so rates work from the first scrape.
    """

    def __init__(self, providers: Iterable[str] = ()) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self._turns = Counter(
            "bridgebot_turns_total",
            "Turns finished, by provider key and outcome (complete, failed, interrupted).",
            ["provider", "outcome"],
            registry=r,
        )
        self._first_byte = Histogram(
            "bridgebot_provider_first_byte_seconds",
            "Seconds from sending a turn to the provider until its first event arrived.",
            ["provider"],
            buckets=LATENCY_BUCKETS_S,
            registry=r,
        )
        self._turn_time = Histogram(
            "bridgebot_turn_seconds",
            "Seconds a whole turn took, from sending it to the provider until it finished, whatever the outcome.",
            ["provider"],
            buckets=LATENCY_BUCKETS_S,
            registry=r,
        )
        self._writes = Counter(
            "bridgebot_discord_writes_total",
            "Messages the bot wrote to Discord, by kind (create, edit).",
            ["kind"],
            registry=r,
        )
        self._rate_limited = Counter(
            "bridgebot_discord_rate_limited_total",
            "HTTP 429 answers from Discord, by scope (user, global, shared).",
            ["scope"],
            registry=r,
        )
        self._open = Gauge(
            "bridgebot_open_conversations",
            "Conversations currently open (not ended), as last reported by the bot.",
            registry=r,
        )
        self._polls = Counter(
            "bridgebot_agentverse_polls_total",
            "Agentverse engine polls, by result (messages, empty, failed).",
            ["result"],
            registry=r,
        )
        self._gateway_latency = Gauge(
            "bridgebot_gateway_latency_seconds",
            "Discord gateway heartbeat latency per shard of this process, in seconds (absent until measured).",
            ["shard"],
            registry=r,
        )
        self._shard_connected = Gauge(
            "bridgebot_shard_connected",
            "1 while the shard's gateway connection is up, 0 while it is down.",
            ["shard"],
            registry=r,
        )
        self._loop_lag = Histogram(
            "bridgebot_event_loop_lag_seconds",
            "Seconds the event loop ran a timer late, sampled every 50 ms (how long ready work waits for the loop).",
            buckets=LOOP_LAG_BUCKETS_S,
            registry=r,
        )
        self._declare_usage()
        self._shards: set[str] = set()
        for kind in WRITE_KINDS:
            self._writes.labels(kind=kind)
        for scope in RATE_LIMIT_SCOPES:
            self._rate_limited.labels(scope=scope)
        for result in POLL_RESULTS:
            self._polls.labels(result=result)
        for key in providers:
            self._add_provider(_provider(key))

    def _declare_usage(self) -> None:
        """The usage ledger's counters: by provider, outcome and direction only (never a member or a server)."""
        r = self.registry
        self._usage_turns = Counter(
            "bridgebot_usage_turns_total",
            "Members' turns entered in the usage ledger, by provider and outcome (complete, failed, interrupted,"
            " stopped, cut).",
            ["provider", "outcome"],
            registry=r,
        )
        self._usage_chars = Counter(
            "bridgebot_usage_characters_total",
            "Characters members sent (in) and providers answered (out), by provider.",
            ["provider", "direction"],
            registry=r,
        )
        self._usage_audio = Counter(
            "bridgebot_usage_audio_seconds_total",
            "Seconds of voice notes sent (in) and spoken answers received (out), by provider.",
            ["provider", "direction"],
            registry=r,
        )
        self._quota_refusals = Counter(
            "bridgebot_quota_refusals_total",
            "Turns refused before reaching a provider because a quota was used up, by which limit.",
            ["limit"],
            registry=r,
        )
        for limit in QUOTA_LIMITS:
            self._quota_refusals.labels(limit=limit)

    def _add_provider(self, provider: str) -> None:
        for outcome in USAGE_OUTCOMES:
            self._usage_turns.labels(provider=provider, outcome=outcome)
        for direction in DIRECTIONS:
            self._usage_chars.labels(provider=provider, direction=direction)
            self._usage_audio.labels(provider=provider, direction=direction)
        for outcome in TURN_OUTCOMES:
            self._turns.labels(provider=provider, outcome=outcome)
        self._first_byte.labels(provider=provider)
        self._turn_time.labels(provider=provider)

    def turn_finished(self, provider: str, outcome: str, first_byte_s: float | None, total_s: float) -> None:
        """Count one finished turn; `first_byte_s` is None when nothing arrived. Times are in seconds."""
        provider = _provider(provider)
        self._turns.labels(provider=provider, outcome=_checked(outcome, TURN_OUTCOMES, "turn outcome")).inc()
        if first_byte_s is not None and math.isfinite(first_byte_s):
            self._first_byte.labels(provider=provider).observe(max(0.0, first_byte_s))
        if math.isfinite(total_s):
            self._turn_time.labels(provider=provider).observe(max(0.0, total_s))

    def usage_recorded(self, provider: str, outcome: str, usage: TurnUsage, chars_in: int, audio_in_s: float) -> None:
        """Count one member's turn entered in the ledger: its outcome, characters and audio seconds each way."""
        provider = _provider(provider)
        self._usage_turns.labels(provider=provider, outcome=_checked(outcome, USAGE_OUTCOMES, "usage outcome")).inc()
        self._usage_chars.labels(provider=provider, direction="in").inc(max(0, chars_in))
        self._usage_chars.labels(provider=provider, direction="out").inc(max(0, usage.chars_out))
        for direction, seconds in (("in", audio_in_s), ("out", usage.audio_out_s)):
            if math.isfinite(seconds) and seconds > 0:
                self._usage_audio.labels(provider=provider, direction=direction).inc(seconds)

    def quota_refused(self, limit: str) -> None:
        """Count one turn refused by a quota (`limit`: member_day, member_month, server_day, server_month)."""
        self._quota_refusals.labels(limit=_checked(limit, QUOTA_LIMITS, "quota limit")).inc()

    def discord_write(self, kind: str) -> None:
        """Count one message created or edited on Discord (`kind`: create, edit)."""
        self._writes.labels(kind=_checked(kind, WRITE_KINDS, "write kind")).inc()

    def discord_rate_limited(self, scope: str) -> None:
        """Count one 429 from Discord (`scope`: user, global, shared, from the `X-RateLimit-Scope` header)."""
        self._rate_limited.labels(scope=_checked(scope, RATE_LIMIT_SCOPES, "rate-limit scope")).inc()

    def agentverse_poll(self, result: str) -> None:
        """Count one Agentverse poll (`result`: messages, empty, failed)."""
        self._polls.labels(result=_checked(result, POLL_RESULTS, "poll result")).inc()

    def set_open_conversations(self, n: int) -> None:
        """Report how many conversations are open now."""
        if n < 0:
            raise ValueError("a conversation count is never negative")
        self._open.set(n)

    def loop_lag(self, lag_s: float) -> None:
        """Record one event-loop lag sample, in seconds (negative or non-finite values are ignored)."""
        if math.isfinite(lag_s) and lag_s >= 0:
            self._loop_lag.observe(lag_s)

    def shard_status(self, shard_id: int, connected: bool, latency_s: float | None) -> None:
        """Report one shard; a `latency_s` of None (or inf/NaN, as discord.py has before its first
        heartbeat) removes the latency series instead of exporting a meaningless number."""
        shard = _shard(shard_id)
        self._shards.add(shard)
        self._shard_connected.labels(shard=shard).set(1 if connected else 0)
        if latency_s is not None and math.isfinite(latency_s):
            self._gateway_latency.labels(shard=shard).set(latency_s)
        else:
            self._forget(self._gateway_latency, shard)

    def keep_only_shards(self, shard_ids: Iterable[int]) -> None:
        """Drop the series of shards this process no longer runs."""
        keep = {_shard(shard_id) for shard_id in shard_ids}
        for shard in self._shards - keep:
            self._forget(self._shard_connected, shard)
            self._forget(self._gateway_latency, shard)
        self._shards &= keep

    @staticmethod
    def _forget(gauge: Gauge, shard: str) -> None:
        with contextlib.suppress(KeyError):  # older prometheus-client raises for a series never set
            gauge.remove(shard)

    def render(self) -> bytes:
        """The Prometheus text exposition of this registry; serve it with `CONTENT_TYPE_LATEST`."""
        return generate_latest(self.registry)
