"""Event-loop lag, measured inside the bot: on /metrics of a running bot, and a blocked loop shows up as lag."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.ops.loop_lag import LoopLagMonitor
from tests.support.harness import BotProcess
from tests.support.journey import WAIT_S

LAG = "bridgebot_event_loop_lag_seconds"
BLOCK_S = 0.3


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def block_the_loop(seconds: float) -> None:
    """What a careless handler does: compute (here, sleep) without awaiting, so nothing else runs meanwhile."""
    time.sleep(seconds)  # blocks the event loop: the point of the test


async def lag_histogram(http: aiohttp.ClientSession, base: str) -> dict[str, float]:
    """The loop-lag histogram from /metrics: `count`, `sum` and each bucket's cumulative count by its `le`."""
    async with http.get(f"{base}/metrics") as response:
        assert response.status == 200
        text = await response.text()
    families = {family.name: family for family in text_string_to_metric_families(text)}
    family = families[LAG]
    assert family.type == "histogram" and family.documentation
    out: dict[str, float] = {}
    for sample in family.samples:
        if sample.name == f"{LAG}_bucket":
            out[sample.labels["le"]] = sample.value
        else:
            out[sample.name.removeprefix(f"{LAG}_")] = sample.value
    return out


def slower_than(histogram: dict[str, float], le: str) -> float:
    """How many samples were above the bucket bound `le` (seconds, as the exposition writes it)."""
    return histogram["count"] - histogram[le]


async def test_a_blocked_loop_shows_up_as_lag_on_the_bots_metrics(make_bot: Callable[..., BotProcess]) -> None:
    port = free_port()
    bot = make_bot(HEALTH_PORT=str(port))
    await bot.start()
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            first = await lag_histogram(http, base)
            await asyncio.sleep(0.3)  # the monitor samples on its own while the loop idles
            before = await lag_histogram(http, base)
            assert before["count"] > first["count"]

            block_the_loop(BLOCK_S)
            deadline = time.monotonic() + WAIT_S
            after = await lag_histogram(http, base)
            while slower_than(after, "0.25") == slower_than(before, "0.25") and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
                after = await lag_histogram(http, base)
    finally:
        await bot.stop()

    # The timer due during the 300 ms block ran more than 250 ms late.
    assert slower_than(after, "0.25") >= slower_than(before, "0.25") + 1
    assert after["sum"] - before["sum"] >= 0.25


async def test_the_monitor_reports_a_block_as_one_late_sample_and_nothing_after_it_stops() -> None:
    samples: list[float] = []
    monitor = LoopLagMonitor(samples.append, interval_s=0.05)
    monitor.start()
    monitor.start()  # a second start is harmless: still one timer
    assert monitor.running
    await asyncio.sleep(0.2)
    quiet = len(samples)
    assert quiet >= 1 and all(lag >= 0 for lag in samples)

    block_the_loop(0.2)
    await asyncio.sleep(0)  # the overdue timer runs in the next loop iteration
    await asyncio.sleep(0)
    late = samples[quiet:]
    assert late and late[0] >= 0.15
    assert len(late) <= 2  # one sample for the block, not one per missed 50 ms (that would be 4)

    monitor.stop()
    monitor.stop()
    assert not monitor.running
    stopped = len(samples)
    await asyncio.sleep(0.05)
    assert len(samples) == stopped


def test_the_sampling_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        LoopLagMonitor(lambda _lag: None, interval_s=0)
