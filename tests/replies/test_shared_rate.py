"""Discord's global request rate shared by several processes through Redis (bot/replies/shared_rate.py), driven
through each process's own `RequestRate`: one busy process may use what idle ones leave, all together never put
more in a second than the window allows, and a Redis that does not answer leaves each process its own share.

Runs against the machine's Redis (`TEST_REDIS_URL`, default redis://127.0.0.1:6379/0); without one the tests are
skipped, unless `REQUIRE_REDIS=1` (set by .ci/run) makes that a failure."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable

import pytest

from bot.replies.pacing import RequestRate
from bot.replies.shared_rate import REDIS_ANSWER_S, SharedRate

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
WINDOW_PER_S = 20
SLACK_S = 0.05
"""Grants are timed after Redis counted them: a window is checked over 1 s less this jitter."""
pytestmark = pytest.mark.timeout(30)


@pytest.fixture
async def window() -> AsyncIterator[Callable[[], SharedRate]]:
    """SharedRates of one bot (one window): one per process."""
    key = f"test-{uuid.uuid4().hex}"
    probe = SharedRate(REDIS_URL, WINDOW_PER_S, key=key)
    if not await probe.take():
        if os.environ.get("REQUIRE_REDIS") == "1":
            pytest.fail(f"Redis at {REDIS_URL} did not answer (REQUIRE_REDIS=1)")
        pytest.skip(f"no Redis at {REDIS_URL}")
    await probe.clear()
    yield lambda: SharedRate(REDIS_URL, WINDOW_PER_S, key=key)
    await probe.clear()
    probe.close()


async def grants(rate: RequestRate, count: int) -> list[float]:
    """Take `count` slots one after another; when each was granted (monotonic s)."""
    times = []
    for _ in range(count):
        await rate.acquire()
        times.append(time.monotonic())
    return times


def busiest_second(times: list[float]) -> int:
    ordered = sorted(times)
    return max(sum(1 for t in ordered[i:] if t - start < 1.0 - SLACK_S) for i, start in enumerate(ordered))


async def test_one_busy_process_uses_what_the_idle_ones_leave(window: Callable[[], SharedRate]) -> None:
    busy = RequestRate(WINDOW_PER_S / 3, shared=window())
    idle = RequestRate(WINDOW_PER_S / 3, shared=window())
    started = time.monotonic()
    times = await grants(busy, 2 * WINDOW_PER_S)
    assert sum(1 for t in times if t - started < 1.0) >= WINDOW_PER_S * 3 // 4  # a fixed third would give 6
    assert busiest_second(times) <= WINDOW_PER_S
    await asyncio.gather(busy.close(), idle.close())


async def test_all_processes_busy_never_exceed_the_window(window: Callable[[], SharedRate]) -> None:
    processes = [RequestRate(WINDOW_PER_S / 3, shared=window()) for _ in range(3)]
    results = await asyncio.gather(*(grants(rate, WINDOW_PER_S) for rate in processes))
    everything = [t for times in results for t in times]
    assert len(everything) == 3 * WINDOW_PER_S and busiest_second(everything) <= WINDOW_PER_S
    await asyncio.gather(*(rate.close() for rate in processes))


async def test_without_redis_each_process_keeps_its_own_share() -> None:
    down = SharedRate("redis://127.0.0.1:1/0", WINDOW_PER_S, key="nowhere")
    rate = RequestRate(10.0, shared=down)
    started = time.monotonic()
    times = await grants(rate, 12)
    assert not down.healthy
    assert times[-1] - started >= 0.8  # 10 per second after a burst of 1 (its own share), not the shared 45
    await rate.close()


async def test_a_redis_that_never_answers_holds_no_request_up() -> None:
    """A server that takes the connection and says nothing (a hung Redis): each process keeps its own share."""
    held: list[asyncio.StreamWriter] = []
    silent = await asyncio.start_server(lambda _reader, writer: held.append(writer), "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    hung = SharedRate(f"redis://127.0.0.1:{port}/0", WINDOW_PER_S, key="hung")
    rate = RequestRate(10.0, shared=hung)
    started = time.monotonic()
    try:
        await asyncio.wait_for(grants(rate, 3), timeout=REDIS_ANSWER_S + 5)
        assert not hung.healthy and time.monotonic() - started < REDIS_ANSWER_S + 1.5
    finally:
        await rate.close()
        for writer in held:
            writer.close()
        silent.close()
        await silent.wait_closed()
