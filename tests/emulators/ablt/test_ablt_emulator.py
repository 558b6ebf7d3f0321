"""Checks the aBLT emulator against the vendor doc, using nothing but a plain aiohttp client.

The bot's own tests trust this emulator, so its wire format (SSE framing, FastAPI error bodies)
and its scripted failure modes are pinned down here byte for byte.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.emulators.ablt import DEFAULT_BOTS, AbltEmulator, Bot, Reply
from tests.emulators.ablt.script import ChatRequest

KEY = "ablt-test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture
def emu(ablt: AbltEmulator) -> AbltEmulator:
    assert ablt.api_key == KEY
    return ablt


@pytest.fixture
async def session(emu: AbltEmulator) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=emu.base_url) as client:
        yield client


def chat(prompt: Any = "hello there", *, stream: Any = True, **extra: Any) -> dict[str, Any]:
    return {"bot_slug": "taxson", "stream": stream, "prompt": prompt, **extra}


def sse(*frames: str) -> bytes:
    return b"".join(f"data: {f}\n\n".encode() for f in frames)


async def post_raw(session: aiohttp.ClientSession, body: Any, path: str = "/v1/chat") -> bytes:
    async with session.post(path, json=body, headers=AUTH) as resp:
        assert resp.status == 200
        return await resp.read()


# -- happy paths ----------------------------------------------------------------------------------


async def test_stream_is_sse_with_empty_first_frame_and_done(emu: AbltEmulator, session: aiohttp.ClientSession) -> None:
    body = {
        "bot_slug": "taxson",
        "stream": True,
        "messages": [
            {"role": "system", "content": "User lives in Texas."},
            {"role": "user", "content": "Pay taxes?"},
        ],
    }
    async with session.post("/v1/chat", json=body, headers=AUTH) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "text/event-stream; charset=utf-8"
        assert len(resp.headers["x-request-id"]) == 32
        raw = await resp.read()
    assert raw == sse(
        '{"content":""}',
        '{"content":"You"}',
        '{"content":" said:"}',
        '{"content":" Pay"}',
        '{"content":" taxes?"}',
        "[DONE]",
    )
    assert [e.text for e in emu.emitted] == ["You", "You said:", "You said: Pay", "You said: Pay taxes?"]
    assert {e.request_index for e in emu.emitted} == {0}


async def test_non_stream_returns_json_content(emu: AbltEmulator, session: aiohttp.ClientSession) -> None:
    async with session.post("/v1/chat", json=chat("héllo", stream=False), headers=AUTH) as resp:
        assert resp.status == 200
        assert resp.content_type == "application/json"
        assert "x-request-id" in resp.headers
        assert await resp.json() == {"content": "You said: héllo"}
    assert emu.emitted[-1].text == "You said: héllo"


async def test_unversioned_alias_and_bot_uid(emu: AbltEmulator, session: aiohttp.ClientSession) -> None:
    body = {"bot_uid": DEFAULT_BOTS[0].uid, "stream": False, "prompt": "x"}
    async with session.post("/chat", json=body, headers=AUTH) as resp:
        assert await resp.json() == {"content": "You said: x"}
    assert emu.requests[0].path == "/chat"


async def test_scripted_tokens_interval_and_message_key(emu: AbltEmulator, session: aiohttp.ClientSession) -> None:
    emu.enqueue(
        Reply(tokens=["Hel", "lo", " ✓"], token_interval_s=0.02),
        Reply(text="plain text", use_message_key=True),
    )
    started = time.monotonic()
    raw = await post_raw(session, chat())
    assert raw == sse('{"content":""}', '{"content":"Hel"}', '{"content":"lo"}', '{"content":" ✓"}', "[DONE]")
    times = [e.t for e in emu.emitted]
    assert times == sorted(times)
    assert times[0] - started >= 0.02 and times[-1] - times[0] >= 0.035
    assert [e.text for e in emu.emitted] == ["Hel", "Hello", "Hello ✓"]

    raw = await post_raw(session, chat())
    assert raw == sse('{"message":""}', '{"message":"plain"}', '{"message":" text"}', "[DONE]")
    assert emu.pending_replies == 0


async def test_script_with_answers_each_call_from_its_request_after_the_enqueued_ones(
    emu: AbltEmulator, session: aiohttp.ClientSession
) -> None:
    seen: list[Any] = []

    def script(request: ChatRequest) -> Reply | None:
        seen.append(request.body["prompt"])
        return None if request.body["prompt"] == "default" else Reply(text=f"scripted for {request.body['prompt']}")

    emu.script_with(script)
    emu.enqueue(Reply(text="enqueued first"))
    assert await post_raw(session, chat("one", stream=False)) == b'{"content":"enqueued first"}'
    assert await post_raw(session, chat("two", stream=False)) == b'{"content":"scripted for two"}'
    assert await post_raw(session, chat("default", stream=False)) == b'{"content":"You said: default"}'
    emu.script_with(None)
    assert await post_raw(session, chat("three", stream=False)) == b'{"content":"You said: three"}'
    assert seen == ["two", "default"]  # the enqueued reply was taken without asking


async def test_bare_json_framing_as_the_doc_prints_it(emu: AbltEmulator, session: aiohttp.ClientSession) -> None:
    emu.enqueue(Reply(tokens=["To", " pay"], bare_json=True))
    assert await post_raw(session, chat()) == b'{"content":""}\n{"content":"To"}\n{"content":" pay"}\n[DONE]\n'


async def test_split_frames_reassemble_to_the_same_bytes(emu: AbltEmulator, session: aiohttp.ClientSession) -> None:
    tokens = ["Ünïcödé", " 日本語", " 🙂🙂", " done"]
    emu.enqueue(Reply(tokens=tokens), Reply(tokens=tokens, split_frames=True))
    whole = await post_raw(session, chat())
    chunks: list[bytes] = []
    async with session.post("/v1/chat", json=chat(), headers=AUTH) as resp:
        async for chunk in resp.content.iter_any():
            chunks.append(chunk)
    assert b"".join(chunks) == whole
    assert len(chunks) > whole.count(b"\n\n")  # really fragmented, not one write per frame
    assert [e.text for e in emu.emitted[-4:]] == [
        "Ünïcödé",
        "Ünïcödé 日本語",
        "Ünïcödé 日本語 🙂🙂",
        "".join(tokens),
    ]


async def test_malformed_frame_then_continue(emu: AbltEmulator, session: aiohttp.ClientSession) -> None:
    emu.enqueue(Reply(tokens=["a", "b"], malformed_frame_after_tokens=1))
    raw = await post_raw(session, chat())
    assert raw == sse('{"content":""}', '{"content":"a"}', "{not json", '{"content":"b"}', "[DONE]")


# -- scripted failures ----------------------------------------------------------------------------


async def test_cut_off_closes_without_done(emu: AbltEmulator, session: aiohttp.ClientSession) -> None:
    emu.enqueue(Reply(tokens=["a", "b", "c"], cut_off_after_tokens=2, malformed_frame_after_tokens=2))
    received = b""
    async with session.post("/v1/chat", json=chat(), headers=AUTH) as resp:
        assert resp.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):
            async for chunk in resp.content.iter_any():
                received += chunk
    assert received == sse('{"content":""}', '{"content":"a"}', '{"content":"b"}', "{not json")
    assert emu.requests[0].status == 200


async def test_non_stream_cut_off_truncates_body(emu: AbltEmulator, session: aiohttp.ClientSession) -> None:
    emu.enqueue(Reply(text="some long answer", cut_off_after_tokens=0))
    async with session.post("/v1/chat", json=chat(stream=False), headers=AUTH) as resp:
        assert resp.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):
            await resp.read()


async def test_hang_after_tokens_until_client_gives_up(emu: AbltEmulator, session: aiohttp.ClientSession) -> None:
    emu.enqueue(Reply(tokens=["a", "b", "c"], hang_after_tokens=1))
    received = b""
    timeout = aiohttp.ClientTimeout(sock_read=0.2)
    async with session.post("/v1/chat", json=chat(), headers=AUTH, timeout=timeout) as resp:
        with pytest.raises(asyncio.TimeoutError):
            async for chunk in resp.content.iter_any():
                received += chunk
    assert received == sse('{"content":""}', '{"content":"a"}')
    # The emulator still serves after the abandoned hang.
    assert await post_raw(session, chat("again")) == sse(
        '{"content":""}', '{"content":"You"}', '{"content":" said:"}', '{"content":" again"}', "[DONE]"
    )


async def test_hang_before_headers_client_timeout(emu: AbltEmulator, session: aiohttp.ClientSession) -> None:
    emu.enqueue(Reply(hang_before_headers=True))
    with pytest.raises(asyncio.TimeoutError):
        await session.post("/v1/chat", json=chat(), headers=AUTH, timeout=aiohttp.ClientTimeout(total=0.2))
    assert len(emu.requests) == 1 and emu.requests[0].status is None


async def test_close_ends_hangs_promptly() -> None:
    emu = AbltEmulator()
    await emu.start()
    emu.enqueue(Reply(hang_before_headers=True), Reply(tokens=["a", "b"], hang_after_tokens=1))
    async with aiohttp.ClientSession(base_url=emu.base_url) as client:

        async def call() -> bytes:
            async with client.post("/v1/chat", json=chat(), headers=AUTH) as resp:
                return await resp.read()

        never_answered = asyncio.create_task(call())
        await emu.wait_for_requests(1)
        async with client.post("/v1/chat", json=chat(), headers=AUTH) as stalled:
            head = sse('{"content":""}', '{"content":"a"}')
            assert await stalled.content.readexactly(len(head)) == head
            started = time.monotonic()
            await emu.close()
            assert time.monotonic() - started < 1.0
            with pytest.raises(aiohttp.ClientPayloadError):
                await stalled.read()
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await never_answered
    await emu.close()  # idempotent


async def test_scripted_error_statuses(emu: AbltEmulator, session: aiohttp.ClientSession) -> None:
    emu.enqueue(
        Reply(status=500, body={"detail": "boom"}),
        Reply(status=503),
        Reply(status=502, body=b"<html>Bad Gateway</html>"),
    )
    for expected_status, expected in [
        (500, {"detail": "boom"}),
        (503, {"detail": "Service Unavailable"}),
    ]:
        async with session.post("/v1/chat", json=chat(), headers=AUTH) as resp:
            assert resp.status == expected_status
            assert await resp.json() == expected
    async with session.post("/v1/chat", json=chat(), headers=AUTH) as resp:
        assert (resp.status, resp.content_type) == (502, "text/html")
        assert await resp.read() == b"<html>Bad Gateway</html>"


def test_reply_rejects_text_that_contradicts_tokens() -> None:
    with pytest.raises(ValueError, match="must equal"):
        Reply(text="ab", tokens=["a", "c"])


# -- errors as FastAPI renders them ---------------------------------------------------------------


def missing(*loc: str | int) -> dict[str, Any]:
    return {"loc": ["body", *loc], "msg": "field required", "type": "value_error.missing"}


def root(msg: str) -> dict[str, Any]:
    return {"loc": ["body", "__root__"], "msg": msg, "type": "value_error"}


ROLE_ERROR = {
    "loc": ["body", "messages", 0, "role"],
    "msg": "value is not a valid enumeration member; permitted: 'system', 'user', 'assistant'",
    "type": "type_error.enum",
    "ctx": {"enum_values": ["system", "user", "assistant"]},
}


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        pytest.param({"bot_slug": "taxson", "prompt": "x"}, [missing("stream")], id="missing-stream"),
        pytest.param(
            chat(stream=None),
            [
                {
                    "loc": ["body", "stream"],
                    "msg": "none is not an allowed value",
                    "type": "type_error.none.not_allowed",
                }
            ],
            id="null-stream",
        ),
        pytest.param(
            chat(stream="maybe"),
            [
                {
                    "loc": ["body", "stream"],
                    "msg": "value could not be parsed to a boolean",
                    "type": "type_error.bool",
                }
            ],
            id="bad-bool",
        ),
        pytest.param(
            {"bot_slug": "taxson", "stream": True},
            [root('Either "prompt" or "messages" is required')],
            id="no-prompt",
        ),
        pytest.param(
            chat(messages=[{"role": "user", "content": "y"}]),
            [root('Only one of "prompt" or "messages" is allowed')],
            id="prompt-and-messages",
        ),
        pytest.param(
            {"stream": True, "prompt": "x"}, [root('Either "bot_uid" or "bot_slug" is required')], id="no-bot"
        ),
        pytest.param(
            chat(bot_uid=DEFAULT_BOTS[0].uid),
            [root('Only one of "bot_uid" or "bot_slug" is allowed')],
            id="both-bots",
        ),
        pytest.param(
            {"bot_slug": "taxson"},
            [missing("stream"), root('Either "prompt" or "messages" is required')],
            id="several-errors",
        ),
        pytest.param(
            {
                "bot_slug": "taxson",
                "stream": True,
                "messages": [{"role": "robot", "content": "x"}, {"role": "user"}],
            },
            [ROLE_ERROR, missing("messages", 1, "content")],
            id="bad-messages",
        ),
        pytest.param(
            {"bot_slug": "taxson", "stream": True, "messages": "hi"},
            [{"loc": ["body", "messages"], "msg": "value is not a valid list", "type": "type_error.list"}],
            id="messages-not-list",
        ),
        pytest.param(
            chat(prompt={"a": 1}),
            [{"loc": ["body", "prompt"], "msg": "str type expected", "type": "type_error.str"}],
            id="prompt-not-str",
        ),
        pytest.param(
            [1, 2],
            [{"loc": ["body"], "msg": "value is not a valid dict", "type": "type_error.dict"}],
            id="not-object",
        ),
    ],
)
async def test_validation_errors_422(
    emu: AbltEmulator, session: aiohttp.ClientSession, body: Any, detail: list[dict[str, Any]]
) -> None:
    emu.enqueue(Reply(text="kept for the next valid call"))
    async with session.post("/v1/chat", json=body, headers=AUTH) as resp:
        assert resp.status == 422
        assert "x-request-id" in resp.headers
        assert await resp.json() == {"detail": detail}
    assert emu.pending_replies == 1  # invalid calls do not consume scripted replies
    assert emu.requests[0].body == body and emu.requests[0].status == 422


@pytest.mark.parametrize(
    ("data", "content_type", "detail"),
    [
        pytest.param(b"", "application/json", [missing()], id="empty"),
        pytest.param(
            b'{"stream": tru',
            "application/json",
            [
                {
                    "loc": ["body", 11],
                    "msg": "Expecting value: line 1 column 12 (char 11)",
                    "type": "value_error.jsondecode",
                    "ctx": {
                        "msg": "Expecting value",
                        "doc": '{"stream": tru',
                        "pos": 11,
                        "lineno": 1,
                        "colno": 12,
                    },
                }
            ],
            id="bad-json",
        ),
        pytest.param(
            b"prompt=hi",
            "application/x-www-form-urlencoded",
            [{"loc": ["body"], "msg": "value is not a valid dict", "type": "type_error.dict"}],
            id="form-body",
        ),
    ],
)
async def test_unparsable_bodies(
    session: aiohttp.ClientSession, data: bytes, content_type: str, detail: list[dict[str, Any]]
) -> None:
    headers = {**AUTH, "Content-Type": content_type}
    async with session.post("/v1/chat", data=data, headers=headers) as resp:
        assert resp.status == 422
        assert await resp.json() == {"detail": detail}


async def test_json_decode_error_precedes_auth_like_fastapi(session: aiohttp.ClientSession) -> None:
    async with session.post("/v1/chat", data=b"{", headers={"Content-Type": "application/json"}) as resp:
        assert resp.status == 422
    async with session.post("/v1/chat", data=b"\xff", headers={"Content-Type": "application/json"}) as resp:
        assert (resp.status, await resp.json()) == (400, {"detail": "There was an error parsing the body"})


@pytest.mark.parametrize(
    ("headers", "detail"),
    [
        ({}, "Not authenticated"),
        ({"Authorization": "Bearer wrong-key"}, "Invalid authentication credentials"),
        ({"Authorization": f"Token {KEY}"}, "Invalid authentication credentials"),
    ],
)
async def test_auth_errors_401(
    emu: AbltEmulator, session: aiohttp.ClientSession, headers: dict[str, str], detail: str
) -> None:
    for path in ("/v1/chat", "/v1/bots"):
        method = session.post if path == "/v1/chat" else session.get
        async with method(path, json=chat(), headers=headers) as resp:
            assert resp.status == 401
            assert resp.headers["WWW-Authenticate"] == "Bearer"
            assert "x-request-id" in resp.headers
            assert await resp.json() == {"detail": detail}
    assert [r.auth_ok for r in emu.requests] == [False]
    assert "Authorization" not in emu.requests[0].headers


async def test_unknown_bot_and_unknown_routes(session: aiohttp.ClientSession) -> None:
    async with session.post("/v1/chat", json=chat(bot_slug="nobody"), headers=AUTH) as resp:
        assert (resp.status, await resp.json()) == (404, {"detail": "Bot not found"})
    async with session.get("/v2/nothing") as resp:
        assert (resp.status, await resp.json()) == (404, {"detail": "Not Found"})
        assert "x-request-id" in resp.headers
    async with session.get("/v1/chat") as resp:
        assert (resp.status, await resp.json()) == (405, {"detail": "Method Not Allowed"})


# -- other endpoints and recording ----------------------------------------------------------------


async def test_bots_list_and_health_check() -> None:
    bot = Bot(uid="u-1", slug="solo", model="m", name="Solo", description="d", welcome_message="w")
    async with (
        AbltEmulator(api_key="k2", bots=[bot]) as emu,
        aiohttp.ClientSession(base_url=emu.base_url) as s,
    ):
        async with s.get("/v1/bots", headers={"Authorization": "Bearer k2"}) as resp:
            assert resp.status == 200
            assert await resp.json() == [
                {
                    "uid": "u-1",
                    "slug": "solo",
                    "model": "m",
                    "name": "Solo",
                    "description": "d",
                    "welcome_message": "w",
                    "avatar_url": None,
                }
            ]
        async with s.get("/health-check") as resp:
            assert (resp.status, await resp.json()) == (200, {"status": "ok"})
            assert "x-request-id" in resp.headers


async def test_default_bots_include_the_doc_examples(session: aiohttp.ClientSession) -> None:
    async with session.get("/v1/bots", headers=AUTH) as resp:
        bots = await resp.json()
    assert {b["slug"] for b in bots} >= {"taxson", "writer", "coder"}
    assert set(bots[0]) == {"uid", "slug", "model", "name", "description", "welcome_message", "avatar_url"}


async def test_requests_are_recorded(emu: AbltEmulator, session: aiohttp.ClientSession) -> None:
    before = time.monotonic()
    body = chat("rec", stream=False, user_id="u42", language="en")
    async with session.post("/v1/chat", json=body, headers={**AUTH, "X-Trace": "t1"}) as resp:
        request_id = resp.headers["x-request-id"]
        await resp.read()
    (req,) = await emu.wait_for_requests(1)
    assert req.body == body and json.loads(req.raw_body) == body
    assert req.auth_ok and req.status == 200 and req.request_id == request_id
    assert req.headers["x-trace"] == "t1" and "Authorization" not in req.headers
    assert before <= req.received_at <= time.monotonic()
    with pytest.raises(TimeoutError):
        await emu.wait_for_requests(2, timeout=0.05)


async def test_wait_for_requests_wakes_on_arrival(emu: AbltEmulator, session: aiohttp.ClientSession) -> None:
    waiter = asyncio.create_task(emu.wait_for_requests(2))
    await post_raw(session, chat(stream=False))
    assert not waiter.done()
    await post_raw(session, chat(stream=False))
    assert len(await asyncio.wait_for(waiter, 1)) == 2
