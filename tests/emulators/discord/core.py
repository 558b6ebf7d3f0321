"""Configuration and the shared service container handed to every route module."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

from .access import Access
from .faults import FaultInjector
from .gateway import Gateway
from .interactions import InteractionService
from .members import MemberService
from .messaging import MessageService
from .moderation import ModerationService
from .notifier import Notifier
from .ratelimit import RateLimiter
from .records import RequestRecord
from .snowflakes import SnowflakeGenerator
from .threads import ThreadService
from .world import World

MIB = 1024 * 1024


@dataclass
class EmulatorConfig:
    """Tunables; defaults mirror Discord (windows can be shortened to keep tests fast)."""

    token: str = "emulator-token"
    message_bucket_limit: int = 5
    message_bucket_window_s: float = 5.0
    webhook_bucket_limit: int = 5
    webhook_bucket_window_s: float = 2.0
    """Per webhook id and token, interaction followups included, outside the global limit: "it should be
    reporting 5/2" (a Discord engineer, discord-api-docs issue 367); the channel's message bucket is not shared."""
    global_limit: int = 50
    global_window_s: float = 1.0
    heartbeat_interval_ms: int = 41250
    interaction_callback_timeout_s: float = 3.0
    interaction_token_ttl_s: float = 15 * 60.0
    max_file_size: int = 10 * MIB
    allow_privileged_intents: bool = True
    # Gateway sharding (events/gateway.mdx "Get Gateway Bot", "Session Start Limit Object"):
    recommended_shards: int = 1  # ``shards`` of GET /gateway/bot
    max_concurrency: int = 1  # IDENTIFY buckets (``shard_id % max_concurrency``)
    identify_interval_s: float = 5.0  # each bucket admits one IDENTIFY per this many seconds


class Core:
    """Owns the world, the services and the request/rate-limit bookkeeping."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.base_url = ""  # "http://127.0.0.1:PORT", set once the server listens
        self.notifier = Notifier()
        self.ids = SnowflakeGenerator()
        self.world = World(self.ids)
        self.gateway = Gateway(
            self.world,
            self.notifier,
            token=config.token,
            heartbeat_interval_ms=config.heartbeat_interval_ms,
            url=lambda: self.base_url.replace("http://", "ws://", 1) + "/",
            allow_privileged_intents=config.allow_privileged_intents,
            recommended_shards=config.recommended_shards,
            max_concurrency=config.max_concurrency,
            identify_interval_s=config.identify_interval_s,
        )
        self.members = MemberService(self.world, self.gateway, self.notifier)
        self.messages = MessageService(self.world, self.gateway, self.notifier, max_file_size=config.max_file_size)
        self.messages.store.cdn_base = lambda: self.base_url
        self.access: Access = self.messages.access
        self.threads = ThreadService(self.world, self.gateway, self.notifier, self.messages)
        self.moderation = ModerationService(self.world, self.gateway, self.notifier, self.messages, self.threads)
        self.faults = FaultInjector()
        self.interactions = InteractionService(
            self.world,
            self.gateway,
            self.notifier,
            self.messages,
            callback_timeout_s=config.interaction_callback_timeout_s,
            token_ttl_s=config.interaction_token_ttl_s,
        )
        self.limiter = RateLimiter(
            {
                "messages": (config.message_bucket_limit, config.message_bucket_window_s),
                "webhook": (config.webhook_bucket_limit, config.webhook_bucket_window_s),
            },
            global_limit=config.global_limit,
            global_window_s=config.global_window_s,
        )
        self.requests: list[RequestRecord] = []
        self.rate_limit_hits = 0
        self.rate_limit_hits_by_route: Counter[str] = Counter()
        self.typing: list[tuple[float, int]] = []
        self.command_syncs = 0  # completed PUT/POST command registrations
        self.internal_errors: list[str] = []  # emulator bugs (tracebacks); should stay empty

    def record_typing(self, channel_id: int) -> None:
        self.typing.append((time.monotonic(), channel_id))
        self.notifier.notify()
