"""The quotas each server's managers set (`quota_rules`): turns and characters per member, role or server."""

from __future__ import annotations

import time

from sqlalchemy import text

from bot.store.database import Database, shielded
from bot.store.records import QuotaRule


@shielded
class QuotaRulesStore:
    """Reads and changes one server's quotas; each method is one short transaction."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def set(self, rule: QuotaRule, *, by: int) -> None:
        """Add the quota, or replace the one for the same target, provider and period."""
        async with self._db.one_statement() as conn:
            await conn.execute(
                text(
                    "INSERT INTO quota_rules (guild_id, target, provider, period, max_turns, max_chars, set_by, set_at)"
                    " VALUES (:g, :target, :provider, :period, :max_turns, :max_chars, :by, :now)"
                    " ON CONFLICT (guild_id, target, provider, period) DO UPDATE SET max_turns = excluded.max_turns,"
                    " max_chars = excluded.max_chars, set_by = excluded.set_by, set_at = excluded.set_at"
                ),
                {
                    "g": rule.guild_id,
                    "target": rule.target,
                    "provider": rule.provider,
                    "period": rule.period,
                    "max_turns": rule.max_turns,
                    "max_chars": rule.max_chars,
                    "by": by,
                    "now": time.time(),
                },
            )

    async def clear(self, guild_id: int, target: str, provider: str, period: str) -> bool:
        """Remove one quota; False if there was none."""
        async with self._db.one_statement() as conn:
            result = await conn.execute(
                text(
                    "DELETE FROM quota_rules WHERE guild_id = :g AND target = :target AND provider = :provider"
                    " AND period = :period"
                ),
                {"g": guild_id, "target": target, "provider": provider, "period": period},
            )
        return result.rowcount > 0

    async def load(self, guild_id: int) -> list[QuotaRule]:
        """A server's quotas, by target, provider and period."""
        async with self._db.read() as conn:
            rows = await conn.execute(
                text(
                    "SELECT guild_id, target, provider, period, max_turns, max_chars FROM quota_rules"
                    " WHERE guild_id = :g ORDER BY target, provider, period"
                ),
                {"g": guild_id},
            )
            return [QuotaRule(*row) for row in rows]
