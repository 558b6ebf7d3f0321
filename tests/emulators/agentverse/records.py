"""What the emulator remembers: every HTTP request, and each chat session with its messages."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .flows import Flow


@dataclass(kw_only=True)
class AgentverseRequest:
    """One request to either server, recorded before any validation."""

    method: str
    path: str
    query: dict[str, str]
    json: Any
    """The decoded body; ``None`` when there was none or it was not JSON (see ``body``)."""
    body: bytes
    auth_token: str | None
    """The bearer token sent, if any."""
    received_at: float
    """``time.monotonic()`` on arrival."""
    status: int | None = None
    """Status answered; ``None`` while pending, or if the connection was dropped (hang, close)."""
    session_id: str | None = None
    """The ``{sid}`` of the path, or the id a create call returned."""


@dataclass(kw_only=True)
class Emitted:
    """A scheduled message and the moment polls may first return it."""

    message: dict[str, Any]
    available_at: float
    submitted_at: float | None = None
    """``time.monotonic()`` of the submit that caused it (``None`` if scheduled by hand), so a benchmark can
    tell how long the client waited."""


@dataclass(kw_only=True)
class SessionRecord:
    """One chat session: how it was created, what the client submitted and what it was given."""

    session_id: str
    email: str
    model: str
    model_key_used: str | None
    """``"requestedModel"``, the legacy ``"requestModel"``, or ``None`` (no model sent: the default)."""
    function_group: str
    preferences_enabled: bool
    user: str
    flow: Flow
    state: str
    memory: dict[str, Any]
    """The flow's memory for this session (chosen task, subtask keys, answers...)."""
    created_at: float
    ordinal: int = 0
    """0 for the first session the emulator created, 1 for the next, ... (seeds the random answer delays)."""
    submits: list[dict[str, Any]] = field(default_factory=list)
    """Accepted submit payloads in order, as sent (a ``session_id`` beside the payload is in the request's json)."""
    unexpected: list[dict[str, Any]] = field(default_factory=list)
    """Accepted submits that no step of the flow matched (they emitted nothing)."""
    emitted: list[Emitted] = field(default_factory=list)
    """Every scheduled message in order, including ones not available yet."""
    delivered: list[dict[str, Any]] = field(default_factory=list)
    """Messages in the order a poll first returned them (each once)."""
    available_at: dict[str, float] = field(default_factory=dict)
    """message_id -> monotonic time from which polls return it (may lie ahead right after a submit)."""
    delivered_at: dict[str, float] = field(default_factory=dict)
    """message_id -> monotonic time of the first poll that returned it."""
    stopped: bool = False
    """The client submitted ``stop``."""
    completed: bool = False
    """The flow emitted a ``stop`` message."""
    polls: int = 0
    """Poll requests (either endpoint, any outcome) naming this session."""
    poll_times: list[float] = field(default_factory=list)
    """When each of those polls arrived (monotonic seconds)."""
    responses_cursor: int = 0
    """How many of ``emitted`` the deprecated ``/responses`` endpoint has handed out."""
    redeliver: list[dict[str, Any]] = field(default_factory=list)
    """With duplicate delivery: messages the next poll returns again."""

    def message(self, message_id: str) -> dict[str, Any] | None:
        return next((e.message for e in self.emitted if e.message["message_id"] == message_id), None)
