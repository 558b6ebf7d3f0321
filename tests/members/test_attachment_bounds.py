"""Attachments that lie about their size are read only up to the bot's limit (plus one byte) and refused.

Discord's attachment `size` is the upload's metadata; the CDN serves whatever body it holds (see
tests/emulators/discord/attachments.py). The emulator's CDN can serve a body other than the uploaded one, with or
without a Content-Length, so the reader is tried against both, through a real aiohttp session and through the bot.
"""

from __future__ import annotations

import logging

import aiohttp
import discord
import pytest

from bot.audio import MAX_AUDIO_BYTES
from bot.members.attachments import AttachmentTooLarge, read_limited
from cogs.common.text_files import MAX_TEXT_FILE_BYTES
from tests.emulators.ablt import AbltEmulator, Reply
from tests.emulators.convai import ConvaiEmulator, ConvaiReply
from tests.emulators.discord import AttachmentSpec, DiscordEmulator
from tests.emulators.discord.payloads import attachment_payload
from tests.support import audio_samples
from tests.support.harness import BotProcess
from tests.support.journey import chat, last_message_id, thread_for, wait_for_post, wait_for_reply

LIMIT_BYTES = 100_000
BIG_BODY = b"0123456789abcdef" * (2 * 1024 * 1024 // 16)  # 2 MiB


async def cdn_url(discord_emulator: DiscordEmulator, spec: AttachmentSpec) -> str:
    """Post `spec` as a member and return its CDN URL (no bot needed: the CDN serves anyone with the URL)."""
    message = await discord_emulator.send_user_message(None, "here", attachments=[spec])
    (record,) = message.attachments
    assert attachment_payload(record)["size"] == len(spec.data)  # the metadata describes the upload
    return record.url


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "content-length"])
async def test_a_body_longer_than_the_limit_is_refused_after_at_most_limit_plus_one_bytes(
    discord_emulator: DiscordEmulator, chunked: bool
) -> None:
    url = await cdn_url(
        discord_emulator, AttachmentSpec("notes.txt", b"tiny", "text/plain", served=BIG_BODY, chunked=chunked)
    )
    async with aiohttp.ClientSession() as session:
        with pytest.raises(AttachmentTooLarge) as caught:
            await read_limited(session, url, limit_bytes=LIMIT_BYTES)
    if chunked:  # nothing announced the length: read one byte past the limit, then stop
        assert (caught.value.read_bytes, caught.value.served_bytes) == (LIMIT_BYTES + 1, None)
    else:  # the Content-Length already says too much: nothing is read
        assert (caught.value.read_bytes, caught.value.served_bytes) == (0, len(BIG_BODY))


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "content-length"])
async def test_a_body_of_exactly_the_limit_is_read_whole(discord_emulator: DiscordEmulator, chunked: bool) -> None:
    body = BIG_BODY[:LIMIT_BYTES]
    url = await cdn_url(
        discord_emulator, AttachmentSpec("notes.txt", b"tiny", "text/plain", served=body, chunked=chunked)
    )
    async with aiohttp.ClientSession() as session:
        assert await read_limited(session, url, limit_bytes=LIMIT_BYTES) == body
        with pytest.raises(AttachmentTooLarge):
            await read_limited(session, url, limit_bytes=LIMIT_BYTES - 1)


async def test_a_missing_attachment_raises_what_discord_py_raises(discord_emulator: DiscordEmulator) -> None:
    url = await cdn_url(discord_emulator, AttachmentSpec("notes.txt", b"hello", "text/plain"))
    async with aiohttp.ClientSession() as session:
        assert await read_limited(session, url, limit_bytes=LIMIT_BYTES) == b"hello"
        with pytest.raises(discord.NotFound):
            await read_limited(session, url.replace("notes.txt", "other.txt"), limit_bytes=LIMIT_BYTES)


def turns_asked(convai: ConvaiEmulator) -> int:
    """Turns sent to Convai (its starters, asked once a thread opens, may arrive at any moment and do not count)."""
    return sum(1 for r in convai.requests if r.path == "/character/getResponse")


async def test_a_voice_note_served_bigger_than_it_declared_is_refused_and_convai_is_not_called(
    running_bot: BotProcess,
    discord_emulator: DiscordEmulator,
    convai: ConvaiEmulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="bot.members.attachments")
    convai.enqueue(ConvaiReply(text="Ready when you are.", audio_seconds=0))
    thread = await thread_for(discord_emulator, await chat(discord_emulator, "Let's talk", provider="convai"))
    await wait_for_post(discord_emulator, thread.id, "Ready when you are.")
    calls = turns_asked(convai)
    declared = audio_samples.voice_note_ogg(seconds=2.0)
    served = declared + b"\0" * MAX_AUDIO_BYTES  # passes the `size` check, then keeps coming
    spec = AttachmentSpec("voice.ogg", declared, "audio/ogg", served=served, chunked=True)

    note = await discord_emulator.send_user_message(thread.id, "", attachments=[spec])
    reply = await wait_for_post(discord_emulator, thread.id, "10 MB", after=note.id)

    assert reply.content == "That file is over 10 MB, which is more than I can take; please send a shorter recording."
    assert turns_asked(convai) == calls
    (read,) = [r.getMessage() for r in caplog.records if r.name == "bot.members.attachments"]
    assert f"declared {len(declared)} bytes" in read and f"read {MAX_AUDIO_BYTES + 1}," in read
    convai.enqueue(ConvaiReply(text="Still here.", audio_seconds=0))
    mark = last_message_id(discord_emulator, thread.id)
    await discord_emulator.send_user_message(thread.id, "still there?")
    await wait_for_post(discord_emulator, thread.id, "Still here.", after=mark)


async def test_a_text_file_served_bigger_than_it_declared_is_left_out_and_the_text_answered(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.members.attachments")
    thread = await thread_for(discord_emulator, await chat(discord_emulator, "hello"))
    await wait_for_reply(discord_emulator, thread.id, "You said: hello")
    ablt.enqueue(Reply(text="Noted."))
    served = b"line of a long log\n" * (MAX_TEXT_FILE_BYTES // 10)
    spec = AttachmentSpec("notes.txt", b"short notes\n", "text/plain", served=served, chunked=True)

    question = await discord_emulator.send_user_message(thread.id, "What do you make of this?", attachments=[spec])

    note = await wait_for_post(discord_emulator, thread.id, "Not used", after=question.id)
    await wait_for_post(discord_emulator, thread.id, "Noted.", after=question.id)
    assert note.content == "Not used: notes.txt (over 100 KB)."
    assert ablt.requests[-1].body["messages"][-1]["content"] == "What do you make of this?"
    (read,) = [r.getMessage() for r in caplog.records if r.name == "bot.members.attachments"]
    assert f"read {MAX_TEXT_FILE_BYTES + 1}," in read  # not the 190,000 bytes served
