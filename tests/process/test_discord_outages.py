"""Discord's transient failures during a reply: 5xx, timeouts, lost answers, shared 429s, a dropped gateway.

Each is ridden out: the bot backs off, the newest text lands once Discord answers, nothing is posted
twice, and only a long outage says so in the thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tests.emulators.ablt import AbltEmulator, Reply
from tests.emulators.discord import DiscordEmulator, Fault
from tests.support.harness import BotProcess
from tests.support.journey import (
    bot_posts,
    chat,
    last_message_id,
    shown_reply,
    thread_for,
    wait_for_post,
    wait_for_reply,
)
from tests.support.streams import reply_entries, streaming, wait_for_reply_status, words

EDIT = "/channels/{channel_id}/messages/{message_id}"
CREATE = "/channels/{channel_id}/messages"


async def test_three_plain_text_503s_on_edits_are_retried_and_the_newest_text_lands(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator, database: str
) -> None:
    tokens = words(120)
    _, thread_id = await streaming(discord_emulator, ablt, tokens, shown_words=15)
    outage = discord_emulator.inject_fault(Fault.proxy_503(method="PATCH", route=EDIT, channel_id=thread_id, times=3))

    await wait_for_reply(discord_emulator, thread_id, "".join(tokens))
    await running_bot.stop()

    assert outage.hits == 3
    posts = bot_posts(discord_emulator, thread_id)
    assert len(posts) == 1 and not any("⚠️" in p.content for p in posts)  # short outage: nothing to say
    assert await reply_entries(database, thread_id) == [("".join(tokens), "complete")]


async def test_a_long_outage_shows_the_reply_when_discord_is_back_and_says_it_was_late(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bot.replies.writes.OUTAGE_NOTICE_S", 2.0)
    tokens = words(40)
    _, thread_id = await streaming(discord_emulator, ablt, tokens)
    down = Fault.proxy_503(channel_id=thread_id, until=time.monotonic() + 3.5)  # every write, for 3.5 s
    discord_emulator.inject_fault(down)

    late = await wait_for_post(discord_emulator, thread_id, "Discord did not answer")
    assert late.content.startswith("-# ⚠️") and "showed up late" in late.content
    assert shown_reply(discord_emulator, thread_id).startswith("".join(tokens))
    assert down.hits >= 2


async def test_discord_down_past_the_limit_ends_the_turn_and_says_so_once_it_is_back(
    make_bot: Callable[..., BotProcess],
    discord_emulator: DiscordEmulator,
    ablt: AbltEmulator,
    database: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("bot.replies.writes.OUTAGE_GIVE_UP_S", 2.5)
    monkeypatch.setattr("bot.replies.delivery.RETRY_MAX_S", 1.0)
    bot = make_bot()
    await bot.start()
    tokens = words(200)
    _, thread_id = await streaming(discord_emulator, ablt, tokens)
    shown_before = shown_reply(discord_emulator, thread_id)
    down = discord_emulator.inject_fault(Fault.proxy_503(channel_id=thread_id))

    await wait_for_reply_status(database, thread_id, "interrupted")  # the turn gave up on Discord
    assert down.hits >= 3
    discord_emulator.clear_faults()  # Discord is back
    notice = await wait_for_post(discord_emulator, thread_id, "could not be reached")
    await bot.stop()

    assert notice.content.startswith("⚠️") and "cut off" in notice.content
    assert len(ablt.emitted) < len(tokens)  # the provider call was ended, not read to the end
    [(content, status)] = await reply_entries(database, thread_id)
    assert status == "interrupted" and content == shown_before  # what members saw, nothing more


async def test_a_timed_out_post_that_discord_did_create_is_not_posted_twice(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bot.app.REST_READ_TIMEOUT_S", 0.5)
    ablt.enqueue(Reply(tokens=["Slow", " start", " then", " the", " rest."], token_interval_s=0.3))
    thread = await thread_for(discord_emulator, await chat(discord_emulator, "careful"))
    lost = discord_emulator.inject_fault(
        Fault(method="POST", route=CREATE, channel_id=thread.id, delay_s=2.0, after_handling=True, times=1)
    )

    await wait_for_reply(discord_emulator, thread.id, "Slow start then the rest.")
    assert lost.hits == 1
    assert len(bot_posts(discord_emulator, thread.id)) == 1  # created once, though the bot never saw the answer


async def test_shared_scope_429s_on_edits_are_waited_out(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator
) -> None:
    tokens = words(60)
    _, thread_id = await streaming(discord_emulator, ablt, tokens, interval_s=0.04)
    limited = discord_emulator.inject_fault(
        Fault.shared_429(retry_after=0.3, method="PATCH", route=EDIT, channel_id=thread_id, times=2)
    )

    await wait_for_reply(discord_emulator, thread_id, "".join(tokens))
    assert limited.hits == 2
    assert len(bot_posts(discord_emulator, thread_id)) == 1


async def test_a_dropped_gateway_mid_reply_resumes_and_a_message_sent_meanwhile_is_answered_once(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator
) -> None:
    tokens = words(60)
    _, thread_id = await streaming(discord_emulator, ablt, tokens)
    resumes = discord_emulator.core.gateway.resume_count

    await discord_emulator.disconnect_gateway(4000)  # discord.py reconnects and RESUMEs
    await discord_emulator.send_user_message(thread_id, "and then?")  # dispatched while the bot is away
    await discord_emulator.wait_for(lambda: discord_emulator.core.gateway.resume_count > resumes, 15, "a RESUME")
    await wait_for_reply(discord_emulator, thread_id, "".join(tokens))
    mark = max(m.id for m in discord_emulator.messages(thread_id) if m.content == "and then?")
    await wait_for_reply(discord_emulator, thread_id, "You said: and then?", after=mark)

    assert sum(1 for r in ablt.requests if r.body and r.body["messages"][-1]["content"] == "and then?") == 1


async def test_the_same_message_delivered_twice_is_answered_once(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator
) -> None:
    thread = await thread_for(discord_emulator, await chat(discord_emulator, "hello"))
    await wait_for_reply(discord_emulator, thread.id, "You said: hello")
    mark = last_message_id(discord_emulator, thread.id)
    message = await discord_emulator.send_user_message(thread.id, "once please")
    discord_emulator.redeliver(message.id)  # e.g. two processes briefly on the same shard during a deploy

    await wait_for_reply(discord_emulator, thread.id, "You said: once please", after=mark)
    await running_bot.stop()
    assert sum(1 for r in ablt.requests if r.body and r.body["messages"][-1]["content"] == "once please") == 1
    assert [m.content for m in bot_posts(discord_emulator, thread.id) if m.id > mark] == ["You said: once please"]
