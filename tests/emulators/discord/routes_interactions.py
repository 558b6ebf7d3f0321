"""REST routes for interaction callbacks and the interaction webhook (followups, @original).

Neither needs the bot token; callbacks are not rate limited, webhook routes share one bucket
per (application id, interaction token).
"""

from __future__ import annotations

from aiohttp import web

from . import payloads
from .core import Core
from .http_utils import json_response, no_content, read_message_body, route, snowflake_param, truthy_query


class InteractionRoutes:
    def __init__(self, core: Core) -> None:
        self.core = core
        self.world = core.world
        self.service = core.interactions

    def register(self, router: web.UrlDispatcher, prefix: str) -> None:
        add = router.add_route
        add("POST", prefix + "/interactions/{interaction_id}/{token}/callback", self.callback)
        hook = prefix + "/webhooks/{app_id}/{token}"
        add("POST", hook, self.followup)
        add("GET", hook + "/messages/{message_id}", self.get_message)
        add("PATCH", hook + "/messages/{message_id}", self.edit_message)
        add("DELETE", hook + "/messages/{message_id}", self.delete_message)

    @route(auth=False)
    async def callback(self, request: web.Request) -> web.Response:
        interaction_id = snowflake_param(request, "interaction_id")
        body, files = await read_message_body(request)
        result = self.service.callback(interaction_id, request.match_info["token"], body, files)
        if not truthy_query(request, "with_response"):
            return no_content()
        return json_response(result)

    @route(auth=False, bucket="webhook", major=("app_id", "token"))
    async def followup(self, request: web.Request) -> web.Response:
        rec = self.service.require_token(snowflake_param(request, "app_id"), request.match_info["token"])
        payload, files = await read_message_body(request)
        msg = self.service.followup(rec, payload, files)
        if not truthy_query(request, "wait"):
            return no_content()
        return json_response(payloads.message_payload(self.world, msg))

    @route(auth=False, bucket="webhook", major=("app_id", "token"))
    async def get_message(self, request: web.Request) -> web.Response:
        rec = self.service.require_token(snowflake_param(request, "app_id"), request.match_info["token"])
        msg = self.service.find_message(rec, request.match_info["message_id"])
        return json_response(payloads.message_payload(self.world, msg))

    @route(auth=False, bucket="webhook", major=("app_id", "token"))
    async def edit_message(self, request: web.Request) -> web.Response:
        rec = self.service.require_token(snowflake_param(request, "app_id"), request.match_info["token"])
        payload, files = await read_message_body(request)
        msg = self.service.edit(rec, request.match_info["message_id"], payload, files)
        return json_response(payloads.message_payload(self.world, msg))

    @route(auth=False, bucket="webhook", major=("app_id", "token"))
    async def delete_message(self, request: web.Request) -> web.Response:
        rec = self.service.require_token(snowflake_param(request, "app_id"), request.match_info["token"])
        msg = self.service.find_message(rec, request.match_info["message_id"])
        self.core.messages.delete(msg)
        return no_content()
