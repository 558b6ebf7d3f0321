"""Repeated actions take effect once: double clicks, two `/end`s at once, the same engine message twice."""

from __future__ import annotations

from bot.store import Store
from tests.emulators.agentverse import AgentverseEmulator
from tests.emulators.convai import ConvaiEmulator, StarterScript
from tests.emulators.discord import DiscordEmulator
from tests.support.agentverse import custom_id, objective, offer_with
from tests.support.harness import BotProcess
from tests.support.journey import WAIT_S, bot_posts, chat, offer_posts, thread_for, wait_for_post

BOTH_STORES = True  # every journey here runs on SQLite and on PostgreSQL (tests/support/fixtures.py)


async def test_a_double_click_on_an_option_reaches_the_engine_once_and_the_repeat_is_private(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, agentverse: AgentverseEmulator
) -> None:
    thread_id = await objective(discord_emulator, "Find me a flight")
    tasks = await offer_with(discord_emulator, thread_id, "Flights/Flights")
    button = custom_id(tasks, "Flights/Flights")
    bob = discord_emulator.add_member("bob")

    clicks = [
        await discord_emulator.click_button(tasks.id, button),  # a quick double click...
        await discord_emulator.click_button(tasks.id, button),
        await discord_emulator.click_button(tasks.id, button, user_id=bob),  # ...and someone else at once
    ]
    for click in clicks:
        await click.wait_for_response(WAIT_S)
    await wait_for_post(discord_emulator, thread_id, "departure city", after=tasks.id)

    taken = [c for c in clicks if c.response_type == 7]
    private = [c for c in clicks if c.ephemeral]
    assert len(taken) == 1 and len(private) == 2
    notes = {c.original_message.content for c in private if c.original_message is not None}
    assert notes <= {"You already made this choice; the answer is on its way.", "Someone already made this choice."}
    assert discord_emulator.message(tasks.id).edit_count == 1  # the offer message was closed once
    choices = [s["user_json"] for s in agentverse.latest_session.submits if s.get("user_json")]
    assert [c["selection"] for c in choices if c["type"] == "task_list"] == [[0]]
    assert not any("moved on" in m.content or "⚠️" in m.content for m in bot_posts(discord_emulator, thread_id))


async def test_two_ends_at_once_end_the_conversation_once(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, agentverse: AgentverseEmulator
) -> None:
    thread_id = await objective(discord_emulator, "Find me a flight")
    await offer_with(discord_emulator, thread_id, "Flights/Flights")

    ends = [
        await discord_emulator.run_slash_command("end", {}, channel_id=thread_id),
        await discord_emulator.run_slash_command("end", {}, channel_id=thread_id),
    ]
    for end in ends:
        await end.wait_for_response(WAIT_S)

    public = [e for e in ends if not e.ephemeral]
    assert len(public) == 1 and public[0].original_message is not None
    assert "ended by" in public[0].original_message.content
    assert sum(1 for s in agentverse.latest_session.submits if s["type"] == "stop") == 1


async def test_two_resets_at_once_start_one_fresh_session(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, database: str
) -> None:
    thread = await thread_for(discord_emulator, await chat(discord_emulator, "hello"))
    await wait_for_post(discord_emulator, thread.id, "You said: hello")

    resets = [
        await discord_emulator.run_slash_command("reset", {}, channel_id=thread.id),
        await discord_emulator.run_slash_command("reset", {}, channel_id=thread.id),
    ]
    for reset in resets:
        await reset.wait_for_response(WAIT_S)

    public = [r for r in resets if not r.ephemeral]
    assert len(public) == 1
    assert [r.original_message.content for r in resets if r.ephemeral and r.original_message] == [
        "This conversation was just reset (nothing said since), so there is nothing more to forget."
    ]
    store = await Store.open(database)
    try:
        session = await store.active_session(thread.id)
        assert session is not None and session.id == 2  # the first session, then exactly one fresh one
    finally:
        await store.close()


async def test_an_engine_message_repeated_within_one_poll_is_shown_once(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, agentverse: AgentverseEmulator
) -> None:
    agentverse.repeat_in_poll = True
    thread_id = await objective(discord_emulator, "Find me a flight")
    tasks = await offer_with(discord_emulator, thread_id, "Flights/Flights")
    click = await discord_emulator.click_button(tasks.id, custom_id(tasks, "Flights/Flights"))
    await click.wait_for_response(WAIT_S)
    await wait_for_post(discord_emulator, thread_id, "departure city", after=tasks.id)

    posts = [m.content for m in bot_posts(discord_emulator, thread_id)]
    assert sum("building the context" in p for p in posts) == 1
    assert sum("Flights/Flights" in p for p in posts if "Found tasks" in p) <= 1
    assert len(offer_posts(discord_emulator, thread_id)) == 1  # one task list


async def test_a_repeated_convai_starter_becomes_one_button(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, convai: ConvaiEmulator
) -> None:
    convai.enqueue_starters(StarterScript(suggestions=["What is your name?", "what is your  name?", "Why?"]))
    thread = await thread_for(discord_emulator, await chat(discord_emulator, "Hi!", provider="convai"))
    await discord_emulator.wait_for(lambda: offer_posts(discord_emulator, thread.id), WAIT_S, "starter buttons")
    offer = offer_posts(discord_emulator, thread.id)[0]
    labels = [b["label"] for row in offer.components for b in row["components"]]
    assert labels == ["What is your name?", "Why?"]
