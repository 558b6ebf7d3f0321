"""Magic AI: knowledge-base answers with their source documents, in a session id the bot mints."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp

from bot.config.provider_settings import MagicAISettings
from bot.providers import http
from bot.providers.base import Event, Provider, Source, Sources, TextDelta, Turn
from bot.providers.errors import (
    ProviderAuthError,
    ProviderBadResponse,
    ProviderError,
    ProviderRejected,
    error_for_status,
    vendor_text,
)

log = logging.getLogger(__name__)


class MagicAIProvider(Provider):
    key = "magicai"
    display_name = "Magic AI"

    def __init__(self, settings: MagicAISettings, session: aiohttp.ClientSession, *, timeout_s: float) -> None:
        self._settings = settings
        self._session = session
        self._timeout = http.timeout_for(timeout_s, total_s=timeout_s * 2)

    def start_state(self, options: Mapping[str, str | None]) -> dict[str, Any]:
        # The reply never carries the session id the service would mint, so the bot mints its own.
        return {"session_id": str(uuid.uuid4())}

    def reset_state(self, state: Mapping[str, Any]) -> dict[str, Any]:
        return {**state, "session_id": str(uuid.uuid4())}

    def details(self, state: Mapping[str, Any]) -> list[tuple[str, str]]:
        return [("Project", self._settings.project_id), ("Magic AI session", str(state.get("session_id")))]

    async def reply(self, turn: Turn) -> AsyncIterator[Event]:
        body = {"projectId": self._settings.project_id, "text": turn.text, "sessionId": turn.state["session_id"]}
        data = await http.post_json(
            self._session,
            f"{self._settings.base_url}/chat",
            provider=self.display_name,
            client_timeout=self._timeout,
            headers=self._headers(),
            json=body,
            on_error=_status_error,
        )
        text = data.get("text") if isinstance(data, dict) else None
        if not isinstance(text, str):
            raise ProviderBadResponse(
                "Magic AI sent a reply without an answer; send your message again.", detail="no text field"
            )
        yield TextDelta(text)
        sources = source_list(data.get("sourceDocuments"))
        if sources:
            yield Sources(sources)

    def _headers(self) -> dict[str, str]:
        key = self._settings.api_key.reveal()
        if self._settings.auth_header:
            return {self._settings.auth_header: key}
        return {"Authorization": f"Bearer {key}"}


def source_list(documents: object) -> tuple[Source, ...]:
    """Titles and links of the documents behind an answer, without repeats (same URL, or same title)."""
    if not isinstance(documents, list):
        return ()
    seen: set[str] = set()
    sources: list[Source] = []
    for document in documents:
        metadata = document.get("metadata") if isinstance(document, dict) else None
        if not isinstance(metadata, dict):
            continue
        url = str(metadata.get("url") or "").strip()
        title = str(metadata.get("title") or "").strip() or url
        identity = url or title
        if not identity or identity in seen:
            continue
        seen.add(identity)
        sources.append(Source(title=title, url=url if url.startswith(("https://", "http://")) else ""))
    return tuple(sources)


def _status_error(status: int, body: str, detail: str) -> ProviderError:
    if status == 401:
        return ProviderAuthError(
            "Magic AI refused the bot's API key. The bot owner should check MAGICAI_API_KEY.", detail=detail
        )
    if status == 403:
        return ProviderAuthError(
            "Magic AI says the bot may not use this project. The bot owner should check MAGICAI_PROJECT_ID"
            " and the key's access.",
            detail=detail,
        )
    if status == 426:
        return ProviderRejected(
            "This Magic AI plan does not include the API. The bot owner needs a plan with API access.",
            detail=detail,
            status=status,
        )
    if status == 400:
        reason = vendor_text(body, "details")
        return ProviderRejected(
            f"Magic AI could not use that message{f': {reason}' if reason else ''}.", detail=detail, status=status
        )
    return error_for_status("Magic AI", status, detail, key_setting="MAGICAI_API_KEY")
