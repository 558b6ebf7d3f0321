"""Helpers for tests that break things while a reply streams: start a scripted stream, read the bot's file."""

from __future__ import annotations

import asyncio
import time

from bot.store import SessionRecord, Store
from tests.emulators.ablt import AbltEmulator, Reply
from tests.emulators.discord import DiscordEmulator, InteractionRecord
from tests.support.journey import WAIT_S, chat, shown_reply, thread_for


def words(count: int) -> list[str]:
    """`count` tokens that read as words: "w0", " w1", " w2"..."""
    return [f" w{i}" if i else "w0" for i in range(count)]


async def streaming(
    discord: DiscordEmulator,
    ablt: AbltEmulator,
    tokens: list[str],
    *,
    prompt: str = "tell me something long",
    interval_s: float = 0.05,
    shown_words: int = 1,
    channel_id: int | None = None,
) -> tuple[InteractionRecord, int]:
    """`/chat` answered by a scripted aBLT stream; returns (the interaction, the reply's channel) once the
    first `shown_words` words are visible. In a text channel the reply goes to the thread the bot opens."""
    ablt.enqueue(Reply(tokens=tokens, token_interval_s=interval_s))
    interaction = await chat(discord, prompt, channel_id=channel_id)
    in_thread = channel_id is not None and channel_id in {t.id for t in discord.threads}
    target = channel_id if in_thread and channel_id is not None else (await thread_for(discord, interaction)).id
    await discord.wait_for(lambda: len(shown_reply(discord, target).split()) >= shown_words, WAIT_S, "the reply")
    return interaction, target


async def latest_session(database: str, channel_id: int) -> SessionRecord | None:
    """The channel's newest session as the bot's SQLite file has it (read as another process would)."""
    store = await Store.open(database)
    try:
        return await store.latest_session(channel_id)
    finally:
        await store.close()


async def reply_entries(database: str, channel_id: int) -> list[tuple[str, str]]:
    """(content, status) of the assistant entries of the channel's latest session, from the bot's file."""
    store = await Store.open(database)
    try:
        session = await store.latest_session(channel_id)
        assert session is not None
        return [(e["content"], e["status"]) for e in await store.entries(session.id) if e["role"] == "assistant"]
    finally:
        await store.close()


async def wait_for_reply_status(database: str, channel_id: int, status: str, timeout_s: float = WAIT_S) -> None:
    """Until the channel's latest reply has `status` in the bot's file."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        entries = await reply_entries(database, channel_id)
        if entries and entries[-1][1] == status:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the reply in {channel_id} never became {status}")
