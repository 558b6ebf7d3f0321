"""The bot's global REST budget: handed out by priority, and streamed writes show the newest text."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from bot.replies.pacing import PriorityOf, RequestRate, Urgency, requests_at, waiting_since
from tests.emulators.ablt import AbltEmulator, Reply
from tests.emulators.discord import DiscordEmulator
from tests.support.harness import BotProcess
from tests.support.journey import bot_posts, chat, thread_for, wait_for_reply


async def _grant_order(rate: RequestRate, requests: dict[str, PriorityOf]) -> list[str]:
    """Queue every request behind an empty bucket (in dict order) and return the order they were granted."""
    await rate.acquire()  # the burst of 1 is spent: everything below queues
    granted: list[str] = []

    async def ask(name: str, priority: PriorityOf) -> None:
        await rate.acquire(priority)
        granted.append(name)

    tasks = []
    for name, priority in requests.items():
        tasks.append(asyncio.create_task(ask(name, priority)))
        await asyncio.sleep(0)  # queued in this order
    await asyncio.gather(*tasks)
    return granted


def _at(urgency: Urgency, since: float) -> PriorityOf:
    return lambda: (urgency, since)


async def test_final_text_first_then_the_oldest_waiting_then_background() -> None:
    now = time.monotonic()
    order = await _grant_order(
        RequestRate(per_s=200, burst=1),
        {
            "typing": _at(Urgency.BACKGROUND, now - 10),
            "edit, text 1 s old": _at(Urgency.WAITING, now - 1),
            "edit, text 3 s old": _at(Urgency.WAITING, now - 3),
            "final text": _at(Urgency.FINAL, now),
            "thread opened 2 s ago": _at(Urgency.WAITING, now - 2),
        },
    )
    assert order == ["final text", "edit, text 3 s old", "thread opened 2 s ago", "edit, text 1 s old", "typing"]


async def test_a_priority_is_read_when_the_slot_is_handed_out() -> None:
    """A stream that ends while queued becomes final text, and goes before edits that were more urgent."""
    now = time.monotonic()
    ended = False
    order_task = asyncio.create_task(
        _grant_order(
            RequestRate(per_s=50, burst=1),
            {
                "older edit": _at(Urgency.WAITING, now - 5),
                "stream that ends": lambda: (Urgency.FINAL if ended else Urgency.WAITING, now),
            },
        )
    )
    await asyncio.sleep(0.005)
    ended = True
    assert await order_task == ["stream that ends", "older edit"]


async def test_a_cancelled_wait_gives_its_place_up() -> None:
    rate = RequestRate(per_s=20, burst=1)
    await rate.acquire()
    waiter = asyncio.create_task(rate.acquire(waiting_since()))
    await asyncio.sleep(0)
    assert rate.waiting == 1
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    assert rate.waiting == 0
    started = time.monotonic()
    await rate.acquire()  # the next slot (1/20 s after the first) goes to whoever asks now
    assert time.monotonic() - started < 1.0


async def test_requests_at_sets_the_priority_of_calls_inside_it() -> None:
    now = time.monotonic()
    rate = RequestRate(per_s=200, burst=1)
    await rate.acquire()
    granted: list[str] = []

    async def call(name: str, inside: Callable[[], PriorityOf] | None) -> None:
        if inside is None:
            await rate.acquire()
        else:
            with requests_at(inside()):
                await rate.acquire()
        granted.append(name)

    background = asyncio.create_task(call("typing", lambda: _at(Urgency.BACKGROUND, now)))
    await asyncio.sleep(0)
    plain = asyncio.create_task(call("a fetch", None))
    await asyncio.gather(background, plain)
    assert granted == ["a fetch", "typing"]


FRESH_WITHIN_S = 0.5
"""A write's text holds everything the provider sent this long before the write reached Discord."""


async def test_congested_budget_writes_carry_the_newest_text_and_finish_in_full(
    make_bot: Callable[..., BotProcess], discord_emulator: DiscordEmulator, ablt: AbltEmulator
) -> None:
    """Three replies streaming at once on a budget of 2 requests/s (they would like 2.7 edits/s): each write
    reads its text when its slot comes, so what Discord gets is never older than the queue; final texts are
    complete and nothing meets a 429. (Read before queueing, the text would be a second or more behind.)"""
    bot = make_bot(REST_RATE_PER_S="2")
    await bot.start()
    try:
        replies = [[f" s{n}w{i}" for i in range(80)] for n in range(3)]
        for tokens in replies:
            ablt.enqueue(Reply(tokens=tokens, token_interval_s=0.05))
        interactions = await asyncio.gather(*(chat(discord_emulator, f"stream {n}") for n in range(3)))
        threads = [await thread_for(discord_emulator, interaction) for interaction in interactions]
        for thread in threads:
            await discord_emulator.wait_for(lambda t=thread.id: bool(bot_posts(discord_emulator, t)), 30, "a post")
            stream = int(bot_posts(discord_emulator, thread.id)[0].content.split("w")[0].strip().removeprefix("s"))
            await wait_for_reply(discord_emulator, thread.id, "".join(replies[stream]))
            emitted = [e for e in ablt.emitted if e.text.lstrip().startswith(f"s{stream}w")]
            writes = [
                r
                for r in discord_emulator.requests
                if r.channel_id == thread.id and r.method in ("POST", "PATCH") and "/messages" in r.path
            ]
            assert writes
            for write in writes:
                sent_by_then = [e.text for e in emitted if e.t <= write.t - FRESH_WITHIN_S]
                if sent_by_then:
                    assert write.json["content"].strip().startswith(sent_by_then[-1].strip())
        assert discord_emulator.rate_limit_hits == 0
    finally:
        await bot.stop()


async def test_a_typing_indicator_leaves_the_last_slot_to_the_text_that_follows_it() -> None:
    """The bucket has one slot left: the typing indicator waits for a second one, and a reply's first text asked
    for a moment later takes the last slot at once, ahead of it. With a burst of one, background goes as before."""
    rate = RequestRate(per_s=5, burst=3)
    await rate.acquire()
    await rate.acquire()  # one slot left (and 0.2 s until the next)
    granted: list[str] = []

    async def ask(name: str, priority: PriorityOf) -> None:
        await rate.acquire(priority)
        granted.append(name)

    typing = asyncio.create_task(ask("typing", _at(Urgency.BACKGROUND, time.monotonic())))
    await asyncio.sleep(0)
    assert granted == []  # not with the last slot
    await ask("first text", waiting_since())
    assert granted == ["first text"]
    await typing
    assert granted == ["first text", "typing"]
    await rate.close()
    alone = RequestRate(per_s=5, burst=1)
    await alone.acquire(_at(Urgency.BACKGROUND, time.monotonic()))  # a burst of one keeps nothing back
    await alone.close()
