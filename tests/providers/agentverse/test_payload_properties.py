"""Property tests of Agentverse payloads: any JSON (or any string) the engine sends as a poll answer or as a
message is read without raising, a malformed one becomes the "could not read" notice, and interpreting any
message (through the real provider and client, against the loopback engine) yields events or a ProviderError."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.config.settings import load_settings
from bot.providers.agentverse.provider import AgentverseProvider
from bot.providers.agentverse.wire import UNREADABLE, parse_message, parse_messages
from bot.providers.base import Event, Notice
from bot.providers.errors import ProviderError
from bot.providers.registry import build_providers
from tests.emulators.agentverse import AgentverseEmulator

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ASYNC = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
TYPES = ["agent_json", "agent_message", "agent_info", "agent_error", "stop", UNREADABLE, "agent_hologram", ""]

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=30))
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=15,
)
options = (
    st.lists(
        st.fixed_dictionaries({"key": json_values | st.uuids().map(str)}, optional={"value": json_values}),
        max_size=4,
    )
    | json_values
)
agent_json = st.fixed_dictionaries(
    {},
    optional={
        "text": json_values,
        "options": options,
        "type": st.sampled_from(["task_list", "options", "date"]) | json_values,
        "context_json": st.fixed_dictionaries({}, optional={"args": json_values}) | json_values,
    },
)
message_like = st.fixed_dictionaries(
    {"message_id": st.text(max_size=12) | json_values, "type": st.sampled_from(TYPES) | json_values},
    optional={
        "agent_json": agent_json | json_values,
        "agent_message": json_values,
        "agent_info": json_values | st.just("I have completed your task!"),
        "agent_error": json_values,
    },
)
items = st.one_of(message_like, message_like.map(json.dumps), json_values, json_values.map(json.dumps), st.text())


def is_message(item: object) -> bool:
    try:
        body = json.loads(item) if isinstance(item, str) else item
    except (ValueError, RecursionError):
        return False
    return isinstance(body, dict) and isinstance(body.get("message_id"), str) and bool(body.get("type"))


@FAST
@given(items)
@example("[" * 100_000)
@example(json.dumps({"message_id": "m", "type": "agent_info", "agent_info": "hi"}))
def test_any_element_is_a_message_or_the_unreadable_one(item: Any) -> None:
    message = parse_message(item)
    assert isinstance(message.id, str) and isinstance(message.type, str)
    if is_message(item):
        body = json.loads(item) if isinstance(item, str) else item
        assert (message.id, message.body) == (body["message_id"], body)
    else:
        assert message.type == UNREADABLE and message.id.startswith(f"{UNREADABLE}-")
        assert parse_message(item).id == message.id  # the same element delivered again is known again


@FAST
@given(st.one_of(json_values, st.fixed_dictionaries({"agent_response": st.lists(items, max_size=5) | json_values})))
def test_any_poll_answer_gives_a_list_of_messages(data: Any) -> None:
    messages = parse_messages(data)
    listed = data.get("agent_response") if isinstance(data, dict) else None
    if isinstance(listed, list):
        assert [m.id for m in messages] == [parse_message(item).id for item in listed]
    elif listed is None:
        assert messages == []
    else:
        assert [m.type for m in messages] == [UNREADABLE]


def test_a_poll_answer_nested_too_deep_is_one_unreadable_message() -> None:
    deep: Any = []
    for _ in range(5000):
        deep = [deep]
    assert [m.type for m in parse_messages({"agent_response": deep})] == [UNREADABLE]


@pytest.fixture
async def engine(agentverse: AgentverseEmulator) -> AsyncIterator[tuple[AgentverseProvider, dict[str, Any]]]:
    """The real provider and client against the loopback engine, with a session open there."""
    env = {
        "DISCORD_TOKEN": "t",
        "AGENTVERSE_API_KEY": "av-access-1",
        "AGENTVERSE_REFRESH_TOKEN": "av-refresh-1",
        "AGENTVERSE_EMAIL": "member@example.com",
        "AGENTVERSE_BASE_URL": agentverse.base_url,
        "AGENTVERSE_AUTH_URL": agentverse.auth_url,
    }
    async with aiohttp.ClientSession() as session:
        provider = build_providers(load_settings(env, None), session)["agentverse"]
        assert isinstance(provider, AgentverseProvider)
        session_id = await provider._client.create_session()
        yield provider, {"session_id": session_id, "last_message_id": None, "seen": [], "finished": False}


@ASYNC
@given(items)
@example({"message_id": "m1", "type": "agent_json", "agent_json": {"text": "Pick", "options": 5}})
@example({"message_id": "m2", "type": "agent_json", "agent_json": {"options": [{"key": "k", "value": {"a": [1]}}]}})
async def test_interpreting_any_message_yields_events_or_a_provider_error(
    engine: tuple[AgentverseProvider, dict[str, Any]], item: Any
) -> None:
    provider, state = engine
    message = parse_message(item)
    try:
        events, waits_for_member = await provider._interpret(message, dict(state))
    except ProviderError:
        return
    assert isinstance(waits_for_member, bool) and all(isinstance(event, Event) for event in events)
    if message.type == UNREADABLE:
        assert len(events) == 1 and isinstance(events[0], Notice) and "could not read" in events[0].text
