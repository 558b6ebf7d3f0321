"""The conversation store: sessions per Discord channel or thread, their transcript, bindings and metadata.

Each method is one short transaction on SQLite or PostgreSQL (see `bot/store/database.py`); what several
shard processes must agree on (cooldowns, places, leases, identify slots) is in `coordination.py`, each
server's rules in `bot/server_rules_store.py`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy import text

from bot.providers.base import HistoryEntry
from bot.server_rules_store import ServerRulesStore
from bot.store.coordination import Coordination
from bot.store.database import Database, database_url, shielded
from bot.store.json_sql import flag_is_set, merge_state, offer_claim
from bot.store.records import (
    Binding,
    DuplicateTurn,
    EntryStatus,
    SessionExists,
    SessionRecord,
    UnfinishedReply,
)
from bot.store.schema import migrate

log = logging.getLogger(__name__)

_NEW_SESSION = (
    "INSERT INTO sessions (channel_id, guild_id, provider, state, started_by, started_at, last_active_at)"
    " VALUES (:channel_id, :guild_id, :provider, :state, :started_by, :now, :now) RETURNING *"
)


@shielded
class Store:
    """Sessions, transcript, bindings and metadata over one `Database`; every method is a short transaction."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.server_rules = ServerRulesStore(db)
        self.coordination = Coordination(db)

    @classmethod
    async def open(cls, target: str | Path) -> Store:
        """Open (creating and migrating as needed) a SQLite file (a Path or sqlite:/// URL) or a PostgreSQL
        database (postgresql:// URL). Raises DatabaseUrlError for anything else."""
        db = Database(database_url(target))
        await db.prepare()
        await migrate(db)
        return cls(db)

    async def close(self) -> None:
        await self.db.close()

    # Sessions -------------------------------------------------------------------------------------

    async def start_session(
        self, *, channel_id: int, guild_id: int | None, provider: str, state: dict[str, Any], started_by: int
    ) -> SessionRecord:
        """A new active session in a channel; raises SessionExists if the channel already has one."""
        binds = {"channel_id": channel_id, "guild_id": guild_id, "provider": provider}
        try:
            async with self.db.write() as conn:
                result = await conn.execute(
                    text(_NEW_SESSION),
                    {**binds, "state": json.dumps(state), "started_by": started_by, "now": time.time()},
                )
                return SessionRecord.from_row(result.mappings().one())
        except sa_exc.IntegrityError as exc:
            raise SessionExists(channel_id) from exc

    async def active_session(self, channel_id: int) -> SessionRecord | None:
        return await self._session_where("channel_id = :channel_id AND ended_at IS NULL", channel_id=channel_id)

    async def latest_session(self, channel_id: int) -> SessionRecord | None:
        """The newest session in a channel, active or ended."""
        return await self._session_where("channel_id = :channel_id ORDER BY id DESC LIMIT 1", channel_id=channel_id)

    async def session(self, session_id: int) -> SessionRecord | None:
        return await self._session_where("id = :id", id=session_id)

    async def sessions_where_state(self, flag: str) -> list[SessionRecord]:
        """Active sessions whose state has `flag` set to true (e.g. still following the provider)."""
        sql = f"SELECT * FROM sessions WHERE ended_at IS NULL AND {flag_is_set(self.db.kind, flag)} ORDER BY id"  # noqa: S608
        async with self.db.read() as conn:
            rows = (await conn.execute(text(sql))).mappings().all()
        return [SessionRecord.from_row(row) for row in rows]

    async def end_session(self, session_id: int) -> bool:
        """End a session; False if it had already ended (two `/end`s at once: only one ends it)."""
        async with self.db.write() as conn:
            result = await conn.execute(
                text("UPDATE sessions SET ended_at = :now WHERE id = :id AND ended_at IS NULL"),
                {"now": time.time(), "id": session_id},
            )
        return result.rowcount > 0

    async def claim_offer(self, session_id: int, token: str, by: int, via: int = 0) -> bool:
        """Mark the session's open offer `token` as taken by `by` (through interaction `via`), unless it changed
        or was taken: one winner."""
        new_state, condition = offer_claim(self.db.kind)
        sql = f"UPDATE sessions SET state = {new_state} WHERE id = :id AND ended_at IS NULL AND {condition}"  # noqa: S608
        async with self.db.write() as conn:
            result = await conn.execute(text(sql), {"id": session_id, "token": token, "by": by, "via": via})
        return result.rowcount > 0

    async def update_state(self, session_id: int, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Replace the given top-level keys of the stored state in one statement (concurrent updates of other
        keys are never lost); returns the whole new state."""
        merged, binds = merge_state(self.db.kind, changes)
        sql = f"UPDATE sessions SET state = {merged} WHERE id = :id RETURNING state"  # noqa: S608
        async with self.db.write() as conn:
            row = (await conn.execute(text(sql), {**binds, "id": session_id})).first()
        return {} if row is None else dict(json.loads(row[0]))

    async def restart_session(self, old: SessionRecord, state: dict[str, Any], started_by: int) -> SessionRecord:
        """End `old` and start its successor in the same channel, atomically.

        Raises SessionExists when `old` is no longer the active session (another `/reset` or `/end` won).
        """
        now = time.time()
        try:
            async with self.db.write() as conn:
                ended = await conn.execute(
                    text("UPDATE sessions SET ended_at = :now WHERE id = :id AND ended_at IS NULL"),
                    {"now": now, "id": old.id},
                )
                if ended.rowcount == 0:
                    raise SessionExists(old.channel_id)
                binds = {"channel_id": old.channel_id, "guild_id": old.guild_id, "provider": old.provider}
                result = await conn.execute(
                    text(_NEW_SESSION), {**binds, "state": json.dumps(state), "started_by": started_by, "now": now}
                )
                return SessionRecord.from_row(result.mappings().one())
        except sa_exc.IntegrityError as exc:
            raise SessionExists(old.channel_id) from exc

    async def touch_session(self, session_id: int) -> None:
        """Someone spoke: the session counts as going (towards its server's cap) from now."""
        async with self.db.write() as conn:
            await conn.execute(
                text("UPDATE sessions SET last_active_at = :now WHERE id = :id"), {"now": time.time(), "id": session_id}
            )

    async def count_going(self, guild_id: int, since: float) -> int:
        """Open sessions in a server that someone spoke in at or after `since`."""
        async with self.db.read() as conn:
            return await self.coordination.count_going(conn, guild_id, since)

    async def open_session_guilds(self) -> list[int | None]:
        """The server (None: a DM) of every active session, for counting the ones a process serves."""
        async with self.db.read() as conn:
            return [row[0] for row in await conn.execute(text("SELECT guild_id FROM sessions WHERE ended_at IS NULL"))]

    async def _session_where(self, where: str, **binds: Any) -> SessionRecord | None:
        sql = f"SELECT * FROM sessions WHERE {where}"  # noqa: S608 - `where` is a literal from this class
        async with self.db.read() as conn:
            row = (await conn.execute(text(sql), binds)).mappings().first()
        return None if row is None else SessionRecord.from_row(row)

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
            async with self.db.write() as conn:
                result = await conn.execute(
                    text(
                        "INSERT INTO transcript (session_id, role, content, author_id, status, created_at, message_id)"
                        " VALUES (:session_id, :role, :content, :author_id, :status, :now, :message_id) RETURNING id"
                    ),
                    {
                        "session_id": session_id,
                        "role": role,
                        "content": content,
                        "author_id": author_id,
                        "status": status,
                        "now": time.time(),
                        "message_id": message_id,
                    },
                )
                return int(result.scalar_one())
        except sa_exc.IntegrityError as exc:
            raise DuplicateTurn(message_id) from exc

    async def finish_entry(self, entry_id: int, content: str, status: EntryStatus) -> None:
        async with self.db.write() as conn:
            await conn.execute(
                text("UPDATE transcript SET content = :content, status = :status WHERE id = :id"),
                {"content": content, "status": status, "id": entry_id},
            )

    async def set_entry_content(self, entry_id: int, content: str) -> None:
        async with self.db.write() as conn:
            await conn.execute(
                text("UPDATE transcript SET content = :content WHERE id = :id"), {"content": content, "id": entry_id}
            )

    async def history(self, session_id: int) -> tuple[HistoryEntry, ...]:
        """Every turn with text, oldest first; replies cut off by a restart keep what was shown."""
        async with self.db.read() as conn:
            rows = await conn.execute(
                text("SELECT role, content FROM transcript WHERE session_id = :id AND content != '' ORDER BY id"),
                {"id": session_id},
            )
            return tuple(HistoryEntry(role=row.role, content=row.content) for row in rows)

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

    async def take_unfinished(self, serves: Callable[[int | None], bool] | None = None) -> list[UnfinishedReply]:
        """Replies still marked streaming were cut off by a crash: mark them interrupted and list them.

        Each keeps the text members last saw (saved as it was shown), so the next turn's history holds it.
        `serves(guild_id)` limits this to the servers this process serves (a shard process takes its own).
        """
        async with self.db.write() as conn:
            rows = (
                await conn.execute(
                    text(
                        "SELECT transcript.id, session_id, channel_id, guild_id, content FROM transcript"
                        " JOIN sessions ON sessions.id = transcript.session_id"
                        " WHERE status = 'streaming' ORDER BY transcript.id"
                    )
                )
            ).all()
            taken = [row for row in rows if serves is None or serves(row.guild_id)]
            for row in taken:
                await conn.execute(
                    text("UPDATE transcript SET status = 'interrupted' WHERE id = :id AND status = 'streaming'"),
                    {"id": row.id},
                )
        return [UnfinishedReply(row.id, row.session_id, row.channel_id, row.content) for row in taken]

    async def answered(self, message_id: int) -> bool:
        """Whether a member's Discord message was taken as a turn."""
        async with self.db.read() as conn:
            found = await conn.execute(text("SELECT 1 FROM transcript WHERE message_id = :m"), {"m": message_id})
            return found.first() is not None

    # Bindings -------------------------------------------------------------------------------------

    async def bind(self, binding: Binding, *, by: int) -> None:
        async with self.db.write() as conn:
            await conn.execute(
                text(
                    "INSERT INTO bindings (channel_id, guild_id, provider, mode, options, created_by, created_at)"
                    " VALUES (:channel_id, :guild_id, :provider, :mode, :options, :by, :now)"
                    " ON CONFLICT (channel_id) DO UPDATE SET provider = excluded.provider, mode = excluded.mode,"
                    " options = excluded.options, created_by = excluded.created_by, created_at = excluded.created_at"
                ),
                {
                    "channel_id": binding.channel_id,
                    "guild_id": binding.guild_id,
                    "provider": binding.provider,
                    "mode": binding.mode,
                    "options": json.dumps(binding.options),
                    "by": by,
                    "now": time.time(),
                },
            )

    async def unbind(self, channel_id: int) -> bool:
        async with self.db.write() as conn:
            result = await conn.execute(text("DELETE FROM bindings WHERE channel_id = :id"), {"id": channel_id})
        return result.rowcount > 0

    async def binding(self, channel_id: int) -> Binding | None:
        async with self.db.read() as conn:
            row = (
                (await conn.execute(text("SELECT * FROM bindings WHERE channel_id = :id"), {"id": channel_id}))
                .mappings()
                .first()
            )
        if row is None:
            return None
        return Binding(row["channel_id"], row["guild_id"], row["provider"], row["mode"], json.loads(row["options"]))

    # Metadata -------------------------------------------------------------------------------------

    async def get_meta(self, key: str) -> str | None:
        async with self.db.read() as conn:
            row = (await conn.execute(text("SELECT value FROM meta WHERE key = :key"), {"key": key})).first()
        return None if row is None else str(row[0])

    async def set_meta(self, key: str, value: str) -> None:
        async with self.db.write() as conn:
            await conn.execute(
                text(
                    "INSERT INTO meta (key, value) VALUES (:key, :value)"
                    " ON CONFLICT (key) DO UPDATE SET value = excluded.value"
                ),
                {"key": key, "value": value},
            )
