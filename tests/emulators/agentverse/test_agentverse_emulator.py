"""Checks the Agentverse AI Engine emulator against the reference doc and protocol notes with a plain aiohttp client.

The bot's Agentverse tests and the benchmark trust this emulator, so the session shape, the
tolerated payload quirks, the scripted flows, polling semantics (``last_message_id``, the
``/responses`` fallback, duplicates, delays, failures, hangs) and token refresh are pinned here.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.emulators.agentverse import (
    CLIENT_ID,
    COMPLETED,
    DEFAULT_ACCESS_TOKEN,
    DEFAULT_REFRESH_TOKEN,
    DEFAULT_TASKS,
    INVALID_TOKEN,
    MALFORMED_ELEMENT,
    MANY_TASKS,
    NOT_AUTHENTICATED,
    QUESTION,
    REFRESH_REJECTED,
    SCOPE,
    SESSION_NOT_FOUND,
    SESSIONS_PATH,
    TASK_LIST_TEXT,
    TOKEN_EXPIRED,
    TOKENS_PATH,
    AgentverseEmulator,
    Flow,
    Step,
    Turn,
    agent_info,
    agent_message,
    stop_message,
)
from tests.emulators.agentverse.builtin import AGENT_FAILED, DATE_TEXT, SUGGESTIONS_TEXT

UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
"""Stricter than the reference doc's ``is_uuid`` (which allows versions 1-4)."""
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$")
EMAIL = "tester@example.com"


class Client:
    """A minimal client in the SDK's manner: bearer auth, ``last_message_id`` polling, JSON-string decoding."""

    def __init__(self, http: aiohttp.ClientSession, emu: AgentverseEmulator) -> None:
        self.http, self.emu = http, emu
        self.token = emu.current_access_token
        self.last_id: dict[str, str] = {}

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def call(self, method: str, path: str, body: Any = None, **kwargs: Any) -> tuple[int, Any]:
        async with self.http.request(method, path, json=body, headers=self.auth, **kwargs) as resp:
            text = await resp.text()
            return resp.status, json.loads(text) if resp.content_type == "application/json" else text

    async def create(self, **body: Any) -> str:
        status, data = await self.call(
            "POST", SESSIONS_PATH, {"email": EMAIL, "requestedModel": "talkative-01", **body}
        )
        assert status == 200, data
        return str(data["session_id"])

    async def submit(self, sid: str, payload: dict[str, Any], **beside: Any) -> tuple[int, Any]:
        return await self.call("POST", f"{SESSIONS_PATH}/{sid}/submit", {"payload": payload, **beside})

    async def raw_poll(
        self, sid: str, endpoint: str = "new-messages", last: str | None = None, **kwargs: Any
    ) -> tuple[int, Any]:
        params = {"last_message_id": last} if last else {}
        return await self.call("GET", f"{SESSIONS_PATH}/{sid}/{endpoint}", params=params, **kwargs)

    async def poll(self, sid: str) -> list[dict[str, Any]]:
        """One ``/new-messages`` poll after the last seen message; decodes each string element."""
        status, data = await self.raw_poll(sid, last=self.last_id.get(sid))
        assert status == 200, data
        assert all(isinstance(element, str) for element in data["agent_response"])
        messages = [json.loads(element) for element in data["agent_response"]]
        if messages:
            self.last_id[sid] = messages[-1]["message_id"]
        return messages

    async def start(self, sid: str, objective: str = "Find a flight to Warsaw") -> list[dict[str, Any]]:
        context = f"User full Name: Test User\nUser email: {EMAIL}\n"
        payload = {"type": "start", "objective": objective, "context": context, "session_id": sid}
        assert (await self.submit(sid, payload)) == (200, {})
        return await self.poll(sid)

    async def choose(self, sid: str, kind: str, key: int | str) -> list[dict[str, Any]]:
        payload = {"type": "user_json", "user_json": {"type": kind, "selection": [key]}, "session_id": sid}
        assert (await self.submit(sid, payload)) == (200, {})
        return await self.poll(sid)

    async def say(self, sid: str, text: str) -> list[dict[str, Any]]:
        assert (await self.submit(sid, {"type": "user_message", "user_message": text}, session_id=sid)) == (200, {})
        return await self.poll(sid)


@pytest.fixture
async def emu() -> AsyncIterator[AgentverseEmulator]:
    async with AgentverseEmulator() as emulator:
        yield emulator


@pytest.fixture
async def client(emu: AgentverseEmulator) -> AsyncIterator[Client]:
    async with aiohttp.ClientSession(base_url=emu.base_url) as http:
        yield Client(http, emu)


def kinds(messages: list[dict[str, Any]]) -> list[str]:
    """``type`` of each message, refined to ``agent_json:<inner type>``."""
    return [m["type"] + (f":{m['agent_json']['type']}" if m["type"] == "agent_json" else "") for m in messages]


# -- sessions -------------------------------------------------------------------------------------


async def test_create_session_answers_the_sdk_shape(emu: AgentverseEmulator, client: Client) -> None:
    """The body matches the notes' example field for field, and the model key used is recorded."""
    status, data = await client.call(
        "POST", SESSIONS_PATH, {"email": EMAIL, "requestedModel": "thoughtful-01", "preferencesEnabled": True}
    )
    assert status == 200
    assert UUID4.match(data.pop("session_id"))
    assert re.fullmatch(r"[0-9a-f]{32}", data.pop("user"))
    assert data == {
        "num_messages": 0,
        "last_message_timestamp": None,
        "messages": [],
        "model": "thoughtful-01",
        "remaining_tokens": 10_000_000,
        "function_group": "e504eabb-4bc7-458d-aa8c-7c3748f8952c",
        "status": None,
        "preferences_enabled": True,
    }
    session = emu.latest_session
    assert (session.email, session.model, session.model_key_used) == (EMAIL, "thoughtful-01", "requestedModel")
    assert session.flow.name == "default" and session.submits == [] and not session.stopped


@pytest.mark.parametrize(
    ("extra", "model", "key"),
    [
        ({"requestModel": "creative-01"}, "creative-01", "requestModel"),
        ({}, "next-gen", None),
        ({"requestedModel": "gemini-pro", "requestModel": "creative-01"}, "gemini-pro", "requestedModel"),
    ],
)
async def test_legacy_and_missing_model_keys(
    emu: AgentverseEmulator, client: Client, extra: dict[str, str], model: str, key: str | None
) -> None:
    """The old docs' ``requestModel`` still works, and the recorded key tells a test which one the client sent."""
    status, data = await client.call("POST", SESSIONS_PATH, {"email": EMAIL, "functionGroup": "grp-1", **extra})
    assert status == 200 and data["model"] == model and data["function_group"] == "grp-1"
    assert emu.sessions[data["session_id"]].model_key_used == key


async def test_create_rejects_bad_bodies(emu: AgentverseEmulator, client: Client) -> None:
    """FastAPI-style 422s for a missing email or broken JSON; 400 for an unknown model."""
    status, data = await client.call("POST", SESSIONS_PATH, {"requestedModel": "talkative-01"})
    assert (status, data) == (
        422,
        {"detail": [{"loc": ["body", "email"], "msg": "field required", "type": "value_error.missing"}]},
    )
    status, data = await client.call("POST", SESSIONS_PATH, {"email": EMAIL, "requestedModel": "gpt-4"})
    assert status == 400 and "gpt-4" in data["detail"]
    async with client.http.post(SESSIONS_PATH, data=b"{not json", headers=client.auth) as resp:
        assert resp.status == 422
        assert (await resp.json())["detail"][0]["type"] == "value_error.jsondecode"
    assert emu.sessions == {} and [r.status for r in emu.requests] == [422, 400, 422]


# -- the default flow -----------------------------------------------------------------------------


async def test_default_flow_step_by_step(emu: AgentverseEmulator, client: Client) -> None:
    """The reference doc's whole journey, polled with ``last_message_id`` so each poll holds only new messages."""
    sid = await client.create()
    (tasks,) = await client.start(sid)
    assert tasks["type"] == "agent_json" and tasks["session_id"] == sid and tasks["score"] == 0.0
    assert UUID4.match(tasks["message_id"]) and TIMESTAMP.match(tasks["timestamp"]) and tasks["referral_id"] is None
    assert tasks["agent_json"] == {
        "type": "task_list",
        "text": TASK_LIST_TEXT,
        "options": [{"key": i, "value": task} for i, task in enumerate(DEFAULT_TASKS)],
        "context_json": None,
    }

    info, subtasks = await client.choose(sid, "task_list", 0)
    assert info["agent_info"] == "I start building the context to execute 'Flights/Flights' task.."
    assert subtasks["agent_json"]["type"] == "options"
    keys = [option["key"] for option in subtasks["agent_json"]["options"]]
    assert len(keys) == 2 and all(UUID4.match(key) for key in keys)

    (question,) = await client.choose(sid, "options", keys[0])  # the doc auto-picks the first UUID
    assert question["type"] == "agent_message" and question["agent_message"] == QUESTION
    (again,) = await client.say(sid, "London")
    assert again["agent_message"] == QUESTION and again["message_id"] != question["message_id"]
    (confirm,) = await client.say(sid, "London")  # the doc answers the repeat with the last reply
    assert confirm["agent_json"]["type"] == "context_json" and "Please confirm" in confirm["agent_json"]["text"]
    assert confirm["agent_json"]["options"] == []
    assert confirm["agent_json"]["context_json"]["args"] == {"from": "London", "to": "Warsaw", "date": "2025-06-01"}

    results, done, stop = await client.say(sid, "confirm")
    assert "London" in results["agent_info"] and "](https://" in results["agent_info"]
    assert done["agent_info"] == COMPLETED and stop["type"] == "stop" and "stop" not in stop
    assert await client.poll(sid) == []
    assert (await client.submit(sid, {"type": "stop"})) == (200, {})

    session = emu.sessions[sid]
    assert session.stopped and session.completed and session.unexpected == []
    assert [s["type"] for s in session.submits] == ["start", "user_json", "user_json", *["user_message"] * 3, "stop"]
    assert session.memory["answers"] == ["London", "London"] and session.memory["subtask"] == keys[0]
    assert kinds(session.delivered) == [
        "agent_json:task_list",
        "agent_info",
        "agent_json:options",
        "agent_message",
        "agent_message",
        "agent_json:context_json",
        "agent_info",
        "agent_info",
        "stop",
    ]
    ids = [m["message_id"] for m in session.delivered]
    assert list(session.available_at) == ids and list(session.delivered_at) == ids
    assert all(session.delivered_at[i] >= session.available_at[i] for i in ids)
    assert emu.poll_count(sid) == 7


async def test_rejection_is_acknowledged_and_the_confirmation_repeats(emu: AgentverseEmulator, client: Client) -> None:
    """Anything but "confirm" is a rejection reason: an info, then the same confirmation again."""
    sid = await client.create()
    await client.start(sid)
    (_, subtasks) = await client.choose(sid, "task_list", "2")  # selection keys may come as strings
    await client.choose(sid, "options", subtasks["agent_json"]["options"][1]["key"])  # any subtask works
    await client.say(sid, "Paris")
    first = await client.say(sid, "Paris")
    ack, second = await client.say(sid, "wrong date")
    assert ack["type"] == "agent_info" and "wrong date" in ack["agent_info"]
    assert second["agent_json"] == first[0]["agent_json"] and "Hotels/Hotels" in second["agent_json"]["text"]
    assert kinds(await client.say(sid, " Confirm ")) == ["agent_info", "agent_info", "stop"]
    assert emu.sessions[sid].memory["rejections"] == ["wrong date"]


async def test_execute_functions_skips_the_task_list(emu: AgentverseEmulator, client: Client) -> None:
    """Next-Gen's ``execute_functions`` goes straight to building the context for the named function."""
    sid = await client.create()
    payload = {"type": "execute_functions", "functions": ["fn-weather"], "objective": "weather", "context": ""}
    assert (await client.submit(sid, payload)) == (200, {})
    assert kinds(await client.poll(sid)) == ["agent_info", "agent_json:options"]
    assert emu.sessions[sid].memory["task"] == "fn-weather"


# -- submit tolerance and rejections --------------------------------------------------------------


async def test_session_id_may_sit_inside_beside_or_nowhere(emu: AgentverseEmulator, client: Client) -> None:
    """The reference doc puts ``session_id`` in all three places; ids and referrals are optional."""
    sid = await client.create()
    start = {"type": "start", "objective": "x", "message_id": "m-1", "bucket_id": "grp"}
    assert (await client.submit(sid, start)) == (200, {})
    selection = {"type": "user_json", "user_json": {"type": "task_list", "selection": [1]}}
    assert (await client.submit(sid, selection, session_id=sid)) == (200, {})
    assert (await client.submit(sid, {**selection, "session_id": sid, "referral_id": None})) == (200, {})
    session = emu.sessions[sid]
    assert [s.get("session_id") for s in session.submits] == [None, None, sid]
    assert emu.requests[-2].json["session_id"] == sid  # what was beside the payload is in the raw body
    assert session.memory["task"] == "TopActivities/TopActivities"
    assert session.unexpected == [session.submits[2]]  # the flow had moved on: acked, recorded, nothing emitted
    assert (await client.submit(sid, {"type": "stop"}, session_id=sid)) == (200, {})
    assert (await client.submit(sid, {"type": "user_message", "user_message": "late"})) == (200, {})
    assert session.stopped and session.unexpected[-1]["user_message"] == "late"


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({}, ["body", "payload"]),
        ({"payload": "start"}, ["body", "payload"]),
        ({"payload": {"type": "begin"}}, ["body", "payload", "type"]),
        ({"payload": {"type": "start"}}, ["body", "payload", "objective"]),
        ({"payload": {"type": "user_message"}}, ["body", "payload", "user_message"]),
        ({"payload": {"type": "user_json", "user_json": {"type": "pick", "selection": [0]}}}, None),
        ({"payload": {"type": "user_json", "user_json": {"type": "options", "selection": []}}}, None),
        ({"payload": {"type": "user_json", "user_json": {"type": "options", "selection": [True]}}}, None),
        ({"payload": {"type": "execute_functions", "functions": "f"}}, ["body", "payload", "functions"]),
        ({"payload": {"type": "stop", "session_id": "another"}}, ["body", "payload", "session_id"]),
        ({"payload": {"type": "stop"}, "session_id": "another"}, ["body", "session_id"]),
    ],
)
async def test_malformed_submits_get_422(
    emu: AgentverseEmulator, client: Client, body: dict[str, Any], loc: list[str] | None
) -> None:
    """Wrong shapes are refused before the session is touched."""
    sid = await client.create()
    status, data = await client.call("POST", f"{SESSIONS_PATH}/{sid}/submit", body)
    assert status == 422 and data["detail"]
    if loc is not None:
        assert data["detail"][0]["loc"] == loc
    else:
        assert data["detail"][0]["loc"][:3] == ["body", "payload", "user_json"]
    assert emu.sessions[sid].submits == []


async def test_unknown_session_is_404(emu: AgentverseEmulator, client: Client) -> None:
    """Submits and both polls name a session that must exist."""
    path = f"{SESSIONS_PATH}/no-such-session"
    assert await client.call("POST", path + "/submit", {"payload": {"type": "stop"}}) == (
        404,
        {"detail": SESSION_NOT_FOUND},
    )
    for endpoint in ("new-messages", "responses"):
        assert await client.raw_poll("no-such-session", endpoint) == (404, {"detail": SESSION_NOT_FOUND})
    assert await client.call("GET", "/v1beta1/nothing") == (404, {"detail": "Not Found"})
    assert await client.call("DELETE", SESSIONS_PATH) == (405, {"detail": "Method Not Allowed"})


# -- polling --------------------------------------------------------------------------------------


async def test_responses_fallback_when_new_messages_is_missing() -> None:
    """With ``new_messages_available=False`` only the deprecated ``/responses`` works; each message comes once."""
    async with (
        AgentverseEmulator(new_messages_available=False) as emu,
        aiohttp.ClientSession(base_url=emu.base_url) as http,
    ):
        client = Client(http, emu)
        sid = await client.create()
        await client.submit(sid, {"type": "start", "objective": "x"})
        assert await client.raw_poll(sid) == (404, {"detail": "Not Found"})
        status, data = await client.raw_poll(sid, "responses")
        assert status == 200 and kinds([json.loads(e) for e in data["agent_response"]]) == ["agent_json:task_list"]
        assert await client.raw_poll(sid, "responses") == (200, {"agent_response": []})
        assert emu.poll_count(sid) == 3 and len(emu.sessions[sid].delivered) == 1


async def test_new_messages_without_last_id_returns_everything(emu: AgentverseEmulator, client: Client) -> None:
    """Absent (or unknown) ``last_message_id`` means all messages; ``/responses`` keeps its own cursor."""
    sid = await client.create()
    await client.start(sid)
    await client.choose(sid, "task_list", 0)
    _, data = await client.raw_poll(sid)
    assert kinds([json.loads(e) for e in data["agent_response"]]) == [
        "agent_json:task_list",
        "agent_info",
        "agent_json:options",
    ]
    assert len((await client.raw_poll(sid, last="unknown-id"))[1]["agent_response"]) == 3
    assert len((await client.raw_poll(sid, "responses"))[1]["agent_response"]) == 3
    assert len(emu.sessions[sid].delivered) == 3  # each message is booked once, however often it is returned


async def test_duplicate_delivery_repeats_each_message_once_more(client: Client, emu: AgentverseEmulator) -> None:
    """Past ``last_message_id`` the next poll still returns the previous batch again: clients must dedupe."""
    emu.duplicate_delivery = True
    sid = await client.create()
    (tasks,) = await client.start(sid)
    again = await client.poll(sid)
    assert [m["message_id"] for m in again] == [tasks["message_id"]]
    assert await client.poll(sid) == []  # only once more
    assert kinds(await client.choose(sid, "task_list", 0)) == ["agent_info", "agent_json:options"]
    assert kinds(await client.poll(sid)) == ["agent_info", "agent_json:options"]  # the same two again
    assert len(emu.sessions[sid].delivered) == 3


async def test_repeat_in_poll_lists_one_message_twice_in_the_same_answer(
    client: Client, emu: AgentverseEmulator
) -> None:
    """The same ``message_id`` twice within one poll's ``agent_response``; the next poll does not repeat it."""
    emu.repeat_in_poll = True
    sid = await client.create()
    await client.start(sid)
    batch = await client.choose(sid, "task_list", 0)
    assert kinds(batch) == ["agent_info", "agent_json:options", "agent_info"]
    assert batch[0]["message_id"] == batch[-1]["message_id"]
    assert len(emu.sessions[sid].delivered) == 3


async def test_objects_instead_of_strings_and_a_malformed_element() -> None:
    """``deliver_as_objects`` sends dicts; ``malformed_polls`` slips a broken string into a non-empty poll."""
    async with (
        AgentverseEmulator(deliver_as_objects=True, malformed_polls=1) as emu,
        aiohttp.ClientSession(base_url=emu.base_url) as http,
    ):
        client = Client(http, emu)
        sid = await client.create()
        assert (await client.raw_poll(sid))[1] == {"agent_response": []}  # empty polls are left alone
        await client.submit(sid, {"type": "start", "objective": "x"})
        _, data = await client.raw_poll(sid)
        task_list, broken = data["agent_response"]
        assert task_list["agent_json"]["type"] == "task_list" and broken == MALFORMED_ELEMENT
        with pytest.raises(json.JSONDecodeError):
            json.loads(broken)
        assert emu.malformed_polls == 0 and emu.sessions[sid].delivered == [task_list]


async def test_delay_holds_messages_back_and_records_availability(emu: AgentverseEmulator, client: Client) -> None:
    """Messages appear ``delay_s`` after the submit; ``available_at`` says exactly when, for latency figures."""
    emu.delay_s = 0.15
    sid = await client.create()
    submitted = time.monotonic()
    assert await client.start(sid) == []
    await asyncio.sleep(0.2)
    (tasks,) = await client.poll(sid)
    session = emu.sessions[sid]
    assert session.available_at[tasks["message_id"]] == pytest.approx(submitted + 0.15, abs=0.05)
    assert session.delivered_at[tasks["message_id"]] - session.available_at[tasks["message_id"]] >= 0


async def test_scripted_steps_with_delays_and_intervals(emu: AgentverseEmulator, client: Client) -> None:
    """``script`` plays arbitrary messages per submit; a step's interval spaces its messages out."""
    sid = await client.create()
    emu.script(
        [
            Step(on="start", emit=[agent_message("Which city?")]),
            Step(on="user_message", emit=[agent_info("one"), agent_info("two"), stop_message()], interval_s=0.1),
        ],
        session_id=sid,
    )
    (question,) = await client.start(sid)
    assert question["agent_message"] == "Which city?"
    assert kinds(await client.say(sid, "Oslo")) == ["agent_info"]  # the other two are still to come
    await asyncio.sleep(0.25)
    assert kinds(await client.poll(sid)) == ["agent_info", "stop"]
    times = list(emu.sessions[sid].available_at.values())
    assert times[2] - times[1] == pytest.approx(0.1) and times[3] - times[2] == pytest.approx(0.1)
    assert emu.sessions[sid].state == "end" and emu.sessions[sid].completed


async def test_custom_flow_sees_the_turn(emu: AgentverseEmulator, client: Client) -> None:
    """A callable step reads the payload and keeps memory; a new default flow applies to new sessions only."""

    def echo(turn: Turn) -> list[Any]:
        turn.memory.setdefault("heard", []).append(turn.text)
        return [agent_info(f"echo: {turn.text}")]

    old = await client.create()
    emu.use_flow(Flow(name="echo", states={"new": [Step(on="user_message", emit=echo)]}))
    sid = await client.create()
    for word in ("a", "b"):
        assert [m["agent_info"] for m in await client.say(sid, word)] == [f"echo: {word}"]
    assert emu.sessions[sid].memory == {"heard": ["a", "b"]} and emu.sessions[old].flow.name == "default"
    with pytest.raises(ValueError, match="unknown flow"):
        emu.use_flow("nope")


# -- the other built-in flows ---------------------------------------------------------------------


async def test_agent_error_flow(emu: AgentverseEmulator, client: Client) -> None:
    """After the task is chosen the agent fails; the doc's client then submits ``stop``."""
    emu.use_flow("agent_error")
    sid = await client.create()
    await client.start(sid)
    info, failure = await client.choose(sid, "task_list", 0)
    assert info["type"] == "agent_info" and failure["agent_error"] == AGENT_FAILED.format(task="Flights/Flights")
    assert (await client.submit(sid, {"type": "stop"})) == (200, {})
    assert (await emu.wait_for_submit("stop", session_id=sid)) == {"type": "stop"}
    assert emu.sessions[sid].stopped and not emu.sessions[sid].completed


async def test_suggestions_flow_takes_the_key_as_a_user_message(emu: AgentverseEmulator, client: Client) -> None:
    """Non-UUID option keys are suggestions; an unknown reply gets the options again; it ends on ``stop`` alone."""
    emu.use_flow("suggestions")
    sid = await client.create()
    (options,) = await client.start(sid)
    assert options["agent_json"]["type"] == "options" and options["agent_json"]["text"] == SUGGESTIONS_TEXT
    assert [o["key"] for o in options["agent_json"]["options"]] == ["paris", "rome", "lisbon"]
    assert kinds(await client.say(sid, "madrid")) == ["agent_info", "agent_json:options"]
    info, stop = await client.say(sid, "rome")
    assert "Rome, Italy" in info["agent_info"] and stop["type"] == "stop"
    assert COMPLETED not in info["agent_info"] and emu.sessions[sid].completed


async def test_many_options_flow_has_thirty_and_ends_with_the_completion_info(
    emu: AgentverseEmulator, client: Client
) -> None:
    """30 task options (for paging/select menus); the end is the doc's completion text with no ``stop`` message."""
    emu.use_flow("many_options")
    sid = await client.create()
    (tasks,) = await client.start(sid)
    assert [o["key"] for o in tasks["agent_json"]["options"]] == list(range(30)) and len(MANY_TASKS) == 30
    messages = await client.choose(sid, "task_list", 29)
    assert kinds(messages) == ["agent_info"] * 3 and messages[-1]["agent_info"] == COMPLETED
    assert "Service29/Service29" in messages[1]["agent_info"] and not emu.sessions[sid].completed


async def test_date_flow(emu: AgentverseEmulator, client: Client) -> None:
    """An ``agent_json`` of type ``date`` is answered with a plain user message."""
    emu.use_flow("date")
    sid = await client.create()
    (request,) = await client.start(sid)
    assert request["agent_json"]["type"] == "date" and request["agent_json"]["text"] == DATE_TEXT
    assert kinds(await client.say(sid, "next Friday")) == ["agent_info", "agent_info", "stop"]


# -- tokens ---------------------------------------------------------------------------------------


async def refresh(http: aiohttp.ClientSession, emu: AgentverseEmulator, **change: Any) -> tuple[int, Any]:
    body = {
        "grant_type": "refresh_token",
        "refresh_token": emu.current_refresh_token,
        "client_id": CLIENT_ID,
        "scope": SCOPE,
    }
    async with http.post(emu.token_url, json={**body, **change}) as resp:
        return resp.status, await resp.json()


async def test_expired_token_refresh_then_retry(emu: AgentverseEmulator, client: Client) -> None:
    """401 "Token expired" → refresh → retry works; the old access and refresh tokens are dead afterwards."""
    sid = await client.create()
    emu.expire_access_tokens()
    assert await client.raw_poll(sid) == (401, {"detail": TOKEN_EXPIRED})
    old_refresh = emu.current_refresh_token
    status, tokens = await refresh(client.http, emu)
    assert status == 200 and tokens["token_type"] == "Bearer"
    assert (tokens["access_token"], tokens["refresh_token"]) == ("av-access-2", "av-refresh-2")
    assert tokens["expires_in"] == 3600 and tokens["refresh_expires_in"] == 86_400 and emu.refresh_count == 1
    assert (await client.raw_poll(sid))[0] == 401  # still the old token
    client.token = tokens["access_token"]
    assert (await client.raw_poll(sid))[0] == 200
    assert await refresh(client.http, emu, refresh_token=old_refresh) == (422, {"detail": REFRESH_REJECTED})
    assert [r.auth_token for r in emu.requests if r.path.endswith("new-messages")] == [
        DEFAULT_ACCESS_TOKEN,
        DEFAULT_ACCESS_TOKEN,
        "av-access-2",
    ]
    assert emu.requests[-1].path == TOKENS_PATH and emu.requests[-1].status == 422
    assert emu.issued_tokens == {DEFAULT_ACCESS_TOKEN, DEFAULT_REFRESH_TOKEN, "av-access-2", "av-refresh-2"}


async def test_token_endpoint_rejections(emu: AgentverseEmulator, client: Client) -> None:
    """Wrong client or scope → 400; missing fields → 422; an expired refresh token → 422; nothing rotates."""
    assert (await refresh(client.http, emu, client_id="deltav"))[0] == 400
    assert (await refresh(client.http, emu, scope="all"))[0] == 400
    assert (await refresh(client.http, emu, grant_type="password"))[0] == 400
    status, data = await refresh(client.http, emu, refresh_token=None)
    assert status == 422 and data["detail"][0]["loc"] == ["body", "refresh_token"]
    emu.expire_refresh_token()
    assert await refresh(client.http, emu) == (422, {"detail": REFRESH_REJECTED})
    assert (emu.refresh_count, emu.current_refresh_token) == (0, DEFAULT_REFRESH_TOKEN)
    assert emu.auth_url != emu.base_url  # two servers, as accounts.fetch.ai and agentverse.ai are


async def test_auth_failures_on_the_engine(emu: AgentverseEmulator, client: Client) -> None:
    """No header, an unknown token and a scripted 403 expiry each get their own answer."""
    async with client.http.post(SESSIONS_PATH, json={"email": EMAIL}) as resp:
        assert (resp.status, await resp.json()) == (401, {"detail": NOT_AUTHENTICATED})
    sid = await client.create()
    client.token = "made-up"
    assert await client.raw_poll(sid) == (401, {"detail": INVALID_TOKEN})
    client.token = emu.current_access_token
    emu.expire_access_tokens(status=403)
    assert await client.raw_poll(sid) == (403, {"detail": TOKEN_EXPIRED})
    assert [r.auth_token for r in emu.requests] == [None, DEFAULT_ACCESS_TOKEN, "made-up", DEFAULT_ACCESS_TOKEN]


async def test_token_variants() -> None:
    """A static key cannot refresh; refresh rotation can be off; TTL expiry and epoch ``expires_in`` work."""
    async with AgentverseEmulator(refresh_token=None) as emu, aiohttp.ClientSession() as http:
        assert await refresh(http, emu, refresh_token="anything") == (422, {"detail": REFRESH_REJECTED})
    async with (
        AgentverseEmulator(rotate_refresh_token=False, access_ttl_s=0.25, expires_in_style="epoch") as emu,
        aiohttp.ClientSession(base_url=emu.base_url) as http,
    ):
        client = Client(http, emu)
        sid = await client.create()
        await asyncio.sleep(0.3)
        assert await client.raw_poll(sid) == (401, {"detail": TOKEN_EXPIRED})
        status, tokens = await refresh(http, emu)
        assert status == 200 and "refresh_token" not in tokens and emu.current_refresh_token == DEFAULT_REFRESH_TOKEN
        assert tokens["expires_in"] >= time.time()
        assert (await refresh(http, emu))[0] == 200  # the same refresh token still works


# -- failures, hangs, waiting ---------------------------------------------------------------------


async def test_poll_failures_then_recovery(emu: AgentverseEmulator, client: Client) -> None:
    """``fail_polls`` answers that many polls with ``fail_status``; messages are not lost meanwhile."""
    sid = await client.create()
    await client.submit(sid, {"type": "start", "objective": "x"})
    emu.fail_polls, emu.fail_status = 2, 503
    assert await client.raw_poll(sid) == (503, "Service Unavailable")
    assert (await client.raw_poll(sid, "responses"))[0] == 503
    assert kinds(await client.poll(sid)) == ["agent_json:task_list"]
    assert emu.poll_count(sid) == 3 and emu.fail_polls == 0


async def test_hung_poll_ends_on_client_timeout(emu: AgentverseEmulator, client: Client) -> None:
    """A client giving up ends the hung handler: nothing lingers and polling goes on."""
    sid = await client.create()
    emu.hang_polls = 1
    with pytest.raises(asyncio.TimeoutError):
        await client.raw_poll(sid, timeout=aiohttp.ClientTimeout(total=0.2))
    assert emu.requests[-1].status is None
    for _ in range(100):
        if asyncio.all_tasks() == {asyncio.current_task()}:
            break
        await asyncio.sleep(0.01)
    assert asyncio.all_tasks() == {asyncio.current_task()}
    assert (await client.raw_poll(sid))[0] == 200


async def test_close_ends_hung_polls_promptly() -> None:
    """Closing never waits for a hung poll; its client sees a dropped connection."""
    emu = AgentverseEmulator(hang_polls=2)
    await emu.start()
    async with aiohttp.ClientSession(base_url=emu.base_url) as http:
        client = Client(http, emu)
        sid = await client.create()
        polls = [asyncio.create_task(client.raw_poll(sid)) for _ in range(2)]
        await emu.wait_for_requests(2, path_suffix="/new-messages")
        await asyncio.sleep(0.05)
        started = time.monotonic()
        await emu.close()
        assert time.monotonic() - started < 1.0
        for task in polls:
            with pytest.raises(aiohttp.ClientError):
                await task
    assert [r.status for r in emu.requests] == [200, None, None]
    await emu.close()  # idempotent


async def test_waiting_helpers(emu: AgentverseEmulator, client: Client) -> None:
    """``wait_for_submit`` returns the nth matching payload; both waits time out cleanly."""
    sid = await client.create()
    waiter = asyncio.create_task(emu.wait_for_submit("user_json:task_list", session_id=sid))
    await client.start(sid)
    await client.choose(sid, "task_list", 1)
    assert (await waiter)["user_json"] == {"type": "task_list", "selection": [1]}
    assert (await emu.wait_for_submit("user_json", nth=1))["user_json"]["selection"] == [1]
    with pytest.raises(TimeoutError):
        await emu.wait_for_submit("user_json", timeout=0.05, nth=2)
    with pytest.raises(TimeoutError):
        await emu.wait_for_requests(99, timeout=0.05)
    (create,) = await emu.wait_for_requests(1, path_suffix="/sessions")
    assert create.session_id == sid and create.json["email"] == EMAIL and create.method == "POST"


async def test_lifecycle_errors() -> None:
    """URLs need a started emulator, and an emulator starts only once."""
    emu = AgentverseEmulator()
    with pytest.raises(RuntimeError):
        _ = emu.base_url
    async with emu:
        with pytest.raises(RuntimeError):
            await emu.start()
        assert emu.base_url.startswith("http://127.0.0.1:") and emu.token_url.startswith("http://127.0.0.1:")
    with pytest.raises(LookupError):
        _ = emu.latest_session


async def test_a_message_is_stamped_when_it_becomes_available(emu: AgentverseEmulator, client: Client) -> None:
    """The engine makes a message when it has it and stamps it then (UTC, no offset: protocol-notes.md's poll
    example), so the timestamp is the answer's time, not the submit's nor the poll's."""
    emu.delay_s = 0.4
    sid = await client.create()
    submitted = time.time()
    context = f"User full Name: Test User\nUser email: {EMAIL}\n"
    assert (await client.submit(sid, {"type": "start", "objective": "Fly", "context": context})) == (200, {})
    await asyncio.sleep(0.7)
    (tasks,) = await client.poll(sid)
    stamped = datetime.datetime.fromisoformat(tasks["timestamp"]).replace(tzinfo=datetime.UTC).timestamp()
    assert TIMESTAMP.match(tasks["timestamp"]) and 0.35 <= stamped - submitted <= 0.55
