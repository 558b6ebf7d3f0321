"""Counting what the store sends: SQL statements and round trips (asyncpg's, and calls into aiosqlite's thread).

Kept free of the bot's own imports, so a bench that counts with it still runs on earlier commits
(`python -m bench.compare --bench-from-here`).
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import aiosqlite
import asyncpg
from asyncpg.prepared_stmt import PreparedStatement
from sqlalchemy import event
from sqlalchemy.engine import Engine


class Wire:
    """Counts SQL statements (any engine of this process) and asyncpg's round trips while `on`."""

    def __init__(self) -> None:
        self.statements = 0
        self.round_trips = 0
        self.on = False

    @contextmanager
    def installed(self) -> Iterator[Wire]:
        patched = [
            (asyncpg.Connection, "execute", "round_trips"),
            (asyncpg.Connection, "prepare", "round_trips"),
            (PreparedStatement, "fetch", "round_trips"),
            (aiosqlite.Connection, "_execute", "round_trips"),  # every call into SQLite's thread
            (aiosqlite.Connection, "execute_fetchall", "statements"),  # the store's statements sent to it directly
        ]
        originals = [getattr(owner, name) for owner, name, _ in patched]
        for (owner, name, counter), original in zip(patched, originals, strict=True):
            setattr(owner, name, self._counting(original, counter))
        event.listen(Engine, "before_cursor_execute", self._statement)
        try:
            yield self
        finally:
            event.remove(Engine, "before_cursor_execute", self._statement)
            for (owner, name, _), original in zip(patched, originals, strict=True):
                setattr(owner, name, original)

    def _counting(self, call: Callable[..., Any], counter: str) -> Callable[..., Any]:
        @functools.wraps(call)
        def counted(*args: Any, **kwargs: Any) -> Any:
            if self.on:
                setattr(self, counter, getattr(self, counter) + 1)
            return call(*args, **kwargs)

        return counted

    def _statement(self, *_: Any) -> None:
        if self.on:
            self.statements += 1

    @asynccontextmanager
    async def counting(self, into: list[tuple[int, int]]) -> AsyncIterator[None]:
        """Count what the block sends; append (statements, round trips) to `into`."""
        self.statements = self.round_trips = 0
        self.on = True
        try:
            yield
        finally:
            self.on = False
            into.append((self.statements, self.round_trips))
