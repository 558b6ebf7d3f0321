"""Convai in a thread: streamed text, spoken answers as voice messages, conversation-starter buttons, errors."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.emulators.convai import ConvaiEmulator, ConvaiReply, StarterScript
from tests.emulators.discord import VOICE_MESSAGE_FLAG, DiscordEmulator, MessageRecord
from tests.support.harness import CONVAI_CHARACTER, BotProcess
from tests.support.journey import bot_posts, chat, command, offer_posts, say, thread_for, wait_for_post, wait_for_reply
from tests.support.layout import BUTTON, TEXT_DISPLAY, parts

BOTH_STORES = True  # every journey here runs on SQLite and on PostgreSQL (tests/support/fixtures.py)

SEND_VOICE_MESSAGES = 1 << 46


async def convai_chat(discord: DiscordEmulator, prompt: str, **options: str) -> int:
    return (await thread_for(discord, await chat(discord, prompt, provider="convai", **options))).id


def voice_messages(discord: DiscordEmulator, channel_id: int) -> list[MessageRecord]:
    return [m for m in bot_posts(discord, channel_id) if m.flags & VOICE_MESSAGE_FLAG]


def suggestion_posts(discord: DiscordEmulator, channel_id: int) -> list[MessageRecord]:
    return offer_posts(discord, channel_id)


async def test_text_turns_stream_keep_convai_session_and_answer_with_a_voice_message(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, convai: ConvaiEmulator
) -> None:
    convai.enqueue(ConvaiReply(chunks=["Hello", " there,", " traveller!"]), ConvaiReply(text="I am Alpha."))
    thread_id = await convai_chat(discord_emulator, "Hi!")
    await wait_for_reply(discord_emulator, thread_id, "Hello there, traveller!")
    await discord_emulator.wait_for(lambda: bool(voice_messages(discord_emulator, thread_id)), 15, "voice message")

    first = convai.requests[0].fields
    assert first["userText"] == "Hi!" and first["charID"] == CONVAI_CHARACTER
    assert first["sessionID"] == "-1" and first["voiceResponse"] == "True" and first["stream"] == "True"
    (voice,) = voice_messages(discord_emulator, thread_id)
    (attachment,) = voice.attachments
    assert attachment.filename == "voice-message.ogg" and attachment.content_type.startswith("audio/ogg")
    assert attachment.data[:4] == b"OggS" and voice.content == ""

    mark = await say(discord_emulator, thread_id, "Who are you?")
    await wait_for_post(discord_emulator, thread_id, "I am Alpha.", after=mark)
    session_id = convai.requests[-1].fields["sessionID"]
    assert session_id != "-1" and session_id in convai.sessions


async def test_spoken_answer_falls_back_to_a_wav_file_without_voice_message_permission(
    make_bot: Callable[..., BotProcess], discord_emulator: DiscordEmulator, convai: ConvaiEmulator
) -> None:
    discord_emulator.set_bot_permissions(((1 << 51) - 1) & ~(1 << 3) & ~SEND_VOICE_MESSAGES)
    bot = make_bot()
    await bot.start()
    thread_id = await convai_chat(discord_emulator, "Say something")

    def wav_posts() -> list[MessageRecord]:
        return [m for m in bot_posts(discord_emulator, thread_id) if m.attachments]

    await discord_emulator.wait_for(lambda: bool(wav_posts()), 15, "the WAV attachment")
    await bot.stop()
    (attachment,) = wav_posts()[0].attachments
    assert attachment.filename == "reply.wav" and attachment.data[:4] == b"RIFF"
    assert not voice_messages(discord_emulator, thread_id)


async def test_voice_replies_can_be_turned_off(
    make_bot: Callable[..., BotProcess], discord_emulator: DiscordEmulator, convai: ConvaiEmulator
) -> None:
    bot = make_bot(CONVAI_VOICE_REPLIES="off")
    await bot.start()
    convai.enqueue(ConvaiReply(text="Quiet answer."))
    thread_id = await convai_chat(discord_emulator, "hello")
    await wait_for_reply(discord_emulator, thread_id, "Quiet answer.")
    await bot.stop()
    assert convai.requests[0].fields["voiceResponse"] == "False"
    assert not [m for m in bot_posts(discord_emulator, thread_id) if m.attachments]


async def test_starters_become_buttons_and_a_click_is_the_next_turn_even_after_a_restart(
    make_bot: Callable[..., BotProcess], discord_emulator: DiscordEmulator, convai: ConvaiEmulator
) -> None:
    long = "Tell me about the time you crossed the great desert with nothing but a compass and a song in your heart"
    convai.enqueue_starters(StarterScript(suggestions=["What is your name?", long, "Where are you from?"]))
    first = make_bot()
    await first.start()
    thread_id = await convai_chat(discord_emulator, "Hi!")
    await discord_emulator.wait_for(lambda: bool(suggestion_posts(discord_emulator, thread_id)), 15, "starters")
    await first.stop()

    (offer,) = suggestion_posts(discord_emulator, thread_id)  # one starter is too long for a button: sections
    texts = [t["content"] for t in parts(offer, TEXT_DISPLAY)]
    assert texts == ["💬 You could ask:", "**1.** What is your name?", f"**2.** {long}", "**3.** Where are you from?"]
    buttons = parts(offer, BUTTON)
    assert [b["label"] for b in buttons] == ["Choose 1", "Choose 2", "Choose 3"]

    second = make_bot()
    await second.start()
    convai.enqueue(ConvaiReply(text="My name is Alpha."))
    click = await discord_emulator.click_button(offer.id, buttons[0]["custom_id"])
    await click.wait_for_response(10)
    await wait_for_post(discord_emulator, thread_id, "My name is Alpha.", after=offer.id)
    assert convai.requests[-1].fields["userText"] == "What is your name?"
    updated = discord_emulator.message(offer.id)
    assert any("chose: What is your name?" in t["content"] for t in parts(updated, TEXT_DISPLAY))
    assert all(b.get("disabled") for b in parts(updated, BUTTON))  # chosen once
    await second.stop()


async def test_old_suggestions_after_reset_get_a_private_explanation(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, convai: ConvaiEmulator
) -> None:
    convai.enqueue_starters(StarterScript(suggestions=["One?", "Two?"]))
    thread_id = await convai_chat(discord_emulator, "Hi!")
    await discord_emulator.wait_for(lambda: bool(suggestion_posts(discord_emulator, thread_id)), 15, "starters")
    (offer,) = suggestion_posts(discord_emulator, thread_id)
    await command(discord_emulator, "reset", thread_id)

    click = await discord_emulator.click_button(offer.id, offer.components[0]["components"][0]["custom_id"])
    await click.wait_for_response(10)
    assert click.ephemeral and "ended or moved on" in click.original_message.content
    mark = await say(discord_emulator, thread_id, "hello again")
    await wait_for_post(discord_emulator, thread_id, "hello again", after=mark)
    answers = [r for r in convai.requests if r.path.endswith("getResponse")]
    assert answers[-1].fields["sessionID"] == "-1"  # /reset started a new Convai session


@pytest.mark.parametrize(
    ("reply", "says"),
    [
        pytest.param(
            ConvaiReply(status=400, body={"ERROR": "Character is unavailable"}), "Character is unavailable", id="400"
        ),
        pytest.param(ConvaiReply(status=401), "CONVAI_API_KEY", id="401"),
        pytest.param(
            ConvaiReply(status=404, body={"charID": "char-alpha", "text": "process_failure, error: boom"}),
            "could not come up with a reply",
            id="404-process-failure",
        ),
        pytest.param(ConvaiReply(status=500), "having trouble", id="500"),
        pytest.param(ConvaiReply(hang=True), "did not answer in time", id="timeout"),
    ],
)
async def test_errors_become_one_clear_line_and_the_thread_goes_on(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, convai: ConvaiEmulator, reply: ConvaiReply, says: str
) -> None:
    convai.enqueue(reply)
    thread_id = await convai_chat(discord_emulator, "hello")
    notice = await wait_for_post(discord_emulator, thread_id, "⚠️")
    assert says in notice.content and "process_failure" not in notice.content

    convai.enqueue(ConvaiReply(text="Back again."))
    mark = await say(discord_emulator, thread_id, "again")
    await wait_for_post(discord_emulator, thread_id, "Back again.", after=mark)


async def test_429_shows_convai_message_after_one_retry(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, convai: ConvaiEmulator
) -> None:
    limited = ConvaiReply(status=429, body={"ERROR": "Rate limit exceeded. Please try again later."})
    convai.enqueue(limited, limited)
    thread_id = await convai_chat(discord_emulator, "hello")
    notice = await wait_for_post(discord_emulator, thread_id, "⚠️")
    assert "Rate limit exceeded" in notice.content


async def test_plain_json_answer_and_a_broken_stream_both_still_reach_the_member(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, convai: ConvaiEmulator
) -> None:
    convai.enqueue(
        ConvaiReply(text="Plain JSON answer.", ignore_stream=True),
        ConvaiReply(text="ignored", broken_stream_after=0),
        ConvaiReply(text="Recovered without streaming."),
    )
    thread_id = await convai_chat(discord_emulator, "one")
    await wait_for_reply(discord_emulator, thread_id, "Plain JSON answer.")
    mark = await say(discord_emulator, thread_id, "two")
    await wait_for_post(discord_emulator, thread_id, "Recovered without streaming.", after=mark)
    assert [r.fields.get("stream") for r in convai.requests if r.path.endswith("getResponse")][-2:] == ["True", "False"]


async def test_character_option_picks_who_answers(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, convai: ConvaiEmulator
) -> None:
    thread_id = await convai_chat(discord_emulator, "Who is this?", character="char-beta")
    await wait_for_post(discord_emulator, thread_id, "Beta: you said")
    assert convai.requests[0].fields["charID"] == "char-beta"


async def test_starters_are_asked_for_once_per_session_even_when_there_are_none(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, convai: ConvaiEmulator
) -> None:
    convai.enqueue_starters(StarterScript(suggestions=[]))
    thread_id = await convai_chat(discord_emulator, "first")
    await wait_for_post(discord_emulator, thread_id, "you said 'first'")
    mark = await say(discord_emulator, thread_id, "second")
    await wait_for_post(discord_emulator, thread_id, "you said 'second'", after=mark)
    assert sum(1 for r in convai.requests if r.path.endswith("generate-starter-conversation")) == 1
    assert not suggestion_posts(discord_emulator, thread_id)
