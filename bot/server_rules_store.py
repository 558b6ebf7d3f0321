"""SQLite rows behind `ServerRules`: each server's settings and allow-lists (tables from `bot/store.py`)."""

from __future__ import annotations

import time
from typing import Literal

import aiosqlite

from bot.server_rules import Grant, ServerRules, group_grants

Setting = Literal["default_provider", "cooldown_s", "max_conversations"]
SETTINGS: tuple[Setting, ...] = ("default_provider", "cooldown_s", "max_conversations")


class ServerRulesStore:
    """Reads and changes one server's rules; shares the app's single connection."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    async def load(self, guild_id: int) -> ServerRules:
        return (await self._load_where("guild_id = ?", (guild_id,))).get(guild_id, ServerRules(guild_id))

    async def load_all(self) -> dict[int, ServerRules]:
        """Every server that set anything (the others follow the defaults)."""
        return await self._load_where("1", ())

    async def _load_where(self, where: str, params: tuple[int, ...]) -> dict[int, ServerRules]:
        sql = f"SELECT * FROM server_settings WHERE {where}"  # noqa: S608 - `where` is a literal from this class
        async with self._db.execute(sql, params) as cursor:
            settings = {row["guild_id"]: row for row in await cursor.fetchall()}
        grants: dict[int, list[tuple[str, Grant]]] = {}
        sql = f"SELECT * FROM access_grants WHERE {where} ORDER BY granted_at"  # noqa: S608 - as above
        async with self._db.execute(sql, params) as cursor:
            for r in await cursor.fetchall():
                grants.setdefault(r["guild_id"], []).append((r["ability"], Grant(r["target_id"], r["target_kind"])))
        return {
            guild_id: ServerRules(
                guild_id=guild_id,
                default_provider=row["default_provider"] if row else None,
                cooldown_s=row["cooldown_s"] if row else None,
                max_conversations=row["max_conversations"] if row else None,
                grants=group_grants(grants.get(guild_id, [])),
            )
            for guild_id in settings.keys() | grants.keys()
            for row in [settings.get(guild_id)]
        }

    async def set(self, guild_id: int, setting: Setting, value: str | float | int | None) -> None:
        """Change one setting; None returns it to the bot-wide default."""
        if setting not in SETTINGS:
            raise ValueError(setting)
        await self._db.execute(
            f"INSERT INTO server_settings (guild_id, {setting}) VALUES (?, ?)"  # noqa: S608 - a checked literal
            f" ON CONFLICT(guild_id) DO UPDATE SET {setting} = excluded.{setting}",
            (guild_id, value),
        )
        await self._db.commit()

    async def grant(self, guild_id: int, ability: str, grant: Grant, *, by: int) -> bool:
        """Add a role or user to an ability's allow-list; False if it was already there."""
        cursor = await self._db.execute(
            "INSERT OR IGNORE INTO access_grants (guild_id, ability, target_id, target_kind, granted_by, granted_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (guild_id, ability, grant.target_id, grant.kind, by, time.time()),
        )
        await self._db.commit()
        return cursor.rowcount > 0

    async def revoke(self, guild_id: int, ability: str, target_id: int) -> bool:
        cursor = await self._db.execute(
            "DELETE FROM access_grants WHERE guild_id = ? AND ability = ? AND target_id = ?",
            (guild_id, ability, target_id),
        )
        await self._db.commit()
        return cursor.rowcount > 0

    async def clear(self, guild_id: int, ability: str) -> int:
        """Empty an ability's allow-list (back to its default); how many entries went."""
        cursor = await self._db.execute(
            "DELETE FROM access_grants WHERE guild_id = ? AND ability = ?", (guild_id, ability)
        )
        await self._db.commit()
        return cursor.rowcount
