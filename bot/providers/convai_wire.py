"""Convai's wire details: reading its JSON and SSE replies, joining WAV chunks, mapping its errors."""

from __future__ import annotations

import base64
import binascii
import io
import json
import logging
import wave
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.providers.base import Event, Heard, TextDelta
from bot.providers.errors import (
    ProviderAuthError,
    ProviderBadResponse,
    ProviderError,
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
    error_for_status,
    vendor_text,
)

log = logging.getLogger(__name__)


class StreamUnusable(Exception):
    """The SSE stream broke before any text: the caller asks again without streaming."""


@dataclass
class ConvaiStream:
    """What one getResponse answer has said so far, whether it came as SSE events or one JSON body."""

    text_seen: bool = False
    heard: bool = False
    session_id: str | None = None
    audio_chunks: list[bytes] = field(default_factory=list)

    def take_event(self, data: str) -> Iterator[Event]:
        """One SSE event's `data`: a JSON object carrying any of text, sessionID, audio, UserQuery."""
        try:
            payload = json.loads(data)
        except ValueError as exc:
            if not self.text_seen:
                raise StreamUnusable(f"bad event {data[:60]!r}") from exc
            raise ProviderBadResponse(
                "Convai sent a garbled reply partway; send your message again.", detail=f"bad event {data[:60]!r}"
            ) from exc
        if isinstance(payload, dict):
            yield from self.take_reply(payload)

    def take_reply(self, payload: Mapping[str, Any]) -> Iterator[Event]:
        query = payload.get("UserQuery")
        if isinstance(query, str) and query.strip() and not self.heard:
            self.heard = True
            yield Heard(query.strip())
        text = payload.get("text")
        if isinstance(text, str) and text:
            self.text_seen = True
            yield TextDelta(text)
        session_id = payload.get("sessionID")
        if isinstance(session_id, str) and session_id:
            self.session_id = session_id
        audio = payload.get("audio")
        if isinstance(audio, str) and audio:
            try:
                self.audio_chunks.append(base64.b64decode(audio, validate=True))
            except (binascii.Error, ValueError):
                log.warning("Convai sent audio that is not base64; skipping it")


def join_wavs(chunks: list[bytes]) -> bytes:
    """One WAV from Convai's audio: a whole file, or (streamed) one standalone WAV per event.

    Chunks whose format differs from the first are dropped (logged) rather than mangled.
    """
    frames: list[bytes] = []
    params: tuple[int, int, int] | None = None
    for chunk in chunks:
        try:
            with wave.open(io.BytesIO(chunk)) as reader:
                shape = (reader.getnchannels(), reader.getsampwidth(), reader.getframerate())
                data = reader.readframes(reader.getnframes())
        except (wave.Error, EOFError) as exc:
            log.warning("skipping an unreadable Convai audio chunk: %s", exc)
            continue
        if params is None:
            params = shape
        if shape != params:
            log.warning("skipping a Convai audio chunk in another format %s (first was %s)", shape, params)
            continue
        frames.append(data)
    if params is None or not any(frames):
        return b""
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(params[0])
        writer.setsampwidth(params[1])
        writer.setframerate(params[2])
        writer.writeframes(b"".join(frames))
    return out.getvalue()


def error_for(status: int, body: str, detail: str) -> ProviderError:
    """Convai's statuses as members should hear them (its 404 is a failed generation, not 'not found')."""
    message = vendor_text(body, "ERROR")
    if status in (401, 403):
        return ProviderAuthError(
            "Convai refused the bot's API key. The bot owner should check CONVAI_API_KEY.", detail=detail, status=status
        )
    if status == 404:
        return ProviderUnavailable(
            "Convai could not come up with a reply this time; send your message again.", detail=detail, status=status
        )
    if status == 429:
        said = f" ({message})" if message else ""
        return ProviderRateLimited(
            f"Convai is limiting how often the bot may ask{said}; try again shortly.", detail=detail
        )
    if status == 400:
        said = f": {message}" if message else ""
        return ProviderRejected(f"Convai could not use that{said}.", detail=detail, status=status)
    return error_for_status("Convai", status, detail, key_setting="CONVAI_API_KEY")
