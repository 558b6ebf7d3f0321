"""What several shard processes must agree on, kept in the shared store and changed atomically.

- Cooldowns: one conditional upsert per message, so two processes cannot both let a member through.
- Slowmode: the same, per member and channel, for turns the bot posts for members through interactions.
- Places under a server's cap: counted and held in one transaction under a lock per server (SQLite: the
  single writer; PostgreSQL: `pg_advisory_xact_lock`), so two `/chat`s racing for the last place get one.
- Follow leases: which process follows a polled provider's session (Agentverse); taken with one
  conditional update, renewed while held, free again once `follow_until` passes (a killed process).
- Identify slots: Discord allows one IDENTIFY per `max_concurrency` bucket per 5 s across all processes
  (gateway.mdx "Rate Limiting"); the slot is taken under a lock in the store, in `before_identify_hook`.
- Presence: each process renews a heartbeat row while it runs, so others can tell its unfinished replies
  (still being written) from a dead process's (bot/core/presence.py).
- Event claims: during a rolling deploy two processes hold the same shard and both receive every event
  (Discord allows a second session; gateway.mdx "Sharding"); a member's message or command is taken by the
  first process to insert its id, before any gate, and the other skips it without a word.
"""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store.database import Database, shielded

PLACES_LOCK = 0x6272_6964  # advisory-lock namespace for "places in server X" (two-int form)
IDENTIFY_LOCK = 0x6272_6964_6765_1000  # + bucket number


@shielded
class Coordination:
    """Atomic shared-state operations over the store's database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # Cooldowns ------------------------------------------------------------------------------------

    async def cooldown(self, guild_id: int | None, user_id: int, cooldown_s: float) -> float:
        """Let member `user_id` speak if `cooldown_s` passed since they last did (recording now); else return
        how many seconds they must still wait (> 0) and record nothing."""
        now = time.time()
        key = {"guild_id": guild_id or 0, "user_id": user_id}
        async with self._db.write() as conn:
            taken = await conn.execute(
                text(
                    "INSERT INTO cooldowns (guild_id, user_id, spoke_at) VALUES (:guild_id, :user_id, :now)"
                    " ON CONFLICT (guild_id, user_id) DO UPDATE SET spoke_at = excluded.spoke_at"
                    " WHERE cooldowns.spoke_at <= :free_since RETURNING spoke_at"
                ),
                {**key, "now": now, "free_since": now - cooldown_s},
            )
            if taken.first() is not None:
                return 0.0
            last = await conn.execute(
                text("SELECT spoke_at FROM cooldowns WHERE guild_id = :guild_id AND user_id = :user_id"), key
            )
            spoke_at = float(last.scalar_one())
        return min(cooldown_s, max(0.001, spoke_at + cooldown_s - time.time()))

    # Slowmode -------------------------------------------------------------------------------------------

    async def slowmode(
        self, channel_id: int, user_id: int, interval_s: float, *, via: int, take: bool = True
    ) -> float | None:
        """Let member `user_id` speak in `channel_id` (through interaction `via`) if `interval_s` passed since
        they last did there through the bot; with `take`, record now in the same statement, so two processes
        cannot both let them through (the same interaction reaching both passes in both: it is one turn).

        Returns None when they may speak, else the Unix time (seconds) from which they may; records nothing then.
        """
        now = time.time()
        key = {"channel_id": channel_id, "user_id": user_id}
        if take:
            async with self._db.write() as conn:
                taken = await conn.execute(
                    text(
                        "INSERT INTO slowmodes (channel_id, user_id, spoke_at, via)"
                        " VALUES (:channel_id, :user_id, :now, :via) ON CONFLICT (channel_id, user_id)"
                        " DO UPDATE SET spoke_at = excluded.spoke_at, via = excluded.via"
                        " WHERE slowmodes.spoke_at <= :free_since OR slowmodes.via = excluded.via RETURNING spoke_at"
                    ),
                    {**key, "now": now, "via": via, "free_since": now - interval_s},
                )
                if taken.first() is not None:
                    return None
                return (await self._spoke_at(conn, key, via) or now) + interval_s
        async with self._db.read() as conn:
            spoke_at = await self._spoke_at(conn, key, via)
        return None if spoke_at is None or spoke_at + interval_s <= now else spoke_at + interval_s

    async def _spoke_at(self, conn: AsyncConnection, key: dict[str, int], via: int) -> float | None:
        """When the member last spoke there through another interaction than `via` (None: never)."""
        last = await conn.execute(
            text(
                "SELECT spoke_at FROM slowmodes WHERE channel_id = :channel_id AND user_id = :user_id AND via <> :via"
            ),
            {**key, "via": via},
        )
        found = last.scalar()
        return None if found is None else float(found)

    # Places under a server's cap ----------------------------------------------------------------------

    async def count_going(self, conn: AsyncConnection, guild_id: int, since: float) -> int:
        """Open sessions in a server that someone spoke in at or after `since`, plus places being opened."""
        result = await conn.execute(
            text(
                "SELECT (SELECT COUNT(*) FROM sessions WHERE guild_id = :g AND ended_at IS NULL"
                " AND last_active_at >= :since) + (SELECT COUNT(*) FROM opening_places WHERE guild_id = :g"
                " AND until > :now)"
            ),
            {"g": guild_id, "since": since, "now": time.time()},
        )
        return int(result.scalar_one())

    async def hold_place(self, guild_id: int, cap: int, since: float, ttl_s: float) -> int | None:
        """Hold one of a server's `cap` places for a conversation being opened (for at most `ttl_s`);
        None if the server is full. Release it with `release_place` once the session exists."""
        async with self._db.write() as conn:
            await self._lock_server(conn, guild_id)
            if await self.count_going(conn, guild_id, since) >= cap:
                return None
            result = await conn.execute(
                text("INSERT INTO opening_places (guild_id, until) VALUES (:g, :until) RETURNING id"),
                {"g": guild_id, "until": time.time() + ttl_s},
            )
            return int(result.scalar_one())

    async def release_place(self, place_id: int) -> None:
        async with self._db.one_statement() as conn:
            await conn.execute(
                text("DELETE FROM opening_places WHERE id = :id OR until < :now"), {"id": place_id, "now": time.time()}
            )

    async def wake_session(self, session_id: int, guild_id: int, cap: int, since: float) -> bool:
        """A quiet session someone speaks in again takes a place: counted and touched atomically; False if full."""
        async with self._db.write() as conn:
            await self._lock_server(conn, guild_id)
            if await self.count_going(conn, guild_id, since) >= cap:
                return False
            await conn.execute(
                text("UPDATE sessions SET last_active_at = :now WHERE id = :id"), {"now": time.time(), "id": session_id}
            )
            return True

    async def _lock_server(self, conn: AsyncConnection, guild_id: int) -> None:
        """Serialise counting in one server until the transaction ends (SQLite's writer already is)."""
        if self._db.kind == "postgresql":
            await conn.execute(
                text("SELECT pg_advisory_xact_lock(:ns, :key)"), {"ns": PLACES_LOCK, "key": guild_id % 2_147_483_647}
            )

    # Follow leases ------------------------------------------------------------------------------------

    async def take_follow(self, session_id: int, owner: str, ttl_s: float) -> bool:
        """Take (or renew) the right to follow a session's provider for `ttl_s`; False if another live
        process holds it."""
        now = time.time()
        async with self._db.one_statement() as conn:
            result = await conn.execute(
                text(
                    "UPDATE sessions SET follow_owner = :owner, follow_until = :until WHERE id = :id"
                    " AND ended_at IS NULL AND (follow_owner IS NULL OR follow_owner = :owner OR follow_until < :now)"
                ),
                {"owner": owner, "until": now + ttl_s, "id": session_id, "now": now},
            )
        return result.rowcount > 0

    async def release_follow(self, session_id: int, owner: str) -> None:
        async with self._db.one_statement() as conn:
            await conn.execute(
                text(
                    "UPDATE sessions SET follow_owner = NULL, follow_until = NULL"
                    " WHERE id = :id AND follow_owner = :owner"
                ),
                {"id": session_id, "owner": owner},
            )

    async def followed_elsewhere(self, session_id: int, owner: str) -> bool:
        """Whether another process holds a live lease on this session."""
        async with self._db.read() as conn:
            row = (
                await conn.execute(
                    text("SELECT follow_owner, follow_until FROM sessions WHERE id = :id"), {"id": session_id}
                )
            ).first()
        return row is not None and row[0] not in (None, owner) and (row[1] or 0) >= time.time()

    # Identify slots -----------------------------------------------------------------------------------

    async def identify_slot(self, bucket: int, interval_s: float) -> float:
        """Wait until bucket `bucket` may IDENTIFY again (`interval_s` after its last, in any process) and take
        the slot; returns how long it waited (seconds)."""
        async with self._db.exclusive(IDENTIFY_LOCK + bucket):
            async with self._db.read() as conn:
                last = (
                    await conn.execute(
                        text("SELECT identified_at FROM identify_slots WHERE bucket = :b"), {"b": bucket}
                    )
                ).scalar()
            wait = 0.0 if last is None else max(0.0, float(last) + interval_s - time.time())
            if wait:
                await asyncio.sleep(wait)
            async with self._db.one_statement() as conn:
                await conn.execute(
                    text(
                        "INSERT INTO identify_slots (bucket, identified_at) VALUES (:b, :now)"
                        " ON CONFLICT (bucket) DO UPDATE SET identified_at = excluded.identified_at"
                    ),
                    {"b": bucket, "now": time.time()},
                )
        return wait

    # Presence --------------------------------------------------------------------------------------

    async def heartbeat(self, owner: str, ttl_s: float) -> None:
        """Process `owner` is alive for `ttl_s` more seconds."""
        async with self._db.one_statement() as conn:
            await conn.execute(
                text(
                    "INSERT INTO processes (owner, alive_until) VALUES (:owner, :until)"
                    " ON CONFLICT (owner) DO UPDATE SET alive_until = excluded.alive_until"
                ),
                {"owner": owner, "until": time.time() + ttl_s},
            )

    async def leave(self, owner: str) -> None:
        """Process `owner` stopped cleanly (it finished or marked its own replies)."""
        async with self._db.one_statement() as conn:
            await conn.execute(text("DELETE FROM processes WHERE owner = :owner"), {"owner": owner})

    async def alive(self) -> set[str]:
        """The processes whose heartbeat has not run out (stale rows are removed on the way)."""
        now = time.time()
        async with self._db.write() as conn:
            await conn.execute(text("DELETE FROM processes WHERE alive_until < :old"), {"old": now - 3600})
            rows = await conn.execute(text("SELECT owner FROM processes WHERE alive_until >= :now"), {"now": now})
            return {row[0] for row in rows}

    # Event claims --------------------------------------------------------------------------------------

    async def claim_event(self, event_id: int, owner: str | None = None) -> bool:
        """Take Discord event `event_id` (a message or an interaction: snowflakes never repeat) for process `owner`;
        False if another process took it first."""
        async with self._db.one_statement() as conn:
            return await _claim(conn, event_id, owner)

    async def claims(self, event_ids: list[int]) -> dict[int, str | None]:
        """Which of these events were claimed, and by which process."""
        if not event_ids:
            return {}
        binds = {f"e{i}": event_id for i, event_id in enumerate(event_ids)}
        listed = ", ".join(f":{name}" for name in binds)
        async with self._db.read() as conn:
            rows = await conn.execute(text(f"SELECT id, owner FROM event_claims WHERE id IN ({listed})"), binds)  # noqa: S608
            return {int(row[0]): row[1] for row in rows}

    async def retake_event(self, event_id: int, owner: str, dead_owner: str | None) -> bool:
        """Take over an event a dead process had claimed (or nobody had) for `owner`; False if someone else did."""
        async with self._db.write() as conn:
            was = "owner IS NULL" if dead_owner is None else "owner = :dead"
            moved = await conn.execute(
                text(f"UPDATE event_claims SET owner = :owner, claimed_at = :now WHERE id = :id AND {was}"),  # noqa: S608
                {"id": event_id, "owner": owner, "dead": dead_owner, "now": time.time()},
            )
            return moved.rowcount > 0 or await _claim(conn, event_id, owner)

    async def forget_claims(self, older_than_s: float) -> int:
        """Drop claims older than `older_than_s` seconds (Discord does not deliver an event that late); how many."""
        async with self._db.one_statement() as conn:
            result = await conn.execute(
                text("DELETE FROM event_claims WHERE claimed_at < :cut"), {"cut": time.time() - older_than_s}
            )
        return result.rowcount


async def _claim(conn: AsyncConnection, event_id: int, owner: str | None) -> bool:
    """Insert the claim on an event unless one exists; whether this one did."""
    result = await conn.execute(
        text(
            "INSERT INTO event_claims (id, claimed_at, owner) VALUES (:id, :now, :owner)"
            " ON CONFLICT (id) DO NOTHING RETURNING id"
        ),
        {"id": event_id, "now": time.time(), "owner": owner},
    )
    return result.first() is not None
