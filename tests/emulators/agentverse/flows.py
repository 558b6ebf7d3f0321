"""Scripted conversations: a flow is a small state machine driven by what the client submits.

Each state holds :class:`Step` rules. A valid submit (other than ``stop``, which the emulator
handles itself) fires the first step of the session's current state whose ``on`` and ``when``
match it: the step's messages are scheduled for polling and the session moves to ``goto``.
A submit that no step matches is acknowledged like any other but emits nothing; it is kept in
``SessionRecord.unexpected`` so a test can assert the client never strayed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .messages import AgentMessage

END_STATE = "end"


def submit_kind(payload: dict[str, Any]) -> str:
    """``payload["type"]``, or ``"user_json:<its type>"`` for user_json submits."""
    user_json = payload.get("user_json")
    if payload.get("type") == "user_json" and isinstance(user_json, dict):
        return f"user_json:{user_json.get('type')}"
    return str(payload.get("type"))


@dataclass(kw_only=True)
class Turn:
    """What a step sees: the submitted payload and the session's flow memory (shared by its steps)."""

    session_id: str
    payload: dict[str, Any]
    memory: dict[str, Any]

    @property
    def kind(self) -> str:
        """The payload type, refined for user_json: ``"user_json:task_list"`` or ``"user_json:options"``."""
        return submit_kind(self.payload)

    @property
    def selection(self) -> str | None:
        """The first ``user_json`` selection as a string (task_list keys may come as ints or strings)."""
        user_json = self.payload.get("user_json")
        if not isinstance(user_json, dict) or not user_json.get("selection"):
            return None
        return str(user_json["selection"][0])

    @property
    def text(self) -> str | None:
        """The ``user_message`` text, if this is one."""
        value = self.payload.get("user_message")
        return None if value is None else str(value)  # numbers pass validation, as pydantic v1 coerces them


Emit = Sequence[AgentMessage] | Callable[[Turn], Sequence[AgentMessage]]


@dataclass(frozen=True, kw_only=True)
class Step:
    """When a submit matching ``on`` (and ``when``) arrives, emit ``emit`` and move to ``goto``."""

    on: str
    """A payload type (``start``, ``user_json``, ``user_message``, ``execute_functions``, ``stop``),
    ``"user_json:task_list"`` / ``"user_json:options"``, or ``"*"`` for any submit."""
    emit: Emit = ()
    """Messages, or a callable building them from the :class:`Turn` (it may also update ``memory``)."""
    when: Callable[[Turn], bool] | None = None
    """Extra condition; must not change anything (steps that do not fire also get asked)."""
    goto: str | None = None
    """Next state; ``None`` stays put."""
    delay_s: float | None = None
    """Seconds until the first message becomes available; ``None`` uses the emulator's ``delay_s``."""
    interval_s: float = 0.0
    """Extra seconds between this step's messages becoming available."""

    def matches(self, turn: Turn) -> bool:
        if self.on not in ("*", turn.payload["type"], turn.kind):
            return False
        return self.when is None or self.when(turn)

    def messages(self, turn: Turn) -> list[AgentMessage]:
        return list(self.emit(turn) if callable(self.emit) else self.emit)


@dataclass(frozen=True, kw_only=True)
class Flow:
    """A named state machine; every session gets its own state and memory."""

    name: str
    states: Mapping[str, Sequence[Step]]
    initial: str = "new"
    memory: Mapping[str, Any] = field(default_factory=dict)
    """Initial flow memory, copied into each session that plays this flow."""

    def step_for(self, state: str, turn: Turn) -> Step | None:
        """The step that fires for ``turn`` in ``state``, if any."""
        return next((step for step in self.states.get(state, ()) if step.matches(turn)), None)

    @classmethod
    def linear(cls, name: str, steps: Sequence[Step]) -> Flow:
        """One step per submit, in order; a step's own ``goto`` wins, the last one leads to ``"end"``."""
        states: dict[str, Sequence[Step]] = {}
        for i, step in enumerate(steps):
            following = f"step-{i + 1}" if i + 1 < len(steps) else END_STATE
            states[f"step-{i}"] = [step if step.goto is not None else dataclasses.replace(step, goto=following)]
        return cls(name=name, states=states, initial="step-0" if steps else END_STATE)
