"""The discord.py Bot: opens the store and HTTP session, builds providers, loads cogs, closes cleanly.

It is an `AutoShardedBot`: by default one process runs every shard (Discord's recommended count); with
SHARD_COUNT and SHARD_IDS it runs only its share, and the processes coordinate through the store.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import json
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import discord
from discord.ext import commands
from discord.http import Route

from bot.command_tree import BridgeTree, failure_line
from bot.config.settings import Settings
from bot.core.answer_memory import AnswerMemory, engine_key
from bot.core.background import Background
from bot.core.conversations import Conversations
from bot.core.gate import Gate
from bot.core.presence import Presence
from bot.core.quotas import Quotas
from bot.core.recording import STORE_ERRORS
from bot.core.token_vault import TokenKeeper, load_tokens
from bot.members.attachments import AttachmentReader
from bot.ops.monitoring import Monitoring, shard_states
from bot.providers.agentverse.polling import PollScheduler
from bot.providers.registry import build_providers
from bot.replies.pacing import ChannelPacers, RequestRate
from bot.replies.shared_rate import SHARED_REQUESTS_PER_S, SharedRate, bot_key
from bot.replies.writes import NO_PINGS
from bot.sharding import IdentifyGate, ShardPlan
from bot.store import Store

log = logging.getLogger(__name__)

EXTENSIONS = (
    "cogs.chat",
    "cogs.ask",
    "cogs.messages",
    "cogs.session",
    "cogs.export",
    "cogs.offers",
    "cogs.controls",
    "cogs.bindings",
    "cogs.server_admin",
    "cogs.limits",
    "cogs.usage",
    "cogs.recovery",
    "cogs.deletions",
    "cogs.places",
)


BOT_PERMISSIONS = 70677981940736
"""What the bot asks for when added to a server (docs/setup.md explains each)."""


def install_links(application_id: int, *, user_installs: bool) -> list[tuple[str, str]]:
    """(where, OAuth2 link) to add the app to a server and, with `user_installs`, to a member's own account
    (resources/application.mdx "Install Links"; a user install takes `applications.commands` alone)."""
    base = f"https://discord.com/oauth2/authorize?client_id={application_id}"
    links = [
        ("to a server", f"{base}&integration_type=0&scope=bot+applications.commands&permissions={BOT_PERMISSIONS}")
    ]
    if user_installs:
        links.append(("to a member's own account", f"{base}&integration_type=1&scope=applications.commands"))
    return links


PROVIDER_CONNECTIONS = 2000
"""Open connections to the providers at once. Each streaming reply (and each Agentverse poll) holds one for as
long as it lasts; aiohttp's default of 100 made the 101st concurrent reply wait for a free connection."""

REST_CONNECT_TIMEOUT_S = 10.0
REST_READ_TIMEOUT_S = 20.0
"""A Discord request that sends nothing back for this long has failed (writes are then tried again)."""


def rest_timeout() -> aiohttp.ClientTimeout:
    """Per-request limits for Discord's REST API: uploads may take long, silence may not."""
    return aiohttp.ClientTimeout(total=None, sock_connect=REST_CONNECT_TIMEOUT_S, sock_read=REST_READ_TIMEOUT_S)


def settle_heap() -> None:
    """Once connected: collect, then move everything alive (modules, discord.py's cache, the store's engine)
    out of the garbage collector's sight (`gc.freeze`). Full collections then scan only what came later: with
    500 replies streaming, they had taken 136-215 ms each and stalled the event loop (bench/load.py)."""
    gc.collect()
    gc.freeze()
    log.debug("%d objects frozen out of the garbage collector's generations", gc.get_freeze_count())


def provider_connector() -> aiohttp.TCPConnector:
    """The connection pool for provider calls: `PROVIDER_CONNECTIONS` at once, raised to what the process's
    open-file limit allows (raising the soft limit to the hard one first, as servers commonly do)."""
    return aiohttp.TCPConnector(limit=open_file_room(PROVIDER_CONNECTIONS), limit_per_host=0)


def open_file_room(wanted: int, *, reserve: int = 200) -> int:
    """How many of `wanted` connections fit under the open-file limit, keeping `reserve` descriptors for the
    gateway, Discord's REST, the database and logs. Raises the soft limit toward the hard one if needed."""
    try:
        import resource  # POSIX only
    except ImportError:  # Windows: no such limit to respect
        return wanted
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted + reserve:
        target = wanted + reserve if hard == resource.RLIM_INFINITY else min(hard, wanted + reserve)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            log.warning("could not raise the open-file limit from %d: %s", soft, exc)
    if soft == resource.RLIM_INFINITY:
        return wanted
    room = max(1, min(wanted, soft - reserve))
    if room < wanted:
        log.warning("open-file limit %d allows %d concurrent provider calls (ulimit -n to raise it)", soft, room)
    return room


@dataclass(frozen=True)
class Services:
    """What cogs need, created once the bot has logged in."""

    store: Store
    conversations: Conversations
    pacers: ChannelPacers
    gate: Gate
    background: Background
    shards: ShardPlan
    monitoring: Monitoring
    presence: Presence
    downloads: AttachmentReader
    quotas: Quotas


class BridgeBot(commands.AutoShardedBot):
    def __init__(
        self, settings: Settings, *, own_process: bool = False, clock: Callable[[], float] = time.time
    ) -> None:
        """`own_process`: the bot is the process's only tenant (`python -m bot`), so it may tune the process
        (the garbage collector, once connected) rather than share it with tests. `clock`: epoch seconds now, for
        quotas' days and months (tests move it past midnight instead of waiting)."""
        self.clock = clock
        intents = discord.Intents.default()
        intents.message_content = True  # privileged: needed to read thread messages and attachments
        self.settings = settings
        self.plan = ShardPlan.from_settings(settings.scale)
        scale = settings.scale
        self.monitoring = Monitoring(list(settings.configured_providers), scale.health_port, scale.health_host)
        sharding: dict[str, Any] = {"shard_count": self.plan.count}
        if self.plan.ids is not None:
            sharding["shard_ids"] = list(self.plan.ids)
        super().__init__(
            tree_cls=BridgeTree,
            command_prefix=commands.when_mentioned,
            intents=intents,
            allowed_mentions=discord.AllowedMentions.none(),
            help_command=None,
            http_trace=self.monitoring.discord_trace(),
            **sharding,
        )
        redis = settings.scale.rest_rate_redis_url
        key = bot_key(settings.discord_token.reveal())
        shared = SharedRate(redis.reveal(), SHARED_REQUESTS_PER_S, key=key) if redis is not None else None
        self.rest_budget = RequestRate(settings.scale.rest_rate_per_s, shared=shared)
        self._pace_rest_calls(self.rest_budget)
        self._services: Services | None = None
        self._http_session: aiohttp.ClientSession | None = None
        self._scheduler: PollScheduler | None = None
        self._answers: AnswerMemory | None = None
        self._identify: IdentifyGate | None = None
        self._heap_settled = not own_process

    def _pace_rest_calls(self, rate: RequestRate) -> None:
        """Every REST call waits for its slot in the global budget, by priority (bot/replies/pacing.py; interaction
        callbacks and follow-ups use another path, unpaced, as Discord exempts them), and gives up waiting for
        an answer after `REST_READ_TIMEOUT_S` (discord.py's session would wait 5 min)."""
        send = self.http.request

        async def paced(route: Route, **kwargs: Any) -> Any:
            await rate.acquire_for_call()
            kwargs.setdefault("timeout", rest_timeout())
            return await send(route, **kwargs)

        setattr(self.http, "request", paced)  # noqa: B010 - replaces the bound method on this instance only

    @property
    def services(self) -> Services:
        if self._services is None:
            raise RuntimeError("services are created in setup_hook")
        return self._services

    async def setup_hook(self) -> None:
        self._http_session = aiohttp.ClientSession(connector=provider_connector())
        store = await Store.open(self.settings.database_url.reveal())
        agentverse = self.settings.agentverse
        self._answers = AnswerMemory(store, engine_key(agentverse)) if agentverse else None
        self._scheduler = PollScheduler(
            on_poll=self.monitoring.metrics.agentverse_poll,
            on_learnt=self._answers.remember if self._answers else None,
        )
        if self._answers is not None:
            self._scheduler.answer_times.restore(await self._answers.load())
        providers = build_providers(
            self.settings,
            self._http_session,
            agentverse_tokens=await load_tokens(store, agentverse) if agentverse else None,
            keep_agentverse_tokens=TokenKeeper(store, agentverse) if agentverse else None,
            scheduler=self._scheduler,
        )
        names = {key: provider.display_name for key, provider in providers.items()}
        gate = Gate(store, self.settings.community, names)
        await gate.load()
        quotas = Quotas(store, gate, self.settings.usage, names, clock=self.clock)
        quotas.refused = self.monitoring.metrics.quota_refused
        conversations = Conversations(
            store,
            providers,
            metrics=self.monitoring.metrics,
            max_reply_chars=self.settings.max_reply_chars,
            quotas=quotas,
        )
        presence = Presence(store.coordination, conversations.owner)
        await presence.start()  # before recovery looks for replies that processes now gone left unfinished
        pacers = ChannelPacers(budget=self.rest_budget)
        reader = AttachmentReader(self._http_session)
        self._services = Services(
            store, conversations, pacers, gate, Background(), self.plan, self.monitoring, presence, reader, quotas
        )
        self._services.background.spawn(quotas.keep_ledger(), name="usage-ledger-upkeep")
        log.info("providers: %s; database: %s", ", ".join(p.display_name for p in providers.values()), store.db.where)
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        if self.plan.syncs_commands:
            await self._sync_commands_if_changed(store)
        await self.monitoring.start(store, lambda: shard_states(self.shards), self.plan.serves)

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """Every IDENTIFY waits for its bucket's slot in the store (bot/sharding.py): processes started together,
        and a process restarted within 5 s of its last IDENTIFY, never meet op 9 Invalid Session."""
        if self._identify is None:
            limits = await self.fetch_session_start_limits()
            self._identify = IdentifyGate(self.services.store.coordination, limits.max_concurrency)
        await self._identify.wait(shard_id)

    async def _sync_commands_if_changed(self, store: Store) -> None:
        """Register slash commands only when they changed: Discord limits how often that may happen."""
        payload = [command.to_dict(self.tree) for command in self.tree.get_commands()]
        digest = hashlib.sha256(json.dumps([self.application_id, payload], sort_keys=True).encode()).hexdigest()
        if await store.get_meta("commands_digest") == digest:
            return
        await self.tree.sync()
        await store.set_meta("commands_digest", digest)
        log.info("registered %d slash command(s)", len(payload))

    async def on_ready(self) -> None:
        if not self._heap_settled:
            self._heap_settled = True
            settle_heap()
        log.info(
            "connected to Discord as %s: shard(s) %s of %s, %d guild(s)",
            self.user,
            ",".join(str(i) for i in sorted(self.shards)),
            self.shard_count,
            len(self.guilds),
        )
        for where, link in install_links(self.application_id or 0, user_installs=self.services.gate.user_installs):
            log.info("install %s: %s", where, link)

    async def on_error(self, event_method: str, /, *args: Any, **kwargs: Any) -> None:
        """An event handler failed: log it (as discord.py does), and answer a member whose message it was."""
        if isinstance(sys.exception(), STORE_ERRORS):
            log.warning("handling %s failed: %s", event_method, sys.exception())
        else:
            log.exception("handling %s failed", event_method)
        message = args[0] if args and event_method == "on_message" else None
        if isinstance(message, discord.Message) and not message.author.bot:
            try:
                await message.reply(failure_line(sys.exception() or Exception()), allowed_mentions=NO_PINGS)
            except (discord.HTTPException, aiohttp.ClientError, RuntimeError) as exc:  # RuntimeError: closing
                log.warning("could not tell the member their message failed: %s", exc)

    async def close(self) -> None:
        if self._services is not None:
            await self._services.conversations.turns.shutdown()
            await self._services.background.close()
        await self.monitoring.close()
        if self._scheduler is not None:
            await self._scheduler.close()
        if self._answers is not None:
            await self._answers.close()  # before the store closes
        # discord.py fires on_ready from a task that waits ~2 s after the guilds arrive; stopped sooner, that
        # task would dispatch on a closed client. It keeps the task on its (private) connection state.
        ready_task = getattr(self._connection, "_ready_task", None)
        if isinstance(ready_task, asyncio.Task):
            ready_task.cancel()
        await super().close()
        await _finish_event_handlers()  # before the store closes: a handler mid-query would strand a connection
        await self.rest_budget.close()
        if self._http_session is not None:
            await self._http_session.close()
        if self._services is not None:
            await self._services.presence.stop()  # its replies are marked: nobody needs to take them over
            await self._services.store.close()
            self._services = None
        log.info("stopped cleanly")


HANDLER_TASKS = ("discord.py: ", "CommandTree-invoker", "discord-ui-")
"""Names discord.py gives the tasks that run event listeners, slash commands and component callbacks."""
HANDLER_GRACE_S = 5.0


async def _finish_event_handlers() -> None:
    """Let event handlers still running finish (cancelling them after a grace), so none outlives the store."""
    current = asyncio.current_task()
    running = [
        task
        for task in asyncio.all_tasks()
        if task is not current and not task.done() and task.get_name().startswith(HANDLER_TASKS)
    ]
    if not running:
        return
    _, late = await asyncio.wait(running, timeout=HANDLER_GRACE_S)
    for task in late:
        task.cancel()
    if late:
        await asyncio.wait(late, timeout=HANDLER_GRACE_S)
