"""Checks the Convai emulator against the vendor doc and protocol notes, using a plain aiohttp client.

The bot's Convai tests trust this emulator, so its form handling, strict WAV checks, sessions,
voice audio, SSE framing (no terminator) and scripted failures are pinned down here exactly.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import re
import time
import urllib.parse
import wave
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import av
import pytest

from tests.emulators.convai import (
    BROKEN_EVENT,
    DEFAULT_API_KEY,
    DEFAULT_FAILURE,
    DEFAULT_STARTERS,
    GET_RESPONSE_PATH,
    INVALID_API_KEY,
    INVALID_CHARACTER,
    MALFORMED_FORM,
    NOT_FOUND_HTML,
    ONE_INPUT_ONLY,
    RATE_LIMITED,
    STARTERS_PATH,
    ConvaiEmulator,
    ConvaiReply,
    StarterScript,
    WavError,
    WavInfo,
    make_wav,
    parse_wav,
    raw_wav,
)

AUTH = {"CONVAI-API-KEY": DEFAULT_API_KEY}
HEX32 = re.compile(r"^[0-9a-f]{32}$")


@pytest.fixture
async def emu() -> AsyncIterator[ConvaiEmulator]:
    async with ConvaiEmulator() as emulator:
        yield emulator


@pytest.fixture
async def session(emu: ConvaiEmulator) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=emu.base_url) as client:
        yield client


def text_form(
    user_text: str = "Hello there", session_id: str = "-1", voice: str = "False", **extra: str
) -> dict[str, str]:
    """The doc's text-only request (sent urlencoded, as its Python sample does)."""
    return {"userText": user_text, "charID": "char-alpha", "sessionID": session_id, "voiceResponse": voice, **extra}


def multipart(fields: dict[str, str], wav: bytes | None = None, filename: str = "audio.wav") -> aiohttp.FormData:
    """multipart/form-data with an optional ``file`` part, as the doc's audio sample sends it."""
    form = aiohttp.FormData(default_to_multipart=True)
    for name, value in fields.items():
        form.add_field(name, value)
    if wav is not None:
        form.add_field("file", io.BytesIO(wav), filename=filename, content_type="audio/wav")  # big bytes would warn
    return form


RAW_MULTIPART = {**AUTH, "Content-Type": "multipart/form-data; boundary=bnd"}


def raw_multipart(fields: dict[str, str], file_disposition: str, wav: bytes) -> bytes:
    """A hand-written body like the UE SDK's: a leading CRLF, and a file part without a Content-Type."""
    body = b"".join(
        b'\r\n--bnd\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s' % (k.encode(), v.encode())
        for k, v in fields.items()
    )
    body += b"\r\n--bnd\r\nContent-Disposition: form-data; " + file_disposition.encode() + b"\r\n\r\n"
    return body + wav + b"\r\n--bnd--\r\n"


def audio_form(wav: bytes, voice: str = "False", **extra: str) -> aiohttp.FormData:
    base = {"charID": "char-alpha", "sessionID": "-1", "responseLevel": "5", "voiceResponse": voice}
    return multipart({**base, **extra}, wav)


async def post(
    session: aiohttp.ClientSession, data: Any, headers: dict[str, str] = AUTH, path: str = GET_RESPONSE_PATH
) -> tuple[int, Any]:
    async with session.post(path, data=data, headers=headers) as resp:
        return resp.status, await resp.json(content_type=None)


async def sse(resp: aiohttp.ClientResponse) -> list[str]:
    """The data of each event, read until the server closes the response."""
    assert resp.content_type == "text/event-stream"
    body = (await resp.read()).decode()
    assert body.endswith("\n\n")
    return ["\n".join(line[6:] for line in block.split("\n")) for block in body[:-2].split("\n\n")]


def wav_of(b64: str) -> wave.Wave_read:
    return wave.open(io.BytesIO(base64.b64decode(b64)), "rb")


# -- text turns and sessions ----------------------------------------------------------------------


async def test_text_turn_starts_a_session_then_echoes_it(emu: ConvaiEmulator, session: aiohttp.ClientSession) -> None:
    """The doc's session contract: -1 mints an id, which later turns send and get echoed."""
    status, first = await post(session, text_form("Hello there"))
    assert status == 200
    sid = first["sessionID"]
    assert HEX32.match(sid)
    text = "Alpha: you said 'Hello there'"
    assert first == {"charID": "char-alpha", "text": text, "audio": None, "sample_rate": None, "sessionID": sid}
    status, second = await post(session, multipart(text_form("Again", session_id=sid)))  # multipart works too
    assert (status, second["sessionID"], second["text"]) == (200, sid, "Alpha: you said 'Again'")
    assert emu.sessions == {sid: ["Hello there", "Again"]}
    assert [r.headers["Content-Type"].split(";")[0] for r in emu.requests] == [
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ]
    assert emu.requests[0].fields == text_form("Hello there") and emu.requests[0].session_id == sid


async def test_unknown_session_id_gets_a_new_one(emu: ConvaiEmulator, session: aiohttp.ClientSession) -> None:
    """The service "returns a newly generated value or returns the old one"; scripts can force one."""
    _, data = await post(session, text_form(session_id="not-a-session"))
    assert HEX32.match(data["sessionID"]) and data["sessionID"] != "not-a-session"
    emu.enqueue(ConvaiReply(session_id="forced-id", text="ok"))
    _, forced = await post(session, text_form(session_id=data["sessionID"]))
    assert (forced["sessionID"], forced["text"]) == ("forced-id", "ok")
    assert emu.sessions == {data["sessionID"]: ["Hello there"], "forced-id": ["Hello there"]}


async def test_character_names_and_trailing_slash() -> None:
    """Bare ids name themselves; the UE SDK posts text turns to the path with a trailing slash."""
    async with (
        ConvaiEmulator("k", characters=("plain-id",)) as emu,
        aiohttp.ClientSession(base_url=emu.base_url) as client,
    ):
        form = {**text_form("hi"), "charID": "plain-id"}
        status, data = await post(client, form, {"CONVAI-API-KEY": "k"}, GET_RESPONSE_PATH + "/")
        assert (status, data["text"], data["charID"]) == (200, "plain-id: you said 'hi'", "plain-id")
        assert (await emu.wait_for_requests(1, path=GET_RESPONSE_PATH))[0].path == GET_RESPONSE_PATH + "/"


# -- audio turns ----------------------------------------------------------------------------------


async def test_audio_turn_reports_what_was_heard(emu: ConvaiEmulator, session: aiohttp.ClientSession) -> None:
    """Audio replies carry UserQuery; the recorded WavInfo lets bot tests check the upload."""
    clip = make_wav(2.3, rate=16000)
    status, data = await post(session, audio_form(clip, sample_rate="16000"))
    assert status == 200
    assert (data["text"], data["UserQuery"]) == ("Alpha: I heard you", "(heard 2.3 s of audio)")
    (req,) = emu.requests
    assert req.wav == WavInfo(
        format_tag=1, channels=1, sample_width=2, bits_per_sample=16, sample_rate=16000, frames=36800
    )
    assert req.wav.duration_s == pytest.approx(2.3)
    assert (req.file, req.file_name, req.file_content_type) == (clip, "audio.wav", "audio/wav")
    assert "file" not in req.fields and req.fields["responseLevel"] == "5"
    assert emu.sessions == {data["sessionID"]: ["(heard 2.3 s of audio)"]}
    emu.enqueue(ConvaiReply(transcript="what is your name", text="I'm Alpha."))
    _, data = await post(session, audio_form(make_wav(0.5, rate=24000, sample_width=3)))  # 24-bit is >= 16
    assert (data["UserQuery"], data["text"]) == ("what is your name", "I'm Alpha.")


async def test_large_uploads_are_accepted(emu: ConvaiEmulator, session: aiohttp.ClientSession) -> None:
    """Convai publishes no size limit, so a 90 s clip (2.9 MB, beyond aiohttp's 1 MiB default) must pass."""
    clip = raw_wav(bytes(90 * 32000), rate=16000)
    status, data = await post(session, audio_form(clip))
    assert (status, data["UserQuery"]) == (200, "(heard 90.0 s of audio)")
    urlencoded = io.BytesIO(urllib.parse.urlencode(text_form("x" * 2_000_000)).encode())
    headers = {**AUTH, "Content-Type": "application/x-www-form-urlencoded"}
    assert (await post(session, urlencoded, headers))[0] == 200  # urlencoded too


def stereo() -> bytes:
    return make_wav(0.2, rate=16000, channels=2)


WAV_VIOLATIONS: dict[str, tuple[bytes, dict[str, str], str]] = {
    "stereo": (stereo(), {}, "Audio must be mono (1 channel); got 2 channels"),
    "8-bit": (make_wav(0.2, 16000, sample_width=1), {}, "Audio bit depth must be at least 16 bits; got 8 bits"),
    "not-riff": (b"OggS\0\2" + bytes(200), {}, "Invalid audio file: expected a WAV file (RIFF/WAVE header)"),
    "header-only": (make_wav(0), {}, "Invalid audio file: the WAV file contains no audio data"),
    "rate-mismatch": (
        make_wav(0.2, 16000),
        {"sample_rate": "44100"},
        "sample_rate 44100 does not match the WAV file's sample rate of 16000 Hz",
    ),
    "float": (
        raw_wav(bytes(400), rate=16000, bits_per_sample=32, format_tag=3),
        {},
        "Unsupported audio encoding: only PCM WAV is accepted (got format 0x0003)",
    ),
    "no-data-chunk": (
        make_wav(0.2, 16000)[:36] + b"LIST" + bytes(8),
        {},
        "Invalid audio file: the WAV file has no data chunk",
    ),
}
"""Each rule an upload can break, with the exact 400 message."""


@pytest.mark.parametrize(("clip", "extra", "message"), list(WAV_VIOLATIONS.values()), ids=list(WAV_VIOLATIONS))
async def test_strict_wav_checks(
    emu: ConvaiEmulator, session: aiohttp.ClientSession, clip: bytes, extra: dict[str, str], message: str
) -> None:
    """Each documented (or SDK-enforced) upload rule refuses with its own message, consuming no script."""
    emu.enqueue(ConvaiReply(text="kept for the next valid call"))
    assert await post(session, audio_form(clip, **extra)) == (400, {"ERROR": message})
    (req,) = emu.requests
    assert (req.status, req.error, req.file) == (400, message, clip)
    assert emu.pending_replies == 1 and emu.sessions == {}


async def test_parsed_info_is_kept_for_refused_uploads(emu: ConvaiEmulator, session: aiohttp.ClientSession) -> None:
    """A refused upload still shows what the bot sent."""
    await post(session, audio_form(stereo()))
    wav = emu.requests[0].wav
    assert wav is not None and (wav.channels, wav.sample_rate, wav.frames) == (2, 16000, 3200)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(lambda: multipart(text_form(), make_wav(0.3, 16000)), id="both"),
        pytest.param(lambda: {k: v for k, v in text_form().items() if k != "userText"}, id="neither"),
        pytest.param(lambda: text_form(""), id="empty-text"),
    ],
)
async def test_exactly_one_input(emu: ConvaiEmulator, session: aiohttp.ClientSession, data: Any) -> None:
    """The doc's one 400: both inputs, or neither (an empty userText counts as none)."""
    assert await post(session, data()) == (400, {"ERROR": ONE_INPUT_ONLY})


async def test_file_part_needs_a_filename(emu: ConvaiEmulator, session: aiohttp.ClientSession) -> None:
    """Flask files a part under request.files only with a filename: without one Convai sees no audio."""
    clip = make_wav(0.3, 16000)
    assert (await post(session, audio_form(clip)))[0] == 200  # the same clip with a filename is fine
    fields = {"charID": "char-alpha", "sessionID": "-1", "voiceResponse": "False"}
    for disposition in ('name="file"', 'name="file"; filename=""'):
        assert await post(session, raw_multipart(fields, disposition, clip), RAW_MULTIPART) == (
            400,
            {"ERROR": ONE_INPUT_ONLY},
        )
        assert emu.requests[-1].file == clip and emu.requests[-1].file_name in (None, "")


async def test_ue_sdk_style_raw_multipart(emu: ConvaiEmulator, session: aiohttp.ClientSession) -> None:
    """The UE SDK's hand-written multipart body is accepted."""
    clip = make_wav(0.5, 16000)
    fields = {"charID": "char-beta", "sessionID": "-1", "voiceResponse": "False"}
    body = raw_multipart(fields, 'name="file";  filename="out.wav"', clip)
    status, data = await post(session, body, RAW_MULTIPART)
    assert (status, data["text"], data["UserQuery"]) == (200, "Beta: I heard you", "(heard 0.5 s of audio)")
    req = emu.requests[0]
    assert (req.file_name, req.file_content_type, req.file) == ("out.wav", None, clip)


# -- validation and auth --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"charID": None}, "Missing required field: charID"),
        ({"charID": "char-gamma"}, INVALID_CHARACTER),
        ({"sessionID": None}, "Missing required field: sessionID"),
        ({"sessionID": ""}, "Missing required field: sessionID"),
        ({"voiceResponse": None}, "Missing required field: voiceResponse"),
        ({"voiceResponse": "true"}, "voiceResponse must be 'True' or 'False'"),
        ({"stream": "yes"}, "stream must be 'True' or 'False'"),
    ],
)
async def test_invalid_fields_400(
    emu: ConvaiEmulator, session: aiohttp.ClientSession, change: dict[str, str | None], message: str
) -> None:
    """Required fields, known characters and the 'True'/'False' strings are enforced."""
    form = {k: v for k, v in {**text_form(), **change}.items() if v is not None}
    assert await post(session, form) == (400, {"ERROR": message})
    assert emu.sessions == {}


async def test_non_form_bodies(session: aiohttp.ClientSession) -> None:
    """A JSON body is an empty form to Flask; a broken multipart body is a 400, never a crash."""
    async with session.post(GET_RESPONSE_PATH, json=text_form(), headers=AUTH) as resp:  # JSON is not form data
        assert (resp.status, await resp.json()) == (400, {"ERROR": "Missing required field: charID"})
    headers = {**AUTH, "Content-Type": "multipart/form-data; boundary=zz"}
    assert await post(session, b"garbage without boundaries", headers) == (400, {"ERROR": MALFORMED_FORM})


@pytest.mark.parametrize("headers", [{}, {"CONVAI-API-KEY": "wrong"}, {"Authorization": f"Bearer {DEFAULT_API_KEY}"}])
async def test_auth_401_before_anything_else(
    emu: ConvaiEmulator, session: aiohttp.ClientSession, headers: dict[str, str]
) -> None:
    """The key header is checked first, on both endpoints, and kept out of the record."""
    emu.enqueue(ConvaiReply(text="kept"))
    assert await post(session, text_form(), headers) == (401, {"ERROR": INVALID_API_KEY})
    assert await post(session, {}, headers) == (401, {"ERROR": INVALID_API_KEY})
    starters = {"charId": "char-alpha", "sessionId": "-1"}
    assert await post(session, starters, headers, STARTERS_PATH) == (401, {"ERROR": INVALID_API_KEY})
    assert [r.auth_ok for r in emu.requests] == [False] * 3 and emu.pending_replies == 1
    assert "CONVAI-API-KEY" not in emu.requests[0].headers


# -- scripted failures ----------------------------------------------------------------------------


async def test_scripted_statuses(emu: ConvaiEmulator, session: aiohttp.ClientSession) -> None:
    """404 is a generation failure with a body, not not-found; failed turns join no session."""
    emu.enqueue(
        ConvaiReply(status=404),
        ConvaiReply(status=404, body={"charID": "char-alpha", "text": "process_failure, error: KeyError('x')"}),
        ConvaiReply(status=429),
        ConvaiReply(status=429, body={"ERROR": "API usage limit exceeded for current plan."}),
        ConvaiReply(status=500),
        ConvaiReply(status=502, body=b"<html>Bad Gateway</html>"),
    )
    failure = f"process_failure, error: {DEFAULT_FAILURE}"
    assert await post(session, text_form()) == (404, {"charID": "char-alpha", "text": failure})
    assert DEFAULT_FAILURE == "TimeoutError('Language model did not respond in time')"
    assert (await post(session, text_form()))[1]["text"].endswith("KeyError('x')")
    assert await post(session, text_form()) == (429, {"ERROR": RATE_LIMITED})
    assert await post(session, text_form()) == (429, {"ERROR": "API usage limit exceeded for current plan."})
    status, data = await post(session, text_form())
    assert (status, data["ERROR"]) == (500, "Internal Server Error") and data["Reference ID"]
    async with session.post(GET_RESPONSE_PATH, data=text_form(), headers=AUTH) as resp:
        assert (resp.status, resp.content_type, await resp.read()) == (502, "text/html", b"<html>Bad Gateway</html>")
    assert emu.sessions == {} and [r.status for r in emu.requests] == [404, 404, 429, 429, 500, 502]


async def test_unknown_routes_are_html_not_process_failures(session: aiohttp.ClientSession) -> None:
    """A wrong path must not look like Convai's JSON 404."""
    async with session.post("/character/getresponse", data=text_form(), headers=AUTH) as resp:
        assert (resp.status, resp.content_type, await resp.read()) == (404, "text/html", NOT_FOUND_HTML)
    async with session.get(GET_RESPONSE_PATH) as resp:
        assert (resp.status, resp.content_type, resp.headers["Allow"]) == (405, "text/html", "POST")


async def test_delay_is_real(emu: ConvaiEmulator, session: aiohttp.ClientSession) -> None:
    """A scripted delay holds the answer back for real."""
    emu.enqueue(ConvaiReply(text="late", delay_s=0.15))
    started = time.monotonic()
    assert (await post(session, text_form()))[1]["text"] == "late"
    assert time.monotonic() - started >= 0.15


async def test_hangs_end_on_client_timeout(emu: ConvaiEmulator, session: aiohttp.ClientSession) -> None:
    """A client giving up ends the hung handler: nothing lingers and serving goes on."""
    emu.enqueue(ConvaiReply(hang=True))
    emu.enqueue_starters(StarterScript(hang=True))
    quick = aiohttp.ClientTimeout(total=0.2)
    with pytest.raises(asyncio.TimeoutError):
        await session.post(GET_RESPONSE_PATH, data=text_form(), headers=AUTH, timeout=quick)
    with pytest.raises(asyncio.TimeoutError):
        await session.post(STARTERS_PATH, data={"charId": "char-alpha", "sessionId": "-1"}, headers=AUTH, timeout=quick)
    assert [r.status for r in emu.requests] == [None, None] and emu.sessions == {}
    for _ in range(100):  # the disconnect cancelled both handlers: nothing is left running
        if asyncio.all_tasks() == {asyncio.current_task()}:
            break
        await asyncio.sleep(0.01)
    assert asyncio.all_tasks() == {asyncio.current_task()}
    assert (await post(session, text_form()))[0] == 200  # still serving after the abandoned hangs


async def test_close_ends_hangs_delays_and_slow_streams_promptly() -> None:
    """Closing never waits for scripted stalls; their clients see a dropped connection."""
    emu = ConvaiEmulator()
    await emu.start()
    emu.enqueue(ConvaiReply(hang=True), ConvaiReply(delay_s=30), ConvaiReply(chunks=["a", "b"], chunk_interval_s=30))
    emu.enqueue_starters(StarterScript(hang=True))

    async def call(data: Any, path: str = GET_RESPONSE_PATH) -> bytes:
        async with client.post(path, data=data, headers=AUTH) as resp:
            return await resp.read()

    async with aiohttp.ClientSession(base_url=emu.base_url) as client:
        calls = [asyncio.create_task(call(text_form())) for _ in range(2)]
        calls.append(asyncio.create_task(call(text_form(stream="True"))))
        calls.append(asyncio.create_task(call({"charId": "char-alpha", "sessionId": "-1"}, STARTERS_PATH)))
        await emu.wait_for_requests(4)
        await asyncio.sleep(0.05)
        started = time.monotonic()
        await emu.close()
        assert time.monotonic() - started < 1.0
        for task in calls:
            with pytest.raises(aiohttp.ClientError):
                await task
    assert [r.status for r in emu.requests] == [None, None, 200, None]
    await emu.close()  # idempotent


# -- voice ----------------------------------------------------------------------------------------


async def test_voice_response_is_a_complete_wav(emu: ConvaiEmulator, session: aiohttp.ClientSession) -> None:
    """The audio is a whole WAV file (header included) that wave and ffmpeg both decode."""
    status, data = await post(session, text_form("Tell me a story", voice="True"))
    assert status == 200 and data["sample_rate"] == "22050"
    raw = base64.b64decode(data["audio"])
    assert raw[:4] == b"RIFF" and raw[8:12] == b"WAVE"
    with wav_of(data["audio"]) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 22050)
        assert wav.getnframes() / 22050 == pytest.approx(0.06 * len(data["text"]), abs=0.001)
    with av.open(io.BytesIO(raw), mode="r") as container:  # ffmpeg decodes it too
        frames = list(container.decode(audio=0))
    assert sum(f.samples for f in frames) == round(0.06 * len(data["text"]) * 22050)

    emu.enqueue(
        ConvaiReply(text="x" * 1000), ConvaiReply(audio_seconds=0), ConvaiReply(audio_seconds=0.5, sample_rate=24000)
    )
    with wav_of((await post(session, text_form(voice="True")))[1]["audio"]) as wav:
        assert wav.getnframes() == 10 * 22050  # capped at 10 s
    data = (await post(session, text_form(voice="True")))[1]
    assert (data["audio"], data["sample_rate"]) == (None, None)  # audio_seconds=0 sends no audio at all
    data = (await post(session, text_form(voice="True")))[1]
    with wav_of(data["audio"]) as wav:
        assert (data["sample_rate"], wav.getframerate(), wav.getnframes()) == ("24000", 24000, 12000)


# -- streaming ------------------------------------------------------------------------------------


async def test_stream_events_concatenate_and_end_by_closing(
    emu: ConvaiEmulator, session: aiohttp.ClientSession
) -> None:
    """stream=True: JSON events whose texts concatenate, audio per chunk, no terminator."""
    emu.enqueue(ConvaiReply(chunks=["Hel", "lo ", "world"], chunk_interval_s=0.02))
    started = time.monotonic()
    async with session.post(GET_RESPONSE_PATH, data=text_form(voice="True", stream="True"), headers=AUTH) as resp:
        assert resp.status == 200 and resp.headers["Connection"] == "close"
        events = [json.loads(e) for e in await sse(resp)]
    assert time.monotonic() - started >= 0.06
    assert "".join(e["text"] for e in events) == "Hello world" and len(events) == 3
    sid = events[0]["sessionID"]
    assert HEX32.match(sid) and all("sessionID" not in e for e in events[1:])
    total = 0
    for event in events:  # each audio chunk is a standalone WAV
        assert event["sample_rate"] == "22050"
        with wav_of(event["audio"]) as wav:
            assert wav.getnchannels() == 1
            total += wav.getnframes()
    assert total == pytest.approx(0.06 * 11 * 22050, abs=3)
    assert emu.sessions == {sid: ["Hello there"]} and emu.requests[0].status == 200


async def test_stream_audio_input_and_default_chunks(session: aiohttp.ClientSession) -> None:
    """Unscripted streams split at words; UserQuery rides on the first event."""
    async with session.post(
        GET_RESPONSE_PATH, data=audio_form(make_wav(1.0, 16000), stream="True"), headers=AUTH
    ) as resp:
        events = [json.loads(e) for e in await sse(resp)]
    assert [e["text"] for e in events] == ["Alpha:", " I", " heard", " you"]
    assert events[0]["UserQuery"] == "(heard 1.0 s of audio)" and all("audio" not in e for e in events)


async def test_ignore_stream_answers_plain_json(emu: ConvaiEmulator, session: aiohttp.ClientSession) -> None:
    """A service that ignores stream=True must not break a streaming client."""
    emu.enqueue(ConvaiReply(text="plain", ignore_stream=True))
    async with session.post(GET_RESPONSE_PATH, data=text_form(stream="True"), headers=AUTH) as resp:
        assert resp.content_type == "application/json"
        assert (await resp.json())["text"] == "plain"


async def test_broken_stream_event(emu: ConvaiEmulator, session: aiohttp.ClientSession) -> None:
    """One event that is not JSON, then the rest: clients must survive it."""
    emu.enqueue(
        ConvaiReply(chunks=["a", "b", "c"], broken_stream_after=1), ConvaiReply(chunks=["z"], broken_stream_after=5)
    )
    async with session.post(GET_RESPONSE_PATH, data=text_form(stream="True"), headers=AUTH) as resp:
        events = await sse(resp)
    assert events[1] == BROKEN_EVENT.decode()[6:-2]
    with pytest.raises(json.JSONDecodeError):
        json.loads(events[1])
    assert [json.loads(e)["text"] for e in (events[0], *events[2:])] == ["a", "b", "c"]
    async with session.post(GET_RESPONSE_PATH, data=text_form(stream="True"), headers=AUTH) as resp:
        events = await sse(resp)
    assert len(events) == 2 and json.loads(events[0])["text"] == "z"  # broken event at the end


async def test_a_stream_that_stalls_after_some_chunks_sends_nothing_more_until_the_client_gives_up(
    emu: ConvaiEmulator, session: aiohttp.ClientSession
) -> None:
    emu.enqueue(ConvaiReply(chunks=["one", " two", " three"], hang_after_chunks=2))
    received = b""
    async with session.post(GET_RESPONSE_PATH, data=text_form(stream="True"), headers=AUTH) as resp:
        with pytest.raises(asyncio.TimeoutError):
            async with asyncio.timeout(0.5):
                async for chunk in resp.content.iter_any():
                    received += chunk
    events = [json.loads(block[6:]) for block in received.decode().split("\n\n") if block]
    assert [e["text"] for e in events] == ["one", " two"]
    assert (await post(session, text_form()))[0] == 200  # the stalled handler ended with the client


# -- starters -------------------------------------------------------------------------------------


async def test_starters_are_plain_string_events(emu: ConvaiEmulator, session: aiohttp.ClientSession) -> None:
    """Starter events are plain strings (not JSON); some are too long for a button label."""
    async with session.post(STARTERS_PATH, data={"charId": "char-alpha", "sessionId": "-1"}, headers=AUTH) as resp:
        assert resp.status == 200 and resp.headers["Connection"] == "close"
        assert await sse(resp) == list(DEFAULT_STARTERS)
    assert 5 <= len(DEFAULT_STARTERS) <= 7 and sum(len(s) > 80 for s in DEFAULT_STARTERS) == 2
    emu.enqueue_starters(StarterScript(suggestions=["One", "Two\nlines"]), StarterScript(suggestions=[]))
    form = multipart({"charId": "char-beta", "sessionId": "abc"})
    async with session.post(STARTERS_PATH, data=form, headers=AUTH) as resp:
        assert await resp.read() == b"data: One\n\ndata: Two\ndata: lines\n\n"
    async with session.post(STARTERS_PATH, data=form, headers=AUTH) as resp:
        assert (resp.status, await resp.read()) == (200, b"")
    assert [r.session_id for r in emu.requests] == ["-1", "abc", "abc"]
    assert (await emu.wait_for_requests(3, path=STARTERS_PATH))[0].fields == {"charId": "char-alpha", "sessionId": "-1"}
    with pytest.raises(TimeoutError):
        await emu.wait_for_requests(1, timeout=0.05, path=GET_RESPONSE_PATH)


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"charID": "char-alpha", "sessionId": "-1"}, "Missing required field: charId"),
        ({"charId": "char-alpha", "sessionID": "-1"}, "Missing required field: sessionId"),
        ({"charId": "nobody", "sessionId": "-1"}, INVALID_CHARACTER),
    ],
)
async def test_starters_field_casing(session: aiohttp.ClientSession, form: dict[str, str], message: str) -> None:
    """The starters endpoint spells charId/sessionId differently from getResponse."""
    assert await post(session, form, path=STARTERS_PATH) == (400, {"ERROR": message})


async def test_starters_scripted_status(emu: ConvaiEmulator, session: aiohttp.ClientSession) -> None:
    """Starter failures use the same error envelope."""
    emu.enqueue_starters(StarterScript(status=429), StarterScript(status=500, body={"ERROR": "boom"}))
    form = {"charId": "char-alpha", "sessionId": "-1"}
    assert await post(session, form, path=STARTERS_PATH) == (429, {"ERROR": RATE_LIMITED})
    assert await post(session, form, path=STARTERS_PATH) == (500, {"ERROR": "boom"})
    assert emu.pending_starters == 0


# -- helpers and scripts --------------------------------------------------------------------------


@pytest.mark.parametrize(("channels", "width"), [(1, 1), (1, 2), (2, 2), (1, 3), (1, 4)])
def test_make_wav_round_trips(channels: int, width: int) -> None:
    """The helper writes real WAVs of every width the checks distinguish."""
    data = make_wav(0.25, rate=8000, channels=channels, sample_width=width)
    info = parse_wav(data)
    assert (info.channels, info.sample_width, info.bits_per_sample, info.frames) == (channels, width, 8 * width, 2000)
    with wave.open(io.BytesIO(data)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getnframes()) == (channels, width, 2000)
    with pytest.raises(WavError, match="RIFF"):
        parse_wav(b"RIFX" + data[4:])
    with pytest.raises(ValueError, match="sample_width"):
        make_wav(1, sample_width=5)


def test_reply_rejects_contradictions() -> None:
    """Scripts that cannot be honoured fail at construction, not mid-test."""
    with pytest.raises(ValueError, match="join"):
        ConvaiReply(text="ab", chunks=["a", "c"])
    with pytest.raises(ValueError, match="audio_seconds"):
        ConvaiReply(audio_seconds=-1)
    with pytest.raises(ValueError, match="broken_stream_after"):
        ConvaiReply(broken_stream_after=-1)
    assert ConvaiReply(text="ab", chunks=["a", "b"]).text == "ab"


async def test_base_url_needs_start() -> None:
    """Misuse fails loudly."""
    emu = ConvaiEmulator()
    with pytest.raises(RuntimeError, match="not started"):
        _ = emu.base_url
    await emu.close()
    with pytest.raises(RuntimeError, match="only be started once"):
        await emu.start()
