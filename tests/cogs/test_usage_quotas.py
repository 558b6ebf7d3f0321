"""Quotas and the usage ledger as members and managers meet them: `/limits`, refusals with the reset time, the
clock crossing midnight, roles, every way of reaching a provider counted once, `/usage` with its chart, and
`python -m bot usage` (issue 20)."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import struct
import sys
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import text

from bot.store import Store
from tests.emulators.ablt import AbltEmulator, Reply
from tests.emulators.convai import ConvaiEmulator, ConvaiReply, StarterScript
from tests.emulators.discord import VOICE_MESSAGE_FLAG, AttachmentSpec, DiscordEmulator, MessageRecord
from tests.support import audio_samples
from tests.support.controls import MEMBER, button_on, press, regenerate, reply_message, settled
from tests.support.harness import REPO, BotProcess
from tests.support.journey import WAIT_S, chat, command, refusal, say, thread_for, wait_for_post, wait_for_reply

BOTH_STORES = True  # every journey here runs on SQLite and on PostgreSQL (tests/support/fixtures.py)
DAY_S = 86_400


async def ledger(database: str, **group: Any) -> list[Any]:
    store = await Store.open(database)
    try:
        return await store.usage.totals(**group)
    finally:
        await store.close()


def private_note(discord: DiscordEmulator, member: int) -> str:
    """The newest message the bot sent the member in DMs (where a note about a thread message goes)."""
    dm = discord.dm_channel_id(member)
    assert dm is not None, "the bot never wrote to the member"
    return discord.messages(dm)[-1].content


async def wait_for_dm(discord: DiscordEmulator, member: int, fragment: str) -> str:
    def found() -> bool:
        dm = discord.dm_channel_id(member)
        return dm is not None and any(fragment in m.content for m in discord.messages(dm))

    await discord.wait_for(found, WAIT_S, f"a DM containing {fragment!r}")
    return private_note(discord, member)


async def test_a_member_over_the_daily_quota_is_refused_privately_and_nothing_reaches_the_provider_until_midnight(
    make_bot: Callable[..., BotProcess], discord_emulator: DiscordEmulator, ablt: AbltEmulator, database: str
) -> None:
    discord_emulator.set_everyone_permissions(MEMBER)
    bob = discord_emulator.add_member("bob")
    bot = make_bot(QUOTA_DEFAULTS="member.day.turns=2")
    await bot.start()
    ablt.enqueue(Reply(tokens=["One."]), Reply(tokens=["Two."]), Reply(tokens=["Three."]))
    thread = await thread_for(discord_emulator, await chat(discord_emulator, "first", by=bob))
    await wait_for_reply(discord_emulator, thread.id, "One.")
    mark = await say(discord_emulator, thread.id, "second", by=bob)
    await wait_for_reply(discord_emulator, thread.id, "Two.", after=mark)

    await say(discord_emulator, thread.id, "third", by=bob)
    note = await wait_for_dm(discord_emulator, bob, "daily limit")

    assert "your daily limit: 2 turns" in note and "<t:" in note and "Nothing was sent" in note
    assert len(ablt.requests) == 2
    bot.clock.advance(DAY_S)  # past midnight UTC: a new day
    mark = await say(discord_emulator, thread.id, "next day", by=bob)
    await wait_for_reply(discord_emulator, thread.id, "Three.", after=mark)
    assert len(ablt.requests) == 3
    rows = await ledger(database, group_by=("member_id",))
    assert [(row.member_id, row.turns) for row in rows] == [(bob, 3)]


async def test_limits_set_by_managers_give_a_role_more_and_cap_the_whole_server(
    make_bot: Callable[..., BotProcess], discord_emulator: DiscordEmulator, ablt: AbltEmulator, database: str
) -> None:
    discord_emulator.set_everyone_permissions(MEMBER)
    supporters = discord_emulator.add_role("Supporters", permissions=MEMBER)
    bob, carol = discord_emulator.add_member("bob"), discord_emulator.add_member("carol", roles=[supporters])
    await make_bot().start()
    channel = discord_emulator.channel_id
    saved = await command(discord_emulator, "limits set", channel, who="member", period="day", turns=1)
    await command(discord_emulator, "limits set", channel, who="role", period="day", turns=2, role=supporters)
    server = await command(discord_emulator, "limits set", channel, who="server", period="month", turns=4)
    assert "Saved." in refusal(saved) and "The whole server: 4 turns a month" in refusal(server)
    ablt.enqueue(*(Reply(tokens=[f"Answer {n}."]) for n in range(4)))

    bob_thread = await thread_for(discord_emulator, await chat(discord_emulator, "bob 1", by=bob))
    await wait_for_post(discord_emulator, bob_thread.id, "Answer")
    await say(discord_emulator, bob_thread.id, "bob 2", by=bob)
    assert "your daily limit: 1 turns" in await wait_for_dm(discord_emulator, bob, "daily limit")
    carol_thread = await thread_for(discord_emulator, await chat(discord_emulator, "carol 1", by=carol))
    await wait_for_post(discord_emulator, carol_thread.id, "Answer")
    mark = await say(discord_emulator, carol_thread.id, "carol 2", by=carol)
    await wait_for_post(discord_emulator, carol_thread.id, "Answer", after=mark)
    await say(discord_emulator, carol_thread.id, "carol 3", by=carol)
    assert "your daily limit: 2 turns" in await wait_for_dm(discord_emulator, carol, "daily limit")

    alice_thread = await thread_for(discord_emulator, await chat(discord_emulator, "alice 1"))  # the server's 4th
    await wait_for_post(discord_emulator, alice_thread.id, "Answer")
    await say(discord_emulator, alice_thread.id, "alice 2")
    owner = discord_emulator.user_id
    assert "this server's monthly limit: 4 turns" in await wait_for_dm(discord_emulator, owner, "monthly limit")
    assert len(ablt.requests) == 4


async def test_every_way_of_reaching_a_provider_is_counted_once_in_the_ledger(
    make_bot: Callable[..., BotProcess], discord_emulator: DiscordEmulator, ablt: AbltEmulator, database: str
) -> None:
    await make_bot().start()
    ablt.enqueue(Reply(tokens=["Hello."]), Reply(tokens=["Again."]), Reply(tokens=["Once more."]))
    thread = await thread_for(discord_emulator, await chat(discord_emulator, "hi"))  # /chat
    await wait_for_reply(discord_emulator, thread.id, "Hello.")
    mark = await say(discord_emulator, thread.id, "and?")  # a message in the thread
    await wait_for_reply(discord_emulator, thread.id, "Again.", after=mark)
    await settled(discord_emulator, database, thread.id)
    await regenerate(discord_emulator, reply_message(discord_emulator, thread.id, "Again.").id)  # Regenerate
    await wait_for_post(discord_emulator, thread.id, "Once more.")
    await settled(discord_emulator, database, thread.id)
    ablt.enqueue(Reply(status=500), Reply(tokens=["Fixed."]))
    await say(discord_emulator, thread.id, "break")
    failure, retry_id = await button_on(discord_emulator, thread.id, "retry:")
    await settled(discord_emulator, database, thread.id)  # as a member would, once the failure is recorded
    await press(discord_emulator, failure, retry_id)  # Retry
    await wait_for_post(discord_emulator, thread.id, "Fixed.")
    await settled(discord_emulator, database, thread.id)

    kinds = {row.kind: row.turns for row in await ledger(database, group_by=("kind",))}
    assert kinds == {"text": 3, "regenerate": 1, "retry": 1}
    outcomes = {row.outcome: row.turns for row in await ledger(database, group_by=("outcome",))}
    assert outcomes == {"complete": 4, "failed": 1}  # Regenerate's replaced reply stays complete
    totals = (await ledger(database))[0]
    assert totals.chars_in == len("hi") + len("and?") * 2 + len("break") * 2  # Regenerate and Retry resend
    assert totals.chars_out == sum(len(t) for t in ("Hello.", "Again.", "Once more.", "Fixed."))  # a failure: 0


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", "not a PNG"
    return struct.unpack(">II", data[16:24])


async def test_usage_shows_a_member_what_is_left_and_a_manager_the_server_with_a_chart(
    make_bot: Callable[..., BotProcess], discord_emulator: DiscordEmulator, ablt: AbltEmulator, database: str
) -> None:
    discord_emulator.set_everyone_permissions(MEMBER)
    bob = discord_emulator.add_member("bob")
    await make_bot(QUOTA_DEFAULTS="member.day.turns=5,member.month.chars=10000").start()
    ablt.enqueue(Reply(tokens=["Sure."]))
    thread = await thread_for(discord_emulator, await chat(discord_emulator, "hello", by=bob))
    await wait_for_reply(discord_emulator, thread.id, "Sure.")
    await settled(discord_emulator, database, thread.id)

    own = refusal(await command(discord_emulator, "usage", discord_emulator.channel_id, by=bob))
    refused = refusal(await command(discord_emulator, "usage", discord_emulator.channel_id, by=bob, server=True))
    manager = await command(discord_emulator, "usage", discord_emulator.channel_id, server=True)
    shown = lambda: bool(manager.messages) and not manager.messages[0].loading  # noqa: E731 - the deferred answer
    await discord_emulator.wait_for(shown, WAIT_S, "the manager's usage")

    assert "Today: 1 turns, 10 characters; 4 of 5 turns left, resets <t:" in own
    assert "9,990 of 10,000 characters left" in own
    assert "Only members who can manage" in refused
    answer: MessageRecord = manager.messages[0]
    assert answer.ephemeral and "aBLT: 1 turns" in answer.content and f"<@{bob}>: 1 turns" in answer.content
    chart = answer.attachments[0]
    width, height = png_size(chart.data)
    assert chart.filename == "usage.png" and 600 <= width <= 2000 and 300 <= height <= 1200
    assert 5_000 < len(chart.data) < 300_000


async def test_the_operators_cli_prints_the_ledgers_totals_as_csv(
    make_bot: Callable[..., BotProcess], discord_emulator: DiscordEmulator, ablt: AbltEmulator, database: str
) -> None:
    await make_bot().start()
    ablt.enqueue(Reply(tokens=["Fine."]))
    thread = await thread_for(discord_emulator, await chat(discord_emulator, "csv please"))
    await wait_for_reply(discord_emulator, thread.id, "Fine.")
    await settled(discord_emulator, database, thread.id)

    env = {"PATH": os.environ.get("PATH", ""), "DATABASE_URL": database, "PYTHONPATH": str(REPO)}
    cli = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "bot", "usage", "--format", "csv", "--since", "2000-01-01"),
        cwd=REPO, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(cli.communicate(), 60)

    assert cli.returncode == 0, err.decode()
    rows = list(csv.DictReader(io.StringIO(out.decode())))
    assert [(r["guild_id"], r["provider"], r["turns"], r["chars_in"]) for r in rows] == [
        (str(discord_emulator.guild_id), "ablt", "1", str(len("csv please")))
    ]
    assert b"csv please" not in out  # the ledger holds no message text


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
async def test_two_processes_racing_for_a_members_last_turn_give_one_turn(
    make_bot: Callable[..., BotProcess], discord_emulator: DiscordEmulator, ablt: AbltEmulator, database: str
) -> None:
    discord_emulator.set_everyone_permissions(MEMBER)
    bob = discord_emulator.add_member("bob")
    first = make_bot(QUOTA_DEFAULTS="member.day.turns=3")
    await first.start()
    ablt.enqueue(*(Reply(tokens=[f"Reply {n}."], token_interval_s=0.05) for n in range(4)))
    threads = [await thread_for(discord_emulator, await chat(discord_emulator, f"open {n}", by=bob)) for n in (1, 2)]
    for thread in threads:
        await wait_for_post(discord_emulator, thread.id, "Reply")
    second = make_bot(QUOTA_DEFAULTS="member.day.turns=3")  # a second process on the same database and shard
    await second.start()

    await asyncio.gather(*(say(discord_emulator, thread.id, "the last one", by=bob) for thread in threads))
    await wait_for_dm(discord_emulator, bob, "daily limit")
    await discord_emulator.wait_for(lambda: len(ablt.requests) >= 3, WAIT_S, "the one turn let through")
    for thread in threads:
        await settled(discord_emulator, database, thread.id)

    assert len(ablt.requests) == 3
    dm = discord_emulator.dm_channel_id(bob)
    assert dm is not None and sum("daily limit" in m.content for m in discord_emulator.messages(dm)) == 1
    assert [(row.member_id, row.turns) for row in await ledger(database, group_by=("member_id",))] == [(bob, 3)]


async def test_detail_past_the_retention_is_kept_as_daily_totals_and_old_counters_go(
    make_bot: Callable[..., BotProcess], discord_emulator: DiscordEmulator, ablt: AbltEmulator, database: str
) -> None:
    first = make_bot(USAGE_RETENTION_DAYS="30")
    await first.start()
    ablt.enqueue(Reply(tokens=["Kept."]))
    thread = await thread_for(discord_emulator, await chat(discord_emulator, "remember me"))
    await wait_for_reply(discord_emulator, thread.id, "Kept.")
    await settled(discord_emulator, database, thread.id)
    await first.stop()
    before = await ledger(database, group_by=("day", "provider", "kind", "outcome"))

    later = make_bot(USAGE_RETENTION_DAYS="30")
    later.clock.advance(31 * DAY_S)  # the next start is a month on: its upkeep runs at once
    await later.start()

    async def compacted() -> bool:
        store = await Store.open(database)
        try:
            async with store.db.read() as conn:
                detail = (await conn.execute(text("SELECT COUNT(*) FROM usage_ledger"))).scalar_one()
                counters = (await conn.execute(text("SELECT COUNT(*) FROM usage_counters"))).scalar_one()
            return detail == 0 and counters == 0
        finally:
            await store.close()

    for _ in range(int(WAIT_S / 0.2)):
        if await compacted():
            break
        await asyncio.sleep(0.2)
    assert await compacted()
    assert await ledger(database, group_by=("day", "provider", "kind", "outcome")) == before


async def test_voice_notes_starters_and_ask_ai_are_counted_with_their_kind_and_audio_seconds(
    make_bot: Callable[..., BotProcess],
    discord_emulator: DiscordEmulator,
    ablt: AbltEmulator,
    convai: ConvaiEmulator,
    database: str,
) -> None:
    await make_bot().start()
    convai.enqueue_starters(StarterScript(suggestions=["What is your name?"]))
    convai.enqueue(ConvaiReply(text="Ready when you are."))
    thread = await thread_for(discord_emulator, await chat(discord_emulator, "Let's talk", provider="convai"))
    await wait_for_post(discord_emulator, thread.id, "Ready when you are.")
    await settled(discord_emulator, database, thread.id)
    offer, starter_id = await button_on(discord_emulator, thread.id, "offer:")
    convai.enqueue(ConvaiReply(text="My name is Alpha."))
    await press(discord_emulator, offer, starter_id)  # a Convai starter
    await wait_for_post(discord_emulator, thread.id, "My name is Alpha.")
    await settled(discord_emulator, database, thread.id)
    note = audio_samples.voice_note_ogg(seconds=3.0)
    convai.enqueue(ConvaiReply(text="Sunny all week!", transcript="What's the weather like?"))
    spec = AttachmentSpec("voice-message.ogg", note, "audio/ogg", duration_secs=3.0, waveform="AAAA")
    await discord_emulator.send_user_message(
        thread.id, "", attachments=[spec], flags=VOICE_MESSAGE_FLAG
    )  # a voice note
    await wait_for_post(discord_emulator, thread.id, "Sunny all week!")
    await settled(discord_emulator, database, thread.id)
    ablt.enqueue(Reply(tokens=["Forty-two."]))
    await command(discord_emulator, "settings", discord_emulator.channel_id, default_provider="ablt")
    question = await discord_emulator.send_user_message(None, "What is the answer?")
    asked = await discord_emulator.run_message_command("Ask AI", question.id)  # Ask AI, with the server's default
    await asked.wait_for_response(WAIT_S)
    ask_thread = await thread_for(discord_emulator, asked)
    await wait_for_reply(discord_emulator, ask_thread.id, "Forty-two.")
    await settled(discord_emulator, database, ask_thread.id)

    rows = {(r.provider, r.kind): r for r in await ledger(database, group_by=("provider", "kind"))}
    assert {key: row.turns for key, row in rows.items()} == {
        ("convai", "text"): 1, ("convai", "choice"): 1, ("convai", "voice"): 1, ("ablt", "text"): 1,
    }  # fmt: skip
    voice = rows[("convai", "voice")]
    assert abs(voice.audio_in_s - 3.0) < 0.1 and voice.files == 1
    assert rows[("convai", "text")].audio_out_s > 0  # Convai answered out loud (the emulator's spoken WAV)


async def test_retry_over_quota_is_refused_privately_and_keeps_the_failed_reply_retryable(
    make_bot: Callable[..., BotProcess], discord_emulator: DiscordEmulator, ablt: AbltEmulator, database: str
) -> None:
    discord_emulator.set_everyone_permissions(MEMBER)
    bob = discord_emulator.add_member("bob")
    bot = make_bot(QUOTA_DEFAULTS="member.day.turns=2")
    await bot.start()
    ablt.enqueue(Reply(tokens=["Hello."]), Reply(status=500), Reply(tokens=["Fixed."]))
    thread = await thread_for(discord_emulator, await chat(discord_emulator, "hi", by=bob))
    await wait_for_reply(discord_emulator, thread.id, "Hello.")
    await say(discord_emulator, thread.id, "break", by=bob)  # the second turn of the day fails
    failure, retry_id = await button_on(discord_emulator, thread.id, "retry:")
    await settled(discord_emulator, database, thread.id)

    refused = await press(discord_emulator, failure, retry_id, by=bob)
    assert "your daily limit: 2 turns" in refusal(refused) and len(ablt.requests) == 2
    assert retry_id in discord_emulator.message(failure.id).custom_ids()  # Retry is still offered
    bot.clock.advance(DAY_S)
    await press(discord_emulator, failure, retry_id, by=bob)
    await wait_for_post(discord_emulator, thread.id, "Fixed.")
    assert len(ablt.requests) == 3
