"""The thread or channel changes under a reply: deleted, archived, locked, the bot removed or denied a
permission, the reply deleted. The reply finishes where Discord still allows it, or ends cleanly; the
member who asked hears why privately; the transcript keeps what members saw."""

from __future__ import annotations

import time

import discord

from tests.emulators.ablt import AbltEmulator, Reply
from tests.emulators.discord import DiscordEmulator
from tests.support.harness import BotProcess
from tests.support.journey import WAIT_S, bot_posts, chat, refusal, say, shown_reply, thread_for, wait_for_reply
from tests.support.streams import latest_session, reply_entries, streaming, wait_for_reply_status, words

SEND_IN_THREADS = discord.Permissions(send_messages_in_threads=True).value
WITHOUT_MANAGE_THREADS = ((1 << 51) - 1) & ~discord.Permissions(administrator=True, manage_threads=True).value


def emitted(ablt: AbltEmulator, request_index: int) -> list[object]:
    """Token frames the aBLT emulator wrote for one request (fewer than scripted: the bot closed the stream)."""
    return [e for e in ablt.emitted if e.request_index == request_index]


def private_notes(discord_emulator: DiscordEmulator, interaction_id: int) -> list[str]:
    interaction = next(i for i in discord_emulator.interactions if i.id == interaction_id)
    return [m.content for m in interaction.followups if m.ephemeral]


async def test_a_thread_deleted_mid_reply_ends_the_turn_and_the_conversation_without_more_requests(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator, database: str
) -> None:
    tokens, other_tokens = words(150), words(40)
    _, thread_id = await streaming(discord_emulator, ablt, tokens, shown_words=10)
    _, other_id = await streaming(discord_emulator, ablt, other_tokens, prompt="meanwhile, elsewhere")

    deleted_at = time.monotonic()
    shown = shown_reply(discord_emulator, thread_id)
    discord_emulator.delete_thread(thread_id)
    await wait_for_reply_status(database, thread_id, "interrupted")
    await wait_for_reply(discord_emulator, other_id, "".join(other_tokens))  # the other thread is not held up

    after = [r for r in discord_emulator.requests if r.channel_id == thread_id and r.t >= deleted_at]
    assert len(after) <= 1 and all(r.status == 404 for r in after)  # at most the write already on its way
    assert len(emitted(ablt, 0)) < len(tokens)  # the aBLT stream was closed, not read to the end
    [(content, status)] = await reply_entries(database, thread_id)
    assert (content, status) == (shown, "interrupted")  # what members saw when the thread went
    session = await latest_session(database, thread_id)
    assert session is not None and session.ended_at is not None  # the conversation is closed
    assert discord_emulator.rate_limit_hits == 0


async def test_a_thread_archived_mid_reply_is_unarchived_and_the_reply_finishes(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator
) -> None:
    tokens = words(60)
    _, thread_id = await streaming(discord_emulator, ablt, tokens)
    discord_emulator.archive_thread(thread_id)

    await wait_for_reply(discord_emulator, thread_id, "".join(tokens))
    assert not discord_emulator.thread(thread_id).archived
    assert not any("⚠️" in m.content for m in bot_posts(discord_emulator, thread_id))


async def test_a_thread_locked_mid_reply_ends_the_turn_and_tells_the_member_privately(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator, database: str
) -> None:
    discord_emulator.set_bot_permissions(WITHOUT_MANAGE_THREADS)
    tokens = words(100)
    interaction, thread_id = await streaming(discord_emulator, ablt, tokens)
    discord_emulator.lock_thread(thread_id)

    await interaction.wait_for_followups(1, WAIT_S)
    await wait_for_reply_status(database, thread_id, "interrupted")
    notes = private_notes(discord_emulator, interaction.id)
    assert any("locked" in note for note in notes), notes
    assert len(emitted(ablt, 0)) < len(tokens)
    session = await latest_session(database, thread_id)
    assert session is not None and session.ended_at is None  # unlocking lets the conversation go on


async def test_the_bot_removed_from_a_private_thread_mid_reply_stops_and_says_so_privately(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator, database: str
) -> None:
    """A reply to a member's message, written through the channel. (A reply to an interaction goes out as its
    followups, which Discord takes wherever the interaction happened: that one finishes.)"""
    discord_emulator.set_bot_permissions(WITHOUT_MANAGE_THREADS)
    private = await discord_emulator.create_thread("just us", private=True)
    discord_emulator.core.threads.add_member(private, discord_emulator.bot_user_id)
    opened, _ = await streaming(discord_emulator, ablt, words(3), channel_id=private.id)
    await wait_for_reply(discord_emulator, private.id, "".join(words(3)), after=opened.original_message.id)
    ablt.enqueue(Reply(tokens=words(100), token_interval_s=0.05))
    mark = await say(discord_emulator, private.id, "tell me more")
    await discord_emulator.wait_for(lambda: shown_reply(discord_emulator, private.id, after=mark) != "", WAIT_S, "text")
    discord_emulator.remove_thread_member(private.id, discord_emulator.bot_user_id)

    def notes() -> list[str]:
        dm = discord_emulator.dm_channel_id()
        return [m.content for m in discord_emulator.messages(dm)] if dm is not None else []

    await discord_emulator.wait_for(lambda: any("can no longer see" in n for n in notes()), WAIT_S, "a DM")
    await wait_for_reply_status(database, private.id, "interrupted")


async def test_send_in_threads_denied_mid_reply_names_the_permission_privately(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator, database: str
) -> None:
    tokens = words(700)  # past 2,000 characters: the reply needs a second message
    interaction, thread_id = await streaming(discord_emulator, ablt, tokens, interval_s=0.005)
    bot_role = discord_emulator.core.world.bot_role_id
    discord_emulator.set_channel_overwrite(discord_emulator.channel_id, bot_role, deny=SEND_IN_THREADS)

    await interaction.wait_for_followups(1, WAIT_S)
    notes = private_notes(discord_emulator, interaction.id)
    assert any("**Send Messages in Threads**" in note for note in notes), notes
    await wait_for_reply_status(database, thread_id, "interrupted")
    [(content, _)] = await reply_entries(database, thread_id)
    assert content == shown_reply(discord_emulator, thread_id)  # the transcript holds what members saw


async def test_a_deleted_reply_message_is_continued_in_a_new_one(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator
) -> None:
    tokens = words(60)
    _, thread_id = await streaming(discord_emulator, ablt, tokens)
    discord_emulator.delete_message(bot_posts(discord_emulator, thread_id)[0].id)

    await wait_for_reply(discord_emulator, thread_id, "".join(tokens))
    assert len(bot_posts(discord_emulator, thread_id)) == 1


async def test_chat_where_the_bot_cannot_post_in_threads_is_refused_privately_before_anything_starts(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator
) -> None:
    bot_role = discord_emulator.core.world.bot_role_id
    discord_emulator.set_channel_overwrite(discord_emulator.channel_id, bot_role, deny=SEND_IN_THREADS)

    interaction = await chat(discord_emulator, "will this work?")

    assert "**Send Messages in Threads**" in refusal(interaction)
    assert discord_emulator.threads == [] and ablt.requests == []


async def test_a_message_where_the_bot_lost_a_permission_gets_a_private_note(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator
) -> None:
    thread = await thread_for(discord_emulator, await chat(discord_emulator, "hi"))
    await wait_for_reply(discord_emulator, thread.id, "You said: hi")
    bot_role = discord_emulator.core.world.bot_role_id
    discord_emulator.set_channel_overwrite(discord_emulator.channel_id, bot_role, deny=SEND_IN_THREADS)
    requests = len(ablt.requests)

    await discord_emulator.send_user_message(thread.id, "are you there?")

    dm = await dm_from_bot(discord_emulator)
    assert "**Send Messages in Threads**" in dm
    assert len(ablt.requests) == requests


async def dm_from_bot(discord_emulator: DiscordEmulator) -> str:
    def found() -> str | None:
        dm = discord_emulator.dm_channel_id()
        posts = bot_posts(discord_emulator, dm) if dm is not None else []
        return posts[-1].content if posts else None

    await discord_emulator.wait_for(lambda: found() is not None, WAIT_S, "a DM from the bot")
    text = found()
    assert text is not None
    return text
