"""The store on SQLite and on PostgreSQL: the same behaviour, and what several processes share stays atomic.

"Two processes" are two `Store`s opened on the same database: separate engines and connections, so the
database itself has to keep them apart, as it would for two bot processes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.core.presence import Presence
from bot.core.server_rules import Grant
from bot.store import LATEST, Binding, DuplicateTurn, SessionExists, Store

BOTH_STORES = True


@pytest.fixture
async def stores(database: str) -> AsyncIterator[tuple[Store, Store]]:
    """Two processes' stores on one database, opened at the same moment (the migration runs once)."""
    first, second = await asyncio.gather(Store.open(database), Store.open(database))
    try:
        yield first, second
    finally:
        await asyncio.gather(first.close(), second.close())


async def start(store: Store, channel_id: int = 10, guild_id: int | None = 7) -> int:
    session = await store.start_session(
        channel_id=channel_id, guild_id=guild_id, provider="ablt", state={}, started_by=3
    )
    return session.id


async def test_opening_together_migrates_once_to_the_latest_schema(stores: tuple[Store, Store]) -> None:
    first, second = stores
    await start(first)  # the schema is there for both
    assert await second.active_session(10) is not None
    if first.db.kind == "postgresql":
        async with first.db.read() as conn:
            from sqlalchemy import text

            rows = (await conn.execute(text("SELECT version FROM schema_version"))).all()
        assert [row[0] for row in rows] == [LATEST]


async def test_sessions_open_once_per_channel_and_end_once(stores: tuple[Store, Store]) -> None:
    first, second = stores
    session_id = await start(first)
    with pytest.raises(SessionExists):
        await start(second)
    ended = await asyncio.gather(first.end_session(session_id), second.end_session(session_id))
    assert sorted(ended) == [False, True]
    assert await first.active_session(10) is None
    latest = await second.latest_session(10)
    assert latest is not None and latest.id == session_id and latest.ended_at is not None


async def test_two_restarts_at_once_make_one_fresh_session(stores: tuple[Store, Store]) -> None:
    first, second = stores
    await start(first)
    old = await first.active_session(10)
    assert old is not None
    results = await asyncio.gather(
        first.restart_session(old, {"n": 1}, 4), second.restart_session(old, {"n": 2}, 5), return_exceptions=True
    )
    fresh = [r for r in results if not isinstance(r, BaseException)]
    assert len(fresh) == 1 and sum(isinstance(r, SessionExists) for r in results) == 1
    active = await first.active_session(10)
    assert active is not None and active.id == fresh[0].id


async def test_state_changes_replace_top_level_keys_and_none_are_lost(stores: tuple[Store, Store]) -> None:
    first, second = stores
    session_id = await start(first)
    await first.update_state(session_id, {"offer": {"token": "a", "taken_by": 5}, "keep": [1, 2]})
    await asyncio.gather(*(s.update_state(session_id, {f"k{i}": i}) for i, s in enumerate([first, second] * 10)))
    state = await second.update_state(session_id, {"offer": {"token": "b"}, "gone": None})
    assert state["offer"] == {"token": "b"}  # replaced whole: no "taken_by" left over from the old offer
    assert state["keep"] == [1, 2] and state["gone"] is None
    assert all(state[f"k{i}"] == i for i in range(20))
    flagged = await first.update_state(session_id, {"following": True})
    assert flagged["following"] is True
    assert [s.id for s in await second.sessions_where_state("following")] == [session_id]


async def test_an_offer_is_claimed_by_one_click_only(stores: tuple[Store, Store]) -> None:
    first, second = stores
    session_id = await start(first)
    await first.update_state(session_id, {"offer": {"token": "t1", "labels": ["a", "b"]}})
    claims = await asyncio.gather(
        *(s.claim_offer(session_id, "t1", 100 + i) for i, s in enumerate([first, second] * 5))
    )
    assert claims.count(True) == 1
    winner = 100 + claims.index(True)
    session = await second.active_session(10)
    assert session is not None and session.state["offer"]["taken_by"] == winner
    assert not await first.claim_offer(session_id, "other-token", 1)


async def test_a_discord_message_is_taken_as_a_turn_once(stores: tuple[Store, Store]) -> None:
    first, second = stores
    session_id = await start(first)
    await first.add_entry(session_id, "user", "hi", author_id=3, message_id=555)
    with pytest.raises(DuplicateTurn):
        await second.add_entry(session_id, "user", "hi", author_id=3, message_id=555)
    assert await second.answered(555) and not await second.answered(556)
    assert [h.content for h in await first.history(session_id)] == ["hi"]


async def test_unfinished_replies_are_taken_once_by_the_process_serving_them(stores: tuple[Store, Store]) -> None:
    first, second = stores
    here, there = await start(first, channel_id=10, guild_id=7), await start(first, channel_id=11, guild_id=8)
    for session_id in (here, there):
        reply = await first.add_entry(session_id, "assistant", "", author_id=None, status="streaming")
        await first.set_entry_content(reply, f"shown in {session_id}")
    mine = await first.take_unfinished(lambda guild_id: guild_id == 7)
    assert [(u.channel_id, u.content) for u in mine] == [(10, f"shown in {here}")]
    theirs = await second.take_unfinished(lambda guild_id: guild_id == 8)
    assert [u.channel_id for u in theirs] == [11]
    assert await first.take_unfinished() == []


async def test_a_cooldown_lets_one_of_many_simultaneous_messages_through(stores: tuple[Store, Store]) -> None:
    first, second = stores
    waits = await asyncio.gather(
        *(s.coordination.cooldown(7, 42, 30.0) for s in [first, second] * 5), first.coordination.cooldown(7, 43, 30.0)
    )
    assert waits[:-1].count(0.0) == 1 and all(0 < w <= 30 for w in waits[:-1] if w)
    assert waits[-1] == 0.0  # another member is not held back
    assert await second.coordination.cooldown(None, 42, 30.0) == 0.0  # DMs count apart from servers


async def test_the_last_place_under_a_cap_goes_to_one_of_two_racing_processes(stores: tuple[Store, Store]) -> None:
    first, second = stores
    await start(first, channel_id=10, guild_id=7)  # one conversation going; the cap is 2
    places = await asyncio.gather(
        *(s.coordination.hold_place(7, 2, since=0.0, ttl_s=30.0) for s in [first, second] * 3)
    )
    held = [p for p in places if p is not None]
    assert len(held) == 1
    assert await first.count_going(7, since=0.0) == 2  # the held place counts until released
    await second.coordination.release_place(held[0])
    assert await first.count_going(7, since=0.0) == 1
    assert await first.coordination.hold_place(8, 1, since=0.0, ttl_s=30.0) is not None  # other servers apart


async def test_a_follow_lease_has_one_holder_and_frees_when_it_runs_out(stores: tuple[Store, Store]) -> None:
    first, second = stores
    session_id = await start(first)
    assert await first.coordination.take_follow(session_id, "process-a", ttl_s=0.3)
    assert not await second.coordination.take_follow(session_id, "process-b", ttl_s=5.0)
    assert await second.coordination.followed_elsewhere(session_id, "process-b")
    assert await first.coordination.take_follow(session_id, "process-a", ttl_s=0.3)  # renewed by its holder
    await asyncio.sleep(0.4)  # process-a died: its lease runs out
    assert await second.coordination.take_follow(session_id, "process-b", ttl_s=5.0)
    assert not await first.coordination.take_follow(session_id, "process-a", ttl_s=5.0)
    await second.coordination.release_follow(session_id, "process-b")
    assert await first.coordination.take_follow(session_id, "process-a", ttl_s=5.0)


async def test_identify_slots_are_spaced_across_processes(stores: tuple[Store, Store]) -> None:
    first, second = stores
    if first.db.kind == "sqlite":
        second = first  # SQLite serves one process (the settings refuse more); its lock is that process's
    waits = await asyncio.gather(
        first.coordination.identify_slot(0, interval_s=0.5), second.coordination.identify_slot(0, interval_s=0.5)
    )
    assert sorted(w > 0 for w in waits) == [False, True]  # the second waited for the first's slot
    assert await first.coordination.identify_slot(1, interval_s=0.5) == 0.0  # another bucket is free


async def test_bindings_rules_and_meta_round_trip(stores: tuple[Store, Store]) -> None:
    first, second = stores
    await first.bind(Binding(20, 7, "ablt", "thread", {"bot": "taxson"}), by=3)
    await second.bind(Binding(20, 7, "convai", "channel", {"character": None}), by=4)
    assert await first.binding(20) == Binding(20, 7, "convai", "channel", {"character": None})
    assert await first.unbind(20) and not await second.unbind(20)
    await first.server_rules.set(7, "cooldown_s", 12.5)
    assert await first.server_rules.grant(7, "chat", Grant(99, "role"), by=3)
    assert not await second.server_rules.grant(7, "chat", Grant(99, "role"), by=3)
    rules = await second.server_rules.load(7)
    assert rules.cooldown_s == 12.5 and [g.target_id for g in rules.grants["chat"]] == [99]
    await first.set_meta("k", "v1")
    await second.set_meta("k", "v2")
    assert await first.get_meta("k") == "v2"


async def test_a_reply_is_taken_over_only_once_its_process_is_gone(stores: tuple[Store, Store]) -> None:
    """A live writer's reply is left alone (a rolling deploy); once its heartbeat runs out (a process killed on
    another machine) or it left, the sweep of another process takes it, once."""
    first, second = stores
    old, new = Presence(first.coordination, "elsewhere:1:old"), Presence(second.coordination, "elsewhere:2:new")
    await old.start()
    await new.start()
    try:
        session_id = await start(first)
        reply = await first.add_entry(session_id, "assistant", "", author_id=None, status="streaming", owner=old.owner)
        await first.save_shown(reply, "half of it")
        assert await second.take_unfinished(alive=await new.liveness()) == []  # its writer is alive
        await first.coordination.heartbeat(old.owner, -1)  # its heartbeat ran out: killed, far away
        taken, again = await asyncio.gather(
            second.take_unfinished(alive=await new.liveness()), first.take_unfinished(alive=await new.liveness())
        )
        assert [(u.entry_id, u.content) for u in taken + again] == [(reply, "half of it")]
        assert not await first.save_shown(reply, "more")  # a late save never overwrites an ended reply
    finally:
        await old.stop()
        await new.stop()


async def test_a_discord_event_is_claimed_by_one_process(stores: tuple[Store, Store]) -> None:
    first, second = stores
    claims = await asyncio.gather(*(s.coordination.claim_event(1234) for s in (first, second, first, second)))
    assert sorted(claims) == [False, False, False, True]
    assert await first.coordination.forget_claims(older_than_s=-1) == 1
    assert await second.coordination.claim_event(1234)
