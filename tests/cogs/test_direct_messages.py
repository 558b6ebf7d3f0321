"""Direct messages: refused by default with a message, or (ALLOW_DMS=on) one conversation per DM."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bot.core.gate import DMS_OFF
from tests.emulators.ablt import AbltEmulator, Reply
from tests.emulators.discord import DiscordEmulator
from tests.support.harness import BotProcess
from tests.support.journey import bot_posts, command, refusal, say, wait_for_post, wait_for_reply


async def test_dms_are_refused_by_default_with_a_message_and_no_dm_commands(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator
) -> None:
    bob = discord_emulator.add_member("bob")
    dm = discord_emulator.open_dm(bob)
    await say(discord_emulator, dm, "hello bot", by=bob)
    await wait_for_post(discord_emulator, dm, "I only chat in servers")
    await say(discord_emulator, dm, "hello?", by=bob)  # not repeated within the minute
    await discord_emulator.send_user_message(discord_emulator.channel_id, "meanwhile in the server")

    assert [m.content for m in bot_posts(discord_emulator, dm)] == [DMS_OFF]
    assert not ablt.requests
    registered = {c["name"]: c for c in discord_emulator.commands}
    assert registered["chat"]["contexts"] == [0] and registered["end"]["contexts"] == [0]
    with pytest.raises(ValueError, match="context"):
        await discord_emulator.run_slash_command("chat", {"prompt": "hi", "provider": "ablt"}, channel_id=dm)


async def bob_in_a_dm(make_bot: Callable[..., BotProcess], discord: DiscordEmulator, **env: str) -> tuple[int, int]:
    """Start the bot with DMs on (and `env`); bob's id and his DM with the bot."""
    bob = discord.add_member("bob")
    await make_bot(ALLOW_DMS="on", **env).start()
    return bob, discord.open_dm(bob)


async def test_with_dms_allowed_a_dm_is_one_conversation(
    make_bot: Callable[..., BotProcess], discord_emulator: DiscordEmulator, ablt: AbltEmulator
) -> None:
    bob, dm = await bob_in_a_dm(make_bot, discord_emulator, PROVIDER_TIMEOUT_S="2")
    registered = {c["name"]: c for c in discord_emulator.commands}
    assert registered["chat"]["contexts"] == [0, 1] and registered["bind"]["contexts"] == [0]

    mark = await say(discord_emulator, dm, "hello", by=bob)
    await wait_for_post(discord_emulator, dm, "Start one with `/chat`", after=mark)

    ablt.enqueue(Reply(text="Hi Bob, privately."), Reply(text="Still here."))
    started = await command(discord_emulator, "chat", dm, by=bob, provider="ablt", prompt="hi there")
    assert not started.ephemeral and "started a conversation with" in started.original_message.content
    await wait_for_reply(discord_emulator, dm, "Hi Bob, privately.", after=started.original_message.id)
    assert not discord_emulator.threads  # no thread in a DM: the DM is the conversation

    mark = await say(discord_emulator, dm, "are you still there?", by=bob)
    await wait_for_reply(discord_emulator, dm, "Still here.", after=mark)
    assert [m["content"] for m in ablt.requests[-1].body["messages"]] == [
        "hi there",
        "Hi Bob, privately.",
        "are you still there?",
    ]
    again = await command(discord_emulator, "chat", dm, by=bob, provider="ablt", prompt="new")
    assert "This chat already has a conversation" in refusal(again)
    ended = await command(discord_emulator, "end", dm, by=bob)
    assert not ended.ephemeral and "ended by Bob" in ended.original_message.content


async def test_the_bot_wide_cooldown_applies_in_dms(
    make_bot: Callable[..., BotProcess], discord_emulator: DiscordEmulator, ablt: AbltEmulator
) -> None:
    bob, dm = await bob_in_a_dm(make_bot, discord_emulator, DEFAULT_COOLDOWN_S="60")
    ablt.enqueue(Reply(text="First answer."))
    started = await command(discord_emulator, "chat", dm, by=bob, provider="ablt", prompt="one")
    await wait_for_reply(discord_emulator, dm, "First answer.", after=started.original_message.id)

    mark = await say(discord_emulator, dm, "two", by=bob)
    await wait_for_post(discord_emulator, dm, "one message every 1 min", after=mark)
    assert len(ablt.requests) == 1
