"""Per-key asyncio locks that disappear once nobody holds or waits on them."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Hashable


class KeyedLocks:
    """`locks[key]` gives the same Lock to everyone asking while any of them still holds a reference.

    Safe without a guard: between `get` and `setdefault` nothing awaits, so two coroutines cannot
    both create a lock for one key. A waiting coroutine keeps its lock alive through its own reference.
    """

    def __init__(self) -> None:
        self._locks: weakref.WeakValueDictionary[Hashable, asyncio.Lock] = weakref.WeakValueDictionary()

    def __getitem__(self, key: Hashable) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[key] = lock
        return lock

    def __len__(self) -> int:
        return len(self._locks)
