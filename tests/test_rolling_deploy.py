"""A rolling deploy: for a while two processes hold the same shard (Discord allows duplicate sessions) and
both receive every event. Each member action still takes effect once, and nothing is posted twice."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.emulators.agentverse import AgentverseEmulator
from tests.emulators.discord import DiscordEmulator
from tests.harness import BotProcess
from tests.journey import WAIT_S, bot_posts, say, wait_for_post
from tests.test_agentverse_flow import custom_id, objective, offer_with


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
