"""A provider that keeps writing is cut at MAX_REPLY_CHARS: the bot stops reading it (its response is closed),
shows what fits, says the reply was cut, and the conversation carries on with what members saw."""

from __future__ import annotations

from collections.abc import Callable

from bot.replies.splitting import MESSAGE_LIMIT, join_chunks
from tests.emulators.ablt import AbltEmulator, Reply
from tests.emulators.discord import DiscordEmulator
from tests.emulators.magicai import MagicAIEmulator, MagicReply
from tests.support.controls import settled
from tests.support.harness import BotProcess
from tests.support.journey import bot_posts, chat, say, thread_for, wait_for_post, wait_for_reply

BOTH_STORES = True
CAP = 5_000


async def test_a_stream_past_the_cap_is_cut_closed_and_said(
    make_bot: Callable[..., BotProcess], discord_emulator: DiscordEmulator, ablt: AbltEmulator, database: str
) -> None:
    bot = make_bot(MAX_REPLY_CHARS=str(CAP))
    await bot.start()
    endless = [f"word{i:05d} " for i in range(10_000)]  # 100,000 characters, far past the cap
    ablt.enqueue(Reply(tokens=endless, token_interval_s=0.0005), Reply(text="Short."))
    thread = await thread_for(discord_emulator, await chat(discord_emulator, "Write forever"))
    notice = await wait_for_post(discord_emulator, thread.id, "cut at 5,000 characters")
    assert notice.content.startswith("-# ✂️ aBLT kept writing")
    await discord_emulator.wait_for(lambda: ablt.requests[0].client_closed_at is not None, 15, "the stream closed")

    text = "".join(endless)[:CAP]
    transcript = await settled(discord_emulator, database, thread.id)
    assert (transcript[-1]["content"], transcript[-1]["status"]) == (text, "complete")
    replies = [m.content for m in bot_posts(discord_emulator, thread.id) if m.id < notice.id]
    assert len(replies) == -(-CAP // MESSAGE_LIMIT) and join_chunks(replies) == text  # whole messages, then the line

    await wait_for_reply(discord_emulator, thread.id, "Short.", after=await say(discord_emulator, thread.id, "Less?"))
    history = ablt.requests[-1].body["messages"]
    assert history[1] == {"role": "assistant", "content": text}
    await bot.stop()


async def test_a_whole_answer_past_the_cap_is_cut_too(
    make_bot: Callable[..., BotProcess], discord_emulator: DiscordEmulator, magicai: MagicAIEmulator
) -> None:
    bot = make_bot(MAX_REPLY_CHARS=str(CAP))
    await bot.start()
    magicai.enqueue(MagicReply(text="x" * (CAP * 3)))
    thread = await thread_for(discord_emulator, await chat(discord_emulator, "Everything", provider="magicai"))
    await wait_for_post(discord_emulator, thread.id, "Magic AI kept writing")
    shown = "".join(m.content for m in bot_posts(discord_emulator, thread.id) if set(m.content) == {"x"})
    assert shown == "x" * CAP
    await bot.stop()
