"""Voice notes and audio files in a Convai thread reach Convai as 16 kHz mono 16-bit WAV, or get a clear no."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.emulators.convai import ConvaiEmulator, ConvaiReply
from tests.emulators.discord import VOICE_MESSAGE_FLAG, AttachmentSpec, DiscordEmulator
from tests.support import audio_samples, hostile_audio
from tests.support.harness import BotProcess
from tests.support.journey import chat, last_message_id, thread_for, wait_for_post

VOICE_WAVEFORM = base64.b64encode(bytes(range(0, 250, 10))).decode()
MIB = 1024 * 1024
PEAK_RISE_BOUND_MIB = 200
"""How far this test process's resident-set peak may rise while the bot refuses a hostile file: the refusal
costs ~1 MiB; the unbounded decoder of issue 18 (sample 1) took 1,571 MiB."""


async def convai_thread(discord: DiscordEmulator, convai: ConvaiEmulator) -> int:
    convai.enqueue(ConvaiReply(text="Ready when you are."))
    thread = await thread_for(discord, await chat(discord, "Let's talk", provider="convai"))
    await wait_for_post(discord, thread.id, "Ready when you are.")
    return thread.id


def answers(convai: ConvaiEmulator) -> int:
    """getResponse calls so far (starter requests run beside them)."""
    return sum(1 for r in convai.requests if r.path.endswith("getResponse"))


async def send_audio(discord: DiscordEmulator, thread_id: int, spec: AttachmentSpec, *, voice: bool = False) -> int:
    mark = last_message_id(discord, thread_id)
    await discord.send_user_message(thread_id, "", attachments=[spec], flags=VOICE_MESSAGE_FLAG if voice else 0)
    return mark


async def test_discord_voice_message_reaches_convai_as_16k_mono_wav_and_what_it_heard_is_shown(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, convai: ConvaiEmulator
) -> None:
    thread_id = await convai_thread(discord_emulator, convai)
    note = audio_samples.voice_note_ogg(seconds=3.0)
    convai.enqueue(ConvaiReply(text="Sunny all week!", transcript="What's the weather like?"))
    spec = AttachmentSpec("voice-message.ogg", note, "audio/ogg", duration_secs=3.0, waveform=VOICE_WAVEFORM)
    mark = await send_audio(discord_emulator, thread_id, spec, voice=True)

    heard = await wait_for_post(discord_emulator, thread_id, "What's the weather like?", after=mark)
    answer = await wait_for_post(discord_emulator, thread_id, "Sunny all week!", after=mark)
    assert heard.id < answer.id and heard.content.startswith("🎙️")
    request = convai.requests[-1]
    assert "userText" not in request.fields and request.fields["sample_rate"] == "16000"
    assert request.wav is not None
    assert (request.wav.channels, request.wav.sample_width, request.wav.sample_rate) == (1, 2, 16000)
    assert abs(request.wav.duration_s - 3.0) <= 0.05


@pytest.mark.parametrize(
    ("make", "filename", "content_type", "seconds"),
    [
        pytest.param(
            lambda: audio_samples.mp3_stereo(seconds=2.0, rate=44100), "song.mp3", "audio/mpeg", 2.0, id="mp3"
        ),
        pytest.param(
            lambda: audio_samples.wav_pcm(1.5, rate=44100, channels=2), "take.wav", "audio/wav", 1.5, id="wav"
        ),
        pytest.param(lambda: audio_samples.m4a_aac(2.0), "memo.m4a", "audio/mp4", 2.0, id="m4a"),
        pytest.param(lambda: audio_samples.webm_opus(2.0), "clip.webm", "audio/webm", 2.0, id="webm"),
        pytest.param(lambda: audio_samples.voice_note_ogg(seconds=2.5), "note.ogg", None, 2.5, id="ogg-by-extension"),
    ],
)
async def test_audio_files_are_converted_for_convai(
    running_bot: BotProcess,
    discord_emulator: DiscordEmulator,
    convai: ConvaiEmulator,
    make: Callable[[], bytes],
    filename: str,
    content_type: str | None,
    seconds: float,
) -> None:
    thread_id = await convai_thread(discord_emulator, convai)
    convai.enqueue(ConvaiReply(text="Got your file."))
    mark = await send_audio(discord_emulator, thread_id, AttachmentSpec(filename, make(), content_type))
    await wait_for_post(discord_emulator, thread_id, "Got your file.", after=mark)
    wav = convai.requests[-1].wav
    assert wav is not None and (wav.channels, wav.sample_width, wav.sample_rate) == (1, 2, 16000)
    assert abs(wav.duration_s - seconds) <= 0.05


@pytest.mark.parametrize(
    ("make", "filename", "says"),
    [
        pytest.param(
            lambda: audio_samples.truncated(audio_samples.voice_note_ogg(seconds=4.0)),
            "cut.ogg",
            "damaged",
            id="truncated",
        ),
        pytest.param(audio_samples.not_audio, "fake.mp3", "couldn't read", id="not-audio"),
        pytest.param(lambda: audio_samples.silent_wav(2.0), "silence.wav", "silent", id="silent"),
        pytest.param(lambda: audio_samples.wav_pcm(0.05, rate=16000, channels=1), "blip.wav", "empty", id="empty"),
        pytest.param(lambda: audio_samples.wav_pcm(61.0, rate=8000, channels=1), "long.wav", "60", id="too-long"),
    ],
)
async def test_unusable_audio_gets_a_clear_reply_and_no_convai_call(
    running_bot: BotProcess,
    discord_emulator: DiscordEmulator,
    convai: ConvaiEmulator,
    make: Callable[[], bytes],
    filename: str,
    says: str,
) -> None:
    thread_id = await convai_thread(discord_emulator, convai)
    calls = answers(convai)
    spec = AttachmentSpec(filename, make(), "audio/ogg" if filename.endswith(".ogg") else None)
    mark = await send_audio(discord_emulator, thread_id, spec)
    reply = await wait_for_post(discord_emulator, thread_id, says, after=mark)
    assert reply.message_reference is not None  # answers the member's message
    assert answers(convai) == calls

    convai.enqueue(ConvaiReply(text="Still here."))
    mark = last_message_id(discord_emulator, thread_id)
    await discord_emulator.send_user_message(thread_id, "still there?")
    await wait_for_post(discord_emulator, thread_id, "Still here.", after=mark)


async def test_file_over_discord_limit_is_refused_before_download(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, convai: ConvaiEmulator
) -> None:
    discord_emulator.core.messages.max_file_size = 50 * 1024 * 1024  # a Nitro member may upload more than the bot
    thread_id = await convai_thread(discord_emulator, convai)
    calls = answers(convai)
    big = audio_samples.wav_pcm(1.0) + b"\0" * (10 * 1024 * 1024)
    mark = await send_audio(discord_emulator, thread_id, AttachmentSpec("huge.wav", big, "audio/wav"))
    reply = await wait_for_post(discord_emulator, thread_id, "10 MB", after=mark)
    assert reply is not None and answers(convai) == calls


async def test_audio_in_a_text_only_thread_gets_a_hint(
    running_bot: BotProcess, discord_emulator: DiscordEmulator
) -> None:
    thread = await thread_for(discord_emulator, await chat(discord_emulator, "hello"))
    await wait_for_post(discord_emulator, thread.id, "hello")
    spec = AttachmentSpec(
        "voice-message.ogg", audio_samples.voice_note_ogg(seconds=1.0), "audio/ogg", 1.0, VOICE_WAVEFORM
    )
    mark = await send_audio(discord_emulator, thread.id, spec, voice=True)
    await wait_for_post(discord_emulator, thread.id, "reads text only", after=mark)


def status_bytes(field: str) -> int:
    """A `kB` line of this process's /proc/self/status (VmRSS, VmHWM) in bytes: the bot runs in this process."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise LookupError(field)


def reset_peak_rss() -> int:
    """Set VmHWM back to the current resident set (procfs, instant) and return that resident set in bytes."""
    Path("/proc/self/clear_refs").write_text("5")
    return status_bytes("VmRSS")


@pytest.mark.parametrize("rate_hz", [4, 1])
async def test_a_voice_note_whose_track_declares_4_or_1_hz_is_refused_cheaply_and_the_thread_goes_on(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, convai: ConvaiEmulator, rate_hz: int
) -> None:
    """Issue 18, sample 1: 400 KB of Matroska/PCM declared at 4 Hz (or 1 Hz), named voice.ogg, as a voice note."""
    thread_id = await convai_thread(discord_emulator, convai)
    calls = answers(convai)
    hostile = hostile_audio.matroska_pcm(rate_hz)
    spec = AttachmentSpec("voice.ogg", hostile, "audio/ogg", duration_secs=3.0, waveform=VOICE_WAVEFORM)
    rss_before = reset_peak_rss()

    note = await discord_emulator.send_user_message(thread_id, "", attachments=[spec], flags=VOICE_MESSAGE_FLAG)
    reply = await wait_for_post(discord_emulator, thread_id, "odd sample rate", after=note.id)

    assert status_bytes("VmHWM") - rss_before < PEAK_RISE_BOUND_MIB * MIB
    assert reply.content == (
        "That audio is in a form I can't use, such as an odd sample rate or too many channels;"
        " please send an ordinary voice message or recording."
    )
    assert reply.message_reference is not None and reply.message_reference["message_id"] == str(note.id)
    assert answers(convai) == calls
    convai.enqueue(ConvaiReply(text="Still listening."))
    mark = last_message_id(discord_emulator, thread_id)
    await discord_emulator.send_user_message(thread_id, "can you hear me now?")
    await wait_for_post(discord_emulator, thread_id, "Still listening.", after=mark)
    assert answers(convai) == calls + 1


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        pytest.param(hostile_audio.TEXT_NOT_AUDIO, "audio/ogg", id="text"),
        pytest.param(audio_samples.not_audio(), "audio/ogg", id="png"),
        pytest.param(hostile_audio.random_bytes(50_000), None, id="noise"),
    ],
)
async def test_a_file_named_like_audio_holding_something_else_is_not_read_as_audio(
    running_bot: BotProcess,
    discord_emulator: DiscordEmulator,
    convai: ConvaiEmulator,
    data: bytes,
    content_type: str | None,
) -> None:
    thread_id = await convai_thread(discord_emulator, convai)
    calls = answers(convai)
    mark = await send_audio(discord_emulator, thread_id, AttachmentSpec("voice.ogg", data, content_type))
    reply = await wait_for_post(discord_emulator, thread_id, "couldn't read that as audio", after=mark)
    assert reply.message_reference is not None and answers(convai) == calls
