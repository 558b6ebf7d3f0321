"""Stop, Retry and Regenerate, clicked and chosen through the loopback Discord, against the provider emulators."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable

import pytest

from bot.core.conversations import ALREADY_RETRIED, MOVED_ON, NO_REGENERATE, REPLY_ENDED
from bot.store import Store
from cogs.controls import WHO_MAY_STOP
from tests.emulators.ablt import AbltEmulator, Reply
from tests.emulators.agentverse import AgentverseEmulator, Step, agent_message
from tests.emulators.convai import ConvaiEmulator, ConvaiReply
from tests.emulators.discord import (
    VOICE_MESSAGE_FLAG,
    AttachmentSpec,
    DiscordEmulator,
)
from tests.emulators.magicai import MagicAIEmulator, MagicReply
from tests.emulators.soundverse import SoundverseEmulator, SoundverseReply
from tests.support import audio_samples
from tests.support.controls import MEMBER, button_on, press, regenerate, reply_message, settled, with_button
from tests.support.harness import BotProcess
from tests.support.journey import (
    WAIT_S,
    bot_posts,
    chat,
    command,
    offer_posts,
    refusal,
    say,
    shown_reply,
    thread_for,
    wait_for_post,
    wait_for_reply,
)

BOTH_STORES = True  # every journey here runs on SQLite and on PostgreSQL (tests/support/fixtures.py)
MANAGE_THREADS = 1 << 34


# ---- Stop ------------------------------------------------------------------------------------------


async def test_stop_mid_stream_closes_the_provider_keeps_the_text_and_the_next_turn_sees_it(
    make_bot: Callable[..., BotProcess], discord_emulator: DiscordEmulator, ablt: AbltEmulator, database: str
) -> None:
    discord_emulator.set_everyone_permissions(MEMBER)
    carol, bob = discord_emulator.add_member("carol"), discord_emulator.add_member("bob")
    bot = make_bot()
    await bot.start()
    ablt.enqueue(Reply(tokens=["Once", " upon", " a", " time"], token_interval_s=0.2, hang_after_tokens=4))
    thread = await thread_for(discord_emulator, await chat(discord_emulator, "A long story", by=carol))
    await discord_emulator.wait_for(lambda: shown_reply(discord_emulator, thread.id).startswith("Once upon"), WAIT_S)
    message, stop = await button_on(discord_emulator, thread.id, "stop:")

    refused = await press(discord_emulator, message, stop, by=bob)  # neither the asker nor a moderator
    assert refusal(refused) == WHO_MAY_STOP.format(asker=f"<@{carol}>")
    assert ablt.requests[-1].client_closed_at is None

    pressed = await press(discord_emulator, message, stop, by=carol)
    assert pressed.response_type == 6  # acknowledged without a message of its own
    await discord_emulator.wait_for(lambda: "Stopped by" in discord_emulator.message(message.id).content, WAIT_S)
    stopped = discord_emulator.message(message.id)
    assert stopped.content == "Once upon a time\n-# ⏹️ Stopped by Carol."  # all that arrived, then who stopped it
    assert stopped.components == []  # the write that says so takes the button away
    await discord_emulator.wait_for(lambda: ablt.requests[-1].client_closed_at is not None, WAIT_S, "closed")

    transcript = await settled(discord_emulator, database, thread.id)
    assert transcript[-1] == {
        "role": "assistant",
        "content": "Once upon a time",
        "status": "stopped",
        "extras": {"stopped_by": carol},
    }
    ablt.enqueue(Reply(text="The end."))
    await wait_for_reply(discord_emulator, thread.id, "The end.", after=await say(discord_emulator, thread.id, "go on"))
    assert ablt.requests[-1].body["messages"][:2] == [
        {"role": "user", "content": "A long story"},
        {"role": "assistant", "content": "Once upon a time"},  # what the thread shows
    ]
    await bot.stop()


async def test_a_moderator_may_stop_and_a_second_press_hears_the_reply_already_ended(
    make_bot: Callable[..., BotProcess], discord_emulator: DiscordEmulator, ablt: AbltEmulator
) -> None:
    discord_emulator.set_everyone_permissions(MEMBER)
    moderators = discord_emulator.add_role("Moderators", permissions=MEMBER | MANAGE_THREADS)
    carol, mod = discord_emulator.add_member("carol"), discord_emulator.add_member("mod", roles=[moderators])
    bot = make_bot()
    await bot.start()
    ablt.enqueue(Reply(tokens=["Lorem", " ipsum", " dolor"], hang_after_tokens=3))
    thread = await thread_for(discord_emulator, await chat(discord_emulator, "Latin please", by=carol))
    message, stop = await button_on(discord_emulator, thread.id, "stop:")

    first = await press(discord_emulator, message, stop, by=mod)
    second = await press(discord_emulator, message, stop, by=carol)  # a moment later, before the button is gone
    assert first.response_type == 6 and refusal(second) == REPLY_ENDED
    await discord_emulator.wait_for(lambda: "Stopped by Mod" in discord_emulator.message(message.id).content, WAIT_S)
    assert len(ablt.requests) == 1
    await bot.stop()


async def test_stop_on_a_whole_answer_provider_rides_on_the_working_notice_the_answer_replaces(
    make_bot: Callable[..., BotProcess], discord_emulator: DiscordEmulator, magicai: MagicAIEmulator, database: str
) -> None:
    bot = make_bot()
    await bot.start()
    magicai.enqueue(MagicReply(text="Fast answer.", sources=[]), MagicReply(text="Too late.", delay_s=30.0))
    thread = await thread_for(discord_emulator, await chat(discord_emulator, "quick?", provider="magicai"))
    await wait_for_reply(discord_emulator, thread.id, "Fast answer.")
    assert not with_button(discord_emulator, thread.id, "stop:")  # answered within 2 s: no notice at all

    mark = await say(discord_emulator, thread.id, "and a slow one?")
    notice, stop = await button_on(discord_emulator, thread.id, "stop:")
    assert notice.id > mark and "Magic AI is working on it" in notice.content
    await press(discord_emulator, notice, stop)
    await discord_emulator.wait_for(lambda: "Stopped by" in discord_emulator.message(notice.id).content, WAIT_S)
    assert discord_emulator.message(notice.id).components == []
    transcript = await settled(discord_emulator, database, thread.id)
    assert transcript[-1]["status"] == "stopped" and transcript[-1]["content"] == ""
    await bot.stop()


async def test_stopping_an_agentverse_turn_stops_following_the_engine_and_says_so(
    make_bot: Callable[..., BotProcess],
    discord_emulator: DiscordEmulator,
    agentverse: AgentverseEmulator,
    database: str,
) -> None:
    bot = make_bot()
    await bot.start()
    agentverse.script([Step(on="start", emit=[])])  # the engine works and says nothing
    thread = await thread_for(discord_emulator, await chat(discord_emulator, "Book a flight", provider="agentverse"))
    notice, stop = await button_on(discord_emulator, thread.id, "stop:")
    await press(discord_emulator, notice, stop)
    await discord_emulator.wait_for(lambda: "no longer follow" in discord_emulator.message(notice.id).content, WAIT_S)
    session_id = agentverse.latest_session.session_id
    store = await Store.open(database)
    try:
        session = await store.active_session(thread.id)
        assert session is not None and session.state.get("following") is False  # not resumed after a restart
    finally:
        await store.close()
    polls = agentverse.poll_count(session_id)
    await asyncio.sleep(1.5)
    assert agentverse.poll_count(session_id) == polls  # no more polling
    await bot.stop()


# ---- Retry -----------------------------------------------------------------------------------------


async def test_retry_after_a_500_sends_the_same_turn_once_however_often_it_is_pressed(
    make_bot: Callable[..., BotProcess], discord_emulator: DiscordEmulator, ablt: AbltEmulator, database: str
) -> None:
    bot = make_bot(PROVIDER_TIMEOUT_S="2")
    await bot.start()
    ablt.enqueue(Reply(text="Fine."))
    thread = await thread_for(discord_emulator, await chat(discord_emulator, "Hello"))
    await wait_for_reply(discord_emulator, thread.id, "Fine.")
    ablt.enqueue(Reply(status=500), Reply(text="Second time lucky."))
    mark = await say(discord_emulator, thread.id, "Tell me a joke")
    failure, retry = await button_on(discord_emulator, thread.id, "retry:")
    assert failure.id > mark and failure.content.startswith("⚠️")
    failed_request = ablt.requests[-1].body

    first = await discord_emulator.click_button(failure.id, retry)
    second = await discord_emulator.click_button(failure.id, retry)  # a double click
    await first.wait_for_response(WAIT_S)
    await second.wait_for_response(WAIT_S)
    taken = [i for i in (first, second) if i.response_type == 7]  # the one that went edits the failure line
    (refused,) = [i for i in (first, second) if i.response_type != 7]
    assert len(taken) == 1 and refusal(refused) == ALREADY_RETRIED
    again = await wait_for_post(discord_emulator, thread.id, "Second time lucky.", after=failure.id)
    assert again.interaction_id == taken[0].id and not again.ephemeral  # a public followup of the click
    assert ablt.requests[-1].body == failed_request  # the same turn, the same history
    assert len(ablt.requests) == 3
    marked = discord_emulator.message(failure.id)
    assert "sent this turn again" in marked.content and marked.components == []

    transcript = await settled(discord_emulator, database, thread.id)
    assert [(e["role"], e["content"], e["status"]) for e in transcript] == [
        ("user", "Hello", "complete"),
        ("assistant", "Fine.", "complete"),
        ("user", "Tell me a joke", "complete"),  # the member's turn is kept once
        ("assistant", "", "replaced"),
        ("assistant", "Second time lucky.", "complete"),
    ]
    ablt.enqueue(Reply(text="Bye."))
    await wait_for_reply(discord_emulator, thread.id, "Bye.", after=await say(discord_emulator, thread.id, "thanks"))
    assert [m["content"] for m in ablt.requests[-1].body["messages"]] == [
        "Hello",
        "Fine.",
        "Tell me a joke",
        "Second time lucky.",
        "thanks",
    ]
    await bot.stop()


async def test_retry_after_a_timeout_and_after_a_restart(
    make_bot: Callable[..., BotProcess], discord_emulator: DiscordEmulator, ablt: AbltEmulator
) -> None:
    first = make_bot(PROVIDER_TIMEOUT_S="1")
    await first.start()
    ablt.enqueue(Reply(hang_before_headers=True))
    thread = await thread_for(discord_emulator, await chat(discord_emulator, "Are you there?"))
    failure, retry = await button_on(discord_emulator, thread.id, "retry:")
    await first.stop()

    second = make_bot(PROVIDER_TIMEOUT_S="2")
    await second.start()
    ablt.enqueue(Reply(text="Yes, now I am."))
    await press(discord_emulator, failure, retry)
    await wait_for_post(discord_emulator, thread.id, "Yes, now I am.", after=failure.id)
    assert [r.body["messages"] for r in ablt.requests] == [[{"role": "user", "content": "Are you there?"}]] * 2
    await second.stop()


async def test_retry_passes_the_gate_and_a_refusal_leaves_it_for_someone_allowed(
    make_bot: Callable[..., BotProcess], discord_emulator: DiscordEmulator, ablt: AbltEmulator
) -> None:
    discord_emulator.set_everyone_permissions(MEMBER)
    patrons = discord_emulator.add_role("Patrons", permissions=MEMBER)
    carol, bob = discord_emulator.add_member("carol", roles=[patrons]), discord_emulator.add_member("bob")
    bot = make_bot(PROVIDER_TIMEOUT_S="2")
    await bot.start()
    await command(discord_emulator, "access allow", discord_emulator.channel_id, what="chat", who=patrons)
    ablt.enqueue(Reply(status=500), Reply(text="Now it works."))
    thread = await thread_for(discord_emulator, await chat(discord_emulator, "Question", by=carol))
    failure, retry = await button_on(discord_emulator, thread.id, "retry:")
    refused = await press(discord_emulator, failure, retry, by=bob)
    assert "only some members may talk to the AI" in refusal(refused)
    await press(discord_emulator, failure, retry, by=carol)
    await wait_for_post(discord_emulator, thread.id, "Now it works.", after=failure.id)
    assert len(ablt.requests) == 2
    await bot.stop()


# ---- Regenerate ------------------------------------------------------------------------------------


async def test_regenerate_asks_again_with_the_same_history_and_the_new_answer_replaces_the_old(
    make_bot: Callable[..., BotProcess], discord_emulator: DiscordEmulator, ablt: AbltEmulator, database: str
) -> None:
    bot = make_bot()
    await bot.start()
    ablt.enqueue(Reply(text="Paris."), Reply(text="A dull answer."), Reply(text="A brighter answer."))
    thread = await thread_for(discord_emulator, await chat(discord_emulator, "Capital of France?"))
    await wait_for_reply(discord_emulator, thread.id, "Paris.")
    first = reply_message(discord_emulator, thread.id, "Paris.")
    await wait_for_post(
        discord_emulator, thread.id, "A dull answer.", after=await say(discord_emulator, thread.id, "Why?")
    )
    old = reply_message(discord_emulator, thread.id, "A dull answer.")
    await settled(discord_emulator, database, thread.id)

    assert refusal(await regenerate(discord_emulator, first.id)) == MOVED_ON  # not the last reply
    asked = await regenerate(discord_emulator, old.id)
    assert refusal(asked).startswith("🔁 Asking aBLT")
    brighter = await wait_for_post(discord_emulator, thread.id, "A brighter answer.", after=old.id)
    assert brighter.interaction_id is None  # not a followup of the private "Asking again" answer
    assert ablt.requests[-1].body == ablt.requests[-2].body  # the same turn with the same history
    await discord_emulator.wait_for(lambda: "Replaced" in discord_emulator.message(old.id).content, WAIT_S)
    assert discord_emulator.message(old.id).content.startswith("A dull answer.")  # still visible

    transcript = await settled(discord_emulator, database, thread.id)
    assert [(e["content"], e["status"]) for e in transcript[-2:]] == [
        ("A dull answer.", "replaced"),
        ("A brighter answer.", "complete"),
    ]
    ablt.enqueue(Reply(text="Ok."))
    await wait_for_reply(discord_emulator, thread.id, "Ok.", after=await say(discord_emulator, thread.id, "thanks"))
    history = [m["content"] for m in ablt.requests[-1].body["messages"]]
    assert "A brighter answer." in history and "A dull answer." not in history
    await bot.stop()


@pytest.mark.parametrize("provider", ["magicai", "soundverse", "convai"])
async def test_regenerate_works_for_each_provider_that_answers_turn_by_turn(
    provider: str,
    make_bot: Callable[..., BotProcess],
    discord_emulator: DiscordEmulator,
    magicai: MagicAIEmulator,
    soundverse: SoundverseEmulator,
    convai: ConvaiEmulator,
    database: str,
) -> None:
    options: dict[str, str] = {"action": "lyric_writing"} if provider == "soundverse" else {}
    if provider == "magicai":
        magicai.enqueue(MagicReply(text="First take.", sources=[]), MagicReply(text="Second take.", sources=[]))
    elif provider == "soundverse":
        soundverse.enqueue(SoundverseReply(text="First take."), SoundverseReply(text="Second take."))
    else:
        convai.enqueue(ConvaiReply(text="First take."), ConvaiReply(text="Second take."))
    bot = make_bot()
    await bot.start()
    thread = await thread_for(
        discord_emulator, await chat(discord_emulator, "Write a line", provider=provider, **options)
    )
    first = await wait_for_post(discord_emulator, thread.id, "First take.")
    await settled(discord_emulator, database, thread.id)
    await regenerate(discord_emulator, first.id)
    await wait_for_post(discord_emulator, thread.id, "Second take.", after=first.id)
    transcript = await settled(discord_emulator, database, thread.id)
    assert [(e["role"], e["content"], e["status"]) for e in transcript] == [
        ("user", "Write a line", "complete"),
        ("assistant", "First take.", "replaced"),
        ("assistant", "Second take.", "complete"),
    ]
    await bot.stop()


async def test_agentverse_replies_cannot_be_regenerated(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, agentverse: AgentverseEmulator, database: str
) -> None:
    thread = await thread_for(discord_emulator, await chat(discord_emulator, "Find a flight", provider="agentverse"))
    await discord_emulator.wait_for(lambda: bool(offer_posts(discord_emulator, thread.id)), WAIT_S, "the task list")
    await settled(discord_emulator, database, thread.id)
    answer = refusal(await regenerate(discord_emulator, offer_posts(discord_emulator, thread.id)[-1].id))
    assert answer == NO_REGENERATE.format(provider="Agentverse")


# ---- What the controls cost ------------------------------------------------------------------------

MESSAGE_WRITES = ("POST /channels/{channel_id}/messages", "PATCH /channels/{channel_id}/messages/{message_id}")


async def test_a_normal_turn_makes_no_message_write_for_its_buttons(
    make_bot: Callable[..., BotProcess],
    discord_emulator: DiscordEmulator,
    ablt: AbltEmulator,
    magicai: MagicAIEmulator,
    database: str,
) -> None:
    """Every write of a streamed reply shows new text (none exists only to add or remove Stop), Stop rides on the
    stream's writes after the first and the last write takes it away; a quick whole answer is one message
    write, as before."""
    bot = make_bot()
    await bot.start()
    words = " ".join(f"word{n}" for n in range(40))
    ablt.enqueue(Reply(text=words, token_interval_s=0.08))  # about 3 s of streaming: several paced edits
    thread = await thread_for(discord_emulator, await chat(discord_emulator, "Count for me"))
    await wait_for_reply(discord_emulator, thread.id, words)
    await settled(discord_emulator, database, thread.id)

    writes = [r for r in discord_emulator.requests if r.channel_id == thread.id and r.route in MESSAGE_WRITES]
    (message,) = bot_posts(discord_emulator, thread.id)
    contents = [content for _, content in message.edits]
    assert len(writes) == len(contents) >= 3
    assert all(before != after for before, after in itertools.pairwise(contents))
    assert not writes[0].json.get("components")  # the first words go out at once, bare
    assert all(w.json.get("components") for w in writes[1:-1])  # then Stop rode on every write while streaming
    assert writes[-1].json.get("components") == [] and message.components == []  # the final write took it away

    magicai.enqueue(MagicReply(text="Whole answer.", sources=[]))
    opened = await chat(discord_emulator, "Quick one", provider="magicai")
    other = await thread_for(discord_emulator, opened)
    await wait_for_reply(discord_emulator, other.id, "Whole answer.")
    await settled(discord_emulator, database, other.id)
    assert [r.route for r in discord_emulator.requests if r.channel_id == other.id and r.route in MESSAGE_WRITES] == [
        MESSAGE_WRITES[0]
    ]
    await bot.stop()


async def test_retry_sends_the_same_voice_note_again(
    make_bot: Callable[..., BotProcess], discord_emulator: DiscordEmulator, convai: ConvaiEmulator, database: str
) -> None:
    bot = make_bot(PROVIDER_TIMEOUT_S="2")
    await bot.start()
    convai.enqueue(ConvaiReply(text="Ready."))
    thread = await thread_for(discord_emulator, await chat(discord_emulator, "Let's talk", provider="convai"))
    await wait_for_post(discord_emulator, thread.id, "Ready.")
    convai.enqueue(ConvaiReply(status=500), ConvaiReply(text="Sunny.", transcript="What's the weather?"))
    note = audio_samples.voice_note_ogg(seconds=2.0)
    spec = AttachmentSpec("voice-message.ogg", note, "audio/ogg", duration_secs=2.0, waveform="AAAA")
    await discord_emulator.send_user_message(thread.id, "", attachments=[spec], flags=VOICE_MESSAGE_FLAG)
    failure, retry = await button_on(discord_emulator, thread.id, "retry:")
    await press(discord_emulator, failure, retry)
    await wait_for_post(discord_emulator, thread.id, "Sunny.", after=failure.id)

    sent = [r for r in convai.requests if r.path.endswith("getResponse") and r.wav is not None]
    assert len(sent) == 2 and sent[0].wav == sent[1].wav  # the same recording, converted the same way
    transcript = await settled(discord_emulator, database, thread.id)
    assert [(e["role"], e["content"], e["status"]) for e in transcript[-3:]] == [
        ("user", "What's the weather?", "complete"),
        ("assistant", "", "replaced"),
        ("assistant", "Sunny.", "complete"),
    ]
    await bot.stop()


async def test_after_stopping_an_agentverse_turn_the_next_message_shows_what_the_engine_owed_and_its_own_answer(
    make_bot: Callable[..., BotProcess], discord_emulator: DiscordEmulator, agentverse: AgentverseEmulator
) -> None:
    """Found by `python -m bench.chaos`: after a Stop, the next message showed the engine's answer to the stopped
    turn and never its own. Now it shows both, in the engine's order."""
    bot = make_bot()
    await bot.start()
    agentverse.script(
        [
            Step(on="start", emit=[agent_message("Where do you fly from?")], delay_s=6.0),
            Step(on="user_message", emit=[agent_message("Three flights from London.")], delay_s=3.0),
        ]
    )
    thread = await thread_for(discord_emulator, await chat(discord_emulator, "Book a flight", provider="agentverse"))
    notice, stop = await button_on(discord_emulator, thread.id, "stop:")
    await press(discord_emulator, notice, stop)
    await discord_emulator.wait_for(lambda: "no longer follow" in discord_emulator.message(notice.id).content, WAIT_S)
    await asyncio.sleep(6.0)  # the engine's answer to the stopped turn comes while nobody follows it
    mark = await say(discord_emulator, thread.id, "London")
    await wait_for_post(discord_emulator, thread.id, "Three flights from London.", after=mark)
    shown = [m.content for m in bot_posts(discord_emulator, thread.id) if m.id > mark]
    assert shown.index("Where do you fly from?") < shown.index("Three flights from London.")
    await bot.stop()


async def test_retry_pressed_the_moment_it_appears_in_a_busy_thread_waits_for_the_failure_to_be_recorded(
    make_bot: Callable[..., BotProcess], discord_emulator: DiscordEmulator, ablt: AbltEmulator, database: str
) -> None:
    """Found by the usage ledger's journeys: after a Regenerate the thread's writes are paced, the failure line
    shows seconds before the turn records the failure, and a Retry pressed at once was told the reply was still
    being written. The press now waits for the record (the button is acknowledged meanwhile)."""
    await make_bot().start()
    ablt.enqueue(Reply(tokens=["Hello."]), Reply(tokens=["Again."]), Reply(tokens=["Once more."]))
    thread = await thread_for(discord_emulator, await chat(discord_emulator, "hi"))
    await wait_for_reply(discord_emulator, thread.id, "Hello.")
    mark = await say(discord_emulator, thread.id, "and?")
    await wait_for_reply(discord_emulator, thread.id, "Again.", after=mark)
    await settled(discord_emulator, database, thread.id)
    await regenerate(discord_emulator, reply_message(discord_emulator, thread.id, "Again.").id)
    await wait_for_post(discord_emulator, thread.id, "Once more.")
    ablt.enqueue(Reply(status=500), Reply(tokens=["Fixed."]))
    await say(discord_emulator, thread.id, "break")
    failure, retry = await button_on(discord_emulator, thread.id, "retry:")
    pressed = await press(discord_emulator, failure, retry)  # at once, not once the failure is recorded

    await wait_for_post(discord_emulator, thread.id, "Fixed.")
    assert not [m.content for m in pressed.followups if "still being written" in m.content]
    assert len(ablt.requests) == 5
