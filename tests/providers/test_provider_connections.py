"""Many replies at once: the bot's provider connections are not capped at aiohttp's default of 100."""

from __future__ import annotations

import asyncio

import aiohttp

from bot.app import PROVIDER_CONNECTIONS, provider_connector
from bot.config.settings import load_settings
from bot.providers.base import TextDelta, Turn
from bot.providers.registry import build_providers
from tests.emulators.ablt import AbltEmulator, Reply
from tests.support.harness import ABLT_KEY

STREAMS = 150
"""Over aiohttp's default connector limit (100), under the bot's own."""


async def test_150_streams_are_all_in_flight_at_once(ablt: AbltEmulator) -> None:
    """Every stream holds its connection while it lasts: with the default pool the 101st request would wait
    for the first to end (and, with a connect timeout, fail as "did not answer in time")."""
    assert PROVIDER_CONNECTIONS > STREAMS
    # Each stream lasts 4 s: long enough for all 150 connections to open first even on a busy machine (at 1 s,
    # a CI run once opened the last after the first had ended), and a 101st request in a pool of 100 would
    # still wait for one to end.
    ablt.enqueue(*(Reply(tokens=[f"s{i}", " a", " b", " c"], token_interval_s=1.0) for i in range(STREAMS)))
    environment = {
        "DISCORD_TOKEN": "x" * 40,
        "ABLT_API_KEY": ABLT_KEY,
        "ABLT_BASE_URL": ablt.base_url,
        "ABLT_BOT_SLUG": "taxson",
    }
    settings = load_settings(environment, None)
    async with aiohttp.ClientSession(connector=provider_connector()) as session:
        provider = build_providers(settings, session)["ablt"]

        async def one(n: int) -> str:
            turn = Turn(text=f"question {n}", history=(), state=provider.start_state({}), user_id=n, user_name="m")
            return "".join([e.text async for e in provider.reply(turn) if isinstance(e, TextDelta)])

        replies = await asyncio.gather(*(one(n) for n in range(STREAMS)))

    assert sorted(replies) == sorted(f"s{i} a b c" for i in range(STREAMS))
    first_finished = min(e.t for e in ablt.emitted if e.text.endswith(" c"))
    assert all(request.received_at < first_finished for request in ablt.requests)
