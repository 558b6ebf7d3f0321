"""The test-facing facade: start/stop the server, build the world, read the records.

Simulated people live in :mod:`.facade_users`, permissions/moderation/faults in
:mod:`.facade_moderation`, user installs and the places only they reach in :mod:`.facade_installs`;
:class:`DiscordEmulator` combines them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from .core import MIB, Core, EmulatorConfig
from .facade_guilds import Guilds
from .facade_installs import UserInstalls
from .facade_moderation import Moderation
from .facade_users import SimulatedUsers
from .records import (
    GatewayEventRecord,
    InteractionRecord,
    MessageRecord,
    RequestRecord,
    ThreadRecord,
)
from .server import API_PREFIX, build_app


class DiscordEmulator(Guilds, SimulatedUsers, Moderation, UserInstalls):
    """A loopback Discord (REST + gateway) for one bot and application in one or more guilds.

    Point discord.py at it with ``discord.http.Route.BASE = emu.api_base_url`` and
    ``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(emu.gateway_url)``.

    Gateway sharding: ``recommended_shards`` is what GET /gateway/bot recommends; IDENTIFYs are
    admitted one per ``identify_interval_s`` (Discord: 5 s) in each of ``max_concurrency`` buckets,
    others get op 9 Invalid Session (see :mod:`.sharding`).
    """

    def __init__(
        self,
        token: str = "emulator-token",  # noqa: S107 - a fake token for a loopback server
        *,
        message_bucket_limit: int = 5,
        message_bucket_window_s: float = 5.0,
        webhook_bucket_limit: int = 5,
        webhook_bucket_window_s: float = 2.0,
        global_limit: int = 50,
        global_window_s: float = 1.0,
        heartbeat_interval_ms: int = 41250,
        interaction_callback_timeout_s: float = 3.0,
        interaction_token_ttl_s: float = 15 * 60.0,
        max_file_size: int = 10 * MIB,
        allow_privileged_intents: bool = True,
        recommended_shards: int = 1,
        max_concurrency: int = 1,
        identify_interval_s: float = 5.0,
    ) -> None:
        self.config = EmulatorConfig(
            token=token,
            message_bucket_limit=message_bucket_limit,
            message_bucket_window_s=message_bucket_window_s,
            webhook_bucket_limit=webhook_bucket_limit,
            webhook_bucket_window_s=webhook_bucket_window_s,
            global_limit=global_limit,
            global_window_s=global_window_s,
            heartbeat_interval_ms=heartbeat_interval_ms,
            interaction_callback_timeout_s=interaction_callback_timeout_s,
            interaction_token_ttl_s=interaction_token_ttl_s,
            max_file_size=max_file_size,
            allow_privileged_intents=allow_privileged_intents,
            recommended_shards=recommended_shards,
            max_concurrency=max_concurrency,
            identify_interval_s=identify_interval_s,
        )
        self.core = Core(self.config)
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    # ---- lifecycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        """Listen on 127.0.0.1 with an OS-assigned port."""
        runner = web.AppRunner(build_app(self.core), handle_signals=False, access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        self.core.base_url = f"http://127.0.0.1:{self.port}"

    async def close(self) -> None:
        """Close gateway connections and stop the server (delayed fault answers end at once)."""
        self.core.faults.closing.set()
        await self.core.gateway.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> DiscordEmulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ---- addresses and ids -----------------------------------------------------------------------
    @property
    def token(self) -> str:
        return self.config.token

    @property
    def base_url(self) -> str:
        return self.core.base_url

    @property
    def api_base_url(self) -> str:
        return self.core.base_url + API_PREFIX

    @property
    def gateway_url(self) -> str:
        return self.core.base_url.replace("http://", "ws://", 1) + "/"

    @property
    def guild_id(self) -> int:
        """The default guild (the first one)."""
        return self.core.world.guild_id

    @property
    def channel_id(self) -> int:
        """The default guild's default text channel, ``#general``."""
        return self.core.world.default_channel_id

    @property
    def application_id(self) -> int:
        return self.core.world.application_id

    @property
    def bot_user_id(self) -> int:
        return self.core.world.bot_user_id

    @property
    def user_id(self) -> int:
        """The default human member, ``alice`` (owner and member of every guild)."""
        return self.core.world.owner_id

    # ---- waiting ---------------------------------------------------------------------------------
    async def wait_for(
        self,
        predicate: Callable[[], bool],
        timeout: float = 5.0,  # noqa: ASYNC109
        description: str | None = None,
    ) -> None:
        """Wait until ``predicate()`` holds; re-checked after every recorded event."""
        await self.core.notifier.wait_for(predicate, timeout, description)

    async def wait_until_ready(self, timeout: float = 10.0, count: int = 1) -> None:  # noqa: ASYNC109
        """Wait until ``count`` IDENTIFYs have been answered with READY + GUILD_CREATE (a session counts
        once READY and the GUILD_CREATE of every guild on its shard went out)."""
        await self.wait_for(lambda: self.core.gateway.ready_count >= count, timeout, "READY + GUILD_CREATE")

    async def wait_for_commands(self, timeout: float = 10.0) -> list[dict[str, Any]]:  # noqa: ASYNC109
        """Wait until the bot registered application commands (any completed PUT/POST)."""
        await self.wait_for(lambda: self.core.command_syncs > 0, timeout, "application command registration")
        return self.commands

    async def wait_for_gateway_connections(self, count: int, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        await self.wait_for(lambda: self.gateway_connections == count, timeout, f"{count} gateway connection(s)")

    # ---- gateway control -------------------------------------------------------------------------
    @property
    def gateway_connections(self) -> int:
        """Identified, open gateway connections."""
        return self.core.gateway.connected_count

    @property
    def gateway_compressions(self) -> list[str | None]:
        """The transport compression each gateway connection asked for, in order (zstd-stream, zlib-stream)."""
        return list(self.core.gateway.compressions_seen)

    @property
    def ready_count(self) -> int:
        """How many IDENTIFYs were answered with READY + all their GUILD_CREATEs (one per session start)."""
        return self.core.gateway.ready_count

    @property
    def identify_intents(self) -> int | None:
        return self.core.gateway.identify_intents

    @property
    def gateway_events(self) -> list[GatewayEventRecord]:
        return self.core.gateway.events

    async def disconnect_gateway(
        self, code: int = 4000, *, invalidate_session: bool = False, shard: int | None = None
    ) -> None:
        """Drop every gateway connection (or only those of sessions on ``shard``; unsharded sessions
        count as shard 0). 4000 lets discord.py RESUME; ``invalidate_session`` forgets the sessions so
        the RESUME gets op 9 and the client re-IDENTIFYs."""
        await self.core.gateway.disconnect_all(code, invalidate=invalidate_session, shard=shard)

    async def request_reconnect(self) -> None:
        """Send op 7 RECONNECT, as Discord does before maintenance; clients reconnect and RESUME."""
        await self.core.gateway.send_reconnect()

    # ---- records ---------------------------------------------------------------------------------
    @property
    def commands(self) -> list[dict[str, Any]]:
        """Registered application commands (global, then guild), as stored."""
        return self.core.world.all_commands()

    def messages(
        self, channel_id: int | None = None, *, include_deleted: bool = False, include_ephemeral: bool = True
    ) -> list[MessageRecord]:
        """Messages of a channel or thread in creation order.

        Ephemeral messages are included (the invoking user sees them; check ``.ephemeral``);
        pass ``include_ephemeral=False`` for what everyone else sees.
        """
        out = self.core.world.channel_history(channel_id or self.channel_id, include_deleted=include_deleted)
        return out if include_ephemeral else [m for m in out if not m.ephemeral]

    def message(self, message_id: int) -> MessageRecord:
        return self.core.world.messages[message_id]

    def bot_messages(self, channel_id: int | None = None) -> list[MessageRecord]:
        return [m for m in self.messages(channel_id) if m.author_id == self.bot_user_id]

    @property
    def threads(self) -> list[ThreadRecord]:
        """Threads that exist now (deleted ones are left out; :meth:`thread` still finds them)."""
        return list(self.core.world.threads.values())

    def thread(self, thread_id: int) -> ThreadRecord:
        """A thread's record, also after it was deleted (then ``deleted`` is true)."""
        world = self.core.world
        found = world.threads.get(thread_id) or world.deleted_threads.get(thread_id)
        if found is None:
            raise KeyError(thread_id)
        return found

    @property
    def interactions(self) -> list[InteractionRecord]:
        return list(self.core.world.interactions.values())

    @property
    def requests(self) -> list[RequestRecord]:
        return self.core.requests

    @property
    def rate_limit_hits(self) -> int:
        """Number of 429 responses sent."""
        return self.core.rate_limit_hits

    @property
    def rate_limit_hits_by_route(self) -> dict[str, int]:
        return dict(self.core.rate_limit_hits_by_route)

    @property
    def downloaded_attachments(self) -> list[int]:
        """Ids of the attachments the fake CDN served, in order (a file checked and left alone is not here)."""
        return self.core.messages.store.downloads

    @property
    def typing_events(self) -> list[tuple[float, int]]:
        """``(monotonic t, channel_id)`` for every typing indicator the bot triggered."""
        return self.core.typing

    @property
    def internal_errors(self) -> list[str]:
        """Tracebacks of emulator bugs hit while serving requests (should stay empty)."""
        return self.core.internal_errors
