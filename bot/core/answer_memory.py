"""The Agentverse engine's answer times kept in the store, so a restarted process polls by what was learnt.

The poll plan (bot/providers/agentverse/poll_plan.py) is learnt from the engine's recent answer times; without
them a process starts cold, polling once a second until it has learnt again. The answer times kept are
saved (at most every `SAVE_EVERY_S`, and once more when the bot stops) under one key per engine, shared by every
process on the store: the last one saved is what the next process starts from.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Sequence
from urllib.parse import urlsplit

from bot.config.provider_settings import AgentverseSettings
from bot.core.recording import STORE_ERRORS
from bot.store import Store

log = logging.getLogger(__name__)

SAVE_EVERY_S = 30.0
"""Answer times are written at most this often (a plan is remade every 16 answers when busy)."""
META_PREFIX = "agentverse_answer_times:"


def engine_key(settings: AgentverseSettings) -> str:
    """Which engine the answer times are of: its API's host and path, and the model (a model answers at its own
    pace); not the port, which a proxy or a test engine may change while the engine stays the same."""
    url = urlsplit(settings.base_url)
    return f"{META_PREFIX}{url.hostname or ''}{url.path.rstrip('/')}|{settings.model}"


class AnswerMemory:
    """Loads and saves one engine's answer times (seconds into a wait) in the store's metadata."""

    def __init__(self, store: Store, key: str) -> None:
        self._store = store
        self._key = key
        self._pending: tuple[float, ...] | None = None
        self._saved_at = -SAVE_EVERY_S
        self._saving: asyncio.Task[None] | None = None

    async def load(self) -> tuple[float, ...]:
        """The answer times saved last (empty when none, or when they cannot be read: the plan starts cold)."""
        try:
            raw = await self._store.get_meta(self._key)
        except STORE_ERRORS as exc:
            log.warning("Agentverse answer times not read (%s); polling starts cold", exc)
            return ()
        try:
            values = json.loads(raw) if raw else []
        except ValueError:
            log.warning("Agentverse answer times in the store are not JSON; polling starts cold")
            return ()
        return tuple(float(v) for v in values if isinstance(v, int | float)) if isinstance(values, list) else ()

    def remember(self, samples: Sequence[float]) -> None:
        """The answer times kept now: saved in the background, at most every `SAVE_EVERY_S` (the newest wins)."""
        self._pending = tuple(samples)
        if self._saving is None or self._saving.done():
            self._saving = asyncio.get_running_loop().create_task(self._save_soon(), name="answer-times")

    async def _save_soon(self) -> None:
        await asyncio.sleep(max(0.0, self._saved_at + SAVE_EVERY_S - time.monotonic()))
        await self.flush()

    async def flush(self) -> None:
        """Save what is pending now (the bot is stopping); a store failure is logged, never raised."""
        samples, self._pending = self._pending, None
        if samples is None:
            return
        self._saved_at = time.monotonic()
        try:
            await self._store.set_meta(self._key, json.dumps([round(s, 3) for s in samples]))
        except STORE_ERRORS as exc:
            log.warning("Agentverse answer times not saved (%s)", exc)

    async def close(self) -> None:
        """Stop a save that waits for its turn, and save what is pending."""
        if self._saving is not None and not self._saving.done():
            self._saving.cancel()
            await asyncio.gather(self._saving, return_exceptions=True)
        await self.flush()
