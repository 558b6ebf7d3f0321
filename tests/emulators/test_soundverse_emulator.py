"""Checks the Soundverse emulator against the vendor doc, using nothing but a plain aiohttp client.

The bot's Soundverse tests trust this emulator, so its paths, FastAPI-style error bodies,
statelessness and scripted failures are pinned down here exactly.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.emulators.soundverse import (
    ACTIONS,
    DEFAULT_API_KEY,
    MALFORMED_BODY,
    SoundverseEmulator,
    SoundverseReply,
)

AUTH = {"Authorization": f"Bearer {DEFAULT_API_KEY}"}
PATH = "/assistant/chat"
PROMPT = "I want to make a chill lo-fi beat. What should the mood and tempo be?"


@pytest.fixture
async def emu() -> AsyncIterator[SoundverseEmulator]:
    async with SoundverseEmulator() as emulator:
        yield emulator


@pytest.fixture
async def session(emu: SoundverseEmulator) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=emu.base_url) as client:
        yield client


def chat(prompt: Any = PROMPT, action: Any = "other", **extra: Any) -> dict[str, Any]:
    return {"prompt": prompt, "action": action, **extra}


async def post(
    session: aiohttp.ClientSession, body: Any, headers: dict[str, str] = AUTH, path: str = PATH
) -> tuple[int, Any]:
    async with session.post(path, json=body, headers=headers) as resp:
        return resp.status, await resp.json()


# -- answers --------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/assistant/chat", "/api/assistant/chat"])
async def test_default_reply_on_both_paths(emu: SoundverseEmulator, session: aiohttp.ClientSession, path: str) -> None:
    async with session.post(path, json=chat(action="lyric_writing"), headers=AUTH) as resp:
        assert (resp.status, resp.content_type) == (200, "application/json")
        assert await resp.json() == {"aiReply": f"[lyric_writing] Soundverse reply to: {PROMPT}"}
    assert emu.requests[0].path == path


async def test_every_documented_action_is_accepted(session: aiohttp.ClientSession) -> None:
    for action in ACTIONS:
        assert await post(session, chat("hi", action)) == (200, {"aiReply": f"[{action}] Soundverse reply to: hi"})
    assert len(ACTIONS) == 8


async def test_stateless_and_extra_fields_ignored(emu: SoundverseEmulator, session: aiohttp.ClientSession) -> None:
    body = chat("again", userId="u-1", sessionId="s-1")
    for _ in range(2):
        assert await post(session, body) == (200, {"aiReply": "[other] Soundverse reply to: again"})
    assert [r.body for r in emu.requests] == [body, body]


async def test_numbers_coerce_to_prompt_text_like_pydantic_v1(session: aiohttp.ClientSession) -> None:
    assert await post(session, chat(42)) == (200, {"aiReply": "[other] Soundverse reply to: 42"})


async def test_scripted_text_and_delay(emu: SoundverseEmulator, session: aiohttp.ClientSession) -> None:
    emu.enqueue(SoundverseReply(text="Try 80 BPM ✓", delay_s=0.15))
    started = time.monotonic()
    assert await post(session, chat()) == (200, {"aiReply": "Try 80 BPM ✓"})
    assert time.monotonic() - started >= 0.15 and emu.pending_replies == 0


# -- scripted failures ----------------------------------------------------------------------------


async def test_scripted_statuses(emu: SoundverseEmulator, session: aiohttp.ClientSession) -> None:
    emu.enqueue(
        SoundverseReply(status=500),
        SoundverseReply(status=429),
        SoundverseReply(status=500, body={"error": "boom"}),
    )
    assert await post(session, chat()) == (500, {"detail": "Internal Server Error"})
    assert await post(session, chat()) == (429, {"detail": "Too Many Requests"})
    assert await post(session, chat()) == (500, {"error": "boom"})
    assert [r.status for r in emu.requests] == [500, 429, 500]


async def test_bytes_body_is_sent_raw_as_html(emu: SoundverseEmulator, session: aiohttp.ClientSession) -> None:
    emu.enqueue(SoundverseReply(status=502, body=b"<html>Bad Gateway</html>"))
    async with session.post(PATH, json=chat(), headers=AUTH) as resp:
        assert (resp.status, resp.content_type) == (502, "text/html")
        assert await resp.read() == b"<html>Bad Gateway</html>"


async def test_malformed_missing_and_empty_replies(emu: SoundverseEmulator, session: aiohttp.ClientSession) -> None:
    emu.enqueue(
        SoundverseReply(malformed=True),
        SoundverseReply(missing_reply=True),
        SoundverseReply(text="gone", missing_reply=True),
        SoundverseReply(empty_reply=True),
    )
    async with session.post(PATH, json=chat(), headers=AUTH) as resp:
        assert (resp.status, resp.content_type) == (200, "application/json")
        assert await resp.read() == MALFORMED_BODY
        with pytest.raises(json.JSONDecodeError):
            await resp.json()
    assert await post(session, chat()) == (200, {"reply": f"[other] Soundverse reply to: {PROMPT}"})
    assert await post(session, chat()) == (200, {"reply": "gone"})
    assert await post(session, chat()) == (200, {"aiReply": ""})


def test_reply_rejects_contradictory_settings() -> None:
    with pytest.raises(ValueError, match="choose one"):
        SoundverseReply(malformed=True, empty_reply=True)
    with pytest.raises(ValueError, match="exclude status"):
        SoundverseReply(missing_reply=True, status=500)


async def test_hang_ends_on_client_timeout(emu: SoundverseEmulator, session: aiohttp.ClientSession) -> None:
    emu.enqueue(SoundverseReply(hang=True))
    with pytest.raises(asyncio.TimeoutError):
        await session.post(PATH, json=chat(), headers=AUTH, timeout=aiohttp.ClientTimeout(total=0.2))
    assert emu.requests[0].status is None
    assert (await post(session, chat()))[0] == 200  # still serving after the abandoned hang


# -- errors as FastAPI renders them ---------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong-key"}, {"Authorization": f"Token {DEFAULT_API_KEY}"}],
)
async def test_auth_errors_401(
    emu: SoundverseEmulator, session: aiohttp.ClientSession, headers: dict[str, str]
) -> None:
    emu.enqueue(SoundverseReply(text="kept"))
    for body in (chat(), {"action": "nope"}):  # auth is checked before the fields
        async with session.post(PATH, json=body, headers=headers) as resp:
            assert resp.status == 401
            assert resp.headers["WWW-Authenticate"] == "Bearer"
            assert await resp.json() == {"detail": "Invalid API key"}
    assert [r.auth_ok for r in emu.requests] == [False, False]
    assert "Authorization" not in emu.requests[0].headers
    assert emu.pending_replies == 1


def missing(*loc: str) -> dict[str, Any]:
    return {"loc": ["body", *loc], "msg": "field required", "type": "value_error.missing"}


ACTION_ERROR = {
    "loc": ["body", "action"],
    "msg": (
        "value is not a valid enumeration member; permitted: 'generate_music', 'extend_music', "
        "'auto_complete_music', 'loop_audio', 'separate_stems', 'edit_music', 'lyric_writing', 'other'"
    ),
    "type": "type_error.enum",
    "ctx": {"enum_values": list(ACTIONS)},
}


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        pytest.param({"prompt": "x"}, [missing("action")], id="no-action"),
        pytest.param({"action": "other"}, [missing("prompt")], id="no-prompt"),
        pytest.param({}, [missing("prompt"), missing("action")], id="empty-object"),
        pytest.param(chat(action="compose"), [ACTION_ERROR], id="unknown-action"),
        pytest.param(chat(action="OTHER"), [ACTION_ERROR], id="action-case"),
        pytest.param(chat(action=3), [ACTION_ERROR], id="action-int"),
        pytest.param(
            chat(action=None),
            [{"loc": ["body", "action"], "msg": "none is not an allowed value", "type": "type_error.none.not_allowed"}],
            id="null-action",
        ),
        pytest.param(
            chat(prompt={"a": 1}),
            [{"loc": ["body", "prompt"], "msg": "str type expected", "type": "type_error.str"}],
            id="prompt-dict",
        ),
        pytest.param(
            ["x"], [{"loc": ["body"], "msg": "value is not a valid dict", "type": "type_error.dict"}], id="array"
        ),
        pytest.param(None, [missing()], id="null-body"),
    ],
)
async def test_validation_errors_422(
    emu: SoundverseEmulator, session: aiohttp.ClientSession, body: Any, detail: list[dict[str, Any]]
) -> None:
    emu.enqueue(SoundverseReply(text="kept for the next valid call"))
    assert await post(session, body) == (422, {"detail": detail})
    assert emu.pending_replies == 1
    assert emu.requests[0].body == body and emu.requests[0].status == 422


@pytest.mark.parametrize(
    ("data", "content_type", "status", "expected"),
    [
        pytest.param(b"", "application/json", 422, {"detail": [missing()]}, id="empty"),
        pytest.param(
            b'{"prompt": x',
            "application/json",
            422,
            {
                "detail": [
                    {
                        "loc": ["body", 11],
                        "msg": "Expecting value: line 1 column 12 (char 11)",
                        "type": "value_error.jsondecode",
                        "ctx": {"msg": "Expecting value", "doc": '{"prompt": x', "pos": 11, "lineno": 1, "colno": 12},
                    }
                ]
            },
            id="bad-json",
        ),
        pytest.param(
            b"prompt=hi",
            "application/x-www-form-urlencoded",
            422,
            {"detail": [{"loc": ["body"], "msg": "value is not a valid dict", "type": "type_error.dict"}]},
            id="form-body",
        ),
        pytest.param(
            b"\xff", "application/json", 400, {"detail": "There was an error parsing the body"}, id="bad-utf8"
        ),
    ],
)
async def test_unparsable_bodies(
    session: aiohttp.ClientSession, data: bytes, content_type: str, status: int, expected: Any
) -> None:
    async with session.post(PATH, data=data, headers={**AUTH, "Content-Type": content_type}) as resp:
        assert (resp.status, await resp.json()) == (status, expected)


async def test_json_decode_error_precedes_auth_like_fastapi(session: aiohttp.ClientSession) -> None:
    async with session.post(PATH, data=b"{", headers={"Content-Type": "application/json"}) as resp:
        assert resp.status == 422


async def test_unknown_routes(session: aiohttp.ClientSession) -> None:
    assert await post(session, chat(), path="/generate/extend") == (404, {"detail": "Not Found"})
    async with session.get(PATH) as resp:
        assert (resp.status, await resp.json()) == (405, {"detail": "Method Not Allowed"})
        assert resp.headers["Allow"] == "POST"


# -- recording ------------------------------------------------------------------------------------


async def test_requests_are_recorded(emu: SoundverseEmulator, session: aiohttp.ClientSession) -> None:
    before = time.monotonic()
    body = chat()
    await post(session, body, {**AUTH, "X-Trace": "t1"}, "/api/assistant/chat")
    (req,) = await emu.wait_for_requests(1)
    assert req.path == "/api/assistant/chat" and req.body == body and json.loads(req.raw_body) == body
    assert req.auth_ok and req.status == 200
    assert req.headers["x-trace"] == "t1" and "Authorization" not in req.headers
    assert before <= req.received_at <= time.monotonic()
    with pytest.raises(TimeoutError):
        await emu.wait_for_requests(2, timeout=0.05)


async def test_wait_for_requests_wakes_on_arrival(emu: SoundverseEmulator, session: aiohttp.ClientSession) -> None:
    waiter = asyncio.create_task(emu.wait_for_requests(2))
    await post(session, chat())
    assert not waiter.done()
    await post(session, chat())
    assert len(await asyncio.wait_for(waiter, 1)) == 2


async def test_custom_key_and_base_url_needs_start() -> None:
    emu = SoundverseEmulator(api_key="k2")
    with pytest.raises(RuntimeError, match="not started"):
        _ = emu.base_url
    async with emu, aiohttp.ClientSession(base_url=emu.base_url) as client:
        assert (await post(client, chat(), {"Authorization": "Bearer k2"}))[0] == 200
        assert (await post(client, chat()))[0] == 401
