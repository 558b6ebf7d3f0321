"""Slowmode for turns the bot posts for members through interactions (`/chat`, choices, Retry): Discord limits
only members' own messages, so the bot applies the channel's `rate_limit_per_user` per member and channel, kept
in the shared store; refusals are private and say when to try again; BYPASS_SLOWMODE holders are exempt."""

from __future__ import annotations

import asyncio
import re
import time

from bot.store import Store
from tests.emulators.ablt import AbltEmulator
from tests.emulators.convai import ConvaiEmulator, ConvaiReply, StarterScript
from tests.emulators.discord import BYPASS_SLOWMODE, GENEROUS_PERMISSIONS, DiscordEmulator, InteractionRecord
from tests.support.harness import BotProcess
from tests.support.journey import WAIT_S, chat, offer_posts, refusal, thread_for, wait_for_post, wait_for_reply
from tests.support.permissions import click, failure_line, public_posts

BOTH_STORES = True  # every journey here runs on SQLite and on PostgreSQL (tests/support/fixtures.py)


def try_again_at(refused: InteractionRecord) -> int:
    """The Unix time in the refusal's Discord timestamp (`<t:…:R>`), after checking it is slowmode's."""
    text = refusal(refused)
    assert text.startswith("Slowmode is on in this "), text
    found = re.search(r"<t:(\d+):R>", text)
    assert found is not None, text
    return int(found.group(1))


async def test_chat_in_a_slowmode_channel_waits_per_member_and_moderators_pass(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator
) -> None:
    mods = discord_emulator.add_role("Mods", permissions=GENEROUS_PERMISSIONS | BYPASS_SLOWMODE)
    bob, carol = discord_emulator.add_member("bob"), discord_emulator.add_member("carol")
    mod = discord_emulator.add_member("mod", roles=[mods])
    channel = discord_emulator.channel_id
    discord_emulator.set_slowmode(channel, 2)

    began = time.time()
    await thread_for(discord_emulator, await chat(discord_emulator, "first", by=bob))
    refused = await chat(discord_emulator, "second", by=bob)
    free_at = try_again_at(refused)
    assert began + 2 <= free_at <= time.time() + 3
    assert "one message every 2 s per member. You can start a conversation again <t:" in refusal(refused)
    for other in (carol, mod, mod):  # another member; a moderator, twice
        await thread_for(discord_emulator, await chat(discord_emulator, f"from {other}", by=other))
    assert len(discord_emulator.threads) == 4 and len(public_posts(discord_emulator, channel)) == 4
    assert "second" not in {r.body["messages"][-1]["content"] for r in ablt.requests}

    await asyncio.sleep(max(0.0, free_at - time.time()))  # the time the refusal named
    again = await thread_for(discord_emulator, await chat(discord_emulator, "third", by=bob))
    await wait_for_reply(discord_emulator, again.id, "You said: third")


async def test_a_choice_then_retry_in_a_slowmode_thread_is_refused_until_the_time_it_names(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, convai: ConvaiEmulator
) -> None:
    mods = discord_emulator.add_role("Mods", permissions=GENEROUS_PERMISSIONS | BYPASS_SLOWMODE)
    bob, mod = discord_emulator.add_member("bob"), discord_emulator.add_member("mod", roles=[mods])
    convai.enqueue(ConvaiReply(text="Hello, traveller."), ConvaiReply(status=500), ConvaiReply(text="Alpha."))
    convai.enqueue_starters(StarterScript(suggestions=["What is your name?", "Where are you from?"]))
    thread = await thread_for(discord_emulator, await chat(discord_emulator, "Hi!", provider="convai", by=bob))
    await discord_emulator.wait_for(lambda: bool(offer_posts(discord_emulator, thread.id)), WAIT_S, "starters")
    (offer,) = offer_posts(discord_emulator, thread.id)
    discord_emulator.set_slowmode(thread.id, 600)

    chose_at = time.time()
    chosen = await click(discord_emulator, offer, "offer:", by=bob)  # bob's first turn through a button: it goes
    assert not chosen.ephemeral
    line = await failure_line(discord_emulator, thread.id)
    turns = len(convai.requests)
    retried = await click(discord_emulator, line, "retry:", by=bob)
    assert chose_at + 600 <= try_again_at(retried) <= time.time() + 601
    assert "Slowmode is on in this thread: one message every 10 min per member." in refusal(retried)
    assert len(convai.requests) == turns  # Convai was not asked
    assert discord_emulator.message(line.id).custom_ids() == line.custom_ids()  # Retry is still there

    await click(discord_emulator, line, "retry:", by=mod)  # BYPASS_SLOWMODE
    await wait_for_post(discord_emulator, thread.id, "Alpha.", after=line.id)


async def test_one_slowmode_turn_per_member_and_channel_across_processes(database: str) -> None:
    """Two processes' stores on one database: of many simultaneous turns one goes; the same interaction seen by
    both goes in both (it is one turn); looking does not spend; another member or channel is apart."""
    first, second = await asyncio.gather(Store.open(database), Store.open(database))
    try:
        outcomes = await asyncio.gather(
            *(store.coordination.slowmode(10, 42, 30.0, via=via) for via, store in enumerate([first, second] * 5))
        )
        assert outcomes.count(None) == 1
        assert all(o is not None and time.time() + 29 < o <= time.time() + 30 for o in outcomes if o is not None)
        taken_by = outcomes.index(None)
        assert await second.coordination.slowmode(10, 42, 30.0, via=taken_by) is None  # the same interaction
        assert await first.coordination.slowmode(10, 42, 30.0, via=99, take=False) is not None
        assert await first.coordination.slowmode(10, 43, 30.0, via=100, take=False) is None  # only looked
        assert await first.coordination.slowmode(10, 43, 30.0, via=101) is None
        assert await second.coordination.slowmode(11, 42, 30.0, via=102) is None  # another channel
        assert await second.coordination.slowmode(10, 42, 0.0, via=103) is None  # slowmode lifted
    finally:
        await asyncio.gather(first.close(), second.close())
