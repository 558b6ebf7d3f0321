"""Following an Agentverse session under the database's faults: a renewal of the follow lease that fails is tried
again until the lease would run out, and a turn that can no longer confirm its lease stops and says so, so no
engine message is ever polled or posted by two processes (bot/core/leases.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
from sqlalchemy import text

from bot.core.leases import FOLLOW_TTL_S
from bot.store import Store
from tests.emulators.agentverse import AgentverseEmulator
from tests.emulators.discord import DiscordEmulator
from tests.support import db_faults
from tests.support.agentverse import labels, objective
from tests.support.controls import settled
from tests.support.harness import BotProcess
from tests.support.journey import bot_posts, wait_for_post

RENEWALS = "NEW.follow_owner = OLD.follow_owner AND NEW.follow_until > OLD.follow_until"
"""A follow lease renewed by the process holding it (taking a free lease, giving it back, or saving the
session's state stays allowed)."""
SLOW_WAIT_S = 45.0


async def lease_holder(database: str, channel_id: int) -> str | None:
    """Which process holds the follow lease of the channel's conversation, as the store says."""
    store = await Store.open(database)
    try:
        async with store.db.read() as conn:
            sql = "SELECT follow_owner FROM sessions WHERE channel_id = :c AND ended_at IS NULL"
            return (await conn.execute(text(sql), {"c": channel_id})).scalar()
    finally:
        await store.close()


async def until(check: Callable[[], object], what: str, timeout_s: float = SLOW_WAIT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():  # type: ignore[misc]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
async def test_a_lease_renewal_that_fails_once_is_tried_again_and_the_engine_is_shown_once(
    make_bot: Callable[..., BotProcess],
    discord_emulator: DiscordEmulator,
    agentverse: AgentverseEmulator,
    database: str,
) -> None:
    """Issue 18, sample 6: during a rolling deploy the old process's renewal fails once while the new one waits
    for the lease. The old one renews again, the new one never takes over, and the engine's task list (which
    comes after the lease would have run out) is posted once."""
    agentverse.delay_s = FOLLOW_TTL_S + 3  # the engine answers after a lease not renewed would have run out
    old = make_bot()
    await old.start()
    thread_id = await objective(discord_emulator, "Find me a flight")
    await until(lambda: lease_holder(database, thread_id), "the old process to follow the session")
    await db_faults.refuse_writes(database, "sessions", RENEWALS)
    new = make_bot()  # the new release resumes the session at start and waits for its lease
    await new.start()
    await until(lambda: _refused(database), "a renewal to be refused")
    await db_faults.lift(database, "sessions")

    def task_lists() -> int:
        return sum(1 for m in bot_posts(discord_emulator, thread_id) if "Flights/Flights" in labels(m))

    await discord_emulator.wait_for(lambda: task_lists() > 0, SLOW_WAIT_S, "the engine's task list")
    await asyncio.sleep(2)  # a second poster would show up now (both would have polled the same message)
    await old.stop()
    await new.stop()
    assert task_lists() == 1
    assert not [m for m in bot_posts(discord_emulator, thread_id) if "stopped following" in m.content]


async def _refused(database: str) -> bool:
    return await db_faults.refusals(database) > 0


@pytest.mark.timeout(90)
@pytest.mark.parametrize("database", ["sqlite", "postgresql"], indirect=True)
async def test_a_lease_the_store_never_confirms_stops_the_turn_and_says_so(
    make_bot: Callable[..., BotProcess],
    discord_emulator: DiscordEmulator,
    agentverse: AgentverseEmulator,
    database: str,
) -> None:
    """Every renewal is refused: before the lease could run out the turn stops polling, the thread says the bot
    stopped following the agent, and the reply is recorded as ended."""
    agentverse.delay_s = 60.0  # the engine stays busy longer than the lease lasts
    bot = make_bot()
    await bot.start()
    thread_id = await objective(discord_emulator, "Find me a flight")
    await until(lambda: lease_holder(database, thread_id), "the bot to follow the session")
    await db_faults.refuse_writes(database, "sessions", RENEWALS)
    notice = await wait_for_post(discord_emulator, thread_id, "stopped following Agentverse")
    assert notice.content.startswith("-# ⚠️")
    await asyncio.sleep(1)  # a poll already on its way when the turn stopped may still arrive
    session = agentverse.latest_session
    polls = len(session.poll_times)
    await asyncio.sleep(3)  # polls would have gone on about once a second
    assert len(session.poll_times) == polls
    await db_faults.lift(database, "sessions")
    assert all(e["status"] != "streaming" for e in await settled(discord_emulator, database, thread_id))
    await bot.stop()
