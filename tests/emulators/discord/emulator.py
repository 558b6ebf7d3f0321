"""The test-facing facade: start/stop the server, drive simulated users, read the records."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiohttp import web

from . import payloads
from .core import MIB, Core, EmulatorConfig
from .messaging import Origin
from .records import (
    AttachmentSpec,
    GatewayEventRecord,
    InteractionRecord,
    MessageRecord,
    RequestRecord,
    ThreadRecord,
)
from .server import API_PREFIX, build_app
from .validation import UploadedFile
from .world import GENEROUS_PERMISSIONS, INTENT_GUILDS


class DiscordEmulator:
    """A loopback Discord (REST + gateway) for one guild, bot and application.

    Point discord.py at it with ``discord.http.Route.BASE = emu.api_base_url`` and
    ``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(emu.gateway_url)``.
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
        """Close gateway connections and stop the server."""
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
        return self.core.world.guild_id

    @property
    def channel_id(self) -> int:
        """The default text channel, ``#general``."""
        return self.core.world.default_channel_id

    @property
    def application_id(self) -> int:
        return self.core.world.application_id

    @property
    def bot_user_id(self) -> int:
        return self.core.world.bot_user_id

    @property
    def user_id(self) -> int:
        """The default human member, ``alice`` (also the guild owner)."""
        return self.core.world.owner_id

    # ---- world building --------------------------------------------------------------------------
    def add_member(self, name: str, *, roles: list[int] | None = None) -> int:
        """Add a human guild member (optionally with roles); bots with GUILD_MEMBERS get GUILD_MEMBER_ADD."""
        return self.core.members.add(name, roles or [])

    def set_member_roles(self, user_id: int, role_ids: list[int]) -> None:
        """Replace a member's roles, as a moderator would; GUILD_MEMBER_UPDATE goes to bots with
        GUILD_MEMBERS (always, when the member is the bot). Interactions and messages from then on
        carry the new roles and the permissions they grant."""
        self.core.members.set_roles(user_id, role_ids)

    def add_text_channel(self, name: str, topic: str | None = None) -> int:
        """Add a text channel (CHANNEL_CREATE is dispatched to connected bots)."""
        world = self.core.world
        cid = world.add_text_channel(name, topic=topic)
        body = payloads.channel_payload(world, world.channels[cid])
        self.core.gateway.dispatch("CHANNEL_CREATE", lambda s: body if s.intents & INTENT_GUILDS else None)
        return cid

    def set_everyone_permissions(self, permissions: int) -> None:
        """What members without roles may do (the bot keeps its own role's permissions)."""
        self.core.world.roles[self.guild_id].permissions = permissions

    def set_role_permissions(self, role_id: int, permissions: int) -> None:
        self.core.world.roles[role_id].permissions = permissions

    def set_bot_permissions(self, permissions: int) -> None:
        """Give the bot exactly `permissions` (its role and @everyone), before it connects so its cache agrees."""
        world = self.core.world
        world.roles[self.guild_id].permissions = permissions
        world.roles[world.bot_role_id].permissions = permissions

    def add_role(self, name: str, *, mentionable: bool = True, permissions: int | None = None) -> int:
        """Add a role (GUILD_ROLE_CREATE is dispatched to connected bots); ``permissions`` defaults to
        every bit but Administrator."""
        world = self.core.world
        granted = GENEROUS_PERMISSIONS if permissions is None else permissions
        rid = world.add_role(name, mentionable=mentionable, permissions=granted)
        body = {"guild_id": str(world.guild_id), "role": payloads.role_payload(world.roles[rid])}
        self.core.gateway.dispatch("GUILD_ROLE_CREATE", lambda s: body if s.intents & INTENT_GUILDS else None)
        return rid

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
        """Wait until ``count`` IDENTIFYs have been answered with READY + GUILD_CREATE."""
        await self.wait_for(lambda: self.core.gateway.ready_count >= count, timeout, "READY + GUILD_CREATE")

    async def wait_for_commands(self, timeout: float = 10.0) -> list[dict[str, Any]]:  # noqa: ASYNC109
        """Wait until the bot registered application commands (any completed PUT/POST)."""
        await self.wait_for(lambda: self.core.command_syncs > 0, timeout, "application command registration")
        return self.commands

    async def wait_for_gateway_connections(self, count: int, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        await self.wait_for(lambda: self.gateway_connections == count, timeout, f"{count} gateway connection(s)")

    # ---- simulated users -------------------------------------------------------------------------
    def open_dm(self, user_id: int | None = None) -> int:
        """The id of the DM between the bot and a member (default ``alice``), opened if needed.

        Like a user opening the bot's DM: Discord sends bots no CHANNEL_CREATE for DMs, so the bot
        learns of it from the first MESSAGE_CREATE or interaction there.
        """
        uid = user_id or self.user_id
        self.core.world.require_member(uid)
        dm = self.core.world.open_dm(uid)
        self.core.notifier.notify()
        return dm.id

    def dm_channel_id(self, user_id: int | None = None) -> int | None:
        """The DM between the bot and ``user_id`` if either side opened one."""
        return self.core.world.dm_by_user.get(user_id or self.user_id)

    async def run_slash_command(
        self,
        name: str,
        options: dict[str, Any] | None = None,
        channel_id: int | None = None,
        user_id: int | None = None,
    ) -> InteractionRecord:
        """Invoke a *registered* slash command (``"group sub"`` for subcommands) as a user.

        In a DM (``channel_id`` from :meth:`open_dm`) the interaction has Discord's BOT_DM shape;
        ``ValueError`` if the client would not offer the command there (its ``contexts``).
        """
        channel = channel_id or self.channel_id
        rec = self.core.interactions.slash(name, options or {}, channel, user_id or self._default_user(channel))
        await asyncio.sleep(0)
        return rec

    async def autocomplete(
        self,
        name: str,
        options: dict[str, Any],
        focused: str,
        timeout: float = 5.0,  # noqa: ASYNC109 - part of the agreed test API
        channel_id: int | None = None,
        user_id: int | None = None,
    ) -> list[dict[str, Any]]:
        """Send an autocomplete interaction for option ``focused``; return the bot's choices."""
        channel = channel_id or self.channel_id
        rec = self.core.interactions.slash(
            name, options, channel, user_id or self._default_user(channel), focused=focused
        )
        callback = await rec.wait_for_response(timeout)
        if callback.type != 8 or rec.choices is None:
            raise AssertionError(f"autocomplete answered with callback type {callback.type}, not 8")
        return rec.choices

    async def send_user_message(
        self,
        channel_id: int | None,
        text: str,
        user_id: int | None = None,
        attachments: list[AttachmentSpec] | None = None,
        flags: int = 0,
        reply_to: int | None = None,
    ) -> MessageRecord:
        """A member posts a message (stored, then MESSAGE_CREATE is dispatched).

        ``channel_id`` may be a DM from :meth:`open_dm`; the author must then be its recipient
        (``user_id`` defaults to that recipient).
        """
        specs = attachments or []
        files = [UploadedFile(i, f"files[{i}]", s.filename, s.content_type, s.data) for i, s in enumerate(specs)]
        payload: dict[str, Any] = {
            "content": text,
            "flags": flags,
            "attachments": [
                {
                    k: v
                    for k, v in {
                        "id": i,
                        "filename": s.filename,
                        "duration_secs": s.duration_secs,
                        "waveform": s.waveform,
                        "description": s.description,
                    }.items()
                    if v is not None
                }
                for i, s in enumerate(specs)
            ],
        }
        if reply_to is not None:
            payload["message_reference"] = {"message_id": str(reply_to)}
        author = self._author_in(channel_id or self.channel_id, user_id)
        msg = self.core.messages.create(channel_id or self.channel_id, payload, files, Origin(author, "user"))
        await asyncio.sleep(0)
        return msg

    def _default_user(self, channel_id: int) -> int:
        """Alice, or in a DM the only user who can act there: its recipient."""
        dm = self.core.world.dm_channels.get(channel_id)
        return dm.recipient_id if dm is not None else self.user_id

    def _clicker(self, message_id: int, user_id: int | None) -> int:
        msg = self.core.world.messages.get(message_id)
        return user_id or (self._default_user(msg.channel_id) if msg is not None else self.user_id)

    def _author_in(self, channel_id: int, user_id: int | None) -> int:
        """Who posts: ``user_id`` (default :meth:`_default_user`), who must be able to be there."""
        dm = self.core.world.dm_channels.get(channel_id)
        author = user_id or self._default_user(channel_id)
        self.core.world.require_member(author)
        if dm is not None and dm.recipient_id != author:
            raise ValueError(f"user {author} cannot post in DM {channel_id}, which belongs to {dm.recipient_id}")
        return author

    async def create_thread(
        self,
        name: str,
        channel_id: int | None = None,
        *,
        private: bool = False,
        message_id: int | None = None,
        user_id: int | None = None,
    ) -> ThreadRecord:
        """A member opens a thread (from ``message_id`` if given); THREAD_CREATE is dispatched."""
        author = user_id or self.user_id
        self.core.world.require_member(author)
        parent = channel_id or self.channel_id
        if message_id is not None:
            thread = self.core.threads.create_from_message(parent, message_id, {"name": name}, author)
        else:
            body = {"name": name, "type": 12 if private else 11}
            thread = self.core.threads.create(parent, body, author)
        await asyncio.sleep(0)
        return thread

    async def click_button(self, message_id: int, custom_id: str, user_id: int | None = None) -> InteractionRecord:
        """Click a button on a message (type-3 interaction); in a DM, as its recipient by default."""
        rec = self.core.interactions.component(message_id, custom_id, self._clicker(message_id, user_id))
        await asyncio.sleep(0)
        return rec

    async def select_option(
        self, message_id: int, custom_id: str, values: list[str], user_id: int | None = None
    ) -> InteractionRecord:
        """Choose values in a select menu (type-3 interaction); in a DM, as its recipient by default."""
        rec = self.core.interactions.component(message_id, custom_id, self._clicker(message_id, user_id), values)
        await asyncio.sleep(0)
        return rec

    async def submit_modal(
        self, interaction: InteractionRecord, values: dict[str, str], user_id: int | None = None
    ) -> InteractionRecord:
        """Submit the modal the bot opened in response to ``interaction`` (type-5 interaction)."""
        rec = self.core.interactions.modal_submit(interaction, values, user_id or interaction.user_id)
        await asyncio.sleep(0)
        return rec

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
        """How many IDENTIFYs were answered with READY + GUILD_CREATE (one per bot (re)start)."""
        return self.core.gateway.ready_count

    @property
    def identify_intents(self) -> int | None:
        return self.core.gateway.identify_intents

    @property
    def gateway_events(self) -> list[GatewayEventRecord]:
        return self.core.gateway.events

    async def disconnect_gateway(self, code: int = 4000, *, invalidate_session: bool = False) -> None:
        """Drop every gateway connection. 4000 lets discord.py RESUME; ``invalidate_session``
        forgets sessions so the RESUME gets op 9 and the client re-IDENTIFYs."""
        await self.core.gateway.disconnect_all(code, invalidate=invalidate_session)

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
        return list(self.core.world.threads.values())

    def thread(self, thread_id: int) -> ThreadRecord:
        return self.core.world.threads[thread_id]

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
    def typing_events(self) -> list[tuple[float, int]]:
        """``(monotonic t, channel_id)`` for every typing indicator the bot triggered."""
        return self.core.typing

    @property
    def internal_errors(self) -> list[str]:
        """Tracebacks of emulator bugs hit while serving requests (should stay empty)."""
        return self.core.internal_errors
