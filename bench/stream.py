"""Streaming benchmark: the real bot, loopback Discord and aBLT, a scripted token stream; prints figures.

    python -m bench.stream [--tokens 600] [--rate 50] [--runs 1]

Measures what a member experiences: how fast /chat is acknowledged, how soon the first words show,
how far the visible text lags the provider (p50/p99 over every token), how soon the final text
shows after the last token, edits per message, and 429s received from Discord.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bot.config.settings import load_settings
from bot.replies.splitting import join_chunks
from tests.emulators.ablt import AbltEmulator, Reply
from tests.emulators.discord import DiscordEmulator, MessageRecord
from tests.support.harness import ABLT_KEY, BOT_TOKEN, BotProcess, bot_environment
from tests.support.journey import bot_posts, chat, thread_for, wait_for_reply


@dataclass
class Figures:
    ack_ms: float
    first_text_ms: float
    chat_to_first_text_ms: float
    staleness_p50_ms: float
    staleness_p99_ms: float
    final_after_last_token_ms: float
    messages: int
    edits_per_message: float
    rate_limited: int


def visible_timeline(posts: list[MessageRecord]) -> list[tuple[float, str]]:
    """(time, text a reader sees) after every create or edit of the reply's messages."""
    writes = sorted((t, index, content) for index, post in enumerate(posts) for t, content in post.edits)
    current: dict[int, str] = {}
    timeline = []
    for t, index, content in writes:
        current[index] = content
        timeline.append((t, join_chunks([current[i] for i in sorted(current)])))
    return timeline


def first_shown(timeline: list[tuple[float, str]], text: str) -> float:
    return next(t for t, shown in timeline if shown.startswith(text))


async def one_run(tokens: list[str], rate: float, workdir: Path) -> Figures:
    discord, ablt = DiscordEmulator(token=BOT_TOKEN), AbltEmulator(api_key=ABLT_KEY)
    await discord.start()
    await ablt.start()
    bot = BotProcess(load_settings(bot_environment(discord, ablt, workdir / "bench.sqlite3"), None), discord)
    try:
        await bot.start()
        ablt.enqueue(Reply(tokens=tokens, token_interval_s=1 / rate))
        interaction = await chat(discord, "benchmark")
        thread = await thread_for(discord, interaction)
        await wait_for_reply(discord, thread.id, "".join(tokens))
        posts = bot_posts(discord, thread.id)
        timeline = visible_timeline(posts)
        emitted = [e for e in ablt.emitted if e.text]
        lags = [first_shown(timeline, e.text) - e.t for e in emitted]
        return Figures(
            ack_ms=(interaction.callbacks[0].t - interaction.created_at) * 1000,
            first_text_ms=(timeline[0][0] - emitted[0].t) * 1000,
            chat_to_first_text_ms=(timeline[0][0] - interaction.created_at) * 1000,
            staleness_p50_ms=statistics.median(lags) * 1000,
            staleness_p99_ms=statistics.quantiles(lags, n=100)[98] * 1000,
            final_after_last_token_ms=lags[-1] * 1000,
            messages=len(posts),
            edits_per_message=statistics.mean(len(p.edits) - 1 for p in posts),
            rate_limited=discord.rate_limit_hits,
        )
    finally:
        await bot.stop()
        await ablt.close()
        await discord.close()


async def main(token_count: int, rate: float, runs: int) -> None:
    tokens = [f" word{i}" if i % 60 else f"\n\nPart {i // 60}." for i in range(token_count)]
    print(f"{token_count} tokens at {rate:g}/s ({len(''.join(tokens))} characters), {runs} run(s)")
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(runs):
            started = time.monotonic()
            figures = await one_run(tokens, rate, Path(tmp) / str(run))
            print(f"run {run + 1} ({time.monotonic() - started:.1f} s)")
            for name, value in vars(figures).items():
                print(f"  {name:28} {value:10.1f}" if isinstance(value, float) else f"  {name:28} {value:10d}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=600)
    parser.add_argument("--rate", type=float, default=50.0, help="tokens per second")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    asyncio.run(main(args.tokens, args.rate, args.runs))
