"""What Discord shows of a reply: split past 2,000 characters, paced under the rate limit, pinging nobody."""

from __future__ import annotations

import itertools
import re

from bot.replies.splitting import MESSAGE_LIMIT
from tests.emulators.ablt import AbltEmulator, Reply
from tests.emulators.discord import DiscordEmulator
from tests.support.harness import BotProcess
from tests.support.journey import bot_posts, chat, shown_reply, thread_for, wait_for_reply


def words_reply(characters: int) -> list[str]:
    tokens, length, n = [], 0, 0
    while length < characters:
        token = f" word{n}" if n % 40 else f"\n\nParagraph {n // 40}:"
        tokens.append(token)
        length += len(token)
        n += 1
    return tokens


async def test_reply_past_2000_chars_continues_in_new_messages(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator
) -> None:
    tokens = words_reply(5000)
    text = "".join(tokens)
    ablt.enqueue(Reply(tokens=tokens, token_interval_s=0.002))

    thread = await thread_for(discord_emulator, await chat(discord_emulator, "write a lot"))
    await wait_for_reply(discord_emulator, thread.id, text)

    posts = bot_posts(discord_emulator, thread.id)
    assert len(posts) == 3
    assert all(len(p.content) <= MESSAGE_LIMIT for p in posts)
    assert "".join(p.content for p in posts) == text  # plain prose: the messages are the text, exactly
    assert all(p.content.endswith(("\n\n", " ")) for p in posts[:-1])  # cut at a paragraph or word
    assert discord_emulator.rate_limit_hits == 0


async def test_slowly_streamed_long_reply_moves_on_at_word_boundaries(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator
) -> None:
    tokens = words_reply(4500)
    ablt.enqueue(Reply(tokens=tokens, token_interval_s=0.01))  # several seconds: many edits along the way

    thread = await thread_for(discord_emulator, await chat(discord_emulator, "write a lot, slowly"))
    await wait_for_reply(discord_emulator, thread.id, "".join(tokens))

    posts = bot_posts(discord_emulator, thread.id)
    assert "".join(p.content for p in posts) == "".join(tokens)
    assert all(MESSAGE_LIMIT // 2 <= len(p.content) <= MESSAGE_LIMIT for p in posts[:-1])
    for before, after in itertools.pairwise(posts):
        assert before.content[-1].isspace() or after.content[0].isspace()  # never inside a word
    assert discord_emulator.rate_limit_hits == 0


async def test_code_block_split_across_messages_is_closed_and_reopened(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator
) -> None:
    code = "Here you go:\n```python\n" + "".join(f"print('line {i}')\n" for i in range(150)) + "```\nDone."
    ablt.enqueue(Reply(text=code))

    thread = await thread_for(discord_emulator, await chat(discord_emulator, "code please"))
    await wait_for_reply(discord_emulator, thread.id, code)

    posts = bot_posts(discord_emulator, thread.id)
    assert len(posts) == 2
    assert posts[0].content.endswith("\n```") and posts[1].content.startswith("```python\n")
    for post in posts:
        assert len(re.findall(r"^```", post.content, re.MULTILINE)) % 2 == 0


async def test_mentions_in_ai_text_notify_nobody(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator
) -> None:
    role = discord_emulator.add_role("moderators")
    alice = discord_emulator.user_id
    text = f"Hey @everyone and @here, <@{alice}> and <@&{role}> look at this!"
    ablt.enqueue(Reply(text=text))

    prompt = f"say hi to <@{alice}> and @everyone"
    interaction = await chat(discord_emulator, prompt)
    thread = await thread_for(discord_emulator, interaction)
    await wait_for_reply(discord_emulator, thread.id, text)

    for message in [*bot_posts(discord_emulator, thread.id), interaction.original_message]:
        assert message is not None
        assert not message.pings.any, message.content
        assert message.allowed_mentions == {"parse": []}


async def test_streaming_stays_under_the_channel_rate_limit(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator
) -> None:
    tokens = [f" t{i}" for i in range(120)]
    ablt.enqueue(Reply(tokens=tokens, token_interval_s=0.05))  # 6 s of streaming, 20 tokens a second

    thread = await thread_for(discord_emulator, await chat(discord_emulator, "stream"))
    await wait_for_reply(discord_emulator, thread.id, "".join(tokens))

    post = bot_posts(discord_emulator, thread.id)[0]
    assert 3 <= len(post.edits) <= 9  # coalesced: a handful of edits, not one per token
    assert discord_emulator.rate_limit_hits == 0
    gaps = [b[0] - a[0] for a, b in zip(post.edits, post.edits[1:], strict=False)]
    assert min(gaps) >= 1.0  # paced: never two writes inside a second
    assert shown_reply(discord_emulator, thread.id) == "".join(tokens)
