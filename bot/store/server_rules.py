"""The rows behind `ServerRules`: each server's settings and allow-lists (tables from `bot/store/schema.py`)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Literal

from sqlalchemy import text

from bot.core.server_rules import Grant, ServerRules, group_grants
from bot.store.database import Database, shielded

Setting = Literal["default_provider", "cooldown_s", "max_conversations", "timezone", "quota_exempt_managers"]
SETTINGS: tuple[Setting, ...] = (
    "default_provider",
    "cooldown_s",
    "max_conversations",
    "timezone",
    "quota_exempt_managers",
)
"""`timezone`: an IANA name (None: UTC); `quota_exempt_managers`: stored 0/1 (None: the operator's default)."""


@shielded
class ServerRulesStore:
    """Reads and changes one server's rules; each method is one short transaction."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def load(self, guild_id: int) -> ServerRules:
        return (await self._load_where("guild_id = :g", {"g": guild_id})).get(guild_id, ServerRules(guild_id))

    async def load_all(self) -> dict[int, ServerRules]:
        """Every server that set anything (the others follow the defaults)."""
        return await self._load_where("1 = 1", {})

    async def _load_where(self, where: str, params: Mapping[str, Any]) -> dict[int, ServerRules]:
        grants: dict[int, list[tuple[str, Grant]]] = {}
        async with self._db.snapshot() as conn:
            sql = f"SELECT * FROM server_settings WHERE {where}"  # noqa: S608 - `where` is a literal from this class
            settings = {row["guild_id"]: row for row in (await conn.execute(text(sql), params)).mappings()}
            sql = f"SELECT * FROM access_grants WHERE {where} ORDER BY granted_at"  # noqa: S608 - as above
            for r in (await conn.execute(text(sql), params)).mappings():
                grants.setdefault(r["guild_id"], []).append((r["ability"], Grant(r["target_id"], r["target_kind"])))
        return {
            guild_id: ServerRules(
                guild_id=guild_id,
                default_provider=row["default_provider"] if row else None,
                cooldown_s=row["cooldown_s"] if row else None,
                max_conversations=row["max_conversations"] if row else None,
                timezone=row["timezone"] if row else None,
                quota_exempt_managers=_flag(row["quota_exempt_managers"]) if row else None,
                grants=group_grants(grants.get(guild_id, [])),
            )
            for guild_id in settings.keys() | grants.keys()
            for row in [settings.get(guild_id)]
        }

    async def set(self, guild_id: int, setting: Setting, value: str | float | int | None) -> None:
        """Change one setting; None returns it to the bot-wide default."""
        if setting not in SETTINGS:
            raise ValueError(setting)
        if isinstance(value, bool):
            value = int(value)
        sql = (
            f"INSERT INTO server_settings (guild_id, {setting}) VALUES (:g, :value)"  # noqa: S608 - a checked literal
            f" ON CONFLICT (guild_id) DO UPDATE SET {setting} = excluded.{setting}"
        )
        async with self._db.one_statement() as conn:
            await conn.execute(text(sql), {"g": guild_id, "value": value})

    async def grant(self, guild_id: int, ability: str, grant: Grant, *, by: int) -> bool:
        """Add a role or user to an ability's allow-list; False if it was already there."""
        async with self._db.one_statement() as conn:
            result = await conn.execute(
                text(
                    "INSERT INTO access_grants (guild_id, ability, target_id, target_kind, granted_by, granted_at)"
                    " VALUES (:g, :ability, :target, :kind, :by, :now) ON CONFLICT DO NOTHING"
                ),
                {
                    "g": guild_id,
                    "ability": ability,
                    "target": grant.target_id,
                    "kind": grant.kind,
                    "by": by,
                    "now": time.time(),
                },
            )
        return result.rowcount > 0

    async def revoke(self, guild_id: int, ability: str, target_id: int) -> bool:
        async with self._db.one_statement() as conn:
            result = await conn.execute(
                text("DELETE FROM access_grants WHERE guild_id = :g AND ability = :ability AND target_id = :target"),
                {"g": guild_id, "ability": ability, "target": target_id},
            )
        return result.rowcount > 0

    async def clear(self, guild_id: int, ability: str) -> int:
        """Empty an ability's allow-list (back to its default); how many entries went."""
        async with self._db.one_statement() as conn:
            result = await conn.execute(
                text("DELETE FROM access_grants WHERE guild_id = :g AND ability = :ability"),
                {"g": guild_id, "ability": ability},
            )
        return int(result.rowcount)


def _flag(stored: int | None) -> bool | None:
    return None if stored is None else bool(stored)
