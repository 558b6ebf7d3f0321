"""Everything durable: SQLite by default, PostgreSQL when several shard processes share one database."""

from bot.store.database import Database, DatabaseClosed, DatabaseUrlError, StoreUnavailable, database_url
from bot.store.quota_rules import QuotaRulesStore
from bot.store.records import (
    GROUPS,
    KINDS,
    OUTCOMES,
    Binding,
    CounterCheck,
    DuplicateTurn,
    Entry,
    EntryStatus,
    OpenedTurn,
    QuotaRule,
    SaidEntry,
    SessionEnded,
    SessionExists,
    SessionRecord,
    TurnStart,
    TurnUsage,
    UnfinishedReply,
    UsageFinish,
    UsageRow,
)
from bot.store.schema import LATEST, MIGRATIONS, migrate
from bot.store.store import Store
from bot.store.usage import UsageStore

__all__ = [
    "GROUPS",
    "KINDS",
    "LATEST",
    "MIGRATIONS",
    "OUTCOMES",
    "Binding",
    "CounterCheck",
    "Database",
    "DatabaseClosed",
    "DatabaseUrlError",
    "DuplicateTurn",
    "Entry",
    "EntryStatus",
    "OpenedTurn",
    "QuotaRule",
    "QuotaRulesStore",
    "SaidEntry",
    "SessionEnded",
    "SessionExists",
    "SessionRecord",
    "Store",
    "StoreUnavailable",
    "TurnStart",
    "TurnUsage",
    "UnfinishedReply",
    "UsageFinish",
    "UsageRow",
    "UsageStore",
    "database_url",
    "migrate",
]
