"""SQLite persistence: sessions per Discord channel or thread, their transcript, bindings and small metadata.

Each server's access rules and limits live in the same file (see `bot/server_rules_store.py`)."""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import aiosqlite

from bot.providers.base import HistoryEntry
from bot.server_rules_store import ServerRulesStore

log = logging.getLogger(__name__)

EntryStatus = Literal["complete", "streaming", "interrupted", "failed"]

# Each script moves the schema one version forward; PRAGMA user_version records where a file is.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE sessions (
        id INTEGER PRIMARY KEY,
        channel_id INTEGER NOT NULL,
        guild_id INTEGER,
        provider TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT '{}',
        started_by INTEGER NOT NULL,
        started_at REAL NOT NULL,
        ended_at REAL
    );
    CREATE UNIQUE INDEX one_active_session_per_channel ON sessions(channel_id) WHERE ended_at IS NULL;
    CREATE INDEX sessions_by_channel ON sessions(channel_id, id);
    CREATE TABLE transcript (
        id INTEGER PRIMARY KEY,
        session_id INTEGER NOT NULL REFERENCES sessions(id),
        role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
        content TEXT NOT NULL,
        author_id INTEGER,
        status TEXT NOT NULL CHECK (status IN ('complete', 'streaming', 'interrupted', 'failed')),
        created_at REAL NOT NULL
    );
    CREATE INDEX transcript_by_session ON transcript(session_id, id);
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    """
    CREATE TABLE bindings (
        channel_id INTEGER PRIMARY KEY,
        guild_id INTEGER NOT NULL,
        provider TEXT NOT NULL,
        mode TEXT NOT NULL CHECK (mode IN ('thread', 'channel')),
        options TEXT NOT NULL DEFAULT '{}',
        created_by INTEGER NOT NULL,
        created_at REAL NOT NULL
    );
    """,
    """
    ALTER TABLE sessions ADD COLUMN last_active_at REAL;
    UPDATE sessions SET last_active_at = COALESCE(
        (SELECT MAX(created_at) FROM transcript WHERE transcript.session_id = sessions.id), started_at
    );
    CREATE INDEX open_sessions_by_guild ON sessions(guild_id, last_active_at) WHERE ended_at IS NULL;
    CREATE TABLE server_settings (
        guild_id INTEGER PRIMARY KEY,
        default_provider TEXT,
        cooldown_s REAL,
        max_conversations INTEGER
    );
    CREATE TABLE access_grants (
        guild_id INTEGER NOT NULL,
        ability TEXT NOT NULL,
        target_id INTEGER NOT NULL,
        target_kind TEXT NOT NULL CHECK (target_kind IN ('role', 'user')),
        granted_by INTEGER NOT NULL,
        granted_at REAL NOT NULL,
        PRIMARY KEY (guild_id, ability, target_id)
    );
    """,
    """
    ALTER TABLE transcript ADD COLUMN message_id INTEGER;
    CREATE UNIQUE INDEX transcript_by_message ON transcript(message_id) WHERE message_id IS NOT NULL;
    CREATE INDEX transcript_unfinished ON transcript(status) WHERE status = 'streaming';
    """,
)


class SessionExists(Exception):
    """The channel already has an active session."""


class DuplicateTurn(Exception):
    """That Discord message was already taken as a turn (Discord delivered it twice)."""


@dataclass(frozen=True)
class UnfinishedReply:
    """A reply still marked streaming when the bot started: the last process stopped in the middle of it."""

    entry_id: int
    session_id: int
    channel_id: int
    content: str


@dataclass(frozen=True)
class SessionRecord:
    id: int
    channel_id: int
    guild_id: int | None
    provider: str
    state: dict[str, Any]
    started_by: int
    started_at: float
    ended_at: float | None
    last_active_at: float = 0.0

    @property
    def active(self) -> bool:
        return self.ended_at is None


@dataclass(frozen=True)
class Binding:
    """A channel given to one provider: each message opens a thread (`thread`) or the channel is one chat."""

    channel_id: int
    guild_id: int
    provider: str
    mode: Literal["thread", "channel"]
    options: dict[str, str | None]
    """The provider's `/bind` options (aBLT bot, Soundverse action, Convai character...), as /chat takes them."""


class Store:
    """One aiosqlite connection for the app; every method is a short transaction."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db
        self.server_rules = ServerRulesStore(db)

    @classmethod
    async def open(cls, path: Path) -> Store:
        if str(path) != ":memory:":
            path.parent.mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(path)
        db.row_factory = aiosqlite.Row
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute("PRAGMA foreign_keys=ON")
        store = cls(db)
        await store._migrate()
        return store

    async def close(self) -> None:
        await self._db.close()

    async def _migrate(self) -> None:
        async with self._db.execute("PRAGMA user_version") as cursor:
            row = await cursor.fetchone()
        version = int(row[0]) if row else 0
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            await self._db.executescript(f"BEGIN; {script} PRAGMA user_version = {number}; COMMIT;")
            log.info("database schema migrated to version %d", number)

    # Sessions -------------------------------------------------------------------------------------

    async def start_session(
        self, *, channel_id: int, guild_id: int | None, provider: str, state: dict[str, Any], started_by: int
    ) -> SessionRecord:
        now = time.time()
        try:
            cursor = await self._db.execute(
                "INSERT INTO sessions (channel_id, guild_id, provider, state, started_by, started_at, last_active_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (channel_id, guild_id, provider, json.dumps(state), started_by, now, now),
            )
        except sqlite3.IntegrityError as exc:
            raise SessionExists(channel_id) from exc
        await self._db.commit()
        session = await self._session_where("id = ?", (cursor.lastrowid,))
        assert session is not None  # noqa: S101 - just inserted
        return session

    async def active_session(self, channel_id: int) -> SessionRecord | None:
        return await self._session_where("channel_id = ? AND ended_at IS NULL", (channel_id,))

    async def latest_session(self, channel_id: int) -> SessionRecord | None:
        """The newest session in a channel, active or ended."""
        return await self._session_where("channel_id = ? ORDER BY id DESC LIMIT 1", (channel_id,))

    async def sessions_where_state(self, flag: str) -> list[SessionRecord]:
        """Active sessions whose state has `flag` set to true (e.g. still following the provider)."""
        async with self._db.execute(
            "SELECT id FROM sessions WHERE ended_at IS NULL AND json_extract(state, ?) = 1", (f"$.{flag}",)
        ) as cursor:
            ids = [row["id"] for row in await cursor.fetchall()]
        sessions = [await self._session_where("id = ?", (session_id,)) for session_id in ids]
        return [session for session in sessions if session is not None]

    async def end_session(self, session_id: int) -> bool:
        """End a session; False if it had already ended (two `/end`s at once: only one ends it)."""
        cursor = await self._db.execute(
            "UPDATE sessions SET ended_at = ? WHERE id = ? AND ended_at IS NULL", (time.time(), session_id)
        )
        await self._db.commit()
        return cursor.rowcount > 0

    async def claim_offer(self, session_id: int, token: str, by: int) -> bool:
        """Mark the session's open offer `token` as taken by `by`, unless it changed or was taken: one winner."""
        cursor = await self._db.execute(
            "UPDATE sessions SET state = json_set(state, '$.offer.taken_by', ?) WHERE id = ? AND ended_at IS NULL"
            " AND json_extract(state, '$.offer.token') = ? AND json_extract(state, '$.offer.taken_by') IS NULL",
            (by, session_id, token),
        )
        await self._db.commit()
        return cursor.rowcount > 0

    async def update_state(self, session_id: int, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Merge `changes` into the stored state in one statement, so concurrent updates never lose keys."""
        await self._db.execute(
            "UPDATE sessions SET state = json_patch(state, ?) WHERE id = ?", (json.dumps(dict(changes)), session_id)
        )
        await self._db.commit()
        async with self._db.execute("SELECT state FROM sessions WHERE id = ?", (session_id,)) as cursor:
            row = await cursor.fetchone()
        return {} if row is None else dict(json.loads(row["state"]))

    async def restart_session(self, old: SessionRecord, state: dict[str, Any], started_by: int) -> SessionRecord:
        """End `old` and start its successor in the same channel, atomically.

        Raises SessionExists when `old` is no longer the active session (another `/reset` or `/end` won).
        """
        now = time.time()
        ended = await self._db.execute(
            "UPDATE sessions SET ended_at = ? WHERE id = ? AND ended_at IS NULL", (now, old.id)
        )
        if ended.rowcount == 0:  # nothing changed, so nothing to roll back (which would undo others' statements)
            raise SessionExists(old.channel_id)
        try:
            cursor = await self._db.execute(
                "INSERT INTO sessions (channel_id, guild_id, provider, state, started_by, started_at, last_active_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (old.channel_id, old.guild_id, old.provider, json.dumps(state), started_by, now, now),
            )
        except sqlite3.IntegrityError as exc:
            await self._db.rollback()
            raise SessionExists(old.channel_id) from exc
        await self._db.commit()
        session = await self._session_where("id = ?", (cursor.lastrowid,))
        assert session is not None  # noqa: S101 - just inserted
        return session

    async def touch_session(self, session_id: int) -> None:
        """Someone spoke: the session counts as going (towards its server's cap) from now."""
        await self._db.execute("UPDATE sessions SET last_active_at = ? WHERE id = ?", (time.time(), session_id))
        await self._db.commit()

    async def count_going(self, guild_id: int, since: float) -> int:
        """Open sessions in a server that someone spoke in at or after `since`."""
        async with self._db.execute(
            "SELECT COUNT(*) AS n FROM sessions WHERE guild_id = ? AND ended_at IS NULL AND last_active_at >= ?",
            (guild_id, since),
        ) as cursor:
            row = await cursor.fetchone()
        return int(row["n"]) if row else 0

    async def _session_where(self, where: str, params: tuple[Any, ...]) -> SessionRecord | None:
        sql = f"SELECT * FROM sessions WHERE {where}"  # noqa: S608 - `where` is a literal from this class
        async with self._db.execute(sql, params) as cursor:
            row = await cursor.fetchone()
        if row is None:
            return None
        return SessionRecord(
            id=row["id"],
            channel_id=row["channel_id"],
            guild_id=row["guild_id"],
            provider=row["provider"],
            state=json.loads(row["state"]),
            started_by=row["started_by"],
            started_at=row["started_at"],
            ended_at=row["ended_at"],
            last_active_at=row["last_active_at"] or row["started_at"],
        )

    # Transcript -----------------------------------------------------------------------------------

    async def add_entry(
        self,
        session_id: int,
        role: str,
        content: str,
        *,
        author_id: int | None,
        status: EntryStatus = "complete",
        message_id: int | None = None,
    ) -> int:
        """Append to the transcript; `message_id` (the member's Discord message) may be taken once: DuplicateTurn."""
        try:
            cursor = await self._db.execute(
                "INSERT INTO transcript (session_id, role, content, author_id, status, created_at, message_id)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (session_id, role, content, author_id, status, time.time(), message_id),
            )
        except sqlite3.IntegrityError as exc:
            raise DuplicateTurn(message_id) from exc
        await self._db.commit()
        assert cursor.lastrowid is not None  # noqa: S101 - sqlite always assigns one
        return cursor.lastrowid

    async def finish_entry(self, entry_id: int, content: str, status: EntryStatus) -> None:
        await self._db.execute(
            "UPDATE transcript SET content = ?, status = ? WHERE id = ?", (content, status, entry_id)
        )
        await self._db.commit()

    async def set_entry_content(self, entry_id: int, content: str) -> None:
        await self._db.execute("UPDATE transcript SET content = ? WHERE id = ?", (content, entry_id))
        await self._db.commit()

    async def history(self, session_id: int) -> tuple[HistoryEntry, ...]:
        """Every turn with text, oldest first; replies cut off by a restart keep what was shown."""
        async with self._db.execute(
            "SELECT role, content FROM transcript WHERE session_id = ? AND content != '' ORDER BY id",
            (session_id,),
        ) as cursor:
            rows = await cursor.fetchall()
        return tuple(HistoryEntry(role=row["role"], content=row["content"]) for row in rows)

    async def entries(self, session_id: int) -> list[dict[str, Any]]:
        """The raw transcript with statuses, for diagnostics and tests."""
        async with self._db.execute(
            "SELECT role, content, author_id, status FROM transcript WHERE session_id = ? ORDER BY id",
            (session_id,),
        ) as cursor:
            return [dict(row) for row in await cursor.fetchall()]

    async def count_turns(self, session_id: int) -> int:
        """How many times members spoke in this session."""
        async with self._db.execute(
            "SELECT COUNT(*) AS n FROM transcript WHERE session_id = ? AND role = 'user'", (session_id,)
        ) as cursor:
            row = await cursor.fetchone()
        return int(row["n"]) if row else 0

    async def take_unfinished(self) -> list[UnfinishedReply]:
        """Replies still marked streaming were cut off by a crash: mark them interrupted and list them.

        Each keeps the text members last saw (saved as it was shown), so the next turn's history holds it.
        """
        async with self._db.execute(
            "SELECT transcript.id, session_id, channel_id, content FROM transcript"
            " JOIN sessions ON sessions.id = transcript.session_id WHERE status = 'streaming' ORDER BY transcript.id"
        ) as cursor:
            rows = await cursor.fetchall()
        await self._db.execute("UPDATE transcript SET status = 'interrupted' WHERE status = 'streaming'")
        await self._db.commit()
        return [UnfinishedReply(row[0], row[1], row[2], row[3]) for row in rows]

    async def answered(self, message_id: int) -> bool:
        """Whether a member's Discord message was taken as a turn."""
        async with self._db.execute("SELECT 1 FROM transcript WHERE message_id = ?", (message_id,)) as cursor:
            return await cursor.fetchone() is not None

    # Bindings -------------------------------------------------------------------------------------

    async def bind(self, binding: Binding, *, by: int) -> None:
        await self._db.execute(
            "INSERT INTO bindings (channel_id, guild_id, provider, mode, options, created_by, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(channel_id) DO UPDATE SET provider = excluded.provider,"
            " mode = excluded.mode, options = excluded.options, created_by = excluded.created_by,"
            " created_at = excluded.created_at",
            (
                binding.channel_id,
                binding.guild_id,
                binding.provider,
                binding.mode,
                json.dumps(binding.options),
                by,
                time.time(),
            ),
        )
        await self._db.commit()

    async def unbind(self, channel_id: int) -> bool:
        cursor = await self._db.execute("DELETE FROM bindings WHERE channel_id = ?", (channel_id,))
        await self._db.commit()
        return cursor.rowcount > 0

    async def binding(self, channel_id: int) -> Binding | None:
        async with self._db.execute("SELECT * FROM bindings WHERE channel_id = ?", (channel_id,)) as cursor:
            row = await cursor.fetchone()
        if row is None:
            return None
        return Binding(row["channel_id"], row["guild_id"], row["provider"], row["mode"], json.loads(row["options"]))

    # Metadata -------------------------------------------------------------------------------------

    async def get_meta(self, key: str) -> str | None:
        async with self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)) as cursor:
            row = await cursor.fetchone()
        return None if row is None else str(row["value"])

    async def set_meta(self, key: str, value: str) -> None:
        await self._db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )
        await self._db.commit()
