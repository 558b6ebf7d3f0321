"""Conversations live in SQLite: a stopped bot (cleanly or not) picks each thread up where it was."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bot.store import Store
from tests.emulators.ablt import AbltEmulator, Reply
from tests.emulators.discord import DiscordEmulator
from tests.support.harness import BotProcess
from tests.support.journey import chat, last_message_id, shown_reply, thread_for, wait_for_post, wait_for_reply

BOTH_STORES = True  # every journey here runs on SQLite and on PostgreSQL (tests/support/fixtures.py)


async def test_thread_continues_with_its_history_after_a_restart(
    make_bot: Callable[..., BotProcess], discord_emulator: DiscordEmulator, ablt: AbltEmulator
) -> None:
    first = make_bot()
    await first.start()
    ablt.enqueue(Reply(text="Paris."))
    thread = await thread_for(discord_emulator, await chat(discord_emulator, "Capital of France?"))
    await wait_for_reply(discord_emulator, thread.id, "Paris.")
    await first.stop()

    second = make_bot()
    await second.start()
    mark = last_message_id(discord_emulator, thread.id)
    ablt.enqueue(Reply(text="Lyon."))
    await discord_emulator.send_user_message(thread.id, "And the second city?")
    await wait_for_reply(discord_emulator, thread.id, "Lyon.", after=mark)
    await second.stop()

    assert ablt.requests[-1].body["messages"] == [
        {"role": "user", "content": "Capital of France?"},
        {"role": "assistant", "content": "Paris."},
        {"role": "user", "content": "And the second city?"},
    ]


async def test_stop_mid_reply_marks_it_interrupted_in_thread_and_database(
    make_bot: Callable[..., BotProcess], discord_emulator: DiscordEmulator, ablt: AbltEmulator, database: str
) -> None:
    first = make_bot()
    await first.start()
    ablt.enqueue(Reply(tokens=["Long", " answer", " that", " never", " ends"], hang_after_tokens=2))
    thread = await thread_for(discord_emulator, await chat(discord_emulator, "Tell me everything"))
    # Shutdown shows all that arrived, whatever the stream's writes had shown (bot/replies/streaming.py).
    await discord_emulator.wait_for(lambda: shown_reply(discord_emulator, thread.id).startswith("Long"), 10)
    await first.stop()

    notice = await wait_for_post(discord_emulator, thread.id, "cut off because the bot shut down")
    assert notice.content.startswith("⏹️")
    store = await Store.open(database)
    try:
        session = await store.active_session(thread.id)
        assert session is not None
        statuses = [(e["role"], e["content"], e["status"]) for e in await store.entries(session.id)]
    finally:
        await store.close()
    assert statuses == [("user", "Tell me everything", "complete"), ("assistant", "Long answer", "interrupted")]

    second = make_bot()
    await second.start()
    mark = last_message_id(discord_emulator, thread.id)
    await discord_emulator.send_user_message(thread.id, "go on")
    await wait_for_reply(discord_emulator, thread.id, "You said: go on", after=mark)
    await second.stop()
    assert ablt.requests[-1].body["messages"][1] == {"role": "assistant", "content": "Long answer"}


async def test_a_reply_left_streaming_by_a_crash_is_listed_once_with_the_text_it_showed(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "bot.sqlite3")
    session = await store.start_session(channel_id=1, guild_id=2, provider="ablt", state={}, started_by=3)
    await store.add_entry(session.id, "user", "hi", author_id=3)
    reply = await store.add_entry(session.id, "assistant", "", author_id=None, status="streaming")
    await store.set_entry_content(reply, "Half of the answ")  # saved as it was shown
    await store.close()  # the process dies here without finishing the reply

    reopened = await Store.open(tmp_path / "bot.sqlite3")
    try:
        unfinished = await reopened.take_unfinished()
        assert [(u.channel_id, u.content) for u in unfinished] == [(1, "Half of the answ")]
        assert await reopened.take_unfinished() == []  # listed once: the next start does not say it again
        assert [e["status"] for e in await reopened.entries(session.id)] == ["complete", "interrupted"]
        assert [h.content for h in await reopened.history(session.id)] == ["hi", "Half of the answ"]
    finally:
        await reopened.close()
