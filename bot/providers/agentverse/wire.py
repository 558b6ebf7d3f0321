"""Agentverse AI Engine over HTTP: sessions, submits, polls (with the /responses fallback), token refresh."""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp

from bot.config.provider_settings import AgentverseSettings
from bot.providers import http
from bot.providers.auth import RefreshingBearer, TokenPair
from bot.providers.errors import (
    ProviderAuthError,
    ProviderBadResponse,
    ProviderError,
    ProviderRejected,
    error_for_status,
)

log = logging.getLogger(__name__)

ENGINE = "/v1beta1/engine/chat/sessions"
REFRESH_TIMEOUT_S = 10.0
TOKEN_BODY_MAX_BYTES = 64 * 1024
"""A token renewal is a few short strings."""
CREDENTIALS = "AGENTVERSE_API_KEY (and AGENTVERSE_REFRESH_TOKEN)"


@dataclass(frozen=True)
class AgentMessage:
    """One engine message: its id, outer `type`, and the whole decoded object."""

    id: str
    type: str
    body: Mapping[str, Any]

    @property
    def made_at(self) -> float | None:
        """When the engine made the message, epoch seconds: its `timestamp` ("2023-08-31T13:26:23.238697", UTC
        without an offset, as in protocol-notes.md's poll example); None when absent or not such a time."""
        raw = self.body.get("timestamp")
        if not isinstance(raw, str) or len(raw) > 40:
            return None
        try:
            parsed = datetime.datetime.fromisoformat(raw)
        except ValueError:
            return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=datetime.UTC)
        return parsed.timestamp()


class AgentverseClient:
    def __init__(
        self, settings: AgentverseSettings, session: aiohttp.ClientSession, tokens: RefreshingBearer, timeout_s: float
    ) -> None:
        self._settings = settings
        self._session = session
        self._tokens = tokens
        self._timeout = http.timeout_for(timeout_s, total_s=timeout_s * 2)
        self._poll_path = "new-messages"

    async def create_session(self) -> str:
        body = {"email": self._settings.email, "requestedModel": self._settings.model}
        data = await self._call("POST", ENGINE, json=body)
        session_id = data.get("session_id") if isinstance(data, dict) else None
        if not isinstance(session_id, str) or not session_id:
            raise ProviderBadResponse("Agentverse did not open a session; try again.", detail="no session_id")
        return session_id

    async def submit(self, session_id: str, payload: Mapping[str, Any]) -> None:
        await self._call(
            "POST", f"{ENGINE}/{session_id}/submit", json={"payload": {**payload, "session_id": session_id}}
        )

    async def messages(self, session_id: str, last_message_id: str | None) -> list[AgentMessage]:
        """New engine messages; falls back to the older /responses endpoint where /new-messages is missing."""
        params = {"last_message_id": last_message_id} if last_message_id and self._poll_path == "new-messages" else None
        try:
            data = await self._call("GET", f"{ENGINE}/{session_id}/{self._poll_path}", params=params)
        except ProviderRejected as exc:
            if exc.status != 404 or self._poll_path == "responses":
                raise
            log.warning("Agentverse has no /new-messages here; polling /responses instead")
            self._poll_path = "responses"
            data = await self._call("GET", f"{ENGINE}/{session_id}/responses")
        return parse_messages(data)

    async def refresh(self, refresh_token: str) -> TokenPair:
        body = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": "agentverse", "scope": "av"}
        async with http.request(
            self._session,
            "POST",
            f"{self._settings.auth_url}/v1/tokens",
            provider="Agentverse",
            client_timeout=aiohttp.ClientTimeout(total=REFRESH_TIMEOUT_S),
            json=body,
        ) as response:
            if response.status != 200:
                detail = await http.error_detail(response)
                raise ProviderAuthError(
                    "Agentverse would not renew the bot's login. The bot owner should set a fresh"
                    " AGENTVERSE_REFRESH_TOKEN (or AGENTVERSE_API_KEY).",
                    detail=detail,
                    status=response.status,
                )
            data = await http.read_json(response, provider="Agentverse", limit_bytes=TOKEN_BODY_MAX_BYTES)
        access = data.get("access_token") if isinstance(data, dict) else None
        if not isinstance(access, str) or not access:
            raise ProviderBadResponse("Agentverse sent an unreadable login renewal.", detail="no access_token")
        refresh = data.get("refresh_token")
        return TokenPair(access, refresh if isinstance(refresh, str) and refresh else refresh_token)

    async def _call(self, method: str, path: str, *, json: Any = None, params: Mapping[str, str] | None = None) -> Any:
        """One engine call; a 401/403 refreshes the token once (shared with concurrent calls) and retries."""
        for attempt in (1, 2):
            used = self._tokens.access
            url = f"{self._settings.base_url}{path}"
            if params:
                url += "?" + urlencode(params)
            async with http.request(
                self._session,
                method,
                url,
                provider="Agentverse",
                client_timeout=self._timeout,
                headers=self._tokens.header(),
                json=json,
            ) as response:
                if response.status in (401, 403) and attempt == 1 and await self._tokens.refresh_after(used):
                    continue
                if not 200 <= response.status < 300:
                    body = await http.error_body(response)
                    raise _error(response.status, http.describe_error(response, body))
                try:
                    return await http.read_json(response, provider="Agentverse")
                except http.ReplyTooLarge:
                    raise
                except ProviderBadResponse:  # not JSON, or cut short: as an answer without messages
                    return {}
        raise ProviderAuthError(f"Agentverse refused the bot's credentials. The bot owner should check {CREDENTIALS}.")


UNREADABLE = "unreadable"
"""Type given to an element that is not a message, so the thread can say one was skipped (once)."""


def parse_messages(data: object) -> list[AgentMessage]:
    """The messages of a poll's answer `{"agent_response": [...]}`, in order; none when the answer is not an
    object or has no (or a null) list. An element that is not a message, or a list that is not a list, becomes
    one UNREADABLE message (see parse_message). Never raises."""
    items = data.get("agent_response") if isinstance(data, dict) else None
    if items is None:
        return []
    if not isinstance(items, list):
        return [_unreadable(items)]
    return [parse_message(item) for item in items]


def parse_message(item: object) -> AgentMessage:
    """Engine messages come as JSON strings (sometimes objects) holding a string `message_id` and a `type`;
    anything else becomes an UNREADABLE message. Never raises (nesting too deep for the parser included)."""
    try:
        body = json.loads(item) if isinstance(item, str) else item
    except (ValueError, RecursionError):
        body = None
    if isinstance(body, dict) and isinstance(body.get("message_id"), str) and body.get("type"):
        return AgentMessage(id=body["message_id"], type=_type_name(body["type"]), body=body)
    return _unreadable(item)


def _type_name(value: object) -> str:
    try:
        return value if isinstance(value, str) else str(value)
    except RecursionError:
        return "(nested too deep)"


def _unreadable(item: object) -> AgentMessage:
    try:
        shown = repr(item)
    except RecursionError:  # a value nested as deep as the JSON parser allows
        shown = f"{type(item).__name__} nested too deep"
    log.warning("unreadable Agentverse message: %.80s", shown)
    digest = hashlib.sha256(shown.encode("utf-8", "replace")).hexdigest()[:16]  # stable: a re-delivery shows once
    return AgentMessage(id=f"{UNREADABLE}-{digest}", type=UNREADABLE, body={})


def _error(status: int, detail: str) -> ProviderError:
    if status in (401, 403):
        return ProviderAuthError(
            f"Agentverse refused the bot's credentials. The bot owner should check {CREDENTIALS}.",
            detail=detail,
            status=status,
        )
    if status == 404:
        return ProviderRejected(
            "This Agentverse session is gone; start a new one with /chat.", detail=detail, status=status
        )
    return error_for_status("Agentverse", status, detail, key_setting=CREDENTIALS)
