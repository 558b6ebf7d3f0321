"""Channel bindings: managers give a channel to a provider; every message there is answered, across restarts."""

from __future__ import annotations

from collections.abc import Callable

from tests.emulators.ablt import AbltEmulator, Reply
from tests.emulators.discord import DiscordEmulator
from tests.support.harness import BotProcess
from tests.support.journey import bot_posts, command, thread_for, wait_for_post, wait_for_reply

BOTH_STORES = True  # every journey here runs on SQLite and on PostgreSQL (tests/support/fixtures.py)


async def bind(discord: DiscordEmulator, **options: str) -> None:
    done = await command(discord, "bind", discord.channel_id, **options)
    assert not done.ephemeral, done.original_message.content if done.original_message else done


async def test_thread_mode_opens_a_thread_per_message_with_the_bound_settings(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator
) -> None:
    await bind(discord_emulator, provider="ablt", bot="writer")
    first = await discord_emulator.send_user_message(discord_emulator.channel_id, "Write me a poem")
    second = await discord_emulator.send_user_message(discord_emulator.channel_id, "Now a story")

    await discord_emulator.wait_for(lambda: len(discord_emulator.threads) == 2, 15, "two threads")
    by_starter = {t.starter_message_id: t for t in discord_emulator.threads}
    # Unscripted, aBLT echoes each prompt: the two threads' turns run at once, in either order.
    await wait_for_reply(discord_emulator, by_starter[first.id].id, "You said: Write me a poem")
    await wait_for_reply(discord_emulator, by_starter[second.id].id, "You said: Now a story")
    assert by_starter[first.id].name == "Write me a poem" and by_starter[first.id].type == 11
    assert [r.body["bot_slug"] for r in ablt.requests] == ["writer", "writer"]
    assert all(len(r.body["messages"]) == 1 for r in ablt.requests)  # each thread is its own conversation


async def test_channel_mode_is_one_shared_conversation_in_the_channel(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator
) -> None:
    await bind(discord_emulator, provider="ablt", mode="channel")
    bob = discord_emulator.add_member("bob")
    ablt.enqueue(Reply(text="Hello Alice."), Reply(text="Hello Bob."))
    await discord_emulator.send_user_message(discord_emulator.channel_id, "Hi, I'm Alice")
    await wait_for_post(discord_emulator, discord_emulator.channel_id, "Hello Alice.")
    await discord_emulator.send_user_message(discord_emulator.channel_id, "And I'm Bob", user_id=bob)
    await wait_for_post(discord_emulator, discord_emulator.channel_id, "Hello Bob.")

    assert not discord_emulator.threads
    assert [m["content"] for m in ablt.requests[-1].body["messages"]] == [
        "Hi, I'm Alice",
        "Hello Alice.",
        "And I'm Bob",
    ]


async def test_unbind_stops_answers_and_the_binding_survives_a_restart_until_then(
    make_bot: Callable[..., BotProcess], discord_emulator: DiscordEmulator, ablt: AbltEmulator
) -> None:
    first = make_bot()
    await first.start()
    await bind(discord_emulator, provider="ablt", mode="channel")
    await first.stop()

    second = make_bot()
    await second.start()
    ablt.enqueue(Reply(text="Still bound."))
    await discord_emulator.send_user_message(discord_emulator.channel_id, "Are you there?")
    await wait_for_post(discord_emulator, discord_emulator.channel_id, "Still bound.")
    unbound = await command(discord_emulator, "unbind", discord_emulator.channel_id)
    assert not unbound.ephemeral
    mark = (await discord_emulator.send_user_message(discord_emulator.channel_id, "hello?")).id
    await wait_for_post(discord_emulator, discord_emulator.channel_id, "has ended", after=mark)
    await second.stop()
    assert len(ablt.requests) == 1  # after /unbind the channel no longer answers: its conversation ended


async def test_chat_without_a_provider_uses_the_binding_or_asks(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator
) -> None:
    asked = await command(discord_emulator, "chat", discord_emulator.channel_id, prompt="hello")
    assert asked.ephemeral and "Pick a provider" in asked.original_message.content

    await bind(discord_emulator, provider="ablt", bot="coder")
    ablt.enqueue(Reply(text="def f(): pass"))
    interaction = await command(discord_emulator, "chat", discord_emulator.channel_id, prompt="some code")
    thread = await thread_for(discord_emulator, interaction)
    await wait_for_reply(discord_emulator, thread.id, "def f(): pass")
    assert ablt.requests[-1].body["bot_slug"] == "coder"
    assert bot_posts(discord_emulator, thread.id)
