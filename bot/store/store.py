"""The conversation store: sessions per Discord channel or thread, their transcript, bindings and metadata.

Each method is one short transaction on SQLite or PostgreSQL (see `bot/store/database.py`); what several
shard processes must agree on (cooldowns, places, leases, identify slots) is in `coordination.py`, each
server's rules in `bot/store/server_rules.py`, the usage ledger and quota counters in `bot/store/usage.py`, each
server's quotas in `bot/store/quota_rules.py`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bot.store.coordination import Coordination
from bot.store.database import Database, database_url, shielded
from bot.store.json_sql import flag_is_set, merge_state, offer_claim
from bot.store.quota_rules import QuotaRulesStore
from bot.store.records import (
    Binding,
    SessionExists,
    SessionRecord,
)
from bot.store.schema import migrate
from bot.store.server_rules import ServerRulesStore
from bot.store.transcript import TranscriptStore
from bot.store.usage import UsageStore

log = logging.getLogger(__name__)

_NEW_SESSION = (
    "INSERT INTO sessions (channel_id, guild_id, provider, state, started_by, started_at, last_active_at)"
    " VALUES (:channel_id, :guild_id, :provider, :state, :started_by, :now, :now)"
    " ON CONFLICT (channel_id) WHERE ended_at IS NULL DO NOTHING RETURNING *"
)
"""A channel's active session is unique: a second one is found by the insert itself (no row comes back), so no
other refusal of the database is mistaken for it."""


@shielded
class Store(TranscriptStore):
    """Sessions, transcript, bindings and metadata over one `Database`; every method is a short transaction."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.server_rules = ServerRulesStore(db)
        self.coordination = Coordination(db)
        self.usage = UsageStore(db)
        self.quota_rules = QuotaRulesStore(db)

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
        async with self.db.one_statement() as conn:
            result = await conn.execute(
                text(_NEW_SESSION),
                {**binds, "state": json.dumps(state), "started_by": started_by, "now": time.time()},
            )
            row = result.mappings().first()
        if row is None:
            raise SessionExists(channel_id)
        return SessionRecord.from_row(row)

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
        async with self.db.one_statement() as conn:
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
        async with self.db.one_statement() as conn:
            result = await conn.execute(text(sql), {"id": session_id, "token": token, "by": by, "via": via})
        return result.rowcount > 0

    async def update_state(self, session_id: int, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Replace the given top-level keys of the stored state in one statement (concurrent updates of other
        keys are never lost); returns the whole new state."""
        merged, binds = merge_state(self.db.kind, changes)
        sql = f"UPDATE sessions SET state = {merged} WHERE id = :id RETURNING state"  # noqa: S608
        async with self.db.one_statement() as conn:
            row = (await conn.execute(text(sql), {**binds, "id": session_id})).first()
        return {} if row is None else dict(json.loads(row[0]))

    async def restart_session(self, old: SessionRecord, state: dict[str, Any], started_by: int) -> SessionRecord:
        """End `old` and start its successor in the same channel, atomically.

        Raises SessionExists when `old` is no longer the active session (another `/reset` or `/end` won).
        """
        now = time.time()
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
            row = result.mappings().first()
            if row is None:  # raised inside the block: the session just ended is rolled back with it
                raise SessionExists(old.channel_id)
            return SessionRecord.from_row(row)

    async def touch_session(self, session_id: int) -> None:
        """Someone spoke: the session counts as going (towards its server's cap) from now."""
        async with self.db.one_statement() as conn:
            await conn.execute(
                text("UPDATE sessions SET last_active_at = :now WHERE id = :id"), {"now": time.time(), "id": session_id}
            )

    async def count_going(self, guild_id: int, since: float) -> int:
        """Open sessions in a server that someone spoke in at or after `since`."""
        async with self.db.read() as conn:
            return await self.coordination.count_going(conn, guild_id, since)

    async def recently_active(self, since: float, limit: int) -> list[SessionRecord]:
        """Active sessions someone spoke in at or after `since` (Unix seconds), the most recent first."""
        sql = "SELECT * FROM sessions WHERE ended_at IS NULL AND last_active_at >= :since ORDER BY last_active_at DESC"
        async with self.db.read() as conn:
            rows = (await conn.execute(text(f"{sql} LIMIT :limit"), {"since": since, "limit": limit})).mappings().all()
        return [SessionRecord.from_row(row) for row in rows]

    async def open_session_guilds(self) -> list[int | None]:
        """The server (None: a DM) of every active session, for counting the ones a process serves."""
        async with self.db.read() as conn:
            return [row[0] for row in await conn.execute(text("SELECT guild_id FROM sessions WHERE ended_at IS NULL"))]

    async def _session_where(self, where: str, **binds: Any) -> SessionRecord | None:
        sql = f"SELECT * FROM sessions WHERE {where}"  # noqa: S608 - `where` is a literal from this class
        async with self.db.read() as conn:
            row = (await conn.execute(text(sql), binds)).mappings().first()
        return None if row is None else SessionRecord.from_row(row)

    # Bindings -------------------------------------------------------------------------------------

    async def bind(self, binding: Binding, *, by: int) -> None:
        async with self.db.one_statement() as conn:
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
        async with self.db.one_statement() as conn:
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
        async with self.db.one_statement() as conn:
            await conn.execute(
                text(
                    "INSERT INTO meta (key, value) VALUES (:key, :value)"
                    " ON CONFLICT (key) DO UPDATE SET value = excluded.value"
                ),
                {"key": key, "value": value},
            )
