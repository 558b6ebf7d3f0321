"""A member's turn let through its quotas with their words entering the transcript in the same step
(`Store.reserve_turn`), on SQLite and on PostgreSQL: all or nothing, once per Discord message, and on SQLite in one
write transaction (the quota check then costs a turn statements but no transaction of its own)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from bench.wire import Wire
from bot.store import (
    DuplicateTurn,
    SaidEntry,
    SessionEnded,
    SessionRecord,
    Store,
    StoreUnavailable,
    TurnUsage,
    UsageFinish,
)
from tests.store.test_usage_store import counter_rows, guild_check, ledger_rows, member_check, turn
from tests.support import db_faults

BOTH_STORES = True


@pytest.fixture
async def session(store: Store) -> SessionRecord:
    return await store.start_session(channel_id=10, guild_id=7, provider="ablt", state={}, started_by=3)


def words(session: SessionRecord, message_id: int | None = 555, content: str = "hello!") -> SaidEntry:
    return SaidEntry(session.id, content, 3, message_id, {"files": ["notes.txt"]})


async def test_the_turn_is_counted_and_the_words_kept_together(store: Store, session: SessionRecord) -> None:
    checks = (member_check(turns=5), guild_check())
    reserved = await store.reserve_turn(turn(), checks, words(session))
    assert isinstance(reserved, tuple)
    ledger_id, added = reserved
    assert added.reply_id == 0  # the words alone: no reply opened
    entry = await store.entry(added.said_id)
    assert entry is not None
    assert (entry.role, entry.content, entry.author_id, entry.status) == ("user", "hello!", 3, "complete")
    assert entry.extras == {"files": ["notes.txt"]}
    assert [row["id"] for row in await ledger_rows(store)] == [ledger_id]
    assert await store.usage.counters(checks) == {(c.scope, c.period): (1, 6) for c in checks}
    assert [h.content for h in await store.history(session.id)] == ["hello!"]


async def test_a_message_taken_twice_is_counted_once(store: Store, session: SessionRecord) -> None:
    """Discord delivered the message twice (or two processes raced for it): the second reserve raises
    DuplicateTurn and leaves the counters and the ledger as the first left them."""
    checks = (member_check(turns=5),)
    assert isinstance(await store.reserve_turn(turn(), checks, words(session)), tuple)
    with pytest.raises(DuplicateTurn):
        await store.reserve_turn(turn(), checks, words(session))
    assert await store.usage.counters(checks) == {(checks[0].scope, checks[0].period): (1, 6)}
    assert len(await ledger_rows(store)) == 1
    assert len(await store.transcript(session.id)) == 1
    without_message = [await store.reserve_turn(turn(), checks, words(session, None)) for _ in range(2)]
    assert all(isinstance(r, tuple) for r in without_message)  # a Retry's words have no message: never "taken"


async def test_a_turn_without_room_adds_no_words(store: Store, session: SessionRecord) -> None:
    full = member_check(turns=0)
    assert await store.reserve_turn(turn(), [guild_check(), full], words(session)) == full
    assert await store.transcript(session.id) == []
    assert await ledger_rows(store) == [] and await counter_rows(store) == set()


async def test_words_the_database_refuses_leave_the_turn_uncounted(
    store: Store, session: SessionRecord, database: str
) -> None:
    checks = (member_check(turns=5), guild_check())
    await db_faults.refuse_writes(database, "transcript", "1 = 1", events=("INSERT",))
    with pytest.raises(StoreUnavailable):
        await store.reserve_turn(turn(), checks, words(session))
    await db_faults.lift(database, "transcript")
    assert await store.usage.counters(checks) == {(c.scope, c.period): (0, 0) for c in checks}
    assert await ledger_rows(store) == []
    assert await store.transcript(session.id) == []


async def test_the_quota_check_adds_no_transaction(store: Store, session: SessionRecord) -> None:
    """The words' step alone (bot/store/said.py) and with the turn's reserve folded in. SQLite: one write
    transaction either way, straight to aiosqlite (BEGIN IMMEDIATE, the session, the words, its activity; the
    reserve adds its counters and ledger row): two statements and two calls into SQLite's thread more, no transaction
    more. PostgreSQL: one autocommitted statement either way (the reserve is a CTE of the words' statement)."""
    checks = (member_check(), guild_check(), guild_check(period="m:2025-05"))
    sent: list[tuple[int, int]] = []
    with Wire().installed() as wire:
        for n in range(4):  # a statement new to a pooled connection is prepared first (one more round trip): the last
            sent.clear()
            async with wire.counting(sent):
                await store.add_said(words(session, 1000 + n))
            async with wire.counting(sent):
                await store.reserve_turn(turn(), checks, words(session, 2000 + n))
    alone, folded = sent
    if store.db.kind == "sqlite":  # (statements, calls into SQLite's thread); BEGIN IMMEDIATE is a statement here
        assert (alone[0], folded[0]) == (4, 6)
        assert folded[1] - alone[1] == 2
    else:  # (statements, round trips)
        assert alone == folded == (1, 1)


async def test_the_words_step_opens_the_reply_and_marks_the_session_active(
    store: Store, session: SessionRecord
) -> None:
    """With `opens_reply`, the reply's entry comes in the same write as the words, after them; a message taken
    twice opens no second reply and leaves the session's activity as it was."""
    checks = (member_check(turns=5),)
    said = SaidEntry(session.id, "hello!", 3, 777, {}, opens_reply=True, reply_owner="process-a")
    reserved = await store.reserve_turn(turn(), checks, said)
    assert isinstance(reserved, tuple)
    added = reserved[1]
    reply = await store.entry(added.reply_id)
    assert reply is not None and added.reply_id > added.said_id
    assert (reply.role, reply.content, reply.status) == ("assistant", "", "streaming")
    async with store.db.read() as conn:
        owner = (await conn.execute(text("SELECT owner FROM transcript WHERE id = :id"), {"id": reply.id})).scalar()
    assert owner == "process-a"  # the process writing it (bot/core/presence.py)
    active = await store.session(session.id)
    assert active is not None and active.last_active_at > session.last_active_at
    with pytest.raises(DuplicateTurn):
        await store.add_said(said)
    assert [e.id for e in await store.transcript(session.id)] == [added.said_id, added.reply_id]
    alone = await store.add_said(SaidEntry(session.id, "and this?", 3, 778, {}, opens_reply=True))
    assert alone.reply_id > alone.said_id > added.reply_id
    assert [e.role for e in await store.transcript(session.id)] == ["user", "assistant", "user", "assistant"]


@pytest.mark.parametrize("with_usage", [True, False])
async def test_a_replys_end_notes_the_discord_messages_showing_it_in_the_same_write(
    store: Store, session: SessionRecord, with_usage: bool
) -> None:
    checks = (member_check(turns=5),)
    reserved = await store.reserve_turn(turn(), checks, words(session))
    assert isinstance(reserved, tuple)
    reply = await store.add_entry(session.id, "assistant", "", author_id=None, status="streaming")
    usage = UsageFinish(reserved[0], TurnUsage(40, 0.0, 1.0, "complete"), checks) if with_usage else None
    await store.finish_entry(reply, "Done.", "complete", usage, message_ids=[901, 902, 901])
    for message_id in (901, 902):
        shown = await store.reply_shown_in(message_id)
        assert shown is not None and (shown.id, shown.content) == (reply, "Done.")
    assert await store.reply_shown_in(903) is None


async def test_the_words_step_brings_the_state_and_the_history_before_the_words(
    store: Store, session: SessionRecord
) -> None:
    """The step hands back the session's state as it is now (another turn may have changed it since the caller read
    the session) and, when asked, the turns before the words: not these words, not a replaced reply."""
    first = await store.add_said(SaidEntry(session.id, "first", 3, 900, {}, opens_reply=True))
    await store.finish_entry(first.reply_id, "first answer", "complete")
    second = await store.add_said(SaidEntry(session.id, "second", 3, 901, {}, opens_reply=True))
    await store.finish_entry(second.reply_id, "a replaced answer", "replaced")
    await store.update_state(session.id, {"conversation": "abc"})
    said = SaidEntry(session.id, "third", 3, 902, {}, opens_reply=True, with_history=True)
    reserved = await store.reserve_turn(turn(), (member_check(turns=5),), said)
    assert isinstance(reserved, tuple)
    opened = reserved[1]
    assert opened.state == {"conversation": "abc"}
    assert [(h.role, h.content) for h in opened.history] == [
        ("user", "first"),
        ("assistant", "first answer"),
        ("user", "second"),
    ]
    assert (await store.add_said(SaidEntry(session.id, "fourth", 3, 903, {}))).history == ()  # not asked for


async def test_a_session_ended_before_the_words_step_takes_and_counts_nothing(
    store: Store, session: SessionRecord
) -> None:
    """`/end` came between the caller's read of the session and the turn: SessionEnded, nothing added or counted,
    with a reserve or without."""
    await store.end_session(session.id)
    checks = (member_check(turns=5),)
    with pytest.raises(SessionEnded):
        await store.reserve_turn(turn(), checks, words(session))
    with pytest.raises(SessionEnded):
        await store.add_said(words(session, 556))
    assert await store.transcript(session.id) == []
    assert await ledger_rows(store) == [] and await counter_rows(store) == set()
    active = await store.session(session.id)
    assert active is not None and active.last_active_at == session.last_active_at
