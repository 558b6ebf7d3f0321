"""REST routes for channel messages, reactions, threads and thread members.

The middleware has already answered 10003/50001 for unknown or invisible channels; the permission
checks specific to each action live in :mod:`.access` and the services.
"""

from __future__ import annotations

from urllib.parse import unquote

from aiohttp import web

from . import errors, payloads
from .core import Core
from .http_utils import int_query, json_response, no_content, read_json, read_message_body, route, snowflake_param
from .messaging import Origin
from .permissions import READ_MESSAGE_HISTORY


class MessageRoutes:
    def __init__(self, core: Core) -> None:
        self.core = core
        self.world = core.world

    def register(self, router: web.UrlDispatcher, prefix: str) -> None:
        add = router.add_route
        msgs = prefix + "/channels/{channel_id}/messages"
        add("POST", msgs, self.create)
        add("GET", msgs, self.history)
        add("GET", msgs + "/{message_id}", self.get)
        add("PATCH", msgs + "/{message_id}", self.edit)
        add("DELETE", msgs + "/{message_id}", self.delete)
        add("PUT", msgs + "/{message_id}/reactions/{emoji}/@me", self.add_reaction)
        add("DELETE", msgs + "/{message_id}/reactions/{emoji}/@me", self.remove_reaction)
        add("POST", msgs + "/{message_id}/threads", self.thread_from_message)
        add("POST", prefix + "/channels/{channel_id}/threads", self.create_thread)
        add("GET", prefix + "/channels/{channel_id}/thread-members", self.thread_members)
        add("PUT", prefix + "/channels/{channel_id}/thread-members/{user_id}", self.add_thread_member)
        add("DELETE", prefix + "/channels/{channel_id}/thread-members/{user_id}", self.remove_thread_member)

    def _bot(self) -> Origin:
        return Origin(author_id=self.world.bot_user_id)

    # ---- messages --------------------------------------------------------------------------------
    @route(bucket="messages", major=("channel_id",))
    async def create(self, request: web.Request) -> web.Response:
        channel_id = snowflake_param(request, "channel_id")
        self.world.channel_or_thread(channel_id)
        payload, files = await read_message_body(request)
        msg = self.core.messages.create(channel_id, payload, files, self._bot())
        return json_response(payloads.message_payload(self.world, msg))

    @route()
    async def history(self, request: web.Request) -> web.Response:
        channel_id = snowflake_param(request, "channel_id")
        self.world.channel_or_thread(channel_id)
        limit = int_query(request, "limit", 50) or 50
        if not 1 <= limit <= 100:
            raise errors.single_field_error(
                ("limit",), "NUMBER_TYPE_MAX", "int value should be less than or equal to 100."
            )
        msgs = [m for m in self.world.channel_history(channel_id) if not m.ephemeral]
        if not self.core.access.has(self.world.bot_user_id, channel_id, READ_MESSAGE_HISTORY):
            msgs = []  # "If the current user is missing the READ_MESSAGE_HISTORY permission in the
            # channel, then no messages will be returned" (message.mdx, Get Channel Messages)
        before, after, around = (int_query(request, k) for k in ("before", "after", "around"))
        if before is not None:
            msgs = [m for m in msgs if m.id < before]
            chosen = msgs[-limit:]
        elif after is not None:
            chosen = [m for m in msgs if m.id > after][:limit]
        elif around is not None:
            older = [m for m in msgs if m.id < around][-(limit // 2) :] if limit > 1 else []
            newer = [m for m in msgs if m.id >= around][: limit - len(older)]
            chosen = older + newer
        else:
            chosen = msgs[-limit:]
        chosen.sort(key=lambda m: m.id, reverse=True)
        return json_response([payloads.message_payload(self.world, m) for m in chosen])

    @route()
    async def get(self, request: web.Request) -> web.Response:
        """message.mdx "Get Channel Message": requires VIEW_CHANNEL and READ_MESSAGE_HISTORY."""
        channel_id = snowflake_param(request, "channel_id")
        self.core.access.require(self.world.bot_user_id, channel_id, READ_MESSAGE_HISTORY)
        msg = self.world.require_message(channel_id, snowflake_param(request, "message_id"))
        return json_response(payloads.message_payload(self.world, msg))

    @route(bucket="messages", major=("channel_id",))
    async def edit(self, request: web.Request) -> web.Response:
        msg = self.world.require_message(snowflake_param(request, "channel_id"), snowflake_param(request, "message_id"))
        payload, files = await read_message_body(request)
        origin = self._bot()
        if msg.webhook_id is not None:
            origin.kind = "interaction"
        self.core.messages.edit(msg, payload, files, origin)
        return json_response(payloads.message_payload(self.world, msg))

    @route()
    async def delete(self, request: web.Request) -> web.Response:
        msg = self.world.require_message(snowflake_param(request, "channel_id"), snowflake_param(request, "message_id"))
        if self.world.is_dm(msg.channel_id) and msg.author_id != self.world.bot_user_id:
            raise errors.cannot_execute_on_dm()  # in a DM only the author may delete a message
        self.core.access.check_delete_message(self.world.bot_user_id, msg)
        self.core.messages.delete(msg)
        return no_content()

    @route()
    async def add_reaction(self, request: web.Request) -> web.Response:
        msg = self.world.require_message(snowflake_param(request, "channel_id"), snowflake_param(request, "message_id"))
        emoji = unquote(request.match_info["emoji"])
        self.core.access.check_add_reaction(self.world.bot_user_id, msg, new_emoji=emoji not in msg.reactions)
        if emoji not in msg.reactions:
            msg.reactions.append(emoji)
            self.core.notifier.notify()
        return no_content()

    @route()
    async def remove_reaction(self, request: web.Request) -> web.Response:
        msg = self.world.require_message(snowflake_param(request, "channel_id"), snowflake_param(request, "message_id"))
        emoji = unquote(request.match_info["emoji"])
        if emoji in msg.reactions:
            msg.reactions.remove(emoji)
            self.core.notifier.notify()
        return no_content()

    # ---- threads ---------------------------------------------------------------------------------
    @route()
    async def create_thread(self, request: web.Request) -> web.Response:
        parent_id = snowflake_param(request, "channel_id")
        self.world.require_text_channel(parent_id)
        body = await read_json(request)
        thread = self.core.threads.create(parent_id, body, self.world.bot_user_id)
        return json_response(payloads.thread_payload(self.world, thread, member_for=self.world.bot_user_id), 201)

    @route()
    async def thread_from_message(self, request: web.Request) -> web.Response:
        channel_id = snowflake_param(request, "channel_id")
        message_id = snowflake_param(request, "message_id")
        body = await read_json(request)
        thread = self.core.threads.create_from_message(channel_id, message_id, body, self.world.bot_user_id)
        return json_response(payloads.thread_payload(self.world, thread, member_for=self.world.bot_user_id), 201)

    def _member_target(self, request: web.Request) -> int:
        raw = request.match_info["user_id"]
        return self.world.bot_user_id if raw == "@me" else snowflake_param(request, "user_id")

    @route()
    async def thread_members(self, request: web.Request) -> web.Response:
        thread = self.world.require_thread(snowflake_param(request, "channel_id"))
        return json_response([payloads.thread_member_payload(thread, u) for u in thread.member_ids])

    @route()
    async def add_thread_member(self, request: web.Request) -> web.Response:
        thread = self.world.require_thread(snowflake_param(request, "channel_id"))
        self.core.threads.add_member(thread, self._member_target(request), actor_id=self.world.bot_user_id)
        return no_content()

    @route()
    async def remove_thread_member(self, request: web.Request) -> web.Response:
        thread = self.world.require_thread(snowflake_param(request, "channel_id"))
        self.core.threads.remove_member(thread, self._member_target(request), actor_id=self.world.bot_user_id)
        return no_content()
