"""A database from an older version opens with its data intact and the new columns filled in."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bot.store import MIGRATIONS, Store


def older_database(path: Path, version: int) -> None:
    db = sqlite3.connect(path)
    for number, script in enumerate(MIGRATIONS[:version], start=1):
        db.executescript(f"BEGIN; {script} PRAGMA user_version = {number}; COMMIT;")
    db.execute(
        "INSERT INTO sessions (id, channel_id, guild_id, provider, state, started_by, started_at)"
        " VALUES (1, 10, 7, 'ablt', '{}', 3, 1000.0), (2, 11, 7, 'ablt', '{}', 3, 2000.0)"
    )
    db.execute(
        "INSERT INTO transcript (session_id, role, content, author_id, status, created_at)"
        " VALUES (1, 'user', 'hi', 3, 'complete', 1500.0), (1, 'assistant', 'hello', NULL, 'complete', 1600.0)"
    )
    db.commit()
    db.close()


async def test_sessions_from_version_2_get_their_last_activity_and_count_towards_the_cap(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    older_database(path, 2)
    store = await Store.open(path)
    try:
        first, second = await store.active_session(10), await store.active_session(11)
        assert first is not None and first.last_active_at == 1600.0  # its newest transcript entry
        assert second is not None and second.last_active_at == 2000.0  # no transcript: when it started
        assert await store.count_going(7, since=1700.0) == 1
        assert await store.count_going(7, since=0) == 2
        rules = await store.server_rules.load(7)
        assert rules.default_provider is None and not rules.grants
    finally:
        await store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
