"""Agentverse in a thread: an objective worked through with real clicks and answers, across restarts."""

from __future__ import annotations

from collections.abc import Callable

from tests.emulators.agentverse import AgentMessage, AgentverseEmulator, Step, agent_info, stop_message
from tests.emulators.discord import DiscordEmulator
from tests.support.agentverse import click, labels, objective, offer_with
from tests.support.harness import BotProcess
from tests.support.journey import bot_posts, last_message_id, offer_posts, say, wait_for_post

BOTH_STORES = True  # every journey here runs on SQLite and on PostgreSQL (tests/support/fixtures.py)

WAIT_S = 15.0


async def test_whole_objective_with_task_list_subtask_question_repeat_and_confirmation(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, agentverse: AgentverseEmulator
) -> None:
    thread_id = await objective(discord_emulator, "Find me a flight to Warsaw")
    tasks = await offer_with(discord_emulator, thread_id, "Flights/Flights")
    session = agentverse.latest_session
    assert session.email == "member@example.com" and session.model == "talkative-01"
    start = session.submits[0]
    assert start["type"] == "start" and start["objective"] == "Find me a flight to Warsaw"
    assert "Alice" in start["context"] or "alice" in start["context"]

    chosen = await click(discord_emulator, tasks, "Flights/Flights")
    assert chosen.response_type == 7  # the offer message itself changes: buttons disabled, who chose what
    question = await wait_for_post(discord_emulator, thread_id, "departure city", after=tasks.id)
    texts = [m.content for m in bot_posts(discord_emulator, thread_id)]
    assert any("building the context" in t for t in texts) and any("automatically" in t for t in texts)
    updated = discord_emulator.message(tasks.id)
    assert "chose: Flights/Flights" in updated.content and all(
        i.get("disabled") for row in updated.components for i in row["components"]
    )
    assert {"type": "task_list", "selection": [0]} in [s.get("user_json") for s in session.submits]

    await say(discord_emulator, thread_id, "London")
    confirm = await offer_with(discord_emulator, thread_id, "Confirm", after=question.id)
    assert "Warsaw" in confirm.content and "Please confirm" in confirm.content
    answers = [s["user_message"] for s in session.submits if s["type"] == "user_message"]
    assert answers == ["London", "London"]  # the repeated question was answered again automatically

    await click(discord_emulator, confirm, "Confirm")
    await wait_for_post(discord_emulator, thread_id, "completed your task", after=confirm.id)
    await discord_emulator.wait_for(lambda: session.stopped, WAIT_S, "the bot to stop the session")
    assert [s["user_message"] for s in session.submits if s["type"] == "user_message"][-1] == "confirm"


async def test_reject_asks_for_a_reason_and_the_agent_asks_to_confirm_again(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, agentverse: AgentverseEmulator
) -> None:
    thread_id = await objective(discord_emulator, "Flight to Warsaw")
    await click(discord_emulator, await offer_with(discord_emulator, thread_id, "Flights/Flights"), "Flights/Flights")
    question = await wait_for_post(discord_emulator, thread_id, "departure city")
    await say(discord_emulator, thread_id, "Paris")
    confirm = await offer_with(discord_emulator, thread_id, "Reject", after=question.id)

    rejected = await click(discord_emulator, confirm, "Reject")
    assert rejected.response_type == 9 and rejected.modal is not None  # a modal asks why
    field = rejected.modal["components"][0]["components"][0]["custom_id"]
    await discord_emulator.submit_modal(rejected, {field: "Wrong date"})
    await offer_with(discord_emulator, thread_id, "Confirm", after=confirm.id)
    assert agentverse.latest_session.submits[-1]["user_message"] == "Wrong date"


async def test_thirty_options_become_select_menus(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, agentverse: AgentverseEmulator
) -> None:
    agentverse.use_flow("many_options")
    thread_id = await objective(discord_emulator, "Do something")
    await discord_emulator.wait_for(
        lambda: any(len(labels(m)) == 30 for m in bot_posts(discord_emulator, thread_id)), WAIT_S, "30 choices"
    )
    offer = next(m for m in bot_posts(discord_emulator, thread_id) if len(labels(m)) == 30)
    menus = [row["components"][0] for row in offer.components]
    assert [m["type"] for m in menus] == [3, 3] and [len(m["options"]) for m in menus] == [25, 5]

    picked = await discord_emulator.select_option(offer.id, menus[1]["custom_id"], ["27"])
    await picked.wait_for_response(WAIT_S)
    await wait_for_post(discord_emulator, thread_id, "completed your task", after=offer.id)
    selections = [s["user_json"]["selection"] for s in agentverse.latest_session.submits if s["type"] == "user_json"]
    assert selections == [[27]]


async def test_agent_error_is_shown_and_the_session_stopped_then_a_new_objective_starts_afresh(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, agentverse: AgentverseEmulator
) -> None:
    agentverse.use_flow("agent_error")
    thread_id = await objective(discord_emulator, "Break please")
    tasks = await offer_with(discord_emulator, thread_id, "Flights/Flights")
    await click(discord_emulator, tasks, "Flights/Flights")
    error = await wait_for_post(discord_emulator, thread_id, "⚠️", after=tasks.id)
    first = agentverse.latest_session
    await discord_emulator.wait_for(lambda: first.stopped, WAIT_S, "stop after the error")
    await wait_for_post(discord_emulator, thread_id, "after the agent's error", after=tasks.id)

    agentverse.use_flow("default")
    await say(discord_emulator, thread_id, "Find hotels in Rome")
    await offer_with(discord_emulator, thread_id, "Hotels/Hotels", after=error.id)
    assert agentverse.latest_session is not first
    assert agentverse.latest_session.submits[0]["objective"] == "Find hotels in Rome"


async def test_end_submits_stop(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, agentverse: AgentverseEmulator
) -> None:
    thread_id = await objective(discord_emulator, "Anything")
    await offer_with(discord_emulator, thread_id, "Flights/Flights")
    ended = await discord_emulator.run_slash_command("end", {}, channel_id=thread_id)
    await ended.wait_for_response(WAIT_S)
    await discord_emulator.wait_for(lambda: agentverse.latest_session.stopped, WAIT_S, "stop on /end")


async def test_expired_token_is_refreshed_once_and_the_new_pair_survives_a_restart(
    make_bot: Callable[..., BotProcess], discord_emulator: DiscordEmulator, agentverse: AgentverseEmulator
) -> None:
    first = make_bot()
    await first.start()
    agentverse.expire_access_tokens()
    thread_id = await objective(discord_emulator, "Find a flight")
    tasks = await offer_with(discord_emulator, thread_id, "Flights/Flights")
    assert agentverse.refresh_count == 1
    await first.stop()

    second = make_bot()
    await second.start()
    await click(discord_emulator, tasks, "Flights/Flights")  # a button from before the restart still works
    await wait_for_post(discord_emulator, thread_id, "departure city", after=tasks.id)
    await second.stop()
    assert agentverse.refresh_count == 1  # the restarted bot used the stored, refreshed token
    assert agentverse.requests[-1].auth_token == agentverse.current_access_token


async def test_duplicate_delivery_and_fallback_poll_endpoint_show_each_message_once(
    make_bot: Callable[..., BotProcess], discord_emulator: DiscordEmulator, agentverse: AgentverseEmulator
) -> None:
    agentverse.duplicate_delivery = True
    agentverse.new_messages_available = False
    bot = make_bot()
    await bot.start()
    thread_id = await objective(discord_emulator, "Find a flight")
    tasks = await offer_with(discord_emulator, thread_id, "Flights/Flights")
    await click(discord_emulator, tasks, "Flights/Flights")
    await wait_for_post(discord_emulator, thread_id, "departure city", after=tasks.id)
    await bot.stop()
    posts = [m.content for m in bot_posts(discord_emulator, thread_id)]
    assert sum("departure city" in p for p in posts) == 1
    assert sum("building the context" in p for p in posts) == 1
    assert any(r.path.endswith("/responses") for r in agentverse.requests)
    assert last_message_id(discord_emulator, thread_id)


async def test_restart_while_the_engine_works_resumes_polling_and_shows_what_arrived(
    make_bot: Callable[..., BotProcess], discord_emulator: DiscordEmulator, agentverse: AgentverseEmulator
) -> None:
    first = make_bot()
    await first.start()
    thread_id = await objective(discord_emulator, "Find a flight")
    tasks = await offer_with(discord_emulator, thread_id, "Flights/Flights")
    agentverse.delay_s = 3.0  # the engine takes a while to answer the choice
    await click(discord_emulator, tasks, "Flights/Flights")
    await agentverse.wait_for_submit("user_json:task_list")
    await first.stop()  # mid-wait: the bot was still following the engine

    second = make_bot()
    await second.start()
    await wait_for_post(discord_emulator, thread_id, "departure city", after=tasks.id)
    await second.stop()


async def test_a_silent_engine_is_given_up_on_with_a_message_and_a_message_resumes(
    make_bot: Callable[..., BotProcess], discord_emulator: DiscordEmulator, agentverse: AgentverseEmulator
) -> None:
    agentverse.script([Step(on="start", emit=[]), Step(on="user_message", emit=[agent_info("Still here!")])])
    bot = make_bot(AGENTVERSE_IDLE_S="1")
    await bot.start()
    thread_id = await objective(discord_emulator, "Anything")
    quiet = await wait_for_post(discord_emulator, thread_id, "quiet")
    assert "Send a message" in quiet.content
    assert any(channel == thread_id for _, channel in discord_emulator.typing_events)  # shown as working

    await say(discord_emulator, thread_id, "hello?")
    await wait_for_post(discord_emulator, thread_id, "Still here!", after=quiet.id)
    await bot.stop()


async def test_malformed_messages_and_failing_polls_are_survived(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, agentverse: AgentverseEmulator
) -> None:
    agentverse.malformed_polls = 1
    agentverse.fail_polls = 2
    thread_id = await objective(discord_emulator, "Find a flight")
    await offer_with(discord_emulator, thread_id, "Flights/Flights")
    await wait_for_post(discord_emulator, thread_id, "could not read")  # shown briefly; the flow carried on
    notes = [m.content for m in bot_posts(discord_emulator, thread_id) if "could not read" in m.content]
    assert len(notes) == 1


async def test_unknown_message_type_is_mentioned_briefly_and_the_flow_goes_on(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, agentverse: AgentverseEmulator
) -> None:
    strange = AgentMessage(type="agent_hologram", content={"x": 1})
    agentverse.script([Step(on="start", emit=[strange, agent_info("Carrying on."), stop_message()])])
    thread_id = await objective(discord_emulator, "Anything")
    notice = await wait_for_post(discord_emulator, thread_id, "does not know")
    await wait_for_post(discord_emulator, thread_id, "Carrying on.", after=notice.id - 1)
    await wait_for_post(discord_emulator, thread_id, "ended the session")


async def test_suggestion_options_send_the_chosen_key_as_a_message(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, agentverse: AgentverseEmulator
) -> None:
    agentverse.use_flow("suggestions")
    thread_id = await objective(discord_emulator, "A city break")
    await discord_emulator.wait_for(lambda: offer_posts(discord_emulator, thread_id), WAIT_S, "options")
    offer = offer_posts(discord_emulator, thread_id)[0]
    first_label = labels(offer)[0]
    await click(discord_emulator, offer, first_label)
    await wait_for_post(discord_emulator, thread_id, "ended the session", after=offer.id)
    sent = [s for s in agentverse.latest_session.submits if s["type"] == "user_message"]
    assert sent and sent[0]["user_message"] in {"paris", "rome", "lisbon"}
