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

from bot.audio.common import MAX_SPOKEN_AUDIO_BYTES, MAX_SPOKEN_SECONDS, unlike_speech
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
    audio_bytes: int = 0
    """Decoded bytes kept in `audio_chunks`, never more than `max_audio_bytes`."""
    audio_refused: bool = False
    """The answer's audio passed `max_audio_bytes`: what was kept is dropped and the rest ignored (text goes on)."""
    max_audio_bytes: int = MAX_SPOKEN_AUDIO_BYTES

    def take_event(self, data: str) -> Iterator[Event]:
        """One SSE event's `data`: a JSON object carrying any of text, sessionID, audio, UserQuery."""
        try:
            payload = json.loads(data)
        except ValueError as exc:
            if not self.text_seen:
                raise StreamUnusable(f"bad event ({len(data)} characters)") from exc
            raise ProviderBadResponse(
                "Convai sent a garbled reply partway; send your message again.",
                detail=f"bad event ({len(data)} characters)",
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
            self.take_audio(audio)

    def take_audio(self, encoded: str) -> None:
        """Keep one base64 audio chunk, unless the answer's audio would pass `max_audio_bytes` (measured before
        decoding: base64 holds 3 bytes per 4 characters); then all of it is dropped, with one log line."""
        if self.audio_refused:
            return
        if self.audio_bytes + len(encoded) // 4 * 3 > self.max_audio_bytes:
            log.warning(
                "Convai's spoken answer is over %d bytes; answering with text only (%d bytes dropped)",
                self.max_audio_bytes,
                self.audio_bytes + len(encoded) // 4 * 3,
            )
            self.audio_refused = True
            self.audio_chunks.clear()
            self.audio_bytes = 0
            return
        try:
            chunk = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            log.warning("Convai sent audio that is not base64; skipping it")
            return
        self.audio_chunks.append(chunk)
        self.audio_bytes += len(chunk)


def join_wavs(chunks: list[bytes], *, max_seconds: float = MAX_SPOKEN_SECONDS) -> bytes:
    """One WAV from Convai's audio: a whole file, or (streamed) one standalone WAV per event.

    Chunks whose format differs from the first, or whose format no speech has (rate outside 8-192 kHz, more
    than 8 channels), are dropped (logged) rather than mangled. Audio longer than `max_seconds` in all gives
    b"" (logged): the answer is then text only.
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
        if why := unlike_speech(shape[2], shape[0]):
            log.warning("skipping a Convai audio chunk of %s", why)
            continue
        if params is None:
            params = shape
        if shape != params:
            log.warning("skipping a Convai audio chunk in another format %s (first was %s)", shape, params)
            continue
        frames.append(data)
    if params is None or not any(frames):
        return b""
    seconds = sum(len(data) for data in frames) / (params[0] * params[1] * params[2])
    if seconds > max_seconds:
        log.warning("Convai's spoken answer is %.1f s, over %g s; answering with text only", seconds, max_seconds)
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
