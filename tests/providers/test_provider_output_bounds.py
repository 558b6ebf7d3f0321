"""Provider replies are read within size caps: a huge line or body ends the turn with one clear line, the
response is closed, the bot stays responsive meanwhile and the conversation goes on; legitimate long lines
(Convai's spoken answers) still arrive."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable

import pytest

from bot.providers.http import AUDIO_JSON_BODY_MAX_BYTES, JSON_BODY_MAX_BYTES
from bot.providers.sse import MAX_LINE_BYTES
from tests.emulators.ablt import AbltEmulator, Reply
from tests.emulators.agentverse import AgentverseEmulator, Step, agent_info
from tests.emulators.convai import ConvaiEmulator, ConvaiReply
from tests.emulators.convai.wav import make_wav
from tests.emulators.discord import VOICE_MESSAGE_FLAG, DiscordEmulator
from tests.emulators.magicai import MagicAIEmulator, MagicReply
from tests.emulators.soundverse import SoundverseEmulator, SoundverseReply
from tests.support.harness import BotProcess
from tests.support.journey import WAIT_S, bot_posts, chat, say, shown_reply, thread_for, wait_for_post, wait_for_reply

TOO_LARGE = "too large to read"
LINE_BYTES = 2_000_000
"""The issue's sample: one 2 MB SSE line, delivered in 4 KB chunks."""
CHUNK_BYTES = 4096


@pytest.fixture
async def patient_bot(make_bot: Callable[..., BotProcess]) -> BotProcess:
    """A bot whose provider idle timeout outlasts the moments a test holds a stream (the default fixture's is 2 s)."""
    bot = make_bot(PROVIDER_TIMEOUT_S="15")
    await bot.start()
    return bot


async def test_a_2mb_sse_line_ends_the_turn_clearly_while_the_bot_keeps_answering_elsewhere(
    patient_bot: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator
) -> None:
    """Issue 18 sample 4. On the original decoder this line costs ~20 s of event-loop time and is then shown."""
    flood = Reply(
        tokens=["Before", " the", " flood."],
        long_frame_chars=LINE_BYTES,
        write_bytes=CHUNK_BYTES,
        hold_long_frame_at=LINE_BYTES // 3,
    )
    ablt.enqueue(flood)
    thread = await thread_for(discord_emulator, await chat(discord_emulator, "flood me"))
    await asyncio.wait_for(ablt.holding.wait(), WAIT_S)  # a third of the line is on its way to the bot

    ablt.enqueue(Reply(text="Still here."))
    elsewhere = discord_emulator.add_text_channel("elsewhere")
    answered = await chat(discord_emulator, "are you there?", channel_id=elsewhere)  # waits for the acknowledgement
    await wait_for_reply(discord_emulator, (await thread_for(discord_emulator, answered)).id, "Still here.")
    assert ablt.holding.is_set(), "the long line was still being sent while the bot answered elsewhere"

    ablt.release()
    notice = await wait_for_post(discord_emulator, thread.id, "⚠️")
    assert TOO_LARGE in notice.content and "aBLT" in notice.content
    assert shown_reply(discord_emulator, thread.id, after=0).startswith("Before the flood.")
    assert all(len(m.content) < 2000 for m in bot_posts(discord_emulator, thread.id))
    await discord_emulator.wait_for(lambda: ablt.requests[0].client_closed_at is not None, WAIT_S, "the bot to hang up")

    mark = await say(discord_emulator, thread.id, "shorter please")
    ablt.enqueue(Reply(text="Short answer."))
    await wait_for_reply(discord_emulator, thread.id, "Short answer.", after=mark)


async def test_a_long_spoken_answer_on_one_sse_line_still_reaches_the_member(
    patient_bot: BotProcess, discord_emulator: DiscordEmulator, convai: ConvaiEmulator
) -> None:
    """A 25 s answer (a 1.5 MB base64 line, in 4 KB chunks) fits the caps (they leave room for 60 s of it)."""
    audio = base64.b64encode(make_wav(25.0)).decode()
    assert 1_000_000 < len(audio) < MAX_LINE_BYTES
    event = {"text": "Listen to this.", "sessionID": "s-long", "audio": audio, "sample_rate": "22050"}
    convai.enqueue(ConvaiReply(text="Listen to this.", events=[event], write_bytes=CHUNK_BYTES))
    thread_id = (await thread_for(discord_emulator, await chat(discord_emulator, "sing", provider="convai"))).id
    await wait_for_reply(discord_emulator, thread_id, "Listen to this.")

    def voiced() -> bool:
        return any(m.flags & VOICE_MESSAGE_FLAG for m in bot_posts(discord_emulator, thread_id))

    await discord_emulator.wait_for(voiced, WAIT_S, "the voice message")


async def test_a_convai_event_past_the_line_cap_ends_the_turn_clearly(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, convai: ConvaiEmulator
) -> None:
    event = {"text": "Hi.", "sessionID": "s-huge", "audio": "A" * (MAX_LINE_BYTES + 1), "sample_rate": "22050"}
    convai.enqueue(ConvaiReply(text="Hi.", events=[event], write_bytes=256 * 1024), ConvaiReply(text="Fine."))
    thread_id = (await thread_for(discord_emulator, await chat(discord_emulator, "hi", provider="convai"))).id
    notice = await wait_for_post(discord_emulator, thread_id, "⚠️")
    assert TOO_LARGE in notice.content and "Convai" in notice.content

    mark = await say(discord_emulator, thread_id, "again")
    await wait_for_post(discord_emulator, thread_id, "Fine.", after=mark)


async def test_a_convai_json_answer_past_its_cap_is_refused_from_its_content_length(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, convai: ConvaiEmulator
) -> None:
    body = {"charID": "char-alpha", "text": "Hi.", "sessionID": "s", "audio": "A" * AUDIO_JSON_BODY_MAX_BYTES}
    convai.enqueue(ConvaiReply(body=body))  # a JSON answer to a streamed request, with its Content-Length
    thread_id = (await thread_for(discord_emulator, await chat(discord_emulator, "hi", provider="convai"))).id
    notice = await wait_for_post(discord_emulator, thread_id, "⚠️")
    assert TOO_LARGE in notice.content


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_a_magicai_body_past_its_cap_ends_the_turn_clearly(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, magicai: MagicAIEmulator, chunked: bool
) -> None:
    magicai.enqueue(MagicReply(text="y" * JSON_BODY_MAX_BYTES, chunked=chunked), MagicReply(text="Small again."))
    thread_id = (await thread_for(discord_emulator, await chat(discord_emulator, "hi", provider="magicai"))).id
    notice = await wait_for_post(discord_emulator, thread_id, "⚠️")
    assert TOO_LARGE in notice.content and "Magic AI" in notice.content

    mark = await say(discord_emulator, thread_id, "again")
    await wait_for_post(discord_emulator, thread_id, "Small again.", after=mark)


async def test_a_soundverse_body_past_its_cap_sent_chunked_ends_the_turn_clearly(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, soundverse: SoundverseEmulator
) -> None:
    soundverse.enqueue(SoundverseReply(text="z" * (JSON_BODY_MAX_BYTES + 1), chunked=True))
    thread_id = (await thread_for(discord_emulator, await chat(discord_emulator, "hi", provider="soundverse"))).id
    notice = await wait_for_post(discord_emulator, thread_id, "⚠️")
    assert TOO_LARGE in notice.content and "Soundverse" in notice.content


async def test_an_agentverse_poll_past_its_cap_ends_the_turn_clearly(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, agentverse: AgentverseEmulator
) -> None:
    agentverse.script([Step(on="start", emit=[agent_info("w" * JSON_BODY_MAX_BYTES)])])
    thread_id = (await thread_for(discord_emulator, await chat(discord_emulator, "go", provider="agentverse"))).id
    notice = await wait_for_post(discord_emulator, thread_id, "⚠️")
    assert TOO_LARGE in notice.content and "Agentverse" in notice.content


async def test_an_sse_frame_nested_too_deep_is_a_garbled_reply(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator
) -> None:
    ablt.enqueue(Reply(tokens=["Deep"], raw_frames=("[" * 100_000,)))
    thread = await thread_for(discord_emulator, await chat(discord_emulator, "nest"))
    notice = await wait_for_post(discord_emulator, thread.id, "⚠️")
    assert "garbled" in notice.content
