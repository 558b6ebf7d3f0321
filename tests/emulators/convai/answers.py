"""Bodies the emulator answers with: the getResponse JSON, its SSE events, errors and starters."""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.emulators.ablt.validation import reason, word_tokens

from .script import (
    DEFAULT_FAILURE,
    INVALID_API_KEY,
    MAX_AUDIO_SECONDS,
    MIN_AUDIO_SECONDS,
    PROCESS_FAILURE,
    RATE_LIMITED,
    SECONDS_PER_CHARACTER,
    ConvaiReply,
)
from .wav import make_wav

TONES_HZ = (330.0, 392.0, 440.0, 494.0)
"""Streamed audio chunks cycle through these, so the joined voice is an audible pattern."""

NOT_FOUND_HTML = (
    b"<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n<p>The requested URL "
    b"was not found on the server. If you entered the URL manually please check your spelling and try again.</p>\n"
)
METHOD_NOT_ALLOWED_HTML = (
    b"<!doctype html>\n<html lang=en>\n<title>405 Method Not Allowed</title>\n<h1>Method Not Allowed</h1>\n"
    b"<p>The method is not allowed for the requested URL.</p>\n"
)
"""Werkzeug's pages for unknown routes: an HTML 404 is a different thing from Convai's JSON 404."""


def json_bytes(value: Any) -> bytes:
    """Flask ``jsonify`` rendering: compact, sorted keys, ASCII-escaped."""
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def body_response(status: int, body: Any) -> web.Response:
    """``bytes`` go out verbatim as text/html (a proxy's page); anything else as JSON."""
    if isinstance(body, bytes):
        return web.Response(status=status, body=body, content_type="text/html", charset="utf-8")
    return web.Response(status=status, body=json_bytes(body), content_type="application/json")


def error_response(status: int, message: str) -> web.Response:
    """The gateway's error envelope ``{"ERROR": message}``."""
    return body_response(status, {"ERROR": message})


def default_error_body(status: int, char_id: str) -> dict[str, str]:
    """What an unscripted non-200 carries: 404 is a generation failure, 500 adds a reference id."""
    if status == 404:
        return {"charID": char_id, "text": PROCESS_FAILURE.format(error=DEFAULT_FAILURE)}
    if status == 401:
        return {"ERROR": INVALID_API_KEY}
    if status == 429:
        return {"ERROR": RATE_LIMITED}
    if status >= 500:
        return {"ERROR": reason(status), "Reference ID": str(uuid.uuid4())}
    return {"ERROR": reason(status)}


def scripted_error(status: int, body: Any, char_id: str) -> web.Response:
    """A scripted non-200: its own ``body``, else the status's default body."""
    return body_response(status, default_error_body(status, char_id) if body is None else body)


def audio_fields(seconds: float, rate: int, freq_hz: float = 440.0) -> dict[str, str | None]:
    """``audio`` (base64 of a complete WAV) and ``sample_rate``, or both ``None`` for no audio."""
    if round(seconds * rate) < 1:
        return {"audio": None, "sample_rate": None}
    wav = make_wav(seconds, rate=rate, freq_hz=freq_hz)
    return {"audio": base64.b64encode(wav).decode(), "sample_rate": str(rate)}


@dataclass(frozen=True, kw_only=True)
class Turn:
    """One answered getResponse call: everything its body depends on."""

    char_id: str
    text: str
    chunks: list[str]
    session_id: str
    transcript: str | None
    """``UserQuery`` when the input was audio."""
    voice_seconds: float
    """0 when no audio is sent (not asked for, or scripted off)."""
    sample_rate: int

    @classmethod
    def build(
        cls,
        reply: ConvaiReply,
        *,
        char_id: str,
        default_text: str,
        session_id: str,
        transcript: str | None,
        voice: bool,
    ) -> Turn:
        """Resolve the script against the request: text, chunks and voice length."""
        if reply.text is not None:
            text = reply.text
        elif reply.chunks is not None:
            text = "".join(reply.chunks)
        else:
            text = default_text
        chunks = list(reply.chunks) if reply.chunks is not None else word_tokens(text)
        seconds = 0.0
        if voice:
            natural = min(max(SECONDS_PER_CHARACTER * len(text), MIN_AUDIO_SECONDS), MAX_AUDIO_SECONDS)
            seconds = natural if reply.audio_seconds is None else reply.audio_seconds
        return cls(
            char_id=char_id,
            text=text,
            chunks=chunks,
            session_id=session_id,
            transcript=transcript,
            voice_seconds=seconds,
            sample_rate=reply.sample_rate,
        )

    def payload(self) -> dict[str, Any]:
        """The plain 200 body."""
        body: dict[str, Any] = {"charID": self.char_id, "text": self.text, "sessionID": self.session_id}
        body.update(audio_fields(self.voice_seconds, self.sample_rate))
        if self.transcript is not None:
            body["UserQuery"] = self.transcript
        return body

    def events(self) -> list[dict[str, Any]]:
        """The streamed events: one per text chunk, each with its own standalone WAV when voiced.

        The first event also carries ``sessionID`` (and ``UserQuery``); an empty answer is one
        event with only those.
        """
        events: list[dict[str, Any]] = [{"text": chunk} for chunk in self.chunks] or [{}]
        events[0].update({"sessionID": self.session_id})
        if self.transcript is not None:
            events[0]["UserQuery"] = self.transcript
        lengths = [len(chunk) for chunk in self.chunks] or [0]
        total_chars = sum(lengths)
        if self.voice_seconds > 0:
            for i, event in enumerate(events):
                share = lengths[i] / total_chars if total_chars else 1 / len(events)
                voice = audio_fields(self.voice_seconds * share, self.sample_rate, TONES_HZ[i % len(TONES_HZ)])
                if voice["audio"] is not None:
                    event.update(voice)
        return events
