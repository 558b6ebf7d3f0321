"""Checks the Magic AI emulator against the vendor doc, using nothing but a plain aiohttp client.

The bot's Magic AI tests trust this emulator, so its bodies, statuses, auth modes, session
bookkeeping and scripted failures are pinned down here exactly.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.emulators.magicai import (
    DEFAULT_API_KEY,
    DEFAULT_PROJECT_ID,
    DEFAULT_SOURCES,
    MALFORMED_BODY,
    MagicAIEmulator,
    MagicReply,
)

AUTH = {"Authorization": f"Bearer {DEFAULT_API_KEY}"}
SESSION = "b1e6c0de-thread-42"


@pytest.fixture
async def emu() -> AsyncIterator[MagicAIEmulator]:
    async with MagicAIEmulator() as emulator:
        yield emulator


@pytest.fixture
async def session(emu: MagicAIEmulator) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=emu.base_url) as client:
        yield client


def chat(text: Any = "What is Magic AI?", **extra: Any) -> dict[str, Any]:
    return {"projectId": DEFAULT_PROJECT_ID, "text": text, "sessionId": SESSION, **extra}


def err(details: str, code: str = "INVALID_PARAMETER", message: str = "Invalid Request") -> dict[str, str]:
    return {"message": message, "details": details, "code": code}


async def post(session: aiohttp.ClientSession, body: Any, headers: dict[str, str] = AUTH) -> tuple[int, Any]:
    async with session.post("/chat", json=body, headers=headers) as resp:
        return resp.status, await resp.json()


# -- answers and sessions --------------------------------------------------------------------------


async def test_default_answer_has_sources_with_a_repeat_and_no_session_id(
    emu: MagicAIEmulator, session: aiohttp.ClientSession
) -> None:
    async with session.post("/chat", json=chat(), headers=AUTH) as resp:
        assert (resp.status, resp.content_type) == (200, "application/json")
        data = await resp.json()
    assert data == {
        "text": f"Magic AI answer to: What is Magic AI? (turn 1 of session {SESSION})",
        "sourceDocuments": list(DEFAULT_SOURCES),
    }
    urls = [d["metadata"]["url"] for d in data["sourceDocuments"]]
    assert len(urls) == 3 and len(set(urls)) == 2  # one page cited twice, for deduplication
    assert all(set(d) == {"pageContent", "metadata"} for d in data["sourceDocuments"])


async def test_same_session_id_accumulates_turns(emu: MagicAIEmulator, session: aiohttp.ClientSession) -> None:
    for n, text in enumerate(["first", "second"], start=1):
        status, data = await post(session, chat(text))
        assert (status, data["text"]) == (200, f"Magic AI answer to: {text} (turn {n} of session {SESSION})")
    await post(session, chat("elsewhere", sessionId="other"))
    assert emu.sessions == {SESSION: ["first", "second"], "other": ["elsewhere"]}
    assert [r.session_id for r in emu.requests] == [SESSION, SESSION, "other"]


async def test_absent_session_id_gets_a_fresh_server_id_never_returned(
    emu: MagicAIEmulator, session: aiohttp.ClientSession
) -> None:
    raws: list[bytes] = []
    for _ in range(2):
        async with session.post("/chat", json={"projectId": DEFAULT_PROJECT_ID, "text": "hi"}, headers=AUTH) as resp:
            raws.append(await resp.read())
    minted = [r.session_id for r in emu.requests]
    assert all(m is not None and uuid.UUID(m) for m in minted) and minted[0] != minted[1]
    assert emu.sessions == {minted[0]: ["hi"], minted[1]: ["hi"]}
    for raw, sid in zip(raws, minted, strict=True):
        data = json.loads(raw)
        assert data["text"] == "Magic AI answer to: hi (turn 1 of a new session)"
        assert "sessionId" not in data and str(sid).encode() not in raw
    # null counts as absent
    status, _ = await post(session, chat(sessionId=None))
    assert status == 200 and emu.requests[-1].session_id not in (None, SESSION)


async def test_scripted_text_and_sources(emu: MagicAIEmulator, session: aiohttp.ClientSession) -> None:
    raw_doc = {"pageContent": "p", "metadata": {"title": "Raw", "url": "https://raw.example.invalid/"}}
    emu.enqueue(
        MagicReply(text="Héllo ✓", sources=[("Docs", "https://docs.example.invalid/a"), raw_doc]),
        MagicReply(text="none", sources=[]),
    )
    assert await post(session, chat()) == (
        200,
        {
            "text": "Héllo ✓",
            "sourceDocuments": [
                {
                    "pageContent": "An excerpt from Docs.",
                    "metadata": {"title": "Docs", "url": "https://docs.example.invalid/a"},
                },
                raw_doc,
            ],
        },
    )
    assert await post(session, chat()) == (200, {"text": "none", "sourceDocuments": []})
    assert emu.pending_replies == 0 and emu.sessions[SESSION] == ["What is Magic AI?"] * 2


async def test_delay_is_real(session: aiohttp.ClientSession, emu: MagicAIEmulator) -> None:
    emu.enqueue(MagicReply(text="late", delay_s=0.15))
    started = time.monotonic()
    assert (await post(session, chat()))[1]["text"] == "late"
    assert time.monotonic() - started >= 0.15


# -- scripted failures ----------------------------------------------------------------------------


async def test_scripted_statuses_have_realistic_bodies(emu: MagicAIEmulator, session: aiohttp.ClientSession) -> None:
    emu.enqueue(
        MagicReply(status=426),
        MagicReply(status=500),
        MagicReply(status=503),
        MagicReply(status=500, body={"message": "x", "details": "y", "code": "Z"}),
        MagicReply(status=401),
    )
    upgrade = "You need to upgrade your account to access this resource"
    assert await post(session, chat()) == (426, err(upgrade, "PLAN_UPGRADE_REQUIRED", "Upgrade Required"))
    assert await post(session, chat()) == (
        500,
        err("An unexpected error occurred", "INTERNAL_ERROR", "Internal Server Error"),
    )
    assert await post(session, chat()) == (
        503,
        err("Service Unavailable", "SERVICE_UNAVAILABLE", "Service Unavailable"),
    )
    assert await post(session, chat()) == (500, {"message": "x", "details": "y", "code": "Z"})
    async with session.post("/chat", json=chat(), headers=AUTH) as resp:
        assert resp.status == 401 and resp.headers["WWW_Authenticate"] == "Bearer"
    assert SESSION not in emu.sessions  # failed turns are not remembered
    assert [r.status for r in emu.requests] == [426, 500, 503, 500, 401]


async def test_bytes_body_is_sent_raw_as_html(emu: MagicAIEmulator, session: aiohttp.ClientSession) -> None:
    emu.enqueue(MagicReply(status=502, body=b"<html>Bad Gateway</html>"))
    async with session.post("/chat", json=chat(), headers=AUTH) as resp:
        assert (resp.status, resp.content_type) == (502, "text/html")
        assert await resp.read() == b"<html>Bad Gateway</html>"


async def test_malformed_and_missing_text(emu: MagicAIEmulator, session: aiohttp.ClientSession) -> None:
    emu.enqueue(MagicReply(malformed=True), MagicReply(missing_text=True, sources=[]))
    async with session.post("/chat", json=chat(), headers=AUTH) as resp:
        assert (resp.status, resp.content_type) == (200, "application/json")
        assert await resp.read() == MALFORMED_BODY
        with pytest.raises(json.JSONDecodeError):
            await resp.json()
    assert await post(session, chat()) == (200, {"sourceDocuments": []})


def test_reply_rejects_contradictory_settings() -> None:
    with pytest.raises(ValueError, match="exclude status"):
        MagicReply(malformed=True, status=500)
    with pytest.raises(ValueError, match="choose one"):
        MagicReply(malformed=True, missing_text=True)


async def test_hang_ends_on_client_timeout(emu: MagicAIEmulator, session: aiohttp.ClientSession) -> None:
    emu.enqueue(MagicReply(hang=True))
    with pytest.raises(asyncio.TimeoutError):
        await session.post("/chat", json=chat(), headers=AUTH, timeout=aiohttp.ClientTimeout(total=0.2))
    assert emu.requests[0].status is None and SESSION not in emu.sessions
    assert (await post(session, chat()))[0] == 200  # still serving after the abandoned hang


# -- auth -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "details"),
    [
        ({}, "Authentication information is missing"),
        ({"Authorization": "Bearer wrong-key"}, "Authentication information is invalid"),
        ({"Authorization": f"Token {DEFAULT_API_KEY}"}, "Authentication information is invalid"),
        ({"Authorization": DEFAULT_API_KEY}, "Authentication information is invalid"),
    ],
)
async def test_auth_errors_401_come_before_body_checks(
    emu: MagicAIEmulator, session: aiohttp.ClientSession, headers: dict[str, str], details: str
) -> None:
    emu.enqueue(MagicReply(text="kept"))
    for body in (chat(), {"text": 5}):
        async with session.post("/chat", json=body, headers=headers) as resp:
            assert resp.status == 401
            assert resp.headers["WWW_Authenticate"] == "Bearer"
            assert resp.headers["WWW-Authenticate"] == "Bearer"
            assert await resp.json() == err(details, "UNAUTHORIZED", "Unauthorized")
    assert [r.auth_ok for r in emu.requests] == [False, False]
    assert "Authorization" not in emu.requests[0].headers
    assert emu.pending_replies == 1 and emu.sessions == {}


async def test_alternative_auth_header_with_raw_key() -> None:
    async with (
        MagicAIEmulator("k2", auth_header="x-api-key", auth_scheme=None) as emu,
        aiohttp.ClientSession(base_url=emu.base_url) as client,
    ):
        assert (await post(client, chat(), {"X-API-Key": "k2"}))[0] == 200
        status, data = await post(client, chat(), {"Authorization": "Bearer k2"})
        assert (status, data["details"]) == (401, "Authentication information is missing")
        status, data = await post(client, chat(), {"x-api-key": "Bearer k2"})
        assert (status, data["details"]) == (401, "Authentication information is invalid")
        assert [r.auth_ok for r in emu.requests] == [True, False, False]
        assert "x-api-key" not in emu.requests[0].headers
        assert emu.requests[1].headers["Authorization"] == "Bearer k2"  # only the configured header is hidden


# -- validation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "details"),
    [
        pytest.param([1, 2], "Request body must be a JSON object", id="array"),
        pytest.param({"text": "x"}, "projectId is required", id="no-project"),
        pytest.param(chat(projectId="project-1"), "projectId must be a valid UUID", id="project-not-uuid"),
        pytest.param(chat(projectId=12), "projectId must be a valid UUID", id="project-int"),
        pytest.param({"projectId": DEFAULT_PROJECT_ID}, "text is required", id="no-text"),
        pytest.param(chat(text=None), "text is required", id="null-text"),
        pytest.param(chat(text=""), "text must not be empty", id="empty-text"),
        pytest.param(chat(text="  \n"), "text must not be empty", id="blank-text"),
        pytest.param(chat(text=["a"]), "text must be a string", id="text-list"),
        pytest.param(chat(sessionId=42), "sessionId must be a string", id="session-int"),
        pytest.param(chat(sessionId=""), "sessionId must not be empty", id="session-empty"),
    ],
)
async def test_invalid_bodies_400(
    emu: MagicAIEmulator, session: aiohttp.ClientSession, body: Any, details: str
) -> None:
    emu.enqueue(MagicReply(text="kept for the next valid call"))
    assert await post(session, body) == (400, err(details))
    assert emu.pending_replies == 1 and emu.sessions == {}
    (req,) = emu.requests
    assert (req.body, req.status, req.session_id, req.auth_ok) == (body, 400, None, True)


async def test_non_json_body_400(emu: MagicAIEmulator, session: aiohttp.ClientSession) -> None:
    for data in (b"", b"{", b"\xff", b"projectId=x"):
        async with session.post("/chat", data=data, headers={**AUTH, "Content-Type": "application/json"}) as resp:
            assert (resp.status, await resp.json()) == (400, err("Request body must be valid JSON"))
    assert [(r.body, r.raw_body) for r in emu.requests[:2]] == [(None, b""), (None, b"{")]


async def test_unknown_project_403_and_case_insensitive_ids(session: aiohttp.ClientSession) -> None:
    other = str(uuid.uuid4())
    details = f"You don't have permission to access project {other}"
    assert await post(session, chat(projectId=other)) == (403, err(details, "FORBIDDEN", "Forbidden"))
    assert (await post(session, chat(projectId=DEFAULT_PROJECT_ID.upper())))[0] == 200


async def test_unknown_routes(session: aiohttp.ClientSession) -> None:
    async with session.post("/v1/chat", json=chat(), headers=AUTH) as resp:
        assert (resp.status, await resp.json()) == (404, err("Cannot POST /v1/chat", "NOT_FOUND", "Not Found"))
    async with session.get("/chat") as resp:
        assert resp.status == 405
        assert (await resp.json())["code"] == "METHOD_NOT_ALLOWED"


# -- recording ------------------------------------------------------------------------------------


async def test_requests_are_recorded(emu: MagicAIEmulator, session: aiohttp.ClientSession) -> None:
    before = time.monotonic()
    body = chat(extra="ignored")
    await post(session, body, {**AUTH, "X-Trace": "t1"})
    (req,) = await emu.wait_for_requests(1)
    assert req.body == body and json.loads(req.raw_body) == body
    assert req.auth_ok and req.status == 200 and req.session_id == SESSION
    assert req.headers["x-trace"] == "t1" and "Authorization" not in req.headers
    assert before <= req.received_at <= time.monotonic()
    with pytest.raises(TimeoutError):
        await emu.wait_for_requests(2, timeout=0.05)


async def test_wait_for_requests_wakes_on_arrival(emu: MagicAIEmulator, session: aiohttp.ClientSession) -> None:
    waiter = asyncio.create_task(emu.wait_for_requests(2))
    await post(session, chat())
    assert not waiter.done()
    await post(session, chat())
    assert len(await asyncio.wait_for(waiter, 1)) == 2


async def test_base_url_needs_start() -> None:
    emu = MagicAIEmulator()
    with pytest.raises(RuntimeError, match="not started"):
        _ = emu.base_url
    await emu.close()
    with pytest.raises(RuntimeError, match="only be started once"):
        await emu.start()
