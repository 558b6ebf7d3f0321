"""Convai characters: multipart turns (text or a WAV voice note), streamed text, spoken answers, starters."""

from __future__ import annotations

import io
import logging
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp

from bot.config.provider_settings import ConvaiSettings
from bot.providers import http
from bot.providers.base import (
    ChatOption,
    Event,
    Offer,
    Provider,
    SpokenReply,
    StateSaved,
    Turn,
)
from bot.providers.convai.wire import ConvaiStream, StreamUnusable, error_for, join_wavs
from bot.providers.errors import ProviderBadResponse, ProviderError
from bot.providers.sse import MAX_EVENT_BYTES, MAX_LINE_BYTES, TEXT_MAX_LINE_BYTES, SSETooLarge, iter_sse

log = logging.getLogger(__name__)

NEW_SESSION = "-1"
MAX_SUGGESTIONS = 5
STARTERS_TIMEOUT_S = 10.0
"""Suggestions are a nicety: a slow starter stream must not hold the thread up for long."""


class ConvaiProvider(Provider):
    key = "convai"
    display_name = "Convai"
    streams = True
    accepts_audio = True
    chat_options = (ChatOption("character", "Convai only: the character ID to talk to (default: the server's)"),)

    def __init__(self, settings: ConvaiSettings, session: aiohttp.ClientSession, *, timeout_s: float) -> None:
        self._settings = settings
        self._session = session
        self._timeout = http.timeout_for(timeout_s, total_s=max(300.0, timeout_s * 2))

    def start_state(self, options: Mapping[str, str | None]) -> dict[str, Any]:
        character = (options.get("character") or "").strip() or self._settings.character_id
        if not character:
            raise ValueError("Choose a Convai character with the `character:` option (this server has no default).")
        return {"character_id": character, "session_id": NEW_SESSION}

    def reset_state(self, state: Mapping[str, Any]) -> dict[str, Any]:
        return {**state, "session_id": NEW_SESSION, "starters_asked": False, "offer": None}

    def describe(self, state: Mapping[str, Any]) -> str:
        return f"Convai · {state.get('character_id', '?')}"

    def details(self, state: Mapping[str, Any]) -> list[tuple[str, str]]:
        session = str(state.get("session_id", NEW_SESSION))
        return [
            ("Character", str(state.get("character_id"))),
            ("Convai session", "new" if session == NEW_SESSION else session),
        ]

    async def reply(self, turn: Turn) -> AsyncIterator[Event]:
        stream = ConvaiStream()
        try:
            async for event in self._ask(turn, stream, streaming=True):
                yield event
        except StreamUnusable as exc:
            log.warning("Convai stream unusable (%s); asking again without streaming", exc)
            stream = ConvaiStream()
            async for event in self._ask(turn, stream, streaming=False):
                yield event
        session_id = stream.session_id or str(turn.state.get("session_id", NEW_SESSION))
        if session_id != turn.state.get("session_id"):
            yield StateSaved({"session_id": session_id})
        if stream.audio_chunks:
            wav = join_wavs(stream.audio_chunks)
            if wav:
                yield SpokenReply(wav)
        if not turn.state.get("starters_asked"):
            async for event in self._offer_starters(str(turn.state["character_id"]), session_id):
                yield event

    async def _ask(self, turn: Turn, stream: ConvaiStream, *, streaming: bool) -> AsyncIterator[Event]:
        async with http.request(
            self._session,
            "POST",
            f"{self._settings.base_url}/character/getResponse",
            provider=self.display_name,
            client_timeout=self._timeout,
            headers=self._headers(),
            form=lambda: self._form(turn, streaming=streaming),
        ) as response:
            if response.status != 200:
                body = await http.error_body(response)
                raise error_for(response.status, body, http.describe_error(response, body))
            if response.content_type == "text/event-stream":
                async for event in self._read_stream(response, stream):
                    yield event
            else:
                for event in stream.take_reply(await _json_body(response)):
                    yield event

    async def _read_stream(self, response: aiohttp.ClientResponse, stream: ConvaiStream) -> AsyncIterator[Event]:
        """SSE `data: {json}` events; Convai sends no end marker, so the stream ends when the connection does.

        An event may carry a spoken answer as one base64 line: the default caps (`MAX_LINE_BYTES`) leave room
        for a whole minute of it, and a longer line ends the turn as too large to read."""
        try:
            async for sse in iter_sse(
                response.content.iter_any(), max_line_bytes=MAX_LINE_BYTES, max_event_bytes=MAX_EVENT_BYTES
            ):
                for event in stream.take_event(sse.data):
                    yield event
        except TimeoutError as exc:
            raise http.stalled(self.display_name) from exc
        except aiohttp.ClientPayloadError as exc:
            raise ProviderBadResponse(
                "Convai's reply was cut off before it finished; send your message again.", detail=type(exc).__name__
            ) from exc
        except SSETooLarge as exc:
            raise http.refuse_too_large(response, self.display_name, str(exc)) from exc
        except RecursionError as exc:  # an event's JSON nested deeper than the parser goes
            raise ProviderBadResponse(
                "Convai sent a garbled reply partway; send your message again.", detail="JSON nested too deep"
            ) from exc

    def _form(self, turn: Turn, *, streaming: bool) -> aiohttp.FormData:
        form = aiohttp.FormData()
        form.add_field("charID", str(turn.state["character_id"]))
        form.add_field("sessionID", str(turn.state.get("session_id", NEW_SESSION)))
        form.add_field("voiceResponse", "True" if self._settings.voice_replies else "False")
        form.add_field("stream", "True" if streaming else "False")
        if turn.voice is not None:
            # A BytesIO, not bytes: aiohttp warns that large raw bytes bodies block the loop.
            form.add_field("file", io.BytesIO(turn.voice.wav), filename="audio.wav", content_type="audio/wav")
            form.add_field("sample_rate", str(turn.voice.sample_rate))
        else:
            form.add_field("userText", turn.text)
        return form

    def _headers(self) -> dict[str, str]:
        return {"CONVAI-API-KEY": self._settings.api_key.reveal()}

    async def _offer_starters(self, character_id: str, session_id: str) -> AsyncIterator[Event]:
        """Asked once per session: an empty offer is remembered too, so later turns do not ask again."""
        suggestions = await self.starters(character_id, session_id)
        token = uuid.uuid4().hex[:8]
        offer = {"token": token, "labels": suggestions} if suggestions else None
        yield StateSaved({"starters_asked": True, "offer": offer})
        if suggestions:
            yield Offer(token=token, prompt="💬 You could ask:", labels=tuple(suggestions))

    async def starters(self, character_id: str, session_id: str) -> list[str]:
        """Up to five conversation starters for this character; [] when Convai offers none or fails."""
        try:
            async with http.request(
                self._session,
                "POST",
                f"{self._settings.base_url}/character/generate-starter-conversation",
                provider=self.display_name,
                client_timeout=aiohttp.ClientTimeout(total=STARTERS_TIMEOUT_S),
                headers=self._headers(),
                form=lambda: _starter_form(character_id, session_id),
            ) as response:
                if response.status != 200:
                    log.warning("Convai starters: %s", http.describe_error(response, await http.error_body(response)))
                    return []
                events = iter_sse(
                    response.content.iter_any(), max_line_bytes=TEXT_MAX_LINE_BYTES, max_event_bytes=TEXT_MAX_LINE_BYTES
                )
                said = [s.data.strip() async for s in events if s.data.strip()]
                return _distinct(said)[:MAX_SUGGESTIONS]
        except SSETooLarge as exc:  # the response is released (closed, as it is unread) on leaving `request`
            log.warning("Convai starters refused: %s", exc)
            return []
        except (ProviderError, aiohttp.ClientError, TimeoutError) as exc:
            log.warning("Convai starters unavailable: %s", exc)
            return []


def _distinct(suggestions: list[str]) -> list[str]:
    """Each suggestion once (ignoring case and spacing): the stream may repeat one, a button must not."""
    seen: set[str] = set()
    out = []
    for suggestion in suggestions:
        key = " ".join(suggestion.lower().split())
        if key not in seen:
            seen.add(key)
            out.append(suggestion)
    return out


def _starter_form(character_id: str, session_id: str) -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("charId", character_id)
    form.add_field("sessionId", session_id)
    return form


async def _json_body(response: aiohttp.ClientResponse) -> dict[str, Any]:
    """The plain answer, read within `AUDIO_JSON_BODY_MAX_BYTES` (it may carry the spoken answer as base64)."""
    body = await http.read_json(response, provider="Convai", limit_bytes=http.AUDIO_JSON_BODY_MAX_BYTES)
    if not isinstance(body, dict):
        raise ProviderBadResponse(
            "Convai sent a reply the bot could not read; send your message again.", detail="shape"
        )
    return body
