"""A member's words entering the transcript: the step that opens every turn with words, in one write.

The step adds the words (taken once per Discord message: a message already taken raises DuplicateTurn and changes
nothing), marks the session active from now (its `last_active_at`, what the gate's cap counts), and, when the
turn's provider answers at once (`SaidEntry.opens_reply`), adds the reply's own entry after the words: empty,
status "streaming", written by process `SaidEntry.reply_owner` (bot/core/presence.py).

On PostgreSQL that is one statement in autocommit, with the turn's reserve when it has one: data-modifying CTEs
(postgresql.org/docs/15/queries-with.html#QUERIES-WITH-MODIFYING); the reply's insert reads the words' RETURNING
row, so it runs only when the words went in, and its id comes after theirs. On SQLite it is statements in the
caller's write transaction on the writer's aiosqlite connection (`Database.sqlite_write`), one trip to SQLite's
thread each.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import aiosqlite
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store.records import DuplicateTurn, SaidEntry, SaidIds
from bot.store.usage_sql import RESERVE

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
    "WITH {reserved}said AS (INSERT INTO transcript"
    " (session_id, role, content, author_id, status, created_at, message_id, extras, owner)"
    " SELECT :session_id, 'user', :content, :author_id, 'complete', :now, :message_id, :extras, NULL{admitted}"
    " ON CONFLICT (message_id) WHERE message_id IS NOT NULL DO NOTHING RETURNING id),"
    " reply AS (INSERT INTO transcript"
    " (session_id, role, content, author_id, status, created_at, message_id, extras, owner)"
    " SELECT :session_id, 'assistant', '', NULL, 'streaming', :now, NULL, '{{}}', :owner FROM said"
    " WHERE CAST(:opens_reply AS boolean) RETURNING id),"
    " touched AS (UPDATE sessions SET last_active_at = :now WHERE id = :session_id AND EXISTS (SELECT 1 FROM said))"
    " SELECT {answer}(SELECT id FROM said), (SELECT id FROM reply)"
)
SAID_POSTGRESQL = _SAID_POSTGRESQL.format(reserved="", admitted="", answer="")
RESERVED_SAID_POSTGRESQL = _SAID_POSTGRESQL.format(
    reserved=f"reserved AS ({RESERVE} AS answer), ",
    admitted=" FROM reserved WHERE answer > 0",
    answer="(SELECT answer FROM reserved), ",
)
"""The words' step behind a turn's reserve (`RESERVE`, a volatile function, so its CTE runs exactly once:
postgresql.org/docs/15/queries-with.html#QUERIES-WITH-CTE-MATERIALIZATION): the words go in only if the turn was
admitted. A refused turn adds nothing; a message already taken leaves the reserve counted (the caller gives it back:
rare, a message Discord delivered twice)."""


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
    said_id, reply_id = (await conn.execute(text(SAID_POSTGRESQL), _binds(said))).one()
    if said_id is None:
        raise DuplicateTurn(said.message_id)
    return SaidIds(int(said_id), int(reply_id or 0))


async def reserved_said_postgresql(
    conn: AsyncConnection, said: SaidEntry, reserve: Mapping[str, Any]
) -> tuple[int, SaidIds | None]:
    """A turn's reserve (`RESERVE` with `reserve`'s binds: bot/store/usage.py `reserve_binds`) and, if it was
    admitted, the words' step, in one statement (autocommit): (the reserve's answer, the entries added). The
    answer is the ledger row's id when admitted, else minus the refusing check's position, minus one; the entries
    are None when the turn was refused, or when the message was already taken (then its reserve is counted: give
    it back)."""
    row = (await conn.execute(text(RESERVED_SAID_POSTGRESQL), {**reserve, **_binds(said)})).one()
    answer, said_id, reply_id = int(row[0]), row[1], row[2]
    return answer, None if said_id is None else SaidIds(int(said_id), int(reply_id or 0))


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
    }
