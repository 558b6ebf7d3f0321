"""The bot never does for a member what Discord forbids them: posting, opening threads, reading history, seeing a
channel; for `/chat`, Ask AI, choices, Retry, Regenerate, `/export`, `/session`, and the same flows in DMs.

Members' permissions come from the Discord emulator's channel overwrites, as Discord computes them for each
interaction; refusals are private and name what is missing (bot/members/permissions.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from tests.emulators.ablt import AbltEmulator, Reply
from tests.emulators.convai import ConvaiEmulator, ConvaiReply, StarterScript
from tests.emulators.discord import (
    CREATE_PUBLIC_THREADS,
    READ_MESSAGE_HISTORY,
    SEND_MESSAGES,
    SEND_MESSAGES_IN_THREADS,
    VIEW_CHANNEL,
    AttachmentSpec,
    DiscordEmulator,
    InteractionRecord,
    MessageRecord,
)
from tests.support.harness import BotProcess
from tests.support.journey import (
    WAIT_S,
    bot_posts,
    chat,
    command,
    offer_posts,
    refusal,
    thread_for,
    wait_for_post,
    wait_for_reply,
)
from tests.support.permissions import click, failure_line, public_posts
from tests.support.streams import wait_for_reply_status

BOTH_STORES = True  # every journey here runs on SQLite and on PostgreSQL (tests/support/fixtures.py)
SAMPLE_DENIED = SEND_MESSAGES | CREATE_PUBLIC_THREADS | SEND_MESSAGES_IN_THREADS
MANAGE_THREADS = 1 << 34
CHANNEL_OPTION = 7  # application command option type CHANNEL (interactions/application-commands.mdx)


async def run(discord: DiscordEmulator, name: str, channel_id: int, *, by: int, **options: object) -> InteractionRecord:
    """A slash command whose answer may be deferred first: waits for the final (private) text."""
    done = await command(discord, name, channel_id, by=by, **options)
    await discord.wait_for(lambda: bool(done.messages) and not done.messages[0].loading, WAIT_S, f"/{name}'s answer")
    return done


async def menu(discord: DiscordEmulator, name: str, message_id: int, *, by: int) -> InteractionRecord:
    """A message's Apps menu command (Ask AI, Regenerate) as member `by`."""
    done = await discord.run_message_command(name, message_id, user_id=by)
    await done.wait_for_response(WAIT_S)
    return done


# ---- the sample: denied posting, /chat and Ask AI still posted and opened a thread ---------------------------------


async def test_a_member_denied_posting_is_refused_privately_by_chat_and_ask_ai(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator
) -> None:
    """Issue 18, sample 2: Send Messages, Create Public Threads and Send Messages in Threads denied to a member."""
    bob, carol = discord_emulator.add_member("bob"), discord_emulator.add_member("carol")
    channel = discord_emulator.channel_id
    question = await discord_emulator.send_user_message(channel, "What is a monad?", user_id=carol)
    discord_emulator.set_channel_overwrite(channel, bob, deny=SAMPLE_DENIED)

    chatted = await chat(discord_emulator, "hello", by=bob)
    assert refusal(chatted) == (
        "You can't start a conversation here: you're missing the **Send Messages**, **Create Public Threads**"
        " and **Send Messages in Threads** permissions in this channel."
    )
    asked = await menu(discord_emulator, "Ask AI", question.id, by=bob)
    assert "you're missing the **Send Messages**, **Create Public Threads**" in refusal(asked)

    assert discord_emulator.threads == [] and public_posts(discord_emulator, channel) == []  # nothing opened or posted
    assert ablt.requests == []  # no provider was asked

    discord_emulator.clear_channel_overwrite(channel, bob)  # the same member, allowed again: it works
    thread = await thread_for(discord_emulator, await chat(discord_emulator, "hello", by=bob))
    await wait_for_reply(discord_emulator, thread.id, "You said: hello")


async def test_in_a_thread_a_member_needs_send_messages_in_threads_and_a_locked_thread_stays_shut(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator
) -> None:
    bob = discord_emulator.add_member("bob")
    discord_emulator.set_everyone_permissions(((1 << 51) - 1) & ~(1 << 3) & ~MANAGE_THREADS)  # plain members
    thread = await discord_emulator.create_thread("design talk")
    discord_emulator.set_channel_overwrite(discord_emulator.channel_id, bob, deny=SEND_MESSAGES_IN_THREADS)
    refused = await chat(discord_emulator, "hello", channel_id=thread.id, by=bob)
    assert refusal(refused) == (
        "You can't start a conversation here: you're missing the **Send Messages in Threads** permission in this"
        " thread."
    )
    discord_emulator.clear_channel_overwrite(discord_emulator.channel_id, bob)
    discord_emulator.lock_thread(thread.id)  # the bot could still write there (it may Manage Threads); bob may not
    locked = await chat(discord_emulator, "hello", channel_id=thread.id, by=bob)
    assert "a moderator locked this thread" in refusal(locked)
    assert public_posts(discord_emulator, thread.id) == [] and ablt.requests == []


# ---- reading: Ask AI on a message, /export, /session ------------------------------------------------------------


async def test_ask_ai_reads_nothing_of_a_message_without_read_message_history(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator
) -> None:
    bob, carol = discord_emulator.add_member("bob"), discord_emulator.add_member("carol")
    notes = AttachmentSpec("notes.txt", b"the secret plan", "text/plain")
    message = await discord_emulator.send_user_message(discord_emulator.channel_id, "", carol, [notes])
    discord_emulator.set_channel_overwrite(discord_emulator.channel_id, bob, deny=READ_MESSAGE_HISTORY)

    asked = await menu(discord_emulator, "Ask AI", message.id, by=bob)
    assert refusal(asked) == (
        "You can't ask about that message here: you're missing the **Read Message History** permission in this channel."
    )
    assert discord_emulator.downloaded_attachments == []  # the file was not fetched
    assert discord_emulator.threads == [] and ablt.requests == []


async def test_export_needs_read_message_history_and_session_needs_view_channel(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator
) -> None:
    bob, carol = discord_emulator.add_member("bob"), discord_emulator.add_member("carol")
    thread = await thread_for(discord_emulator, await chat(discord_emulator, "hello", by=carol))
    await wait_for_reply(discord_emulator, thread.id, "You said: hello")
    discord_emulator.set_channel_overwrite(discord_emulator.channel_id, bob, deny=READ_MESSAGE_HISTORY)

    exported = await run(discord_emulator, "export", thread.id, by=bob)
    assert refusal(exported) == (
        "You can't export this conversation here: you're missing the **Read Message History** permission in this"
        " thread."
    )
    assert not [a for m in exported.messages for a in m.attachments]  # no transcript file
    looked = await run(discord_emulator, "session", thread.id, by=bob)  # seeing it is enough for /session
    assert "aBLT" in refusal(looked)

    discord_emulator.set_channel_overwrite(discord_emulator.channel_id, bob, deny=VIEW_CHANNEL)
    hidden = await run(discord_emulator, "session", thread.id, by=bob)
    assert refusal(hidden) == (
        "You can't use this command here: you're missing the **View Channel** permission in this thread."
    )


# ---- buttons and menus that make the member speak ---------------------------------------------------------------


async def test_buttons_pressed_by_a_member_who_may_not_send_in_the_thread_are_refused_privately(
    running_bot: BotProcess,
    discord_emulator: DiscordEmulator,
    ablt: AbltEmulator,
    convai: ConvaiEmulator,
    database: str,
) -> None:
    bob, carol = discord_emulator.add_member("bob"), discord_emulator.add_member("carol")
    ablt.enqueue(Reply(status=500), Reply(text="Second time lucky."))
    failed = await thread_for(discord_emulator, await chat(discord_emulator, "Question", by=carol))
    retry_line = await failure_line(discord_emulator, failed.id)
    convai.enqueue(ConvaiReply(text="Hello, traveller."))
    convai.enqueue_starters(StarterScript(suggestions=["What is your name?", "Where are you from?"]))
    talk = await thread_for(discord_emulator, await chat(discord_emulator, "Hi!", provider="convai", by=carol))
    await discord_emulator.wait_for(lambda: bool(offer_posts(discord_emulator, talk.id)), WAIT_S, "starters")
    (offer,) = offer_posts(discord_emulator, talk.id)
    answer = next(m for m in bot_posts(discord_emulator, talk.id) if m.content.startswith("Hello, traveller."))
    await wait_for_reply_status(database, talk.id, "complete")  # Regenerate takes a finished reply
    turns = len(convai.requests)
    discord_emulator.set_channel_overwrite(discord_emulator.channel_id, bob, deny=SEND_MESSAGES_IN_THREADS)

    missing = "you're missing the **Send Messages in Threads** permission in this thread."
    for pressed in (
        await click(discord_emulator, retry_line, "retry:", by=bob),
        await click(discord_emulator, offer, "offer:", by=bob),
        await menu(discord_emulator, "Regenerate", answer.id, by=bob),
    ):
        assert refusal(pressed) == f"You can't send a turn here: {missing}"
    assert len(ablt.requests) == 1 and len(convai.requests) == turns  # no provider was asked again
    assert discord_emulator.message(retry_line.id).custom_ids() == retry_line.custom_ids()  # still there to press
    assert "chose" not in discord_emulator.message(offer.id).content  # the choice is still open

    await click(discord_emulator, retry_line, "retry:", by=carol)  # someone allowed to speak there
    await wait_for_post(discord_emulator, failed.id, "Second time lucky.", after=retry_line.id)


async def test_a_timed_out_member_can_read_but_not_make_the_bot_speak_until_the_timeout_ends(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator
) -> None:
    """Discord's interaction `permissions` may not reflect a timeout (the emulator's do not): the bot applies it."""
    bob = discord_emulator.add_member("bob")
    ablt.enqueue(Reply(status=500), Reply(text="Now it works."))
    thread = await thread_for(discord_emulator, await chat(discord_emulator, "Question", by=bob))
    line = await failure_line(discord_emulator, thread.id)
    discord_emulator.time_out_member(bob, 600)

    for refused in (
        await chat(discord_emulator, "again", by=bob),
        await click(discord_emulator, line, "retry:", by=bob),
    ):
        text = refusal(refused)
        assert re.fullmatch(
            r"You can't \w[\w ]+ while you are timed out on this server; the timeout ends <t:\d+:R>\.", text
        )
    assert len(ablt.requests) == 1 and len(discord_emulator.threads) == 1
    exported = await run(discord_emulator, "export", thread.id, by=bob)  # reading is still allowed
    assert [a.filename for m in exported.messages for a in m.attachments] == [f"conversation-{thread.id}.md"]

    discord_emulator.time_out_member(bob, 0)
    await click(discord_emulator, line, "retry:", by=bob)
    await wait_for_post(discord_emulator, thread.id, "Now it works.", after=line.id)


# ---- DMs: none of this applies ----------------------------------------------------------------------------------


async def test_in_a_dm_chat_retry_and_export_work_as_before(
    make_bot: Callable[..., BotProcess], discord_emulator: DiscordEmulator, ablt: AbltEmulator
) -> None:
    bob = discord_emulator.add_member("bob")
    await make_bot(ALLOW_DMS="on", PROVIDER_TIMEOUT_S="2").start()
    dm = discord_emulator.open_dm(bob)
    ablt.enqueue(Reply(status=500), Reply(text="Now it works."))
    started = await command(discord_emulator, "chat", dm, by=bob, provider="ablt", prompt="hi there")
    assert not started.ephemeral
    line = await failure_line(discord_emulator, dm)
    await click(discord_emulator, line, "retry:", by=bob)
    await wait_for_post(discord_emulator, dm, "Now it works.", after=line.id)
    exported = await run(discord_emulator, "export", dm, by=bob)
    assert [a.filename for m in exported.messages for a in m.attachments] == [f"conversation-{dm}.md"]


# ---- no command reaches into another channel ----------------------------------------------------------------------


async def test_no_command_takes_a_channel_option_so_none_reaches_a_channel_the_member_cannot_see(
    running_bot: BotProcess, discord_emulator: DiscordEmulator
) -> None:
    """Every command acts where it is used (checked there); an option naming another channel would need its own
    View Channel check (bot/members/permissions.py) before this test may change."""

    def options(items: list[dict[str, object]]) -> list[dict[str, object]]:
        found = list(items)
        for item in items:
            found += options(list(item.get("options") or []))  # type: ignore[arg-type]
        return found

    registered = discord_emulator.commands
    assert {"chat", "bind", "export", "session", "access", "settings"} <= {c["name"] for c in registered}
    for registered_command in registered:
        kinds = {o.get("type") for o in options(list(registered_command.get("options") or []))}
        assert CHANNEL_OPTION not in kinds, registered_command["name"]


async def test_a_message_in_a_bound_channel_opens_no_thread_for_a_member_who_may_not(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator
) -> None:
    """In a channel bound in thread mode every message opens a thread off itself; a member without *Create Public
    Threads* may post there but could not open one, so the bot does not open it for them: a DM says why."""
    channel = discord_emulator.channel_id
    bound = await command(discord_emulator, "bind", channel, provider="ablt")
    assert bound.original_message is not None and "opens its own thread" in bound.original_message.content
    bob = discord_emulator.add_member("bob")
    discord_emulator.set_channel_overwrite(channel, bob, deny=CREATE_PUBLIC_THREADS)
    await discord_emulator.send_user_message(channel, "Start something", user_id=bob)

    def note() -> MessageRecord | None:
        dm = discord_emulator.dm_channel_id(bob)
        found = list(discord_emulator.messages(dm)) if dm is not None else []
        return found[-1] if found else None

    await discord_emulator.wait_for(lambda: note() is not None, WAIT_S, "a private note to bob")
    message = note()
    assert message is not None and "**Create Public Threads**" in message.content
    assert discord_emulator.threads == [] and ablt.requests == []
