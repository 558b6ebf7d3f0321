"""A member's journey with aBLT: /chat opens a thread, replies stream in, the thread continues, /end stops it."""

from __future__ import annotations

from tests.emulators.ablt import AbltEmulator, Reply
from tests.emulators.discord import DiscordEmulator
from tests.support.harness import BotProcess
from tests.support.journey import bot_posts, chat, last_message_id, thread_for, wait_for_post, wait_for_reply

BOTH_STORES = True  # every journey here runs on SQLite and on PostgreSQL (tests/support/fixtures.py)

PUBLIC_THREAD = 11


async def test_chat_opens_public_thread_named_after_prompt_and_streams_reply(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator
) -> None:
    ablt.enqueue(Reply(tokens=["To", " pay", " taxes", ", gather", " documents."], token_interval_s=0.05))

    interaction = await chat(discord_emulator, "How do I pay taxes in Texas?")
    thread = await thread_for(discord_emulator, interaction)
    await wait_for_reply(discord_emulator, thread.id, "To pay taxes, gather documents.")

    assert interaction.response_type == 4 and not interaction.ephemeral
    assert thread.type == PUBLIC_THREAD and thread.parent_id == discord_emulator.channel_id
    assert thread.name == "How do I pay taxes in Texas?"
    request = ablt.requests[0]
    assert request.body["stream"] is True and request.body["bot_slug"] == "taxson"
    assert request.body["messages"] == [{"role": "user", "content": "How do I pay taxes in Texas?"}]
    assert len(bot_posts(discord_emulator, thread.id)) == 1  # one message, edited as tokens arrived


async def test_thread_messages_carry_the_whole_conversation(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator
) -> None:
    ablt.enqueue(Reply(text="Paris."), Reply(text="About 2.1 million."))
    thread = await thread_for(discord_emulator, await chat(discord_emulator, "Capital of France?"))
    await wait_for_reply(discord_emulator, thread.id, "Paris.")

    mark = last_message_id(discord_emulator, thread.id)
    await discord_emulator.send_user_message(thread.id, "How many people live there?")
    await wait_for_reply(discord_emulator, thread.id, "About 2.1 million.", after=mark)

    assert ablt.requests[1].body["messages"] == [
        {"role": "user", "content": "Capital of France?"},
        {"role": "assistant", "content": "Paris."},
        {"role": "user", "content": "How many people live there?"},
    ]


async def test_bot_option_picks_the_bot_and_autocompletes_from_ablt(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator
) -> None:
    choices = await discord_emulator.autocomplete(
        "chat", {"provider": "ablt", "prompt": "x", "bot": "wri"}, focused="bot"
    )
    assert [c["value"] for c in choices] == ["writer"]

    thread = await thread_for(discord_emulator, await chat(discord_emulator, "A haiku, please", bot="writer"))
    await wait_for_reply(discord_emulator, thread.id, "You said: A haiku, please")
    assert ablt.requests[0].body["bot_slug"] == "writer"


async def test_chat_in_a_thread_that_already_has_a_conversation_is_refused_privately(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator
) -> None:
    thread = await thread_for(discord_emulator, await chat(discord_emulator, "hello"))
    await wait_for_reply(discord_emulator, thread.id, "You said: hello")

    again = await chat(discord_emulator, "another", channel_id=thread.id)

    assert again.ephemeral
    assert again.original_message is not None and "already has a conversation" in again.original_message.content
    assert len(ablt.requests) == 1


async def test_end_stops_the_conversation_and_later_messages_get_a_hint(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator
) -> None:
    thread = await thread_for(discord_emulator, await chat(discord_emulator, "hello"))
    await wait_for_reply(discord_emulator, thread.id, "You said: hello")

    ended = await discord_emulator.run_slash_command("end", {}, channel_id=thread.id)
    await ended.wait_for_response(5)
    assert ended.original_message is not None and "ended" in ended.original_message.content

    mark = last_message_id(discord_emulator, thread.id)
    await discord_emulator.send_user_message(thread.id, "are you still there?")
    hint = await wait_for_post(discord_emulator, thread.id, "/chat", after=mark)
    assert "ended" in hint.content
    assert len(ablt.requests) == 1

    again = await discord_emulator.run_slash_command("end", {}, channel_id=thread.id)
    await again.wait_for_response(5)
    assert again.ephemeral


async def test_chat_inside_an_unbound_thread_binds_that_thread(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator
) -> None:
    thread_id = (await discord_emulator.create_thread("planning")).id
    interaction = await chat(discord_emulator, "Plan a picnic", channel_id=thread_id)
    await wait_for_reply(discord_emulator, thread_id, "You said: Plan a picnic", after=interaction.original_message.id)

    assert [t.id for t in discord_emulator.threads] == [thread_id]  # no new thread
    mark = last_message_id(discord_emulator, thread_id)
    await discord_emulator.send_user_message(thread_id, "and drinks")
    await wait_for_reply(discord_emulator, thread_id, "You said: and drinks", after=mark)
