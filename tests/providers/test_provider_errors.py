"""When aBLT fails, the thread says so plainly, the bot keeps running, and the user's turn is kept."""

from __future__ import annotations

import pytest

from tests.emulators.ablt import AbltEmulator, Reply
from tests.emulators.discord import DiscordEmulator
from tests.support.harness import BotProcess
from tests.support.journey import chat, last_message_id, shown_reply, thread_for, wait_for_post, wait_for_reply

FAILURES = [
    pytest.param(Reply(status=401, body={"detail": "Invalid authentication credentials"}), "ABLT_API_KEY", id="401"),
    pytest.param(
        Reply(status=422, body={"detail": [{"loc": ["body", "stream"], "msg": "field required", "type": "x"}]}),
        "could not read",
        id="422",
    ),
    pytest.param(Reply(status=422, body={"detail": "plain string detail"}), "could not read", id="422-string"),
    pytest.param(Reply(status=500, body={"detail": "boom"}), "having trouble", id="500"),
    pytest.param(Reply(status=502, body=b"<html>bad gateway</html>"), "having trouble", id="502-html"),
    pytest.param(Reply(text="partial answer here", cut_off_after_tokens=2), "cut off", id="cut-off"),
    pytest.param(Reply(text="one two three", malformed_frame_after_tokens=1), "garbled", id="malformed-frame"),
    pytest.param(Reply(hang_before_headers=True), "did not answer in time", id="hang-before-headers"),
    pytest.param(Reply(text="one two three four", hang_after_tokens=2), "stopped sending", id="hang-mid-stream"),
]


@pytest.mark.parametrize(("failure", "says"), FAILURES)
async def test_failure_ends_the_turn_with_a_clear_message_and_the_conversation_goes_on(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator, failure: Reply, says: str
) -> None:
    ablt.enqueue(failure)
    if failure.status in (502,):
        ablt.enqueue(failure)  # a 502 is retried once; fail both attempts
    thread = await thread_for(discord_emulator, await chat(discord_emulator, "first question"))
    notice = await wait_for_post(discord_emulator, thread.id, "⚠️")
    assert says in notice.content
    assert "Traceback" not in notice.content and "http" not in notice.content.lower()

    mark = last_message_id(discord_emulator, thread.id)
    ablt.enqueue(Reply(text="Second answer."))
    await discord_emulator.send_user_message(thread.id, "second question")
    await wait_for_reply(discord_emulator, thread.id, "Second answer.", after=mark)

    sent = ablt.requests[-1].body["messages"]
    assert sent[0] == {"role": "user", "content": "first question"}
    assert sent[-1] == {"role": "user", "content": "second question"}


async def test_text_shown_before_a_cut_off_stays_and_a_notice_follows(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator
) -> None:
    ablt.enqueue(Reply(tokens=["Half", " of", " it"], cut_off_after_tokens=2))
    thread = await thread_for(discord_emulator, await chat(discord_emulator, "go"))
    notice = await wait_for_post(discord_emulator, thread.id, "cut off")
    assert shown_reply(discord_emulator, thread.id, after=0).startswith("Half of")
    assert notice.content.startswith("⚠️")


async def test_a_503_is_retried_once_and_the_user_sees_only_the_answer(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator
) -> None:
    ablt.enqueue(Reply(status=503, body={"detail": "busy"}), Reply(text="Recovered."))
    thread = await thread_for(discord_emulator, await chat(discord_emulator, "hi"))
    await wait_for_reply(discord_emulator, thread.id, "Recovered.")
    assert len(ablt.requests) == 2


async def test_unknown_bot_gets_a_message_naming_the_bot_option(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator
) -> None:
    thread = await thread_for(discord_emulator, await chat(discord_emulator, "hi", bot="no-such-bot"))
    notice = await wait_for_post(discord_emulator, thread.id, "⚠️")
    assert "`bot:`" in notice.content


async def test_empty_reply_is_said_not_left_blank(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator
) -> None:
    ablt.enqueue(Reply(tokens=[]))
    thread = await thread_for(discord_emulator, await chat(discord_emulator, "hi"))
    await wait_for_post(discord_emulator, thread.id, "empty reply")
