"""A provider's spoken answer is untrusted media too: past 10 MiB or 120 s, or in a shape no speech has, it is
dropped with a log line, and the member still gets the text answer (issue 18, the Convai spoken-answer path)."""

from __future__ import annotations

import base64
import logging

import pytest

from bot.audio import MAX_SPOKEN_AUDIO_BYTES, MAX_SPOKEN_SECONDS
from bot.providers.convai.wire import ConvaiStream, join_wavs
from tests.emulators.convai import ConvaiEmulator, ConvaiReply, make_wav
from tests.emulators.discord import VOICE_MESSAGE_FLAG, DiscordEmulator
from tests.support.audio_samples import wav_file, wav_info
from tests.support.harness import BotProcess
from tests.support.journey import bot_posts, chat, last_message_id, thread_for, wait_for_post

LONG_ANSWER = " ".join(f"Sentence {n} of a very long answer." for n in range(40))
"""Forty SSE events: each carries a share of the audio, so no single event line is huge."""


def stream_of(*chunks: bytes) -> ConvaiStream:
    stream = ConvaiStream()
    for chunk in chunks:
        stream.take_audio(base64.b64encode(chunk).decode())
    return stream


# --- the wire: what is kept -----------------------------------------------------------------------------------------


def test_audio_past_the_byte_cap_is_dropped_whole_with_one_log_line(caplog: pytest.LogCaptureFixture) -> None:
    chunk = make_wav(30.0, rate=48_000)  # 2.9 MB each: the fourth passes 10 MiB
    stream = stream_of(*[chunk] * 6)
    assert stream.audio_refused and stream.audio_chunks == [] and stream.audio_bytes == 0
    warnings = [r.getMessage() for r in caplog.records if r.name == "bot.providers.convai.wire"]
    assert len(warnings) == 1 and f"over {MAX_SPOKEN_AUDIO_BYTES} bytes" in warnings[0]


def test_audio_within_the_cap_is_kept_and_counted() -> None:
    chunk = make_wav(1.0)
    stream = stream_of(chunk, chunk)
    assert not stream.audio_refused and stream.audio_bytes == 2 * len(chunk)
    assert wav_info(join_wavs(stream.audio_chunks))[3] == 2 * 22_050


def test_a_spoken_answer_over_two_minutes_is_not_joined(caplog: pytest.LogCaptureFixture) -> None:
    chunk = make_wav(60.5, rate=8_000)
    assert join_wavs([chunk]) != b""
    assert join_wavs([chunk, chunk]) == b""
    assert any(f"over {MAX_SPOKEN_SECONDS:g} s" in r.getMessage() for r in caplog.records)


def test_chunks_of_a_shape_no_speech_has_are_skipped() -> None:
    at_4_hz = wav_file(b"\1\0" * 400, rate=4)  # 100 s declared in 800 bytes
    sixteen_channels = wav_file(b"\1\0" * 16 * 800, rate=16_000, channels=16)
    fair = make_wav(1.0)
    joined = join_wavs([at_4_hz, sixteen_channels, fair])
    assert wav_info(joined) == (1, 2, 22_050, 22_050)
    assert join_wavs([at_4_hz]) == b""


# --- through the bot ------------------------------------------------------------------------------------------------


async def answer_with(discord: DiscordEmulator, convai: ConvaiEmulator, reply: ConvaiReply) -> int:
    """Open a Convai thread (a silent first answer), have `reply` answer a question, then a silent third answer:
    once that is shown, everything the second turn posts is in the thread. Returns the thread id."""
    convai.enqueue(ConvaiReply(text="Ready.", audio_seconds=0))
    thread = await thread_for(discord, await chat(discord, "Let's talk", provider="convai"))
    await wait_for_post(discord, thread.id, "Ready.")
    convai.enqueue(reply)
    mark = last_message_id(discord, thread.id)
    await discord.send_user_message(thread.id, "Tell me everything.")
    await wait_for_post(discord, thread.id, "Sentence 39", after=mark)
    convai.enqueue(ConvaiReply(text="Anything else?", audio_seconds=0))
    mark = last_message_id(discord, thread.id)
    await discord.send_user_message(thread.id, "Thanks.")
    await wait_for_post(discord, thread.id, "Anything else?", after=mark)
    return thread.id


@pytest.mark.parametrize(
    ("reply", "logged"),
    [
        pytest.param(
            ConvaiReply(text=LONG_ANSWER, audio_seconds=130.0), f"over {MAX_SPOKEN_SECONDS:g} s", id="overlong"
        ),
        pytest.param(
            ConvaiReply(text=LONG_ANSWER, audio_seconds=60.0, sample_rate=96_000),
            f"over {MAX_SPOKEN_AUDIO_BYTES} bytes",
            id="oversized",
        ),
    ],
)
async def test_an_oversized_or_overlong_spoken_answer_leaves_the_text_answer_alone(
    running_bot: BotProcess,
    discord_emulator: DiscordEmulator,
    convai: ConvaiEmulator,
    caplog: pytest.LogCaptureFixture,
    reply: ConvaiReply,
    logged: str,
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.providers.convai.wire")
    thread_id = await answer_with(discord_emulator, convai, reply)

    posts = bot_posts(discord_emulator, thread_id)
    assert any(LONG_ANSWER[-40:] in post.content for post in posts)
    assert not [post for post in posts if post.attachments or post.flags & VOICE_MESSAGE_FLAG]
    assert [r.getMessage() for r in caplog.records if logged in r.getMessage()]
