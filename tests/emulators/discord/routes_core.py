"""REST routes for identity, DMs, gateway discovery, the guild, channels and application commands."""

from __future__ import annotations

from aiohttp import web

from . import errors, guild_payloads, payloads
from .commands import normalize_commands, stored_command
from .core import Core
from .http_utils import int_query, json_response, no_content, read_json, read_json_value, route, snowflake_param
from .permissions import send_permission
from .records import ThreadRecord
from .world_types import INTENT_GUILDS, DMChannelInfo


class CoreRoutes:
    def __init__(self, core: Core) -> None:
        self.core = core
        self.world = core.world

    def register(self, router: web.UrlDispatcher, prefix: str) -> None:
        add = router.add_route
        add("GET", prefix + "/users/@me", self.get_me)
        add("POST", prefix + "/users/@me/channels", self.create_dm)
        add("GET", prefix + "/users/{user_id}", self.get_user)
        add("GET", prefix + "/oauth2/applications/@me", self.get_application)
        add("GET", prefix + "/applications/@me", self.get_application)
        add("GET", prefix + "/gateway", self.get_gateway)
        add("GET", prefix + "/gateway/bot", self.get_gateway_bot)
        add("GET", prefix + "/guilds/{guild_id}", self.get_guild)
        add("GET", prefix + "/guilds/{guild_id}/channels", self.get_guild_channels)
        add("GET", prefix + "/guilds/{guild_id}/roles", self.get_roles)
        add("GET", prefix + "/guilds/{guild_id}/members", self.list_members)
        add("GET", prefix + "/guilds/{guild_id}/members/{user_id}", self.get_member)
        add("GET", prefix + "/guilds/{guild_id}/threads/active", self.active_threads)
        add("GET", prefix + "/channels/{channel_id}", self.get_channel)
        add("PATCH", prefix + "/channels/{channel_id}", self.patch_channel)
        add("POST", prefix + "/channels/{channel_id}/typing", self.typing)
        for base in ("/applications/{app_id}/commands", "/applications/{app_id}/guilds/{guild_id}/commands"):
            add("GET", prefix + base, self.list_commands)
            add("PUT", prefix + base, self.put_commands)
            add("POST", prefix + base, self.post_command)
            add("GET", prefix + base + "/{command_id}", self.get_command)
            add("PATCH", prefix + base + "/{command_id}", self.patch_command)
            add("DELETE", prefix + base + "/{command_id}", self.delete_command)

    # ---- identity --------------------------------------------------------------------------------
    @route()
    async def get_me(self, request: web.Request) -> web.Response:
        return json_response(payloads.bot_self_payload(self.world))

    @route()
    async def get_user(self, request: web.Request) -> web.Response:
        user = self.world.require_user(snowflake_param(request, "user_id"))
        return json_response(payloads.user_payload(user))

    @route()
    async def create_dm(self, request: web.Request) -> web.Response:
        """Create DM: returns the existing DM with that user if there is one (no CHANNEL_CREATE is
        dispatched; bots have not received it for DMs since gateway v8)."""
        body = await read_json(request)
        raw = body.get("recipient_id")
        if raw is None:
            raise errors.single_field_error(("recipient_id",), "BASE_TYPE_REQUIRED", "This field is required")
        if not str(raw).isdigit():
            raise errors.single_field_error(("recipient_id",), "NUMBER_TYPE_COERCE", f'Value "{raw}" is not snowflake.')
        recipient = int(raw)
        if recipient not in self.world.users or recipient == self.world.bot_user_id:
            raise errors.invalid_recipients()
        dm = self.world.open_dm(recipient)
        self.core.notifier.notify()
        return json_response(payloads.dm_channel_payload(self.world, dm))

    @route()
    async def get_application(self, request: web.Request) -> web.Response:
        return json_response(guild_payloads.application_payload(self.world))

    @route(auth=False)
    async def get_gateway(self, request: web.Request) -> web.Response:
        return json_response({"url": self.core.gateway._url()})

    @route()
    async def get_gateway_bot(self, request: web.Request) -> web.Response:
        """events/gateway.mdx "Get Gateway Bot": ``shards`` is the recommended shard count;
        ``session_start_limit`` the "Session Start Limit Object" (see :mod:`.sharding`)."""
        gateway = self.core.gateway
        limit = gateway.limiter.session_start_limit()
        return json_response(
            {"url": gateway._url(), "shards": gateway.recommended_shards, "session_start_limit": limit}
        )

    # ---- guild -----------------------------------------------------------------------------------
    @route()
    async def get_guild(self, request: web.Request) -> web.Response:
        """Any guild the bot is in; 403 50001 for one it is not in, 404 10004 Unknown Guild otherwise
        (resources/guild.mdx "Get Guild"; see :meth:`~.world.World.require_guild`)."""
        guild = self.world.require_guild(snowflake_param(request, "guild_id"))
        body = guild_payloads.guild_payload(self.world, guild.id)
        if request.query.get("with_counts", "").lower() in ("1", "true"):
            body.update(approximate_member_count=len(guild.members), approximate_presence_count=0)
        return json_response(body)

    @route()
    async def get_guild_channels(self, request: web.Request) -> web.Response:
        guild = self.world.require_guild(snowflake_param(request, "guild_id"))
        return json_response([payloads.channel_payload(self.world, c) for c in self.world.guild_channels(guild.id)])

    @route()
    async def get_roles(self, request: web.Request) -> web.Response:
        guild = self.world.require_guild(snowflake_param(request, "guild_id"))
        return json_response([payloads.role_payload(r) for r in guild.roles.values()])

    @route()
    async def list_members(self, request: web.Request) -> web.Response:
        guild = self.world.require_guild(snowflake_param(request, "guild_id"))
        after = int_query(request, "after", 0) or 0
        limit = int_query(request, "limit", 1) or 1
        members = sorted((m for m in guild.members.values() if m.user_id > after), key=lambda m: m.user_id)
        return json_response([payloads.member_payload(self.world, m) for m in members[:limit]])

    @route()
    async def get_member(self, request: web.Request) -> web.Response:
        guild = self.world.require_guild(snowflake_param(request, "guild_id"))
        member = self.world.require_member(snowflake_param(request, "user_id"), guild.id)
        return json_response(payloads.member_payload(self.world, member))

    @route()
    async def active_threads(self, request: web.Request) -> web.Response:
        guild = self.world.require_guild(snowflake_param(request, "guild_id"))
        # "all active threads in a guild that the current user can access" (threads.mdx "Enumerating threads")
        threads = [t for t in self.world.guild_threads(guild.id) if not t.archived and self.world.bot_can_view(t.id)]
        bot = self.world.bot_user_id
        return json_response(
            {
                "threads": [payloads.thread_payload(self.world, t) for t in threads],
                "members": [payloads.thread_member_payload(t, bot) for t in threads if bot in t.member_ids],
            }
        )

    # ---- channels --------------------------------------------------------------------------------
    @route()
    async def get_channel(self, request: web.Request) -> web.Response:
        channel = self.world.channel_or_thread(snowflake_param(request, "channel_id"))
        return json_response(payloads.any_channel_payload(self.world, channel))

    @route()
    async def patch_channel(self, request: web.Request) -> web.Response:
        channel = self.world.channel_or_thread(snowflake_param(request, "channel_id"))
        body = await read_json(request)
        if isinstance(channel, DMChannelInfo):
            raise errors.cannot_execute_on_dm()
        if isinstance(channel, ThreadRecord):
            thread = self.core.threads.modify(channel, body, actor_id=self.world.bot_user_id)
            return json_response(payloads.thread_payload(self.world, thread, member_for=self.world.bot_user_id))
        self.core.access.check_modify_channel(self.world.bot_user_id, channel.id)
        form = errors.FormErrors()
        if "name" in body and (not isinstance(body["name"], str) or not 1 <= len(body["name"]) <= 100):
            form.bad_length(("name",), 1, 100)
        if isinstance(body.get("topic"), str) and len(body["topic"]) > 1024:
            form.max_length(("topic",), 1024)
        form.raise_if_any()
        if "name" in body:
            channel.name = body["name"]
        if "topic" in body:
            channel.topic = body["topic"]
        data = payloads.channel_payload(self.world, channel)
        self.core.gateway.dispatch("CHANNEL_UPDATE", lambda s: data if s.intents & INTENT_GUILDS else None)
        self.core.notifier.notify()
        return json_response(data)

    @route()
    async def typing(self, request: web.Request) -> web.Response:
        """Typing needs the right to post there (inferred: the docs state no permission, but the
        indicator announces a message the bot could not send); 403 50013 otherwise."""
        channel_id = snowflake_param(request, "channel_id")
        self.world.channel_or_thread(channel_id)
        if not self.world.is_dm(channel_id):
            self.core.access.require(self.world.bot_user_id, channel_id, send_permission(self.world, channel_id))
        self.core.record_typing(channel_id)
        return no_content()

    # ---- application commands --------------------------------------------------------------------
    def _scope(self, request: web.Request) -> int | None:
        if snowflake_param(request, "app_id") != self.world.application_id:
            raise errors.ApiError(403, 50001, "Missing Access")
        if "guild_id" not in request.match_info:
            return None
        guild_id = snowflake_param(request, "guild_id")
        self.world.require_guild(guild_id)
        return guild_id

    def _table(self, guild_id: int | None) -> dict[tuple[str, int], dict[str, object]]:
        if guild_id is None:
            return self.world.global_commands
        return self.world.guild_commands.setdefault(guild_id, {})

    @route()
    async def list_commands(self, request: web.Request) -> web.Response:
        return json_response(list(self._table(self._scope(request)).values()))

    @route()
    async def put_commands(self, request: web.Request) -> web.Response:
        guild_id = self._scope(request)
        body = await read_json_value(request)
        stored = normalize_commands(self.world, body, guild_id)
        table = self._table(guild_id)
        table.clear()
        for cmd in stored:
            table[(str(cmd["name"]), int(cmd["type"]))] = cmd
        self.core.command_syncs += 1
        self.core.notifier.notify()
        return json_response(stored)

    @route()
    async def post_command(self, request: web.Request) -> web.Response:
        guild_id = self._scope(request)
        body = await read_json(request)
        stored = normalize_commands(self.world, [body], guild_id)[0]
        table = self._table(guild_id)
        existed = (str(stored["name"]), int(stored["type"])) in table
        table[(str(stored["name"]), int(stored["type"]))] = stored
        self.core.command_syncs += 1
        self.core.notifier.notify()
        return json_response(stored, status=200 if existed else 201)

    def _find(self, request: web.Request) -> tuple[dict[tuple[str, int], dict[str, object]], tuple[str, int]]:
        table = self._table(self._scope(request))
        cid = request.match_info["command_id"]
        for key, cmd in table.items():
            if cmd["id"] == cid:
                return table, key
        raise errors.unknown_application_command()

    @route()
    async def get_command(self, request: web.Request) -> web.Response:
        table, key = self._find(request)
        return json_response(table[key])

    @route()
    async def patch_command(self, request: web.Request) -> web.Response:
        table, key = self._find(request)
        body = await read_json(request)
        merged = {**table[key], **body}
        guild_id = self._scope(request)
        normalize_commands(self.world, [merged], guild_id)
        del table[key]
        stored = stored_command(self.world, merged, guild_id)
        table[(str(stored["name"]), int(stored["type"]))] = stored
        self.core.notifier.notify()
        return json_response(stored)

    @route()
    async def delete_command(self, request: web.Request) -> web.Response:
        table, key = self._find(request)
        del table[key]
        self.core.notifier.notify()
        return no_content()
