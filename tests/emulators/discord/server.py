"""The aiohttp application: routing, injected faults, auth, rate limiting, channel access, error
shaping and request recording."""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Awaitable, Callable

from aiohttp import web

from . import errors
from .core import Core
from .http_utils import REQUEST_JSON_KEY, json_response, route_meta, snowflake_param
from .ratelimit import Decision
from .records import RequestRecord
from .routes_core import CoreRoutes
from .routes_interactions import InteractionRoutes
from .routes_messages import MessageRoutes

API_PREFIX = "/api/v10"
MAX_BODY_BYTES = 64 * 1024 * 1024  # above Discord's 25 MiB so *we* answer 413 the Discord way
CDN_CHUNK_BYTES = 64 * 1024  # chunk size of a chunked CDN answer (AttachmentSpec.chunked)
log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class _RateLimited(Exception):
    def __init__(self, decision: Decision) -> None:
        super().__init__("rate limited")
        self.decision = decision


def _route_template(request: web.Request) -> str:
    """The matched route's canonical path without the API prefix, e.g. ``/channels/{channel_id}/messages``."""
    resource = request.match_info.route.resource
    template = resource.canonical if resource is not None else request.path
    return template.removeprefix(API_PREFIX)


def _route_name(request: web.Request) -> str:
    return f"{request.method} {_route_template(request)}"


def _channel_id(request: web.Request) -> int | None:
    raw = request.match_info.get("channel_id", "")
    return int(raw) if raw.isdigit() else None


def build_app(core: Core) -> web.Application:
    async def handle(request: web.Request, handler: Handler) -> tuple[web.StreamResponse, Decision | None, str | None]:
        """Auth, rate limits, channel access, the handler, and Discord-shaped errors."""
        meta = route_meta(request.match_info.handler)
        decision: Decision | None = None
        limited: str | None = None
        try:
            if meta.auth:
                if request.headers.get("Authorization") != f"Bot {core.config.token}":
                    raise errors.unauthorized()
                global_decision = core.limiter.take_global(core.config.token)
                if not global_decision.allowed:
                    raise _RateLimited(global_decision)
            if meta.bucket is not None:
                key = ":".join(request.match_info.get(m, "") for m in meta.major)
                decision = core.limiter.take(meta.bucket, key)
                if not decision.allowed:
                    raise _RateLimited(decision)
            if meta.auth and "channel_id" in request.match_info:
                # Every bot request on a channel: 10003 if it is unknown (or deleted), 50001 if the
                # bot cannot view it (see access.Access.require_view).
                core.access.require_view(core.world.bot_user_id, snowflake_param(request, "channel_id"))
            response = await handler(request)
        except _RateLimited as exc:
            limited = "global" if exc.decision.is_global else "user"
            decision = exc.decision
            headers = {"Content-Type": "application/json", **exc.decision.headers()}
            response = web.Response(body=exc.decision.body(), status=429, headers=headers)
            core.rate_limit_hits += 1
            core.rate_limit_hits_by_route[_route_name(request)] += 1
        except errors.ApiError as exc:
            response = json_response(exc.body(), exc.status)
        except web.HTTPException as exc:
            response = json_response({"message": f"{exc.status}: {exc.reason}", "code": 0}, exc.status)
        except Exception as exc:
            # A bug in the emulator: answer 400 (not 5xx, which discord.py retries slowly) and keep it.
            core.internal_errors.append(f"{_route_name(request)}: {traceback.format_exc()}")
            log.exception("discord emulator internal error on %s", _route_name(request))
            response = json_response({"message": f"Emulator internal error: {exc!r}", "code": 0}, 400)
        if decision is not None and decision.allowed:
            response.headers.update(decision.headers())
        return response, decision, limited

    @web.middleware
    async def api_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith(API_PREFIX + "/"):
            return await handler(request)
        started = time.monotonic()
        channel_id = _channel_id(request)
        # Faults are matched first: a proxy error never reaches the API's auth or rate limits.
        fault = core.faults.take(request.method, _route_template(request), channel_id)
        decision: Decision | None = None
        limited: str | None = None
        if fault is None or fault.after_handling:
            response, decision, limited = await handle(request, handler)
        if fault is not None:
            response = await core.faults.answer(request, fault)
            limited = fault.rate_limit_scope
        core.requests.append(
            RequestRecord(
                t=started,
                method=request.method,
                path=request.path.removeprefix(API_PREFIX),
                status=fault.recorded_status if fault is not None else response.status,
                bucket=decision.bucket if decision is not None else None,
                route=_route_name(request),
                query=request.query_string,
                json=request.get(REQUEST_JSON_KEY),
                rate_limited=limited,
                channel_id=channel_id,
                fault=fault,
            )
        )
        core.notifier.notify()
        return response

    async def serve_attachment(request: web.Request) -> web.StreamResponse:
        att = core.messages.attachments.get(snowflake_param(request, "attachment_id"))
        if att is None or att.filename != request.match_info["filename"]:
            raise web.HTTPNotFound()
        core.messages.store.downloads.append(att.id)
        core.notifier.notify()
        if att.held is not None:
            await att.held.wait()
        content_type = att.content_type or "application/octet-stream"
        if not att.chunked:
            return web.Response(body=att.body, content_type=content_type)
        response = web.StreamResponse(headers={"Content-Type": content_type})
        response.enable_chunked_encoding()
        await response.prepare(request)
        try:
            for start in range(0, len(att.body), CDN_CHUNK_BYTES):
                await response.write(att.body[start : start + CDN_CHUNK_BYTES])
            await response.write_eof()
        except ConnectionResetError:  # the reader stopped early and closed the connection: its right
            pass
        return response

    app = web.Application(middlewares=[api_middleware], client_max_size=MAX_BODY_BYTES)
    CoreRoutes(core).register(app.router, API_PREFIX)
    MessageRoutes(core).register(app.router, API_PREFIX)
    InteractionRoutes(core).register(app.router, API_PREFIX)
    app.router.add_get("/attachments/{channel_id}/{attachment_id}/{filename}", serve_attachment)
    app.router.add_get("/", core.gateway.handle)
    return app
