"""Scheduling messages for polling, choosing what each poll returns, and encoding the envelope.

Messages are appended in order with non-decreasing ``available_at`` times, so "what a poll may
return" is always a prefix of what is left, and no background task is needed for delays.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from itertools import takewhile
from typing import Any

from .messages import engine_timestamp
from .records import Emitted, SessionRecord
from .wire import MALFORMED_ELEMENT


def schedule(
    record: SessionRecord, messages: Sequence[dict[str, Any]], now: float, delay_s: float, interval_s: float
) -> None:
    """Queue ``messages``: the first after ``delay_s``, the rest ``interval_s`` apart, never before earlier ones.

    ``now`` is the time of the submit that caused them (``time.monotonic()``), kept as ``submitted_at``. Each
    message's ``timestamp`` is when it becomes available: the engine makes a message when it has it, and
    stamps it then (the poll example in protocol-notes.md: UTC, no offset, microseconds)."""
    start = now + max(delay_s, 0.0)
    if record.emitted:
        start = max(start, record.emitted[-1].available_at)
    wall_offset = time.time() - time.monotonic()
    for i, message in enumerate(messages):
        at = start + i * max(interval_s, 0.0)
        message["timestamp"] = engine_timestamp(at + wall_offset)
        record.emitted.append(Emitted(message=message, available_at=at, submitted_at=now))
        record.available_at[message["message_id"]] = at
        if message["type"] == "stop":
            record.completed = True


def _available(entries: Sequence[Emitted], now: float) -> list[dict[str, Any]]:
    return [e.message for e in takewhile(lambda e: e.available_at <= now, entries)]


def after(record: SessionRecord, last_message_id: str | None, now: float) -> list[dict[str, Any]]:
    """``/new-messages``: what is available after ``last_message_id`` (everything if absent or unknown)."""
    ids = [e.message["message_id"] for e in record.emitted]
    start = ids.index(last_message_id) + 1 if last_message_id in ids else 0
    return _available(record.emitted[start:], now)


def unseen_by_responses(record: SessionRecord, now: float) -> list[dict[str, Any]]:
    """``/responses``: what is available and was not returned by an earlier ``/responses`` call."""
    fresh = _available(record.emitted[record.responses_cursor :], now)
    record.responses_cursor += len(fresh)
    return fresh


def hand_out(
    record: SessionRecord, fresh: list[dict[str, Any]], now: float, duplicates: bool, *, repeat_in_poll: bool = False
) -> list[dict[str, Any]]:
    """Book ``fresh`` as delivered; with ``duplicates`` also resend what the previous poll handed out first,
    and with ``repeat_in_poll`` list the batch's first message once more at its end (the same ``message_id``
    twice in one answer: both SDKs dedupe by id because "a message may be delivered multiple times")."""
    fresh_ids = {m["message_id"] for m in fresh}
    out = [m for m in record.redeliver if m["message_id"] not in fresh_ids] + fresh if duplicates else fresh
    if repeat_in_poll and out:
        out = [*out, out[0]]
    first_time = [m for m in fresh if m["message_id"] not in record.delivered_at]
    for message in first_time:
        record.delivered.append(message)
        record.delivered_at[message["message_id"]] = now
    record.redeliver = first_time if duplicates else []
    return out


def envelope(messages: Sequence[dict[str, Any]], *, as_objects: bool, malformed: bool) -> dict[str, list[Any]]:
    """``{"agent_response": [...]}`` of JSON strings (or objects); ``malformed`` slips in a broken string second."""
    elements: list[Any] = [dict(m) if as_objects else json.dumps(m) for m in messages]
    if malformed:
        elements.insert(min(1, len(elements)), MALFORMED_ELEMENT)
    return {"agent_response": elements}
