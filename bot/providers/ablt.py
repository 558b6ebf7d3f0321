"""aBLT chat: stateless, streamed over SSE; the bot sends the stored history every turn."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp

from bot.config.provider_settings import AbltSettings
from bot.providers import http
from bot.providers.base import ChatOption, Choice, Event, Provider, TextDelta, Turn
from bot.providers.errors import (
    ProviderBadResponse,
    ProviderError,
    ProviderRejected,
    ProviderUnavailable,
    error_for_status,
)
from bot.providers.sse import TEXT_MAX_LINE_BYTES, SSETooLarge, iter_sse

log = logging.getLogger(__name__)

MAX_HISTORY_MESSAGES = 40
"""Earlier turns sent with each request; older ones are dropped first."""
MAX_HISTORY_CHARS = 24_000
"""Characters of earlier turns sent with each request, so long threads stay within model context."""
TURN_TIMEOUT_S = 300.0
BOTS_CACHE_S = 300.0
BOTS_TIMEOUT_S = 2.0
"""Autocomplete must answer Discord within 3 s, so listing bots gets a tight deadline."""
AUTOCOMPLETE_LIMIT = 25
_UUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")


class AbltProvider(Provider):
    key = "ablt"
    display_name = "aBLT"
    streams = True
    needs_history = True
    chat_options = (ChatOption("bot", "aBLT only: which aBLT bot answers (default: the server's)", autocomplete=True),)

    def __init__(self, settings: AbltSettings, session: aiohttp.ClientSession, *, timeout_s: float) -> None:
        self._settings = settings
        self._session = session
        self._timeout = http.timeout_for(timeout_s, total_s=TURN_TIMEOUT_S)
        self._bots: list[dict[str, Any]] = []
        self._bots_fetched_at = float("-inf")

    def start_state(self, options: Mapping[str, str | None]) -> dict[str, Any]:
        chosen = (options.get("bot") or "").strip()
        if chosen:
            return {"bot_uid": chosen} if _UUID.match(chosen) else {"bot_slug": chosen}
        if self._settings.bot_slug:
            return {"bot_slug": self._settings.bot_slug}
        if self._settings.bot_uid:
            return {"bot_uid": self._settings.bot_uid}
        raise ValueError("Choose an aBLT bot with the `bot:` option (this server has no default bot).")

    def describe(self, state: Mapping[str, Any]) -> str:
        bot = state.get("bot_slug") or state.get("bot_uid")
        return f"aBLT · {bot}" if bot else "aBLT"

    def details(self, state: Mapping[str, Any]) -> list[tuple[str, str]]:
        return [("Bot", str(state.get("bot_slug") or state.get("bot_uid")))]

    async def reply(self, turn: Turn) -> AsyncIterator[Event]:
        body = {
            **_bot_field(turn.state),
            "stream": True,
            "messages": build_messages(turn),
            "user_id": f"discord-{turn.user_id}",
        }
        async with http.request(
            self._session,
            "POST",
            f"{self._settings.base_url}/v1/chat",
            provider=self.display_name,
            client_timeout=self._timeout,
            headers=self._headers(),
            json=body,
        ) as response:
            if response.status != 200:
                raise self._status_error(response.status, await http.error_detail(response))
            log.info("aBLT request %s streaming", response.headers.get("x-request-id", "-"))
            if response.content_type == "application/json":
                yield TextDelta(await _whole_reply(response))
                return
            async for delta in _stream_deltas(response):
                yield TextDelta(delta)

    async def suggest(self, option: str, typed: str) -> list[Choice]:
        if option != "bot":
            return []
        bots = await self._cached_bots()
        needle = typed.strip().lower()
        choices = [
            Choice(name=_bot_label(bot), value=str(bot.get("slug") or bot.get("uid")))
            for bot in bots
            if needle in f"{bot.get('slug', '')} {bot.get('name', '')}".lower()
        ]
        return choices[:AUTOCOMPLETE_LIMIT]

    async def _cached_bots(self) -> list[dict[str, Any]]:
        if time.monotonic() - self._bots_fetched_at < BOTS_CACHE_S:
            return self._bots
        try:
            async with http.request(
                self._session,
                "GET",
                f"{self._settings.base_url}/v1/bots",
                provider=self.display_name,
                client_timeout=aiohttp.ClientTimeout(total=BOTS_TIMEOUT_S),
                headers=self._headers(),
            ) as response:
                if response.status != 200:
                    raise self._status_error(response.status, await http.error_detail(response))
                data = await http.read_json(response, provider=self.display_name)
        except ProviderError as exc:
            log.warning("aBLT bot list unavailable: %s", exc)
            return self._bots
        if isinstance(data, list):
            self._bots = [bot for bot in data if isinstance(bot, dict) and (bot.get("slug") or bot.get("uid"))]
            self._bots_fetched_at = time.monotonic()
        return self._bots

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._settings.api_key.reveal()}", "Accept": "text/event-stream"}

    def _status_error(self, status: int, detail: str) -> ProviderError:
        if status == 404:
            return ProviderRejected(
                "aBLT does not know that bot. Start a new /chat and pick one from the `bot:` list.",
                detail=detail,
                status=status,
            )
        if status == 422:
            return ProviderRejected(
                "aBLT could not read the bot's request. Start a new /chat; if it happens again, tell the bot owner.",
                detail=detail,
                status=status,
            )
        return error_for_status(self.display_name, status, detail, key_setting="ABLT_API_KEY")


def build_messages(turn: Turn) -> list[dict[str, str]]:
    """The history (trimmed oldest first to the documented bounds) followed by the new user turn."""
    kept: list[dict[str, str]] = []
    budget = MAX_HISTORY_CHARS
    for entry in reversed(turn.history[-MAX_HISTORY_MESSAGES:]):
        if not entry.content:
            continue
        budget -= len(entry.content)
        if budget < 0:
            break
        kept.append({"role": entry.role, "content": entry.content})
    kept.reverse()
    return [*kept, {"role": "user", "content": turn.text}]


def _bot_field(state: Mapping[str, Any]) -> dict[str, str]:
    if state.get("bot_uid"):
        return {"bot_uid": str(state["bot_uid"])}
    return {"bot_slug": str(state.get("bot_slug", ""))}


def _bot_label(bot: Mapping[str, Any]) -> str:
    name, slug = str(bot.get("name") or ""), str(bot.get("slug") or bot.get("uid"))
    label = f"{name} ({slug})" if name and name != slug else slug
    return label[:100]


async def _stream_deltas(response: aiohttp.ClientResponse) -> AsyncIterator[str]:
    """Text deltas from aBLT's SSE; raise if the stream breaks, ends without `[DONE]` or has a line or event past
    `TEXT_MAX_LINE_BYTES` (its frames carry text only)."""
    try:
        async for event in iter_sse(
            response.content.iter_any(),
            bare_lines=True,
            max_line_bytes=TEXT_MAX_LINE_BYTES,
            max_event_bytes=TEXT_MAX_LINE_BYTES,
        ):
            for payload in event.data.split("\n"):
                if payload.strip() == "[DONE]":
                    return
                text = _frame_text(payload)
                if text:
                    yield text
    except TimeoutError as exc:
        raise ProviderUnavailable(
            "aBLT stopped sending its reply partway; send your message again to retry.", detail="read timeout"
        ) from exc
    except aiohttp.ClientError as exc:
        raise _cut_off(type(exc).__name__) from exc
    except SSETooLarge as exc:
        raise http.refuse_too_large(response, "aBLT", str(exc)) from exc
    raise _cut_off("stream closed without [DONE]")


def _frame_text(payload: str) -> str:
    if not payload.strip():
        return ""
    try:
        frame = json.loads(payload)
    except (json.JSONDecodeError, RecursionError) as exc:  # RecursionError: nested deeper than the parser goes
        raise ProviderBadResponse(
            "aBLT sent a garbled reply; send your message again to retry.",
            detail=f"bad frame ({len(payload)} characters)",
        ) from exc
    if not isinstance(frame, dict):
        raise ProviderBadResponse("aBLT sent a garbled reply; send your message again to retry.", detail="frame")
    text = frame.get("content", frame.get("message", ""))
    return text if isinstance(text, str) else ""


async def _whole_reply(response: aiohttp.ClientResponse) -> str:
    body = await http.read_json(response, provider="aBLT")
    text = body.get("content", body.get("message")) if isinstance(body, dict) else None
    if not isinstance(text, str):
        raise ProviderBadResponse("aBLT sent a reply without text; send your message again.", detail="no content")
    return text


def _cut_off(detail: str) -> ProviderBadResponse:
    return ProviderBadResponse(
        "aBLT's reply was cut off before it finished; send your message again to retry.", detail=detail
    )
