"""What an operator sees of a running bot: `/healthz` and `/metrics` over real HTTP, moving with real turns."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from tests.emulators.ablt import AbltEmulator, Reply
from tests.emulators.discord import DiscordEmulator
from tests.support.harness import ABLT_KEY, BOT_TOKEN, BotProcess
from tests.support.journey import WAIT_S, chat, thread_for, wait_for_reply
from tests.support.streams import words

BOTH_STORES = True


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus exposition, by (name, sorted labels)."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_health_and_metrics_report_the_shard_the_store_and_turns(
    make_bot: Callable[..., BotProcess], discord_emulator: DiscordEmulator, ablt: AbltEmulator, database: str
) -> None:
    port = free_port()
    bot = make_bot(HEALTH_PORT=str(port))
    await bot.start()
    base = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/healthz") as response:
            health = await response.json()
            assert response.status == 200, health
        assert health["status"] == "ok" and health["store"] == "ok"
        assert health["shards"]["0"]["connected"] is True

        async with http.get(f"{base}/metrics") as response:
            before = samples(await response.text())
        tokens = words(30)
        ablt.enqueue(Reply(tokens=tokens, token_interval_s=0.02))
        thread = await thread_for(discord_emulator, await chat(discord_emulator, "count me"))
        await wait_for_reply(discord_emulator, thread.id, "".join(tokens))
        turns = ("bridgebot_turns_total", (("outcome", "complete"), ("provider", "ablt")))
        deadline = asyncio.get_running_loop().time() + WAIT_S
        while True:  # the turn is counted once it is recorded, a moment after its last write
            async with http.get(f"{base}/metrics") as response:
                assert response.headers["Content-Type"].startswith("text/plain")
                page = await response.text()
            after = samples(page)
            if after[turns] > before.get(turns, 0) or asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.05)
    await bot.stop()

    assert after[turns] == before.get(turns, 0) + 1
    assert after[("bridgebot_turn_seconds_count", (("provider", "ablt"),))] >= 1
    assert after[("bridgebot_provider_first_byte_seconds_count", (("provider", "ablt"),))] >= 1
    assert after[("bridgebot_discord_writes_total", (("kind", "create"),))] >= 1
    assert after[("bridgebot_shard_connected", (("shard", "0"),))] == 1
    assert ("bridgebot_open_conversations", ()) in after
    assert BOT_TOKEN not in page and ABLT_KEY not in page and "count me" not in page  # no secrets, no text
