"""When the database fails under a turn (a refused write, dropped connections, a slow lock), the turn still ends
with a final status and a line members can read, the next turn works without a restart, and the history holds
what the thread showed. Every fault is the database's own (tests/db_faults.py)."""

from __future__ import annotations

from collections.abc import Callable

from tests import db_faults
from tests.emulators.ablt import AbltEmulator, Reply
from tests.emulators.discord import DiscordEmulator
from tests.harness import BotProcess
from tests.journey import (
    bot_posts,
    chat,
    last_message_id,
    refusal,
    say,
    shown_reply,
    thread_for,
    wait_for_post,
    wait_for_reply,
)
from tests.test_member_controls import entries, regenerate, reply_message, settled

BOTH_STORES = True  # every journey here runs on SQLite and on PostgreSQL (tests/conftest.py)
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
