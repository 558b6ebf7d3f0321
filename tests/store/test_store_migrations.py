"""A database from an older version opens with its data intact and the new columns filled in."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bot.store import MIGRATIONS, Store


def older_database(path: Path, version: int) -> None:
    db = sqlite3.connect(path)
    for number, migration in enumerate(MIGRATIONS[:version], start=1):
        db.executescript(f"BEGIN; {'; '.join(migration.sqlite)}; PRAGMA user_version = {number}; COMMIT;")
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


async def test_a_file_written_by_the_previous_release_keeps_every_row(tmp_path: Path) -> None:
    """Sessions, transcript, bindings, rules, grants and stored tokens of a version-4 file all survive."""
    path = tmp_path / "release.sqlite3"
    older_database(path, 4)
    db = sqlite3.connect(path)
    db.execute(
        "INSERT INTO transcript (session_id, role, content, author_id, status, created_at, message_id)"
        " VALUES (2, 'user', 'hello', 3, 'complete', 2100.0, 9001)"
    )
    db.execute(
        "INSERT INTO bindings (channel_id, guild_id, provider, mode, options, created_by, created_at)"
        " VALUES (20, 7, 'ablt', 'thread', '{\"bot\": \"taxson\"}', 3, 100.0)"
    )
    db.execute("INSERT INTO server_settings (guild_id, default_provider, cooldown_s) VALUES (7, 'ablt', 30.0)")
    db.execute(
        "INSERT INTO access_grants (guild_id, ability, target_id, target_kind, granted_by, granted_at)"
        " VALUES (7, 'chat', 99, 'role', 3, 50.0)"
    )
    db.execute("INSERT INTO meta (key, value) VALUES ('agentverse_tokens', '{\"access\": \"a2\"}')")
    db.commit()
    db.close()

    store = await Store.open(path)
    try:
        first = await store.active_session(10)
        assert first is not None and first.provider == "ablt"
        assert [(e["role"], e["content"]) for e in await store.entries(1)] == [("user", "hi"), ("assistant", "hello")]
        assert await store.answered(9001)
        assert await store.binding(20) is not None
        rules = await store.server_rules.load(7)
        assert rules.default_provider == "ablt" and rules.cooldown_s == 30.0 and rules.grants["chat"]
        assert await store.get_meta("agentverse_tokens") == '{"access": "a2"}'
        assert await store.coordination.take_follow(first.id, "me", ttl_s=5)  # the new columns work
    finally:
        await store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
