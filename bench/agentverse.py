"""Agentverse benchmark: many concurrent sessions through the real bot and loopback emulators.

    python -m bench.agentverse [--sessions 100] [--engine-delay 2.0]

For each session the engine makes its answer available `--engine-delay` seconds after the member acts
(first the task list after /chat, then the question after a click). Prints, over all sessions, the
time from a message becoming available at the engine to it being visible in Discord (median, p99),
and polls per minute per session, beside what the reference script's fixed sleeps (10 s after start,
then every 5 s) would give for the same engine.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from bot.config import load_settings
from tests.emulators.ablt import AbltEmulator
from tests.emulators.agentverse import AgentverseEmulator
from tests.emulators.discord import DiscordEmulator, MessageRecord
from tests.harness import ABLT_KEY, BOT_TOKEN, BotProcess, bot_environment

TIMEOUT_S = 120.0


def posts_with(discord: DiscordEmulator, fragment: str) -> dict[int, MessageRecord]:
    """channel id -> the first bot message containing `fragment` there."""
    found: dict[int, MessageRecord] = {}
    for thread in discord.threads:
        for message in discord.bot_messages(thread.id):
            if fragment in message.content and thread.id not in found:
                found[thread.id] = message
    return found


def latencies(discord: DiscordEmulator, engine: AgentverseEmulator, fragment: str, kind: str) -> list[float]:
    """Seconds from availability at the engine to creation in Discord, one per session."""
    shown = posts_with(discord, fragment)
    threads = {m.channel_id for m in shown.values()}
    out = []
    for session in engine.sessions.values():
        emitted = [e for e in session.emitted if e.message["type"] == kind]
        if not emitted:
            continue
        message_id = emitted[0].message["message_id"]
        objective = str(session.submits[0].get("objective"))
        post = next((shown[t] for t in threads if _thread_objective(discord, t) == objective), None)
        if post is not None:
            out.append(post.created_at - session.available_at[message_id])
    return out


def _thread_objective(discord: DiscordEmulator, thread_id: int) -> str:
    return discord.thread(thread_id).name


async def run(sessions: int, engine_delay_s: float, workdir: Path) -> None:
    discord = DiscordEmulator(token=BOT_TOKEN)
    ablt, engine = AbltEmulator(api_key=ABLT_KEY), AgentverseEmulator(delay_s=engine_delay_s)
    for server in (discord, ablt, engine):
        await server.start()
    bot = BotProcess(
        load_settings(bot_environment(discord, ablt, workdir / "bench.sqlite3", agentverse=engine), None), discord
    )
    try:
        await bot.start()
        started = time.monotonic()
        chats = [
            discord.run_slash_command("chat", {"provider": "agentverse", "prompt": f"Objective number {i}"})
            for i in range(sessions)
        ]
        await asyncio.gather(*chats)
        await discord.wait_for(lambda: len(posts_with(discord, "Please select")) >= sessions, TIMEOUT_S, "task lists")
        first_leg = latencies(discord, engine, "Please select", "agent_json")

        offers = posts_with(discord, "Please select")
        clicks = []
        for message in offers.values():
            button = message.components[0]["components"][0]["custom_id"]
            clicks.append(discord.click_button(message.id, button))
        await asyncio.gather(*clicks)
        await discord.wait_for(lambda: len(posts_with(discord, "departure city")) >= sessions, TIMEOUT_S, "questions")
        second_leg = latencies(discord, engine, "departure city", "agent_message")
        elapsed_min = (time.monotonic() - started) / 60
        polls = sum(engine.poll_count(sid) for sid in engine.sessions)
    finally:
        await bot.stop()
        for server in (engine, ablt, discord):
            await server.close()
    report(sessions, engine_delay_s, first_leg, second_leg, polls / sessions / elapsed_min, discord.rate_limit_hits)


def report(
    sessions: int, delay: float, first: list[float], second: list[float], polls_per_min: float, rate_limited: int
) -> None:
    both = first + second
    print(f"{sessions} concurrent Agentverse sessions, engine answers {delay:g} s after each action")
    print(f"  measured messages                      {len(both):8d}")
    print(f"  available at engine -> visible, median {statistics.median(both) * 1000:8.0f} ms")
    print(f"  available at engine -> visible, p99    {statistics.quantiles(both, n=100)[98] * 1000:8.0f} ms")
    print(f"    after /chat (task list) median       {statistics.median(first) * 1000:8.0f} ms")
    print(f"    after a click (question) median      {statistics.median(second) * 1000:8.0f} ms")
    print(f"  polls per minute per session           {polls_per_min:8.1f}")
    print(f"  Discord 429s received                  {rate_limited:8d}")
    ref_first = max(10.0 - delay, 0.0)
    ref_next = max(5.0 - delay, 0.0)
    print("reference script (sleep 10 s after start, then poll every 5 s), same engine:")
    print(f"  after start: {ref_first * 1000:.0f} ms; after an answer: {ref_next * 1000:.0f} ms; polls/min: 12.0")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--engine-delay", type=float, default=2.0, help="seconds until the engine answers")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(args.sessions, args.engine_delay, Path(tmp)))


if __name__ == "__main__":
    main()
