"""Scripts (what the next calls answer), request records and the service's fixed strings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from multidict import CIMultiDict

from .wav import WavInfo

DEFAULT_API_KEY = "convai-test-key"
DEFAULT_CHARACTERS: dict[str, str] = {"char-alpha": "Alpha", "char-beta": "Beta"}
"""Character id -> name; the name starts every default answer."""

GET_RESPONSE_PATH = "/character/getResponse"
STARTERS_PATH = "/character/generate-starter-conversation"
NEW_SESSION = "-1"
DEFAULT_SAMPLE_RATE = 22050
SECONDS_PER_CHARACTER = 0.06
MAX_AUDIO_SECONDS = 10.0
MIN_AUDIO_SECONDS = 0.1

INVALID_API_KEY = "Invalid API key provided."
INVALID_CHARACTER = "Invalid character ID"
ONE_INPUT_ONLY = "Expecting only one; either an audio file or user's query as a string"
RATE_LIMITED = "API rate limit exceeded. Please try again later."
MISSING_FIELD = "Missing required field: {name}"
NOT_BOOLEAN = "{name} must be 'True' or 'False'"
MALFORMED_FORM = "Malformed form data"
PROCESS_FAILURE = "process_failure, error: {error}"
DEFAULT_FAILURE = repr(TimeoutError("Language model did not respond in time"))
"""The ``<repr>`` in a default 404 body."""

BROKEN_EVENT = b'data: {"text": "this event is cut sho\n\n'
"""The event ``broken_stream_after`` sends: its data is not valid JSON."""

DEFAULT_STARTERS: tuple[str, ...] = (
    "What's the story behind your name?",
    "I'm curious about your most challenging match ever.",
    "If you could spend one whole day anywhere in the world with no obligations at all, where would you go?",
    "What are you working on these days?",
    "Tell me about a time when everything went wrong but you still managed to turn it around in the end.",
    "Any advice for a complete beginner?",
    "Qu'est-ce qui te rend heureux ? 😊",
)
"""Unscripted starter suggestions: two exceed Discord's 80-character button label, one is not ASCII."""


@dataclass(frozen=True, kw_only=True)
class ConvaiReply:
    """Scripted behaviour for one future valid ``getResponse`` call (consumed FIFO after validation)."""

    text: str | None = None
    """Answer text; ``None`` means ``"".join(chunks)`` or the deterministic default."""
    chunks: Sequence[str] | None = None
    """Text chunks of a streamed answer (default: the text split at word boundaries)."""
    chunk_interval_s: float = 0.0
    """Pause before each streamed event."""
    audio_seconds: float | None = None
    """Length of the generated voice (default scales with the text); 0 means ``audio: null`` anyway."""
    sample_rate: int = DEFAULT_SAMPLE_RATE
    """Rate of the generated voice WAV."""
    transcript: str | None = None
    """``UserQuery`` for audio input; default ``"(heard N.N s of audio)"``."""
    status: int = 200
    """Non-200 answers with ``body`` or the status's default body (404: process_failure)."""
    body: Any = None
    """Replaces the whole body (any status, also for stream requests): JSON, or ``bytes`` as text/html."""
    hang: bool = False
    """Never answer (before headers); ends when the client disconnects or the emulator closes."""
    delay_s: float = 0.0
    """Wait this long before the headers (cut short, dropping the connection, on close)."""
    ignore_stream: bool = False
    """Answer ``stream="True"`` with the plain JSON body, as if the flag were unknown."""
    broken_stream_after: int | None = None
    """In a stream, after this many good events send :data:`BROKEN_EVENT`, then carry on."""
    hang_after_chunks: int | None = None
    """In a stream, after this many events stop sending (the connection stays open) until the client hangs
    up or the emulator closes: a service stalled mid-answer, which only the client's read timeout ends."""
    session_id: str | None = None
    """Force the returned ``sessionID`` (the turn is filed under it)."""
    events: Sequence[Mapping[str, Any]] | None = None
    """The exact streamed events (JSON objects), instead of those built from the text and voice."""
    write_bytes: int | None = None
    """Write each streamed event in pieces of at most this many bytes, with a loop turn between them. A voiced
    event carries its audio as one base64 ``data:`` line (``{"text": .., "audio": "UklGR...", "sample_rate":
    "22050"}``, protocol-notes section 5, "getResponse stream"; the docs' JSON reply has the same ``audio``
    field: "<base64 encoded audio>", convai-interaction-api.md), and the network delivers such a line in
    chunks of a few KB."""

    def __post_init__(self) -> None:
        if self.chunks is not None and self.text is not None and "".join(self.chunks) != self.text:
            raise ValueError('text must equal "".join(chunks) when both are given')
        if self.audio_seconds is not None and self.audio_seconds < 0:
            raise ValueError("audio_seconds must be >= 0")
        if self.sample_rate < 1:
            raise ValueError("sample_rate must be positive")
        if self.broken_stream_after is not None and self.broken_stream_after < 0:
            raise ValueError("broken_stream_after must be >= 0")
        if self.hang_after_chunks is not None and self.hang_after_chunks < 0:
            raise ValueError("hang_after_chunks must be >= 0")


@dataclass(frozen=True, kw_only=True)
class StarterScript:
    """Scripted behaviour for one future valid ``generate-starter-conversation`` call."""

    suggestions: Sequence[str] | None = None
    """One SSE event each (plain strings, not JSON); ``None`` means :data:`DEFAULT_STARTERS`."""
    status: int = 200
    body: Any = None
    """Replaces the whole body of a non-200 (JSON, or ``bytes`` as text/html)."""
    hang: bool = False
    """Never answer (before headers); ends on client disconnect or close."""
    delay_s: float = 0.0
    interval_s: float = 0.0
    """Pause before each event."""


@dataclass(kw_only=True)
class ConvaiRequest:
    """What the emulator saw of one call to either endpoint, recorded before any validation."""

    path: str
    fields: dict[str, str]
    """Form fields other than uploads (first value of each name)."""
    headers: CIMultiDict[str]
    """Request headers minus ``CONVAI-API-KEY``."""
    auth_ok: bool
    received_at: float
    """``time.monotonic()`` when the handler started."""
    file: bytes | None = None
    """Bytes of the ``file`` part, even when it did not count as an upload (no filename)."""
    file_name: str | None = None
    file_content_type: str | None = None
    wav: WavInfo | None = None
    """The upload's parsed header, when it had a RIFF/fmt/data structure (even if it broke a rule)."""
    status: int | None = None
    """Status sent; ``None`` while pending or if the connection was dropped before headers."""
    error: str | None = None
    """The ``ERROR`` message of a 400/401."""
    session_id: str | None = None
    """``sessionID`` answered (getResponse) or ``sessionId`` asked for (starters)."""
