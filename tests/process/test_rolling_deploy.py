"""A rolling deploy: for a while two processes hold the same shard (Discord allows duplicate sessions) and
both receive every event. Each member action still takes effect once, and nothing is posted twice."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from tests.emulators.ablt import AbltEmulator, Reply
from tests.emulators.agentverse import AgentverseEmulator
from tests.emulators.discord import DiscordEmulator
from tests.support.agentverse import custom_id, objective, offer_with
from tests.support.controls import MEMBER, entries
from tests.support.harness import BotProcess
from tests.support.journey import WAIT_S, bot_posts, chat, say, shown_reply, thread_for, wait_for_post, wait_for_reply

COOLDOWN_S = 2


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
async def test_two_processes_on_one_shard_answer_each_action_once(
    make_bot: Callable[..., BotProcess], discord_emulator: DiscordEmulator, agentverse: AgentverseEmulator
) -> None:
    old = make_bot()
    await old.start()
    thread_id = await objective(discord_emulator, "Find me a flight")
    tasks = await offer_with(discord_emulator, thread_id, "Flights/Flights")

    new = make_bot()  # the new release starts while the old one still runs
    await new.start()
    agentverse.delay_s = 1.0
    click = await discord_emulator.click_button(tasks.id, custom_id(tasks, "Flights/Flights"))
    await click.wait_for_response(WAIT_S)
    question = await wait_for_post(discord_emulator, thread_id, "departure city", after=tasks.id)
    await say(discord_emulator, thread_id, "London")
    await offer_with(discord_emulator, thread_id, "Confirm", after=question.id)
    await old.stop()
    await new.stop()

    contents = [m.content for m in bot_posts(discord_emulator, thread_id)]
    assert len(contents) == len(set(contents)), contents  # nothing posted twice
    submits = agentverse.latest_session.submits
    assert sum(1 for s in submits if (s.get("user_json") or {}).get("type") == "task_list") == 1
    assert [s["user_message"] for s in submits if s["type"] == "user_message"] == ["London", "London"]
    assert click.rejected_callbacks == 0 and click.response_type == 7  # the click was answered once, in place


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
async def test_a_process_starting_beside_one_writing_a_reply_leaves_that_reply_alone(
    make_bot: Callable[..., BotProcess], discord_emulator: DiscordEmulator, ablt: AbltEmulator, database: str
) -> None:
    """Issue 18, sample 7: the new release starts while the old one streams a reply. The reply is the old
    process's (it is alive): the new one does not mark it interrupted, and no false "cut off" line appears."""
    old = make_bot()
    await old.start()
    words = [f" word{i}" for i in range(40)]
    ablt.enqueue(Reply(tokens=["Start", *words], token_interval_s=0.25))
    thread = await thread_for(discord_emulator, await chat(discord_emulator, "Tell me a long story"))
    await discord_emulator.wait_for(lambda: shown_reply(discord_emulator, thread.id).startswith("Start"), WAIT_S)
    new = make_bot()
    await new.start()
    assert (await entries(database, thread.id))[-1]["status"] == "streaming"  # still being written
    await wait_for_reply(discord_emulator, thread.id, "Start" + "".join(words))
    await new.stop()
    await old.stop()
    assert not [m for m in bot_posts(discord_emulator, thread.id) if "cut off" in m.content]
    assert (await entries(database, thread.id))[-1]["status"] == "complete"


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
async def test_a_message_both_processes_receive_is_taken_once_before_any_gate(
    make_bot: Callable[..., BotProcess], discord_emulator: DiscordEmulator, ablt: AbltEmulator
) -> None:
    """Issue 18, sample 7: with a cooldown set, the process that did not take a member's message says nothing
    (it used to answer "Slow down" after the other had started the member's cooldown), and the process that did
    not take a command says nothing either."""
    member = discord_emulator.add_member("bob")
    discord_emulator.set_everyone_permissions(MEMBER)  # no Manage Server: the cooldown applies to bob
    old = make_bot(DEFAULT_COOLDOWN_S=str(COOLDOWN_S))
    await old.start()
    ablt.enqueue(Reply(text="Hello."), Reply(text="Sure."), Reply(text="Go on."))
    thread = await thread_for(discord_emulator, await chat(discord_emulator, "Hi", by=member))
    await wait_for_reply(discord_emulator, thread.id, "Hello.")
    new = make_bot(DEFAULT_COOLDOWN_S=str(COOLDOWN_S))
    await new.start()
    await asyncio.sleep(COOLDOWN_S)  # the cooldown /chat started passes
    mark = await say(discord_emulator, thread.id, "Can you help?", by=member)
    await wait_for_post(discord_emulator, thread.id, "Sure.", after=mark)
    await asyncio.sleep(COOLDOWN_S)
    opened = await chat(discord_emulator, "Another question", by=member)  # both get it; one answers
    await wait_for_reply(discord_emulator, (await thread_for(discord_emulator, opened)).id, "Go on.")
    await old.stop()
    await new.stop()
    posts = [m.content for m in bot_posts(discord_emulator, thread.id) if m.id > mark]
    assert posts == ["Sure."], posts
    assert not opened.followups and opened.rejected_callbacks == 0
