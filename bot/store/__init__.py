"""Everything durable: SQLite by default, PostgreSQL when several shard processes share one database."""

from bot.store.database import Database, DatabaseClosed, DatabaseUrlError, StoreUnavailable, database_url
from bot.store.records import (
    Binding,
    DuplicateTurn,
    Entry,
    EntryStatus,
    SessionExists,
    SessionRecord,
    UnfinishedReply,
)
from bot.store.schema import LATEST, MIGRATIONS, migrate
from bot.store.store import Store

__all__ = [
    "LATEST",
    "MIGRATIONS",
    "Binding",
    "Database",
    "DatabaseClosed",
    "DatabaseUrlError",
    "DuplicateTurn",
    "Entry",
    "EntryStatus",
    "SessionExists",
    "SessionRecord",
    "Store",
    "StoreUnavailable",
    "UnfinishedReply",
    "database_url",
    "migrate",
]
