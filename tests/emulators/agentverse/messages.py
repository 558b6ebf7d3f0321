"""Agent messages: templates a flow emits, and their rendering into the engine's message objects."""

from __future__ import annotations

import datetime
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .wire import TASK_LIST_TEXT

OptionKey = int | str
Options = Sequence[tuple[OptionKey, str]]
"""``(key, value)`` pairs, rendered as ``[{"key": key, "value": value}, ...]``."""


@dataclass(frozen=True)
class AgentMessage:
    """One message a flow emits; the emulator stamps the common fields when it is scheduled."""

    type: str
    """Outer ``type``: agent_json, agent_message, agent_info, agent_error or stop (others pass through)."""
    content: Any = None
    """Value of the field named like ``type`` (``agent_json``'s object, a string...); absent for ``stop``."""
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Top-level fields added or overridden after stamping (e.g. ``{"referral_id": "..."}``)."""


def _agent_json(
    kind: str, text: str, options: Options = (), context_json: dict[str, Any] | None = None
) -> AgentMessage:
    body = {
        "type": kind,
        "text": text,
        "options": [{"key": key, "value": value} for key, value in options],
        "context_json": context_json,
    }
    return AgentMessage("agent_json", body)


def task_list_json(tasks: Sequence[str], text: str = TASK_LIST_TEXT) -> AgentMessage:
    """A ``task_list``: integer keys 0..n-1; clients answer ``user_json`` ``{"type": "task_list"}``."""
    return _agent_json("task_list", text, list(enumerate(tasks)))


def options_json(options: Options, text: str) -> AgentMessage:
    """An ``options`` list: UUID keys are subtasks, other keys are suggestions (answered as user_message)."""
    return _agent_json("options", text, options)


def confirm_json(args: dict[str, Any], text: str, digest: str = "model:flights-v1") -> AgentMessage:
    """A ``context_json`` confirmation; clients answer ``user_message`` "confirm" or a rejection reason."""
    return _agent_json("context_json", text, (), {"digest": digest, "args": args})


def date_json(text: str) -> AgentMessage:
    """A ``date`` data request; clients answer with a ``user_message``."""
    return _agent_json("date", text)


def agent_message(text: str) -> AgentMessage:
    """A question the user answers with free text."""
    return AgentMessage("agent_message", text)


def agent_info(text: str) -> AgentMessage:
    """Information only (may hold markdown and links)."""
    return AgentMessage("agent_info", text)


def agent_error(text: str) -> AgentMessage:
    """An error; the reference doc shows it and then submits ``stop``."""
    return AgentMessage("agent_error", text)


def stop_message() -> AgentMessage:
    """The engine's end of session (the SDK stops on it)."""
    return AgentMessage("stop")


def engine_timestamp(at: float | None = None) -> str:
    """Epoch time `at` (default now) as UTC without an offset, with microseconds, as in the doc's example
    (``2023-08-31T13:26:23.238697``)."""
    moment = datetime.datetime.fromtimestamp(time.time() if at is None else at, datetime.UTC)
    return moment.replace(tzinfo=None).isoformat(timespec="microseconds")


def render(message: AgentMessage, session_id: str) -> dict[str, Any]:
    """The full message object with a fresh ``message_id``."""
    rendered: dict[str, Any] = {
        "message_id": str(uuid.uuid4()),
        "timestamp": engine_timestamp(),
        "score": 0.0,
        "type": message.type,
        "referral_id": None,
        "session_id": session_id,
    }
    if message.type != "stop":
        rendered[message.type] = message.content
    rendered.update(message.extra)
    return rendered
