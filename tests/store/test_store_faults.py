"""When the database fails under a turn (a refused write, dropped connections, a slow lock), the turn still ends
with a final status and a line members can read, the next turn works without a restart, and the history holds
what the thread showed. Every fault is the database's own (tests/support/db_faults.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.replies.splitting import join_chunks
from tests.emulators.ablt import AbltEmulator, Reply
from tests.emulators.discord import DiscordEmulator
from tests.support import db_faults
from tests.support.controls import entries, regenerate, reply_message, settled
from tests.support.databases import admin_url
from tests.support.harness import BotProcess, Launcher, stop
from tests.support.journey import (
    bot_posts,
    chat,
    command,
    last_message_id,
    refusal,
    say,
    shown_reply,
    thread_for,
    wait_for_post,
    wait_for_reply,
)

BOTH_STORES = True  # every journey here runs on SQLite and on PostgreSQL (tests/support/fixtures.py)
CUT_OFF_FRAGMENT = "stopped while writing this reply"


async def test_a_refused_save_of_the_shown_text_does_not_strand_the_turn(
    make_bot: Callable[..., BotProcess], discord_emulator: DiscordEmulator, ablt: AbltEmulator, database: str
) -> None:
    """Issue 18, sample 3: the final save of a reply's shown text fails; the reply still ends `complete` with its
    text, Regenerate takes it, and a restart posts no false "cut off" notice."""
    bot = make_bot()
    await bot.start()
    answer = "Paris is the capital of France."
    await db_faults.refuse_writes(database, "transcript", f"NEW.status = 'streaming' AND NEW.content = '{answer}'")
    ablt.enqueue(Reply(tokens=["Paris", " is the capital", " of France."]), Reply(text="Still Paris."))
    thread = await thread_for(discord_emulator, await chat(discord_emulator, "Capital of France?"))
    await wait_for_reply(discord_emulator, thread.id, answer)

    transcript = await settled(discord_emulator, database, thread.id)
    assert [(e["content"], e["status"]) for e in transcript] == [
        ("Capital of France?", "complete"),
        (answer, "complete"),
    ]
    asked = await regenerate(discord_emulator, reply_message(discord_emulator, thread.id, answer).id)
    assert refusal(asked).startswith("🔁 Asking aBLT")
    await wait_for_post(discord_emulator, thread.id, "Still Paris.")
    await bot.stop()

    mark = last_message_id(discord_emulator, thread.id)
    again = make_bot()
    await again.start()
    ablt.enqueue(Reply(text="Yes."))
    await wait_for_reply(discord_emulator, thread.id, "Yes.", after=await say(discord_emulator, thread.id, "Sure?"))
    await again.stop()
    assert not [m for m in bot_posts(discord_emulator, thread.id) if m.id > mark and CUT_OFF_FRAGMENT in m.content]


async def test_a_failed_turn_still_posts_its_failure_line_when_saves_are_refused(
    make_bot: Callable[..., BotProcess], discord_emulator: DiscordEmulator, ablt: AbltEmulator, database: str
) -> None:
    """Every save of the streamed text is refused while the provider then fails: the ⚠️ line with Retry is
    posted, the reply ends `failed` with what was shown, and Retry works once writes are taken again."""
    bot = make_bot()
    await bot.start()
    await db_faults.refuse_writes(database, "transcript", "NEW.status = 'streaming' AND NEW.content != ''")
    ablt.enqueue(Reply(tokens=["Half", " an answer"], cut_off_after_tokens=2), Reply(text="A whole answer."))
    thread = await thread_for(discord_emulator, await chat(discord_emulator, "Explain"))
    failure = await wait_for_post(discord_emulator, thread.id, "⚠️")
    assert any(i.startswith("retry:") for i in failure.custom_ids())
    transcript = await settled(discord_emulator, database, thread.id)
    assert transcript[-1]["status"] == "failed"
    assert shown_reply(discord_emulator, thread.id).startswith("Half an answer")

    await db_faults.lift(database, "transcript")
    click = await discord_emulator.click_button(failure.id, next(i for i in failure.custom_ids() if "retry:" in i))
    await click.wait_for_response(15)
    await wait_for_post(discord_emulator, thread.id, "A whole answer.")
    await bot.stop()
    assert (await entries(database, thread.id))[-1]["status"] == "complete"


async def long_stream(ablt: AbltEmulator, words: int = 24, interval_s: float = 0.15) -> str:
    """Script a reply streamed over a few seconds; its whole text."""
    tokens = ["Begin", *(f" part{i}" for i in range(words))]
    ablt.enqueue(Reply(tokens=tokens, token_interval_s=interval_s))
    return "".join(tokens)


async def reply_streaming(discord: DiscordEmulator, prompt: str) -> int:
    """/chat, then the thread once its reply has started to show."""
    thread = await thread_for(discord, await chat(discord, prompt))
    await discord.wait_for(lambda: shown_reply(discord, thread.id).startswith("Begin"), 15, "the reply to start")
    return thread.id


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
async def test_connections_dropped_mid_reply_are_opened_again_and_nothing_is_lost(
    make_bot: Callable[..., BotProcess], discord_emulator: DiscordEmulator, ablt: AbltEmulator, database: str
) -> None:
    bot = make_bot()
    await bot.start()
    text = await long_stream(ablt)
    thread_id = await reply_streaming(discord_emulator, "Go")
    assert await db_faults.drop_connections(database) > 0
    await wait_for_reply(discord_emulator, thread_id, text)
    assert [(e["content"], e["status"]) for e in (await settled(discord_emulator, database, thread_id))[1:]] == [
        (text, "complete")
    ]
    ablt.enqueue(Reply(text="Next."))
    await wait_for_reply(discord_emulator, thread_id, "Next.", after=await say(discord_emulator, thread_id, "More"))
    await bot.stop()


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
async def test_a_database_restart_mid_reply_ends_the_turn_and_the_next_turn_works(
    make_bot: Callable[..., BotProcess], discord_emulator: DiscordEmulator, ablt: AbltEmulator, database: str
) -> None:
    """The server takes no connections for a few seconds while a reply streams: the reply still shows in full, a
    member's message meanwhile is told the database is not answering, and once it is back the reply is recorded
    complete and the next turn is answered with the whole history."""
    bot = make_bot()
    await bot.start()
    text = await long_stream(ablt, words=30)
    thread_id = await reply_streaming(discord_emulator, "Go")
    async with db_faults.restarting(database, admin_url()):
        mark = await say(discord_emulator, thread_id, "Are you there?")
        await wait_for_post(discord_emulator, thread_id, "database is not answering", after=mark)

        def reply_shown() -> bool:
            return join_chunks([m.content for m in bot_posts(discord_emulator, thread_id) if m.id <= mark]) == text

        await discord_emulator.wait_for(reply_shown, 15, "the whole reply")
    transcript = await settled(discord_emulator, database, thread_id)
    assert [(e["content"], e["status"]) for e in transcript] == [("Go", "complete"), (text, "complete")]
    ablt.enqueue(Reply(text="Back."))
    await wait_for_post(discord_emulator, thread_id, "Back.", after=await say(discord_emulator, thread_id, "Again"))
    assert [m["content"] for m in ablt.requests[-1].body["messages"]] == ["Go", text, "Again"]
    await bot.stop()


async def test_a_slow_query_holds_no_reply_back(
    make_bot: Callable[..., BotProcess], discord_emulator: DiscordEmulator, ablt: AbltEmulator, database: str
) -> None:
    """Another connection holds the write lock for four seconds while a reply streams: the reply keeps showing
    as it arrives (saves wait beside it), and it is recorded complete once the lock is gone."""
    bot = make_bot()
    await bot.start()
    text = await long_stream(ablt, words=30)
    thread_id = await reply_streaming(discord_emulator, "Go")
    async with db_faults.hold_write_lock(database):
        await wait_for_reply(discord_emulator, thread_id, text)  # within the 4 s the lock is held
        await asyncio.sleep(0.5)
    transcript = await settled(discord_emulator, database, thread_id)
    assert [(e["content"], e["status"]) for e in transcript] == [("Go", "complete"), (text, "complete")]
    await bot.stop()


async def test_a_full_disk_on_sqlite_is_told_and_the_bot_goes_on_once_there_is_room(
    launch: Launcher, discord_emulator: DiscordEmulator, ablt: AbltEmulator, tmp_path: Path
) -> None:
    """`python -m bot` on SQLite, its disk full for a while (it may not grow any file): a member's message is
    told the database is not answering, the process keeps running, and once there is room again the
    conversation goes on with its history, without a restart."""
    process = await launch()
    ablt.enqueue(Reply(text="Hello."), Reply(text="Welcome back."))
    thread = await thread_for(discord_emulator, await chat(discord_emulator, "Hi"))
    await wait_for_reply(discord_emulator, thread.id, "Hello.")
    with db_faults.disk_full(process.pid):
        mark = await say(discord_emulator, thread.id, "Still there?")
        await wait_for_post(discord_emulator, thread.id, "database is not answering", after=mark)
    mark = await say(discord_emulator, thread.id, "Now?")
    await wait_for_post(discord_emulator, thread.id, "Welcome back.", after=mark)
    assert process.returncode is None
    log = await stop(process)
    assert "database or disk is full" in log or "OperationalError" in log
    assert [m["content"] for m in ablt.requests[-1].body["messages"]] == ["Hi", "Hello.", "Now?"]


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
async def test_commands_and_buttons_while_the_database_is_down_are_answered_privately(
    make_bot: Callable[..., BotProcess], discord_emulator: DiscordEmulator, ablt: AbltEmulator, database: str
) -> None:
    """A command and a button pressed while the database takes no connection each get a private line saying so
    (not Discord's "This interaction failed"), and both work once it is back."""
    bot = make_bot()
    await bot.start()
    ablt.enqueue(Reply(tokens=["Done", " here."], cut_off_after_tokens=2))
    thread = await thread_for(discord_emulator, await chat(discord_emulator, "Hi"))
    failure = await wait_for_post(discord_emulator, thread.id, "⚠️")
    retry = next(i for i in failure.custom_ids() if i.startswith("retry:"))
    async with db_faults.restarting(database, admin_url()):
        session = await command(discord_emulator, "session", thread.id)
        pressed = await discord_emulator.click_button(failure.id, retry)
        await pressed.wait_for_response(15)
        assert "database is not answering" in refusal(session)
        assert "database is not answering" in refusal(pressed)
    ablt.enqueue(Reply(text="Second try."))
    pressed = await discord_emulator.click_button(failure.id, retry)
    await wait_for_post(discord_emulator, thread.id, "Second try.")
    assert refusal(await command(discord_emulator, "session", thread.id)).startswith("**aBLT")
    await bot.stop()


async def test_a_retry_pressed_while_the_database_is_slow_is_acknowledged_in_time_and_runs(
    make_bot: Callable[..., BotProcess], discord_emulator: DiscordEmulator, ablt: AbltEmulator, database: str
) -> None:
    """Retry pressed while another connection holds the database's write lock for four seconds: the click is
    acknowledged before Discord's 3 s run out (it used to expire: "Unknown interaction", the turn never ran and
    Retry was spent), then the failure line says who retried and the turn is answered (found by bench.chaos)."""
    bot = make_bot()
    await bot.start()
    ablt.enqueue(Reply(tokens=["Half"], cut_off_after_tokens=1), Reply(text="Whole answer."))
    thread = await thread_for(discord_emulator, await chat(discord_emulator, "Hi"))
    failure = await wait_for_post(discord_emulator, thread.id, "⚠️")
    await settled(discord_emulator, database, thread.id)
    retry = next(i for i in failure.custom_ids() if i.startswith("retry:"))
    async with db_faults.hold_write_lock(database):
        pressed = await discord_emulator.click_button(failure.id, retry)
        await pressed.wait_for_response(15)
        await asyncio.sleep(2.0)
    assert pressed.rejected_callbacks == 0 and pressed.response_type == 6  # acknowledged, then answered by edits
    await wait_for_post(discord_emulator, thread.id, "Whole answer.")
    await discord_emulator.wait_for(lambda: "sent this turn again" in discord_emulator.message(failure.id).content, 15)
    await bot.stop()
