"""The built-in flows, modelled on the reference doc's terminal session (see ``FLOWS``).

``default``     start → task_list (3) → info + UUID subtask options → question → the same question
                again (the doc's "repeated question" quirk) → context_json confirmation → "confirm":
                results, the completion info and ``stop``; any other reply: an acknowledgement and
                the confirmation again. ``execute_functions`` skips the task list.
``agent_error`` start → task_list → info + ``agent_error`` (the client should then submit ``stop``).
``suggestions`` start → options with non-UUID keys; the chosen key (or value) as ``user_message``
                (or a ``user_json`` options selection) → info + ``stop``, without the completion info.
``many_options`` start → task_list with 30 options → info, result and the completion info,
                without a ``stop`` message (the doc's way of ending).
``date``        start → ``agent_json`` date request → any ``user_message`` → info, completion, ``stop``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from .flows import Flow, Step, Turn
from .messages import (
    AgentMessage,
    agent_error,
    agent_info,
    agent_message,
    confirm_json,
    date_json,
    options_json,
    stop_message,
    task_list_json,
)
from .wire import BUILDING_CONTEXT, COMPLETED, CONFIRM_TEXT, QUESTION, SUBTASK_TEXT

DEFAULT_TASKS: tuple[str, ...] = ("Flights/Flights", "TopActivities/TopActivities", "Hotels/Hotels")
MANY_TASKS: tuple[str, ...] = tuple(f"Service{i:02d}/Service{i:02d}" for i in range(30))
SUBTASK_NAMES: tuple[str, ...] = ("Search", "Booking")
DESTINATION = "Warsaw"
TRAVEL_DATE = "2025-06-01"
RESULTS = (
    "Found 2 flights from {from} to {to} on {date}:\n"
    "1. **LO 282** 07:05 → 09:10, €129 [book](https://example.com/flights/lo282)\n"
    "2. **FR 1903** 12:40 → 14:55, €54"
)
REJECTED = "Understood: {reason}. Please check the details again."
AGENT_FAILED = "An error occurred while executing '{task}': the agent did not respond in time."
SUGGESTIONS_TEXT = "Here are some destinations you might like. Which one should I plan?"
SUGGESTIONS: tuple[tuple[str, str], ...] = (("paris", "Paris, France"), ("rome", "Rome, Italy"), ("lisbon", "Lisbon"))
SUGGESTION_CHOSEN = "Great choice: {value}! Your trip is planned."
NOT_A_SUGGESTION = "Sorry, '{reply}' is not one of the suggestions."
DATE_TEXT = "When would you like to travel?"
DATE_NOTED = "Noted: travelling on {date}."
TASK_DONE = "Done: '{task}' ran successfully."


# -- shared pieces --------------------------------------------------------------------------------


def _offer_tasks(turn: Turn) -> list[AgentMessage]:
    turn.memory["objective"] = turn.payload.get("objective")
    return [task_list_json(turn.memory["tasks"])]


def _valid_task(turn: Turn) -> bool:
    return turn.selection in {str(i) for i in range(len(turn.memory["tasks"]))}


def _chosen_task(turn: Turn) -> str:
    task: str = turn.memory["tasks"][int(turn.selection or 0)]
    turn.memory["task"] = task
    return task


def _start_step(goto: str = "tasks") -> Step:
    return Step(on="start", emit=_offer_tasks, goto=goto)


# -- default --------------------------------------------------------------------------------------


def _subtasks_for(turn: Turn, task: str) -> list[AgentMessage]:
    turn.memory["task"] = task
    service = task.split("/")[0]
    subtasks = {str(uuid.uuid4()): f"{service}/{name}" for name in SUBTASK_NAMES}
    turn.memory["subtasks"] = subtasks
    return [
        agent_info(BUILDING_CONTEXT.format(task=task)),
        options_json(list(subtasks.items()), SUBTASK_TEXT.format(task=task)),
    ]


def _build_context(turn: Turn) -> list[AgentMessage]:
    return _subtasks_for(turn, _chosen_task(turn))


def _from_functions(turn: Turn) -> list[AgentMessage]:
    turn.memory["objective"] = turn.payload.get("objective")
    return _subtasks_for(turn, str(turn.payload["functions"][0]))


def _valid_subtask(turn: Turn) -> bool:
    return turn.selection in turn.memory.get("subtasks", {})


def _ask(turn: Turn) -> list[AgentMessage]:
    turn.memory["subtask"] = turn.selection
    return [agent_message(QUESTION)]


def _ask_again(turn: Turn) -> list[AgentMessage]:
    turn.memory["answers"] = [turn.text]
    return [agent_message(QUESTION)]


def _confirmation(turn: Turn) -> AgentMessage:
    return confirm_json(dict(turn.memory["args"]), CONFIRM_TEXT.format(task=turn.memory["task"]))


def _confirm(turn: Turn) -> list[AgentMessage]:
    turn.memory["answers"].append(turn.text)
    turn.memory["args"] = {"from": turn.text, "to": DESTINATION, "date": TRAVEL_DATE}
    return [_confirmation(turn)]


def _is_confirm(turn: Turn) -> bool:
    return (turn.text or "").strip().lower() == "confirm"


def _finish(turn: Turn) -> list[AgentMessage]:
    return [agent_info(RESULTS.format_map(turn.memory["args"])), agent_info(COMPLETED), stop_message()]


def _reconfirm(turn: Turn) -> list[AgentMessage]:
    turn.memory.setdefault("rejections", []).append(turn.text)
    return [agent_info(REJECTED.format(reason=turn.text)), _confirmation(turn)]


def travel_flow(name: str = "default", tasks: Sequence[str] = DEFAULT_TASKS) -> Flow:
    """The reference doc's whole journey (see the module docstring)."""
    return Flow(
        name=name,
        memory={"tasks": list(tasks)},
        states={
            "new": [_start_step(), Step(on="execute_functions", emit=_from_functions, goto="subtask")],
            "tasks": [Step(on="user_json:task_list", when=_valid_task, emit=_build_context, goto="subtask")],
            "subtask": [Step(on="user_json:options", when=_valid_subtask, emit=_ask, goto="asked")],
            "asked": [Step(on="user_message", emit=_ask_again, goto="asked_again")],
            "asked_again": [Step(on="user_message", emit=_confirm, goto="confirm")],
            "confirm": [
                Step(on="user_message", when=_is_confirm, emit=_finish, goto="done"),
                Step(on="user_message", emit=_reconfirm),
            ],
        },
    )


# -- the others -----------------------------------------------------------------------------------


def _fail(turn: Turn) -> list[AgentMessage]:
    task = _chosen_task(turn)
    return [agent_info(BUILDING_CONTEXT.format(task=task)), agent_error(AGENT_FAILED.format(task=task))]


def _suggestion(turn: Turn) -> tuple[str, str] | None:
    reply = (turn.text if turn.text is not None else turn.selection or "").strip().lower()
    return next(((k, v) for k, v in SUGGESTIONS if reply in (k, v.lower())), None)


def _suggested(turn: Turn) -> list[AgentMessage]:
    key, value = _suggestion(turn) or ("", "")
    turn.memory["choice"] = key
    return [agent_info(SUGGESTION_CHOSEN.format(value=value)), stop_message()]


def _not_suggested(turn: Turn) -> list[AgentMessage]:
    reply = turn.text if turn.text is not None else turn.selection
    return [agent_info(NOT_A_SUGGESTION.format(reply=reply)), options_json(SUGGESTIONS, SUGGESTIONS_TEXT)]


def _ran_task(turn: Turn) -> list[AgentMessage]:
    task = _chosen_task(turn)
    return [
        agent_info(BUILDING_CONTEXT.format(task=task)),
        agent_info(TASK_DONE.format(task=task)),
        agent_info(COMPLETED),
    ]


def _dated(turn: Turn) -> list[AgentMessage]:
    turn.memory["date"] = turn.text
    return [agent_info(DATE_NOTED.format(date=turn.text)), agent_info(COMPLETED), stop_message()]


def _is_suggestion(turn: Turn) -> bool:
    return _suggestion(turn) is not None


def _suggestion_steps() -> list[Step]:
    kinds = ("user_message", "user_json:options")
    chosen = [Step(on=on, when=_is_suggestion, emit=_suggested, goto="done") for on in kinds]
    return chosen + [Step(on=on, emit=_not_suggested) for on in kinds]


def builtin_flows() -> dict[str, Flow]:
    """Fresh copies of every built-in flow, by name."""
    tasks: dict[str, Any] = {"tasks": list(DEFAULT_TASKS)}
    return {
        "default": travel_flow(),
        "agent_error": Flow(
            name="agent_error",
            memory=tasks,
            states={
                "new": [_start_step()],
                "tasks": [Step(on="user_json:task_list", when=_valid_task, emit=_fail, goto="failed")],
            },
        ),
        "suggestions": Flow(
            name="suggestions",
            states={
                "new": [Step(on="start", emit=[options_json(SUGGESTIONS, SUGGESTIONS_TEXT)], goto="suggested")],
                "suggested": _suggestion_steps(),
            },
        ),
        "many_options": Flow(
            name="many_options",
            memory={"tasks": list(MANY_TASKS)},
            states={
                "new": [_start_step()],
                "tasks": [Step(on="user_json:task_list", when=_valid_task, emit=_ran_task, goto="done")],
            },
        ),
        "date": Flow(
            name="date",
            states={
                "new": [Step(on="start", emit=[date_json(DATE_TEXT)], goto="asked")],
                "asked": [Step(on="user_message", emit=_dated, goto="done")],
            },
        ),
    }


FLOWS: dict[str, Flow] = builtin_flows()
"""The built-in flows by name (``AgentverseEmulator.use_flow`` also accepts these names)."""
