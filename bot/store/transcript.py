"""The transcript: what members said and what the bot replied, with statuses, extras and the reply's messages."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import text

from bot.providers.base import HistoryEntry
from bot.store.database import Database, DatabaseClosed, StoreUnavailable, shielded
from bot.store.json_sql import merge_state
from bot.store.records import (
    CounterCheck,
    DuplicateTurn,
    Entry,
    EntryStatus,
    OpenedTurn,
    SaidEntry,
    TurnStart,
    UnfinishedReply,
    UsageFinish,
)
from bot.store.said import HISTORY_WHERE, reserved_said_postgresql, said_postgresql, said_sqlite
from bot.store.usage import UsageStore, finish_postgresql, reserve_binds
from bot.store.usage_sqlite import finish_sqlite, reserve_sqlite

log = logging.getLogger(__name__)

_HISTORY = HISTORY_WHERE.format(id=":id")
_FINISH_ENTRY = "UPDATE transcript SET content = :content, status = :status WHERE id = :id"
_FINISH_ENTRY_SQLITE = "UPDATE transcript SET content = ?, status = ? WHERE id = ?"
_NOTE_MESSAGE = "INSERT INTO reply_messages (message_id, entry_id) VALUES (:m, :e) ON CONFLICT (message_id) DO NOTHING"
_NOTE_MESSAGE_SQLITE = (
    "INSERT INTO reply_messages (message_id, entry_id) VALUES (?, ?) ON CONFLICT (message_id) DO NOTHING"
)
_NOTE_MESSAGES_CTE = (
    "noted AS (INSERT INTO reply_messages (message_id, entry_id) SELECT m, :id"
    " FROM unnest(CAST(:message_ids AS bigint[])) AS m ON CONFLICT (message_id) DO NOTHING), "
)
"""PostgreSQL: a reply's Discord messages noted in its final statement (a data-modifying CTE)."""


@shielded
class TranscriptStore:
    """The transcript's queries; part of `Store` (each method one short transaction)."""

    db: Database
    usage: UsageStore

    async def reserve_turn(
        self, start: TurnStart, checks: Sequence[CounterCheck], said: SaidEntry
    ) -> tuple[int, OpenedTurn] | CounterCheck:
        """A member's turn let through its quota `checks` (`UsageStore.reserve`) with their words' step (`add_said`):
        (ledger row's id, the entries added); or the first check without room, with nothing counted or added.
        Raises DuplicateTurn, nothing counted, when `said.message_id` was already taken.

        On SQLite the words' step rides in the reserve's own write transaction (bot/store/usage_sqlite.py); on
        PostgreSQL the reserve and the words' step are one statement (bot/store/said.py), and a message already
        taken gives its reserve back. Either way the quota check costs a turn no transaction of its own."""
        if self.db.kind == "sqlite":
            return await reserve_sqlite(self.db, start, checks, said)
        async with self.db.one_statement() as conn:
            answer, added = await reserved_said_postgresql(conn, said, reserve_binds(start, checks))
        if answer <= 0:
            return checks[-answer - 1]
        if added is None:
            try:
                await self.usage.release(answer, checks, start.chars_in)
            except (StoreUnavailable, DatabaseClosed):  # a give-back that fails is logged
                log.warning("ledger row %d could not be given back; its turn stays counted", answer)
            raise DuplicateTurn(said.message_id)
        return answer, added

    async def add_said(self, said: SaidEntry) -> OpenedTurn:
        """A member's words into the transcript, the session marked active, and with `said.opens_reply` the reply's
        entry opened, in one write (bot/store/said.py); raises DuplicateTurn (nothing changed)."""
        if self.db.kind == "sqlite":
            async with self.db.sqlite_write() as sqlite:
                return await said_sqlite(sqlite, said)
        async with self.db.one_statement() as conn:
            return await said_postgresql(conn, said)

    async def add_entry(
        self,
        session_id: int,
        role: str,
        content: str,
        *,
        author_id: int | None,
        status: EntryStatus = "complete",
        message_id: int | None = None,
        extras: Mapping[str, Any] | None = None,
        owner: str | None = None,
    ) -> int:
        """Append to the transcript; `message_id` (the member's Discord message) may be taken once: DuplicateTurn.

        The duplicate is found by the insert itself (`ON CONFLICT ... DO NOTHING`), so no other refusal of the
        database (a trigger, a full disk) is ever mistaken for one. `owner` names the process writing a reply
        (bot/core/presence.py)."""
        async with self.db.one_statement() as conn:
            result = await conn.execute(
                text(
                    "INSERT INTO transcript"
                    " (session_id, role, content, author_id, status, created_at, message_id, extras, owner) VALUES"
                    " (:session_id, :role, :content, :author_id, :status, :now, :message_id, :extras, :owner)"
                    " ON CONFLICT (message_id) WHERE message_id IS NOT NULL DO NOTHING RETURNING id"
                ),
                {
                    "session_id": session_id,
                    "role": role,
                    "content": content,
                    "author_id": author_id,
                    "status": status,
                    "now": time.time(),
                    "message_id": message_id,
                    "extras": json.dumps(dict(extras or {})),
                    "owner": owner,
                },
            )
            added = result.scalar()
        if added is None:
            raise DuplicateTurn(message_id)
        return int(added)

    async def finish_entry(
        self,
        entry_id: int,
        content: str,
        status: EntryStatus,
        usage: UsageFinish | None = None,
        *,
        message_ids: Sequence[int] = (),
    ) -> None:
        """A reply's final text and status; with `usage` its turn's end in the ledger (bot/store/usage.py), and
        with `message_ids` the Discord messages showing it (`note_reply_messages`), all in one write: on PostgreSQL
        with usage one statement, on SQLite one transaction (bot/store/usage_sqlite.py)."""
        messages = list(dict.fromkeys(message_ids))
        if usage is not None and self.db.kind == "sqlite":
            async with self.db.sqlite_write() as sqlite:
                await sqlite.execute_fetchall(_FINISH_ENTRY_SQLITE, (content, status, entry_id))
                await finish_sqlite(sqlite, usage)
                if messages:
                    await sqlite.executemany(_NOTE_MESSAGE_SQLITE, [(m, entry_id) for m in messages])
            return
        binds = {"content": content, "status": status, "id": entry_id}
        if usage is not None:  # one statement, atomic by itself: autocommit, one round trip
            noted = _NOTE_MESSAGES_CTE if messages else ""
            async with self.db.one_statement() as conn:
                await finish_postgresql(
                    conn, usage, f"entry AS ({_FINISH_ENTRY}), {noted}", **binds, message_ids=messages
                )
            return
        async with self.db.write() as conn:
            await conn.execute(text(_FINISH_ENTRY), binds)
            for message_id in messages:
                await conn.execute(text(_NOTE_MESSAGE), {"m": message_id, "e": entry_id})

    async def save_shown(self, entry_id: int, content: str) -> bool:
        """Record what members see of a reply still being written; False (nothing changed) once it has ended, so a
        late save never overwrites a reply's final text."""
        async with self.db.one_statement() as conn:
            result = await conn.execute(
                text("UPDATE transcript SET content = :content WHERE id = :id AND status = 'streaming'"),
                {"content": content, "id": entry_id},
            )
        return result.rowcount > 0

    async def set_entry_content(self, entry_id: int, content: str) -> None:
        async with self.db.one_statement() as conn:
            await conn.execute(
                text("UPDATE transcript SET content = :content WHERE id = :id"), {"content": content, "id": entry_id}
            )

    async def history(self, session_id: int, *, before: int | None = None) -> tuple[HistoryEntry, ...]:
        """Every turn with text, oldest first (only those before entry `before`, if given); replies cut off or
        stopped keep what was shown; replaced replies are left out."""
        async with self.db.read() as conn:
            rows = await conn.execute(
                text(f"SELECT role, content FROM transcript WHERE {_HISTORY} AND id < :before ORDER BY id"),  # noqa: S608
                {"id": session_id, "before": before if before is not None else 2**62},
            )
            return tuple(HistoryEntry(role=row.role, content=row.content) for row in rows)

    async def transcript(self, session_id: int) -> list[Entry]:
        """Every entry of a session, oldest first, with statuses and extras (for /export)."""
        async with self.db.read() as conn:
            rows = await conn.execute(
                text("SELECT * FROM transcript WHERE session_id = :id ORDER BY id"), {"id": session_id}
            )
            return [Entry.from_row(row) for row in rows.mappings()]

    async def entry(self, entry_id: int) -> Entry | None:
        return await self._one_entry("SELECT * FROM transcript WHERE id = :id", {"id": entry_id})

    async def turn_before(self, reply_id: int) -> Entry | None:
        """The member's turn a reply answered: the last user entry before it in its session."""
        return await self._one_entry(
            "SELECT * FROM transcript WHERE role = 'user' AND session_id ="
            " (SELECT session_id FROM transcript WHERE id = :id) AND id < :id ORDER BY id DESC LIMIT 1",
            {"id": reply_id},
        )

    async def is_latest_reply(self, reply_id: int) -> bool:
        """Whether no member spoke after this reply in its session (so it may be regenerated)."""
        async with self.db.read() as conn:
            later = await conn.execute(
                text(
                    "SELECT 1 FROM transcript WHERE role = 'user' AND id > :id AND session_id ="
                    " (SELECT session_id FROM transcript WHERE id = :id) LIMIT 1"
                ),
                {"id": reply_id},
            )
            return later.first() is None

    async def last_reply_id(self, session_id: int) -> int | None:
        """The newest reply of a session (the one Retry and Regenerate may act on)."""
        async with self.db.read() as conn:
            result = await conn.execute(
                text("SELECT MAX(id) FROM transcript WHERE session_id = :id AND role = 'assistant'"), {"id": session_id}
            )
            found = result.scalar_one()
            return None if found is None else int(found)

    async def change_status(self, entry_id: int, expected: tuple[EntryStatus, ...], status: EntryStatus) -> bool:
        """Move an entry from one of `expected` to `status`, once: two presses race, one wins."""
        placeholders = ", ".join(f":s{i}" for i in range(len(expected)))
        sql = f"UPDATE transcript SET status = :status WHERE id = :id AND status IN ({placeholders})"  # noqa: S608
        binds = {f"s{i}": value for i, value in enumerate(expected)}
        async with self.db.one_statement() as conn:
            result = await conn.execute(text(sql), {**binds, "status": status, "id": entry_id})
        return result.rowcount > 0

    async def add_extras(self, entry_id: int, changes: Mapping[str, Any]) -> None:
        """Set top-level keys of an entry's extras (sources, voice, stopped_by...)."""
        merged, binds = merge_state(self.db.kind, changes, column="extras")
        sql = f"UPDATE transcript SET extras = {merged} WHERE id = :id"  # noqa: S608
        async with self.db.one_statement() as conn:
            await conn.execute(text(sql), {**binds, "id": entry_id})

    async def note_reply_messages(self, entry_id: int, message_ids: list[int]) -> None:
        """The Discord messages that show a reply (so a context-menu command on one finds the reply)."""
        async with self.db.write() as conn:
            for message_id in message_ids:
                await conn.execute(text(_NOTE_MESSAGE), {"m": message_id, "e": entry_id})

    async def reply_shown_in(self, message_id: int) -> Entry | None:
        """The reply a Discord message belongs to, if it is one of the bot's replies."""
        return await self._one_entry(
            "SELECT transcript.* FROM transcript JOIN reply_messages ON reply_messages.entry_id ="
            " transcript.id WHERE reply_messages.message_id = :m",
            {"m": message_id},
        )

    async def _one_entry(self, sql: str, params: Mapping[str, Any]) -> Entry | None:
        """The first transcript row `sql` (selecting whole transcript rows) finds, as an Entry."""
        async with self.db.read() as conn:
            row = (await conn.execute(text(sql), dict(params))).mappings().first()
        return None if row is None else Entry.from_row(row)

    async def entries(self, session_id: int) -> list[dict[str, Any]]:
        """The raw transcript with statuses, for diagnostics and tests."""
        async with self.db.read() as conn:
            rows = await conn.execute(
                text("SELECT role, content, author_id, status FROM transcript WHERE session_id = :id ORDER BY id"),
                {"id": session_id},
            )
            return [dict(row) for row in rows.mappings()]

    async def count_turns(self, session_id: int) -> int:
        """How many times members spoke in this session."""
        async with self.db.read() as conn:
            result = await conn.execute(
                text("SELECT COUNT(*) FROM transcript WHERE session_id = :id AND role = 'user'"), {"id": session_id}
            )
            return int(result.scalar_one())

    async def take_unfinished(
        self,
        serves: Callable[[int | None], bool] | None = None,
        alive: Callable[[str | None], bool] | None = None,
    ) -> list[UnfinishedReply]:
        """Replies still marked streaming whose process is gone (it was killed): mark them interrupted, list them.

        Each keeps the text members last saw (saved as it was shown), so the next turn's history holds it.
        `serves(guild_id)` limits this to the servers this process serves (a shard process takes its own);
        `alive(owner)` says which writers still run (bot/core/presence.py): their replies are left alone. Each reply
        is taken by one process only (a conditional update), however many look at once.
        """
        async with self.db.write() as conn:
            rows = (
                await conn.execute(
                    text(
                        "SELECT transcript.id, session_id, channel_id, guild_id, content, owner FROM transcript"
                        " JOIN sessions ON sessions.id = transcript.session_id"
                        " WHERE status = 'streaming' ORDER BY transcript.id"
                    )
                )
            ).all()
            taken = []
            for row in rows:
                if (serves is not None and not serves(row.guild_id)) or (alive is not None and alive(row.owner)):
                    continue
                marked = await conn.execute(
                    text("UPDATE transcript SET status = 'interrupted' WHERE id = :id AND status = 'streaming'"),
                    {"id": row.id},
                )
                if marked.rowcount:
                    taken.append(UnfinishedReply(row.id, row.session_id, row.channel_id, row.content))
        return taken

    async def last_taken_message(self, session_id: int) -> int | None:
        """The newest member's Discord message this session took as a turn (message ids grow with time)."""
        async with self.db.read() as conn:
            result = await conn.execute(
                text("SELECT MAX(message_id) FROM transcript WHERE session_id = :id"), {"id": session_id}
            )
            found = result.scalar_one()
            return None if found is None else int(found)

    async def taken_among(self, message_ids: list[int]) -> set[int]:
        """Which of these Discord messages were taken as turns."""
        if not message_ids:
            return set()
        binds = {f"m{i}": message_id for i, message_id in enumerate(message_ids)}
        listed = ", ".join(f":{name}" for name in binds)
        async with self.db.read() as conn:
            rows = await conn.execute(
                text(f"SELECT message_id FROM transcript WHERE message_id IN ({listed})"),  # noqa: S608
                binds,
            )
            return {int(row[0]) for row in rows}

    async def answered(self, message_id: int) -> bool:
        """Whether a member's Discord message was taken as a turn."""
        async with self.db.read() as conn:
            found = await conn.execute(text("SELECT 1 FROM transcript WHERE message_id = :m"), {"m": message_id})
            return found.first() is not None
