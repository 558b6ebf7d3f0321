"""The bot keeps polling the engine while it is still showing the previous engine messages in Discord.

After a click the engine sends the context info and a subtask list, which the bot picks from at once;
the engine's question then comes 0.3 s after that pick. Discord makes the bot's first post of those
messages wait 3 s (a shared-scope 429, which discord.py sleeps through; those messages are followups of the
click, so the 429 is on the interaction's webhook): the bot must have fetched the question before that post was
made, instead of starting to wait for it only once it was shown.
"""

from __future__ import annotations

from tests.emulators.agentverse import QUESTION, AgentverseEmulator
from tests.emulators.discord import DiscordEmulator, Fault
from tests.support.harness import BotProcess
from tests.support.journey import bot_posts, chat, offer_posts, thread_for, wait_for_post

WAIT_S = 15.0
RETRY_AFTER_S = 3.0
FOLLOWUP = "/webhooks/{app_id}/{token}"


async def test_the_next_engine_message_is_fetched_while_the_last_ones_are_still_being_posted(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, agentverse: AgentverseEmulator
) -> None:
    thread = await thread_for(discord_emulator, await chat(discord_emulator, "Find a flight", provider="agentverse"))
    await discord_emulator.wait_for(lambda: bool(offer_posts(discord_emulator, thread.id)), WAIT_S, "the task list")
    [tasks] = offer_posts(discord_emulator, thread.id)
    agentverse.delay_s = 0.3
    slow = discord_emulator.inject_fault(
        Fault.shared_429(retry_after=RETRY_AFTER_S, method="POST", route=FOLLOWUP, times=1)
    )
    button = next(i["custom_id"] for row in tasks.components for i in row["components"] if i.get("label"))
    await (await discord_emulator.click_button(tasks.id, button)).wait_for_response(WAIT_S)

    question = await wait_for_post(discord_emulator, thread.id, QUESTION, after=tasks.id)
    assert slow.hits == 1
    first_after_click = next(m for m in bot_posts(discord_emulator, thread.id) if m.id > tasks.id)
    assert first_after_click.id < question.id  # shown in order
    session = agentverse.latest_session
    asked = next(e.message["message_id"] for e in session.emitted if e.message["type"] == "agent_message")
    assert session.delivered_at[asked] < first_after_click.created_at  # polled while that post was held back
