"""The operator endpoints over real HTTP on 127.0.0.1: /healthz verdicts and reasons, /metrics exposition."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp
import prometheus_client
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.ops.health import HealthServer, ShardState
from bot.ops.metrics import CONTENT_TYPE_LATEST, Metrics

SECRET = "sk-live-9f8e7d6c5b4a-SECRET-hunter2"
METRIC_FAMILIES = {
    "bridgebot_turns": "counter",
    "bridgebot_provider_first_byte_seconds": "histogram",
    "bridgebot_turn_seconds": "histogram",
    "bridgebot_discord_writes": "counter",
    "bridgebot_discord_rate_limited": "counter",
    "bridgebot_open_conversations": "gauge",
    "bridgebot_agentverse_polls": "counter",
    "bridgebot_gateway_latency_seconds": "gauge",
    "bridgebot_shard_connected": "gauge",
}


async def store_answers() -> bool:
    return True


@dataclass
class Facts:
    """What the bot would report; each test sets it as it likes."""

    shards: dict[int, ShardState] = field(default_factory=lambda: {0: ShardState(True, 0.0412)})
    shards_error: Exception | None = None
    store: Callable[[], Awaitable[bool]] = store_answers
    store_calls: int = 0
    health_checks: asyncio.Queue[None] = field(default_factory=asyncio.Queue)

    def read_shards(self) -> dict[int, ShardState]:
        """Also records that a scrape arrived (each one reads the shards before asking the store)."""
        self.health_checks.put_nowait(None)
        if self.shards_error is not None:
            raise self.shards_error
        return self.shards

    async def wait_for_scrapes(self, n: int) -> None:
        async with asyncio.timeout(5):
            for _ in range(n):
                await self.health_checks.get()

    async def store_ok(self) -> bool:
        self.store_calls += 1
        return await self.store()


@dataclass
class Endpoint:
    server: HealthServer
    metrics: Metrics
    facts: Facts
    client: aiohttp.ClientSession


@pytest.fixture
async def endpoint() -> AsyncIterator[Endpoint]:
    facts = Facts()
    metrics = Metrics(providers=["ablt", "magicai"])
    async with HealthServer(metrics, facts.read_shards, facts.store_ok, port=0) as server:
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{server.port}", timeout=timeout) as client:
            yield Endpoint(server, metrics, facts, client)


async def get_health(endpoint: Endpoint) -> tuple[int, dict[str, object]]:
    async with endpoint.client.get("/healthz") as response:
        assert response.content_type == "application/json"
        return response.status, json.loads(await response.text())


async def scrape(endpoint: Endpoint) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of /metrics, keyed by sample name and labels."""
    async with endpoint.client.get("/metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == CONTENT_TYPE_LATEST
        text = await response.text()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


# -- /healthz --------------------------------------------------------------------------------------


async def test_healthz_is_ok_when_every_shard_is_connected_and_the_store_answers(endpoint: Endpoint) -> None:
    endpoint.facts.shards = {0: ShardState(True, 0.0412), 1: ShardState(True, 0.0875)}
    assert endpoint.server.port != 0
    status, body = await get_health(endpoint)
    assert status == 200
    assert body == {
        "status": "ok",
        "shards": {"0": {"connected": True, "latency_ms": 41.2}, "1": {"connected": True, "latency_ms": 87.5}},
        "store": "ok",
    }


async def test_healthz_names_each_disconnected_shard(endpoint: Endpoint) -> None:
    endpoint.facts.shards = {0: ShardState(True, 0.04), 1: ShardState(False, None), 2: ShardState(False, 0.5)}
    status, body = await get_health(endpoint)
    assert status == 503
    assert body["status"] == "unhealthy"
    assert body["reasons"] == ["shard 1 is not connected", "shard 2 is not connected"]
    assert body["shards"] == {
        "0": {"connected": True, "latency_ms": 40.0},
        "1": {"connected": False, "latency_ms": None},
        "2": {"connected": False, "latency_ms": 500.0},
    }
    assert body["store"] == "ok"


async def test_healthz_is_unhealthy_before_the_bot_has_any_shard(endpoint: Endpoint) -> None:
    endpoint.facts.shards = {}
    status, body = await get_health(endpoint)
    assert status == 503
    assert body == {"status": "unhealthy", "shards": {}, "store": "ok", "reasons": ["no shard connected yet"]}


async def test_healthz_reports_unmeasured_latency_as_null_not_infinity(endpoint: Endpoint) -> None:
    endpoint.facts.shards = {0: ShardState(True, float("inf")), 1: ShardState(True, float("nan"))}
    async with endpoint.client.get("/healthz") as response:
        text = await response.text()
    assert "Infinity" not in text and "NaN" not in text
    unmeasured = {"connected": True, "latency_ms": None}
    assert json.loads(text)["shards"] == {"0": unmeasured, "1": unmeasured}


async def test_healthz_counts_a_store_that_raises_as_unhealthy_without_its_text(
    endpoint: Endpoint, caplog: pytest.LogCaptureFixture
) -> None:
    async def store_breaks() -> bool:
        raise RuntimeError(f"could not connect to postgres://bot:{SECRET}@db/bridge")

    endpoint.facts.store = store_breaks
    with caplog.at_level(logging.DEBUG):
        async with endpoint.client.get("/healthz") as response:
            status, text = response.status, await response.text()
    assert status == 503
    body = json.loads(text)
    assert body["store"] == "error"
    assert body["reasons"] == ["the database check failed"]
    assert SECRET not in text and "postgres" not in text
    assert SECRET not in caplog.text
    assert "RuntimeError" in caplog.text  # the operator still learns what kind of failure it was


async def test_healthz_counts_a_store_that_says_no_as_unhealthy(endpoint: Endpoint) -> None:
    endpoint.facts.store = lambda: asyncio.sleep(0, result=False)
    status, body = await get_health(endpoint)
    assert status == 503
    assert body["store"] == "error" and body["reasons"] == ["the database check failed"]


async def test_healthz_answers_within_3_s_when_the_store_hangs(endpoint: Endpoint) -> None:
    cancelled = asyncio.Event()

    async def store_hangs() -> bool:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return True

    endpoint.facts.store = store_hangs
    started = time.monotonic()
    status, body = await get_health(endpoint)
    elapsed = time.monotonic() - started
    assert status == 503
    assert body["store"] == "timeout"
    assert body["reasons"] == ["the database did not answer"]
    assert 1.5 < elapsed < 3.0
    assert cancelled.is_set()  # the hung check was abandoned, not left running


async def test_concurrent_scrapes_share_one_store_check(endpoint: Endpoint) -> None:
    release = asyncio.Event()

    async def store_slow() -> bool:
        await release.wait()
        return True

    endpoint.facts.store = store_slow
    scrapes = [asyncio.create_task(get_health(endpoint)) for _ in range(5)]
    await endpoint.facts.wait_for_scrapes(5)  # every request is waiting on the pending check
    release.set()
    results = await asyncio.gather(*scrapes)
    assert [status for status, _ in results] == [200] * 5
    assert endpoint.facts.store_calls == 1


async def test_healthz_recovers_once_the_facts_do(endpoint: Endpoint) -> None:
    endpoint.facts.shards = {0: ShardState(False, None)}
    assert (await get_health(endpoint))[0] == 503
    endpoint.facts.shards = {0: ShardState(True, 0.03)}
    assert (await get_health(endpoint))[0] == 200


async def test_shard_facts_that_cannot_be_read_are_unhealthy(endpoint: Endpoint) -> None:
    endpoint.facts.shards_error = RuntimeError("the bot is half set up")
    status, body = await get_health(endpoint)
    assert status == 503
    assert body["reasons"] == ["the shard state could not be read"]
    assert (await scrape(endpoint)) is not None  # /metrics still answers


# -- /metrics --------------------------------------------------------------------------------------


async def test_metrics_serve_every_bridgebot_family_with_help_text(endpoint: Endpoint) -> None:
    async with endpoint.client.get("/metrics") as response:
        assert response.headers["Content-Type"] == CONTENT_TYPE_LATEST
        text = await response.text()
    families = {family.name: family for family in text_string_to_metric_families(text)}
    for name, kind in METRIC_FAMILIES.items():
        assert name in families, name
        assert families[name].type == kind, name
        assert families[name].documentation, name
    # Series exist at zero from the start, so rate() works from the first scrape.
    samples = await scrape(endpoint)
    assert value(samples, "bridgebot_turns_total", provider="magicai", outcome="failed") == 0
    assert value(samples, "bridgebot_discord_rate_limited_total", scope="global") == 0


async def test_metric_values_move_when_the_bot_reports(endpoint: Endpoint) -> None:
    metrics = endpoint.metrics
    metrics.turn_finished("ablt", "complete", first_byte_s=0.3, total_s=4.0)
    metrics.turn_finished("ablt", "complete", first_byte_s=0.07, total_s=12.0)
    metrics.turn_finished("ablt", "failed", first_byte_s=None, total_s=30.0)
    metrics.turn_finished("convai", "interrupted", first_byte_s=1.0, total_s=2.0)
    metrics.discord_write("create")
    for _ in range(3):
        metrics.discord_write("edit")
    metrics.discord_rate_limited("user")
    metrics.agentverse_poll("messages")
    metrics.agentverse_poll("empty")
    metrics.agentverse_poll("empty")
    metrics.agentverse_poll("failed")
    metrics.set_open_conversations(7)

    samples = await scrape(endpoint)
    assert value(samples, "bridgebot_turns_total", provider="ablt", outcome="complete") == 2
    assert value(samples, "bridgebot_turns_total", provider="ablt", outcome="failed") == 1
    assert value(samples, "bridgebot_turns_total", provider="convai", outcome="interrupted") == 1
    assert value(samples, "bridgebot_provider_first_byte_seconds_count", provider="ablt") == 2
    assert value(samples, "bridgebot_provider_first_byte_seconds_bucket", provider="ablt", le="0.1") == 1
    assert value(samples, "bridgebot_provider_first_byte_seconds_sum", provider="ablt") == pytest.approx(0.37)
    assert value(samples, "bridgebot_turn_seconds_count", provider="ablt") == 3
    assert value(samples, "bridgebot_turn_seconds_bucket", provider="ablt", le="5.0") == 1
    assert value(samples, "bridgebot_turn_seconds_bucket", provider="ablt", le="300.0") == 3
    assert value(samples, "bridgebot_turn_seconds_bucket", provider="ablt", le="0.05") == 0
    assert value(samples, "bridgebot_discord_writes_total", kind="create") == 1
    assert value(samples, "bridgebot_discord_writes_total", kind="edit") == 3
    assert value(samples, "bridgebot_discord_rate_limited_total", scope="user") == 1
    assert value(samples, "bridgebot_discord_rate_limited_total", scope="shared") == 0
    assert value(samples, "bridgebot_agentverse_polls_total", result="messages") == 1
    assert value(samples, "bridgebot_agentverse_polls_total", result="empty") == 2
    assert value(samples, "bridgebot_agentverse_polls_total", result="failed") == 1
    assert value(samples, "bridgebot_open_conversations") == 7

    metrics.set_open_conversations(6)
    assert value(await scrape(endpoint), "bridgebot_open_conversations") == 6


async def test_each_scrape_refreshes_the_shard_gauges(endpoint: Endpoint) -> None:
    endpoint.facts.shards = {0: ShardState(True, 0.0412), 1: ShardState(False, float("inf"))}
    samples = await scrape(endpoint)
    assert value(samples, "bridgebot_shard_connected", shard="0") == 1
    assert value(samples, "bridgebot_shard_connected", shard="1") == 0
    assert value(samples, "bridgebot_gateway_latency_seconds", shard="0") == pytest.approx(0.0412)
    assert value(samples, "bridgebot_gateway_latency_seconds", shard="1") is None  # not measured yet

    endpoint.facts.shards = {1: ShardState(True, 0.09)}
    samples = await scrape(endpoint)
    assert value(samples, "bridgebot_shard_connected", shard="1") == 1
    assert value(samples, "bridgebot_gateway_latency_seconds", shard="1") == pytest.approx(0.09)
    assert value(samples, "bridgebot_shard_connected", shard="0") is None  # no longer this process's
    assert value(samples, "bridgebot_gateway_latency_seconds", shard="0") is None


def test_every_metrics_object_has_its_own_registry() -> None:
    first, second = Metrics(), Metrics()
    first.discord_write("create")
    first_text, second_text = first.render().decode(), second.render().decode()
    assert 'bridgebot_discord_writes_total{kind="create"} 1.0' in first_text
    assert 'bridgebot_discord_writes_total{kind="create"} 0.0' in second_text
    assert b"bridgebot_" not in prometheus_client.generate_latest(prometheus_client.REGISTRY)


@pytest.mark.parametrize(
    "report",
    [
        lambda m: m.turn_finished(SECRET, "complete", 0.1, 1.0),
        lambda m: m.turn_finished("Tell me a story about dragons", "complete", 0.1, 1.0),
        lambda m: m.turn_finished("ablt", SECRET, 0.1, 1.0),
        lambda m: m.discord_write(SECRET),
        lambda m: m.discord_rate_limited("bucket"),
        lambda m: m.agentverse_poll("hello there"),
        lambda m: m.shard_status(-1, True, 0.1),
        lambda m: m.set_open_conversations(-1),
    ],
)
def test_labels_refuse_values_outside_their_vocabulary_without_echoing_them(
    report: Callable[[Metrics], None],
) -> None:
    metrics = Metrics()
    with pytest.raises(ValueError) as refused:
        report(metrics)
    assert SECRET not in str(refused.value) and "dragons" not in str(refused.value)
    assert SECRET.encode() not in metrics.render()


async def test_no_secret_reaches_either_endpoint_or_the_log(
    endpoint: Endpoint, caplog: pytest.LogCaptureFixture
) -> None:
    async def store_breaks() -> bool:
        raise ConnectionError(f"Authorization: Bearer {SECRET}")

    endpoint.facts.store = store_breaks
    endpoint.metrics.turn_finished("ablt", "complete", 0.2, 1.0)
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(ValueError):
            endpoint.metrics.turn_finished(SECRET, "complete", 0.2, 1.0)
        async with endpoint.client.get("/healthz") as response:
            health = await response.text()
        async with endpoint.client.get("/metrics") as response:
            exposition = await response.text()
    for text in (health, exposition, caplog.text):
        assert SECRET not in text and "Bearer" not in text


# -- HTTP surface and lifecycle --------------------------------------------------------------------


async def test_unknown_paths_are_404_and_other_methods_405(endpoint: Endpoint) -> None:
    for path in ("/", "/health", "/metrics/extra", "/healthz/../env"):
        async with endpoint.client.get(path) as response:
            assert response.status == 404, path
    async with endpoint.client.post("/healthz") as response:
        assert response.status == 405


async def test_server_binds_loopback_on_a_free_port_and_closes_idempotently() -> None:
    facts = Facts()
    server = HealthServer(Metrics(), facts.read_shards, facts.store_ok, port=0)
    with pytest.raises(RuntimeError):
        _ = server.port
    await server.start()
    port = server.port
    try:
        async with aiohttp.ClientSession() as client, client.get(f"http://127.0.0.1:{port}/healthz") as response:
            assert response.status == 200
    finally:
        await server.close()
        await server.close()
    async with aiohttp.ClientSession() as client:
        with pytest.raises(aiohttp.ClientConnectionError):
            await client.get(f"http://127.0.0.1:{port}/healthz")
    with pytest.raises(RuntimeError):
        await server.start()


async def test_close_ends_a_hanging_store_check_promptly(endpoint: Endpoint) -> None:
    async def store_hangs() -> bool:
        await asyncio.Event().wait()
        return True

    endpoint.facts.store = store_hangs
    scrape_task = asyncio.create_task(get_health(endpoint))
    await endpoint.facts.wait_for_scrapes(1)
    started = time.monotonic()
    await endpoint.server.close()
    assert time.monotonic() - started < 1.5
    status, body = await scrape_task
    assert status == 503 and body["store"] == "error"
