"""A member's words entering the transcript: the step that opens every turn with words, in one write.

The step adds the words (taken once per Discord message: a message already taken raises DuplicateTurn and changes
nothing), marks the session active from now (its `last_active_at`, what the gate's cap counts), and, when the
turn's provider answers at once (`SaidEntry.opens_reply`), adds the reply's own entry after the words: empty,
status "streaming", written by process `SaidEntry.reply_owner` (bot/core/presence.py). On PostgreSQL that is one
statement in autocommit (data-modifying CTEs, postgresql.org/docs/15/queries-with.html#QUERIES-WITH-MODIFYING: the
reply's insert reads the words' RETURNING row, so it runs only when the words went in, and its id comes after
theirs); on SQLite it is statements in the caller's write transaction on the writer's aiosqlite connection
(`Database.sqlite_write`), one trip to SQLite's thread each.
"""

from __future__ import annotations

import json
import time

import aiosqlite
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store.records import DuplicateTurn, SaidEntry, SaidIds

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
    "WITH said AS (INSERT INTO transcript"
    " (session_id, role, content, author_id, status, created_at, message_id, extras, owner) VALUES"
    " (:session_id, 'user', :content, :author_id, 'complete', :now, :message_id, :extras, NULL)"
    " ON CONFLICT (message_id) WHERE message_id IS NOT NULL DO NOTHING RETURNING id),"
    " reply AS (INSERT INTO transcript"
    " (session_id, role, content, author_id, status, created_at, message_id, extras, owner)"
    " SELECT :session_id, 'assistant', '', NULL, 'streaming', :now, NULL, '{}', :owner FROM said"
    " WHERE CAST(:opens_reply AS boolean) RETURNING id),"
    " touched AS (UPDATE sessions SET last_active_at = :now WHERE id = :session_id AND EXISTS (SELECT 1 FROM said))"
    " SELECT (SELECT id FROM said), (SELECT id FROM reply)"
)


async def said_sqlite(sqlite: aiosqlite.Connection, said: SaidEntry) -> SaidIds:
    """The step on SQLite, inside the caller's write transaction. Raises DuplicateTurn (the caller's transaction
    is to be rolled back: raising out of `Database.sqlite_write` does)."""
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
    return SaidIds(int(added[0][0]), reply_id)


async def said_postgresql(conn: AsyncConnection, said: SaidEntry) -> SaidIds:
    """The step on PostgreSQL: one statement (run it in autocommit: `Database.one_statement`). Raises
    DuplicateTurn (nothing changed)."""
    binds = {
        "session_id": said.session_id,
        "content": said.content,
        "author_id": said.author_id,
        "now": time.time(),
        "message_id": said.message_id,
        "extras": json.dumps(dict(said.extras)),
        "owner": said.reply_owner,
        "opens_reply": said.opens_reply,
    }
    said_id, reply_id = (await conn.execute(text(_SAID_POSTGRESQL), binds)).one()
    if said_id is None:
        raise DuplicateTurn(said.message_id)
    return SaidIds(int(said_id), int(reply_id or 0))
