"""What a test scripts and reads back: bots, scripted replies, recorded requests and emissions."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, NamedTuple

from aiohttp import web
from multidict import CIMultiDict

DEFAULT_API_KEY = "ablt-test-key"
ROLES = ("system", "user", "assistant")
MALFORMED_PAYLOAD = "{not json"

REQUEST_ID = web.RequestKey("ablt_request_id", str)
MISSING: Any = object()


@dataclass(frozen=True)
class Bot:
    """One entry of ``GET /v1/bots``; ``uid`` or ``slug`` selects it in a chat request."""

    uid: str
    slug: str
    model: str
    name: str
    description: str
    welcome_message: str
    avatar_url: str | None = None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


DEFAULT_BOTS: tuple[Bot, ...] = (
    Bot(
        uid="edf826b8-1b75-4f57-bd26-641c897f9c1e",  # the uid used in the vendor doc's example
        slug="taxson",
        model="gpt-4",
        name="Taxson",
        description="Answers questions about taxes.",
        welcome_message="Hi! Ask me anything about taxes.",
        avatar_url="https://example.invalid/avatars/taxson.png",
    ),
    Bot(
        uid="0b5c6a9e-2f1d-4c1e-9a57-5d2f3c4b6a71",
        slug="writer",
        model="gpt-3.5-turbo",
        name="Writer",
        description="Helps with writing and editing.",
        welcome_message="Hello! What shall we write today?",
        avatar_url=None,
    ),
    Bot(
        uid="7f3e2d1c-8b4a-4e6f-a2c9-1d0e9f8a7b65",
        slug="coder",
        model="gpt-4",
        name="Coder",
        description="Answers programming questions.",
        welcome_message="Hi! Paste some code or ask a question.",
        avatar_url="https://example.invalid/avatars/coder.png",
    ),
)


@dataclass(frozen=True, kw_only=True)
class Reply:
    """Scripted behaviour for one future ``/v1/chat`` call (consumed FIFO by valid requests).

    Token counts ``N`` larger than the number of tokens apply after the last token, i.e. just
    before ``[DONE]`` would have been sent. For ``stream=false`` requests: any hang hangs before
    headers, ``cut_off_after_tokens`` sends half the JSON body and closes, a malformed setting
    sends ``{not json`` as the body, and the token interval is slept once per token up front.
    """

    text: str | None = None
    """Full reply; split into word tokens (``"To"``, ``" pay"``...) when streamed."""
    tokens: list[str] | None = None
    """Exact token frames; wins over ``text`` (which must then equal their concatenation)."""
    token_interval_s: float = 0.0
    """Sleep before each token frame, so token timing on the wire is real."""
    status: int = 200
    """Non-200 answers with ``body`` as JSON (default ``{"detail": <reason>}``)."""
    body: Any = None
    """Error body for a non-200 status; ``bytes`` are sent verbatim as text/html (proxy page)."""
    hang_before_headers: bool = False
    """Never answer; ends when the client disconnects or the emulator closes (then drops)."""
    hang_after_tokens: int | None = None
    """Send N tokens, then stall without ``[DONE]`` until disconnect or close."""
    cut_off_after_tokens: int | None = None
    """Send N tokens, then close the connection without ``[DONE]`` (truncated chunked body)."""
    bare_json: bool = False
    """Bare JSON lines (``{"content":"To"}\\n``, ``[DONE]\\n``) as the vendor doc prints; same type."""
    malformed_frame_after_tokens: int | None = None
    """Emit ``data: {not json`` after N tokens, then carry on (combine with cut/hang to stop)."""
    split_frames: bool = False
    """Write the bytes in tiny random chunks (mid-line, mid-UTF-8), yielding between writes."""
    use_message_key: bool = False
    """Carry the text under ``"message"`` instead of ``"content"`` (the SDK accepts both)."""
    raw_frames: tuple[str, ...] = ()
    """After the tokens (before ``[DONE]``), these ``data:`` payloads verbatim (say, JSON nested too deep)."""
    long_frame_chars: int | None = None
    """After the tokens (before ``[DONE]``), one more frame whose text is this many characters: a single SSE
    line that long, as a vendor gone wrong may send (Convai sends spoken answers as such lines by design)."""
    write_bytes: int | None = None
    """Write each frame in pieces of at most this many bytes with a loop turn between them, as the network
    delivers a long line (in chunks of a few KB)."""
    hold_long_frame_at: int | None = None
    """Stop writing the long frame after this many of its bytes until ``AbltEmulator.release()`` (or close);
    ``AbltEmulator.holding`` is set meanwhile."""

    def __post_init__(self) -> None:
        if self.tokens is not None and self.text is not None and "".join(self.tokens) != self.text:
            raise ValueError("Reply.text must equal ''.join(Reply.tokens) when both are given")


@dataclass
class ChatRequest:
    """What the emulator saw of one chat call, recorded before any validation."""

    path: str
    body: Any
    """Parsed JSON body, or ``None`` if it was empty or not JSON (see ``raw_body``)."""
    raw_body: bytes
    headers: CIMultiDict[str]
    """Request headers minus ``Authorization`` (case-insensitive lookup)."""
    auth_ok: bool
    received_at: float
    """``time.monotonic()`` when the handler started."""
    request_id: str
    """The ``x-request-id`` sent back with the response."""
    status: int | None = None
    """Status sent; ``None`` while pending or if the connection was dropped before headers."""
    client_closed_at: float | None = None
    """``time.monotonic()`` when the client closed the connection before the reply was complete (a stream the
    bot stopped reading: aiohttp's ``handler_cancellation`` cancels the handler, or a write finds it closed)."""


class Emission(NamedTuple):
    """A token frame (or whole non-stream body) handed to the transport: when, text so far, by whom."""

    t: float
    text: str
    request_index: int
