"""bench.store stays runnable, and its meter measures what it says: a few turns on each store, with the store's
round trips, statements and CPU (the store's own tasks on the loop, SQLite's threads, PostgreSQL's server
processes) counted per turn."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bench.store import Replies, one_store
from bench.store_meter import _StepClock, _Stepped


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_a_few_turns_are_counted_per_store(kind: str, tmp_path: Path) -> None:
    run = await one_store(kind, 2, tmp_path, Replies())
    work = run.work
    assert work.turns == 2 and len(run.times) == 2
    assert dict(run.statuses) == {"complete": 3}  # the /chat's reply and two turns
    assert work.round_trips > 0 and work.statements > 0 and work.store_loop_cpu_s > 0
    assert "TranscriptStore.reserve_turn" in work.by_call and "Coordination.claim_event" in work.by_call
    if kind == "postgresql":
        assert work.server_cpu_s > 0 and work.threads_cpu_s < work.store_loop_cpu_s
    else:
        assert work.server_cpu_s == 0 and work.threads_cpu_s > 0


async def test_stepping_counts_outer_calls_once_and_passes_errors_and_cancellation_on() -> None:
    clock = _StepClock(on=True)

    async def inner() -> int:
        await asyncio.sleep(0)
        return 2

    async def outer() -> int:
        return await _Stepped(inner(), clock, "inner") + 1

    async def fails() -> None:
        await asyncio.sleep(0)
        raise ValueError("no")

    assert await _Stepped(outer(), clock, "outer") == 3
    assert set(clock.by_call_s) == {"outer"}  # the nested call's steps ran inside the outer one's
    with pytest.raises(ValueError, match="no"):
        await _Stepped(fails(), clock, "fails")
    waiting = asyncio.ensure_future(_Stepped(asyncio.sleep(10), clock, "sleeps"))
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert clock.depth == 0
