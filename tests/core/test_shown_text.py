"""What members see of a reply, saved as it is shown (bot/core/recording.py `ShownText`): at most once an interval
(one Discord write), always the newest text, and not at all for a reply that ends sooner (its final status
saves it), on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio

from bench.wire import Wire
from bot.core.recording import ShownText
from bot.store import Store

BOTH_STORES = True


async def test_saves_come_at_most_once_an_interval_with_the_newest_text(store: Store) -> None:
    session = await store.start_session(channel_id=10, guild_id=7, provider="ablt", state={}, started_by=3)
    reply = await store.add_entry(session.id, "assistant", "", author_id=None, status="streaming")
    shown = ShownText(store, reply, every_s=0.3)
    sent: list[tuple[int, int]] = []
    with Wire().installed() as wire:
        async with wire.counting(sent):
            for n in range(8):  # a write every 0.1 s for 0.8 s
                shown.save(f"shown {n}")
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.4)
    entry = await store.entry(reply)
    assert entry is not None and entry.content == "shown 7"
    assert 1 <= sent[0][0] <= 3  # one UPDATE a save, in autocommit; in 0.9 s, 0.3 s apart: 3 at most
    await shown.stop()


async def test_a_reply_that_ends_within_the_interval_is_not_saved_as_shown(store: Store) -> None:
    session = await store.start_session(channel_id=11, guild_id=7, provider="ablt", state={}, started_by=3)
    reply = await store.add_entry(session.id, "assistant", "", author_id=None, status="streaming")
    shown = ShownText(store, reply, every_s=0.5)
    sent: list[tuple[int, int]] = []
    with Wire().installed() as wire:
        async with wire.counting(sent):
            shown.save("A short answer.")
            await asyncio.sleep(0.1)
            await shown.stop()  # the final status comes now, with the whole text
    entry = await store.entry(reply)
    assert entry is not None and entry.content == "" and sent == [(0, 0)]
