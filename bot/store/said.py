"""A member's words opening their turn: one write that adds the words and brings back what the turn needs.

The step checks the session is still going (else SessionEnded: nothing added or counted), adds the words (taken
once per Discord message: a message already taken raises DuplicateTurn and changes nothing), marks the session
active from now (its `last_active_at`, what the gate's cap counts) and, when the turn's provider answers at once
(`SaidEntry.opens_reply`), adds the reply's own entry after the words: empty, status "streaming", written by
process `SaidEntry.reply_owner` (bot/core/presence.py). It brings back the session's state as it is now (an earlier
turn may have changed it since the caller read the session) and, with `SaidEntry.with_history`, the turns before
the words: so a message's turn reads nothing else before it runs.

On PostgreSQL that is one statement in autocommit, with the turn's reserve when it has one: data-modifying CTEs
(postgresql.org/docs/15/queries-with.html#QUERIES-WITH-MODIFYING). The reply's insert reads the words' RETURNING
row, so it runs only when the words went in, and its id comes after theirs; the history is read from the
statement's snapshot, which does not hold the rows its own CTEs insert. On SQLite it is statements in the
caller's write transaction on the writer's aiosqlite connection (`Database.sqlite_write`), one trip to SQLite's
thread each.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from typing import Any

import aiosqlite
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.providers.base import HistoryEntry
from bot.store.records import DuplicateTurn, OpenedTurn, SaidEntry, SessionEnded
from bot.store.usage_sql import RESERVE

HISTORY_WHERE = "session_id = {id} AND content != '' AND status != 'replaced'"
"""The transcript rows a turn's history holds (TranscriptStore.history): replies cut off or stopped keep what was
shown; replaced replies are left out."""
_LIVE_SQLITE = "SELECT state FROM sessions WHERE id = ? AND ended_at IS NULL"
_HISTORY_SQLITE = f"SELECT role, content FROM transcript WHERE {HISTORY_WHERE.format(id='?')} ORDER BY id"  # noqa: S608
_INSERT_SAID_SQLITE = (
    "INSERT INTO transcript (session_id, role, content, author_id, status, created_at, message_id, extras, owner)"
    " VALUES (?, 'user', ?, ?, 'complete', ?, ?, ?, NULL)"
    " ON CONFLICT (message_id) WHERE message_id IS NOT NULL DO NOTHING RETURNING id"
)
_OPEN_REPLY_SQLITE = (
    "INSERT INTO transcript (session_id, role, content, author_id, status, created_at, message_id, extras, owner)"
    " VALUES (?, 'assistant', '', NULL, 'streaming', ?, NULL, '{}', ?) RETURNING id"
)
_TOUCH_SQLITE = "UPDATE sessions SET last_active_at = ? WHERE id = ?"
_SAID_POSTGRESQL = (
    "WITH live AS (SELECT state FROM sessions WHERE id = :session_id AND ended_at IS NULL), {reserved}"  # noqa: S608
    "said AS (INSERT INTO transcript"
    " (session_id, role, content, author_id, status, created_at, message_id, extras, owner)"
    " SELECT :session_id, 'user', :content, :author_id, 'complete', :now, :message_id, :extras, NULL FROM {source}"
    " ON CONFLICT (message_id) WHERE message_id IS NOT NULL DO NOTHING RETURNING id),"
    " reply AS (INSERT INTO transcript"
    " (session_id, role, content, author_id, status, created_at, message_id, extras, owner)"
    " SELECT :session_id, 'assistant', '', NULL, 'streaming', :now, NULL, '{{}}', :owner FROM said"
    " WHERE CAST(:opens_reply AS boolean) RETURNING id),"
    " touched AS (UPDATE sessions SET last_active_at = :now WHERE id = :session_id AND EXISTS (SELECT 1 FROM said))"
    " SELECT (SELECT state FROM live), {answer}(SELECT id FROM said), (SELECT id FROM reply),"
    " CASE WHEN CAST(:with_history AS boolean) THEN (SELECT json_agg(json_build_array(role, content) ORDER BY id)"
    f" FROM transcript WHERE {HISTORY_WHERE.format(id=':session_id')}) END"
)
SAID_POSTGRESQL = _SAID_POSTGRESQL.format(reserved="", source="live", answer="")
RESERVED_SAID_POSTGRESQL = _SAID_POSTGRESQL.format(
    reserved=f"reserved AS ({RESERVE} AS answer FROM live), ",
    source="reserved WHERE answer > 0",
    answer="(SELECT answer FROM reserved), ",
)
"""The step behind a turn's reserve (`RESERVE`, a volatile function, so its CTE runs once, and only for a session
still going: postgresql.org/docs/15/queries-with.html#QUERIES-WITH-CTE-MATERIALIZATION): the words go in only if
the turn was admitted. A refused turn adds nothing; a message already taken leaves the reserve counted (the caller
gives it back: rare, a message Discord delivered twice)."""


async def said_sqlite(sqlite: aiosqlite.Connection, said: SaidEntry) -> OpenedTurn:
    """The step on SQLite, inside the caller's write transaction. Raises SessionEnded or DuplicateTurn (the
    caller's transaction is then to be rolled back: raising out of `Database.sqlite_write` does)."""
    live = list(await sqlite.execute_fetchall(_LIVE_SQLITE, (said.session_id,)))
    if not live:
        raise SessionEnded(said.session_id)
    history = await sqlite.execute_fetchall(_HISTORY_SQLITE, (said.session_id,)) if said.with_history else ()
    now = time.time()
    words = (said.content, said.author_id, now, said.message_id, json.dumps(dict(said.extras)))
    added = list(await sqlite.execute_fetchall(_INSERT_SAID_SQLITE, (said.session_id, *words)))
    if not added:
        raise DuplicateTurn(said.message_id)
    await sqlite.execute_fetchall(_TOUCH_SQLITE, (now, said.session_id))
    reply_id = 0
    if said.opens_reply:
        (opened,) = await sqlite.execute_fetchall(_OPEN_REPLY_SQLITE, (said.session_id, now, said.reply_owner))
        reply_id = int(opened[0])
    return OpenedTurn(int(added[0][0]), reply_id, _state(live[0][0]), _history(history))


async def said_postgresql(conn: AsyncConnection, said: SaidEntry) -> OpenedTurn:
    """The step on PostgreSQL: one statement (run it in autocommit: `Database.one_statement`). Raises
    SessionEnded or DuplicateTurn (nothing changed)."""
    state, said_id, reply_id, history = (await conn.execute(text(SAID_POSTGRESQL), _binds(said))).one()
    if state is None:
        raise SessionEnded(said.session_id)
    if said_id is None:
        raise DuplicateTurn(said.message_id)
    return OpenedTurn(int(said_id), int(reply_id or 0), _state(state), _history(_json(history)))


async def reserved_said_postgresql(
    conn: AsyncConnection, said: SaidEntry, reserve: Mapping[str, Any]
) -> tuple[int, OpenedTurn | None]:
    """A turn's reserve (`RESERVE` with `reserve`'s binds: bot/store/usage.py `reserve_binds`) and, if it was
    admitted, the words' step, in one statement (autocommit): (the reserve's answer, what the step added and
    found). The answer is the ledger row's id when admitted, else minus the refusing check's position, minus one;
    the step's result is None when the turn was refused, or when the message was already taken (then its reserve
    is counted: give it back). Raises SessionEnded (nothing counted)."""
    row = (await conn.execute(text(RESERVED_SAID_POSTGRESQL), {**reserve, **_binds(said)})).one()
    state, answer, said_id, reply_id, history = row
    if state is None:
        raise SessionEnded(said.session_id)
    if said_id is None:
        return int(answer), None
    return int(answer), OpenedTurn(int(said_id), int(reply_id or 0), _state(state), _history(_json(history)))


def _binds(said: SaidEntry) -> dict[str, Any]:
    return {
        "session_id": said.session_id,
        "content": said.content,
        "author_id": said.author_id,
        "now": time.time(),
        "message_id": said.message_id,
        "extras": json.dumps(dict(said.extras)),
        "owner": said.reply_owner,
        "opens_reply": said.opens_reply,
        "with_history": said.with_history,
    }


def _state(stored: str) -> dict[str, Any]:
    return dict(json.loads(stored or "{}"))


def _json(value: Any) -> Any:
    """A json value as asyncpg hands it over (text), parsed; None stays None."""
    return json.loads(value) if isinstance(value, str) else value


def _history(rows: Iterable[Any] | None) -> tuple[HistoryEntry, ...]:
    return tuple(HistoryEntry(role=row[0], content=row[1]) for row in rows or ())
