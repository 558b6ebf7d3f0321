"""Member input in other shapes: forwards, replies, stickers, embeds, files, edits, other bots and webhooks.

Each is used as the member's turn or answered with a short hint; nothing is dropped silently.
"""

from __future__ import annotations

import logging

import pytest

from tests.emulators.ablt import AbltEmulator
from tests.emulators.discord import AttachmentSpec, DiscordEmulator
from tests.support.harness import BotProcess
from tests.support.journey import bot_posts, chat, last_message_id, thread_for, wait_for_post, wait_for_reply

IMAGE = AttachmentSpec("cat.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "image/png")


async def conversation(discord_emulator: DiscordEmulator) -> int:
    thread = await thread_for(discord_emulator, await chat(discord_emulator, "hello"))
    await wait_for_reply(discord_emulator, thread.id, "You said: hello")
    return thread.id


def last_turn(ablt: AbltEmulator) -> str:
    return str(ablt.requests[-1].body["messages"][-1]["content"])


async def test_a_forwarded_message_is_the_members_turn_marked_as_forwarded(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    bob = discord_emulator.add_member("bob")
    original = await discord_emulator.send_user_message(None, "The meeting moved to 5 pm on Friday.", user_id=bob)
    thread_id = await conversation(discord_emulator)
    mark = last_message_id(discord_emulator, thread_id)

    await discord_emulator.send_user_message(thread_id, "", forward_of=original.id)

    expected = "[Forwarded message]\nThe meeting moved to 5 pm on Friday."
    await wait_for_reply(discord_emulator, thread_id, f"You said: {expected}", after=mark)
    assert last_turn(ablt) == expected
    assert not [r for r in caplog.records if "Message Content" in r.getMessage()]  # no misleading warning


async def test_a_forwarded_bot_message_with_only_an_embed_is_read_from_the_embed(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator
) -> None:
    helper = discord_emulator.add_member("helperbot", bot=True)
    embed = {"title": "Opening hours", "description": "Mon-Fri 9-17", "fields": [{"name": "Sat", "value": "10-14"}]}
    original = await discord_emulator.send_user_message(None, "", user_id=helper, embeds=[embed])
    thread_id = await conversation(discord_emulator)
    mark = last_message_id(discord_emulator, thread_id)

    await discord_emulator.send_user_message(thread_id, "", forward_of=original.id)

    await wait_for_post(discord_emulator, thread_id, "You said: [Forwarded message]", after=mark)
    assert last_turn(ablt) == "[Forwarded message]\nOpening hours\nMon-Fri 9-17\nSat: 10-14"


async def test_a_forward_of_only_an_image_gets_a_hint_and_reaches_no_provider(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator
) -> None:
    picture = await discord_emulator.send_user_message(None, "", attachments=[IMAGE])
    thread_id = await conversation(discord_emulator)
    calls, mark = len(ablt.requests), last_message_id(discord_emulator, thread_id)

    await discord_emulator.send_user_message(thread_id, "", forward_of=picture.id)

    await wait_for_post(discord_emulator, thread_id, "reads text only", after=mark)
    assert len(ablt.requests) == calls


async def test_a_reply_to_an_earlier_bot_message_quotes_it_for_the_provider(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator
) -> None:
    thread_id = await conversation(discord_emulator)
    answer = bot_posts(discord_emulator, thread_id)[-1]
    mark = last_message_id(discord_emulator, thread_id)

    await discord_emulator.send_user_message(thread_id, "what did you mean?", reply_to=answer.id)

    await wait_for_post(discord_emulator, thread_id, "what did you mean?", after=mark)
    assert last_turn(ablt) == "[Replying to EmulatorBot]\n> You said: hello\n\nwhat did you mean?"


async def test_a_sticker_alone_gets_a_short_hint(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator
) -> None:
    thread_id = await conversation(discord_emulator)
    calls, mark = len(ablt.requests), last_message_id(discord_emulator, thread_id)

    await discord_emulator.send_user_message(thread_id, "", sticker_ids=[discord_emulator.sticker_id])
    sticker_hint = await wait_for_post(discord_emulator, thread_id, "stickers", after=mark)
    assert "type your message" in sticker_hint.content and sticker_hint.message_reference is not None
    assert len(ablt.requests) == calls


async def test_editing_an_answered_message_gets_one_hint_and_no_second_answer(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator
) -> None:
    thread_id = await conversation(discord_emulator)
    mark = last_message_id(discord_emulator, thread_id)
    question = await discord_emulator.send_user_message(thread_id, "capital of Spain?")
    await wait_for_reply(discord_emulator, thread_id, "You said: capital of Spain?", after=question.id)
    calls = len(ablt.requests)

    await discord_emulator.edit_user_message(question.id, "capital of Portugal?")
    hint = await wait_for_post(discord_emulator, thread_id, "edits don't reach the AI", after=mark)
    await discord_emulator.edit_user_message(question.id, "capital of Italy?")
    follow = await discord_emulator.send_user_message(thread_id, "ping")
    await wait_for_reply(discord_emulator, thread_id, "You said: ping", after=follow.id)

    assert hint.message_reference is not None and hint.message_reference["message_id"] == str(question.id)
    assert sum("edits don't reach" in m.content for m in bot_posts(discord_emulator, thread_id)) == 1
    assert len(ablt.requests) == calls + 1  # only "ping" was sent on


async def test_messages_from_other_bots_and_webhooks_are_ignored(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    thread_id = await conversation(discord_emulator)
    other_bot = discord_emulator.add_member("otherbot", bot=True)
    calls = len(ablt.requests)

    await discord_emulator.send_user_message(thread_id, "I am a bot, answer me", user_id=other_bot)
    await discord_emulator.send_webhook_message(thread_id, "A webhook speaks")
    follow = await discord_emulator.send_user_message(thread_id, "and me?")
    await wait_for_reply(discord_emulator, thread_id, "You said: and me?", after=follow.id)

    assert len(ablt.requests) == calls + 1
    assert last_turn(ablt) == "and me?"
    assert [m.content for m in bot_posts(discord_emulator, thread_id)][-1] == "You said: and me?"
