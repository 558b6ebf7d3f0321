"""Magic AI in a thread: answers with their sources, one minted session id per conversation, clear errors."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from tests.emulators.discord import DiscordEmulator
from tests.emulators.magicai import MagicAIEmulator, MagicReply
from tests.support.harness import MAGICAI_PROJECT, BotProcess
from tests.support.journey import bot_posts, chat, command, say, thread_for, wait_for_post, wait_for_reply

BOTH_STORES = True  # every journey here runs on SQLite and on PostgreSQL (tests/support/fixtures.py)


async def magic_chat(discord: DiscordEmulator, prompt: str) -> int:
    return (await thread_for(discord, await chat(discord, prompt, provider="magicai"))).id


async def test_answer_shows_its_sources_once_each_as_links(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, magicai: MagicAIEmulator
) -> None:
    magicai.enqueue(
        MagicReply(
            text="Magic AI builds chat bots from your data.",
            sources=[
                ("What is Magic AI?", "https://magicai.ai/what-is-magic-ai"),
                ("What is Magic AI? (copy)", "https://magicai.ai/what-is-magic-ai"),
                ("Pricing [2024]", "https://magicai.ai/pricing"),
            ],
        )
    )
    thread_id = await magic_chat(discord_emulator, "What is Magic AI?")
    await wait_for_reply(discord_emulator, thread_id, "Magic AI builds chat bots from your data.")
    await discord_emulator.wait_for(lambda: bool(bot_posts(discord_emulator, thread_id)[-1].embeds), 10)

    (embed,) = bot_posts(discord_emulator, thread_id)[-1].embeds
    assert embed["title"] == "Sources"
    assert embed["description"] == (
        "1. [What is Magic AI?](https://magicai.ai/what-is-magic-ai)\n2. [Pricing (2024)](https://magicai.ai/pricing)"
    )
    body = magicai.requests[0].body
    assert body["projectId"] == MAGICAI_PROJECT and body["text"] == "What is Magic AI?"


async def test_same_minted_session_id_every_turn_and_a_new_one_after_reset(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, magicai: MagicAIEmulator
) -> None:
    thread_id = await magic_chat(discord_emulator, "first")
    await wait_for_post(discord_emulator, thread_id, "first")
    mark = await say(discord_emulator, thread_id, "second")
    await wait_for_post(discord_emulator, thread_id, "second", after=mark)

    first, second = (r.body["sessionId"] for r in magicai.requests)
    assert first == second and uuid.UUID(first)

    reset = await command(discord_emulator, "reset", thread_id)
    assert not reset.ephemeral and "fresh session" in reset.original_message.content
    mark = await say(discord_emulator, thread_id, "third")
    await wait_for_post(discord_emulator, thread_id, "third", after=mark)
    assert magicai.requests[-1].body["sessionId"] != first

    other = await magic_chat(discord_emulator, "another thread")
    await wait_for_post(discord_emulator, other, "another thread")
    assert magicai.requests[-1].body["sessionId"] not in {first, magicai.requests[2].body["sessionId"]}


@pytest.mark.parametrize(
    ("reply", "says"),
    [
        pytest.param(MagicReply(status=401), "MAGICAI_API_KEY", id="401"),
        pytest.param(MagicReply(status=403), "MAGICAI_PROJECT_ID", id="403"),
        pytest.param(MagicReply(status=426), "plan does not include the API", id="426"),
        pytest.param(
            MagicReply(status=400, body={"message": "Invalid Request", "details": "Text too long", "code": "X"}),
            "could not use that message: Text too long",
            id="400-details",
        ),
        pytest.param(MagicReply(status=500), "having trouble", id="500"),
        pytest.param(MagicReply(malformed=True), "could not read", id="malformed-json"),
        pytest.param(MagicReply(missing_text=True), "without an answer", id="missing-text"),
        pytest.param(MagicReply(hang=True), "did not answer in time", id="timeout"),
    ],
)
async def test_errors_become_one_clear_line_and_the_thread_goes_on(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, magicai: MagicAIEmulator, reply: MagicReply, says: str
) -> None:
    magicai.enqueue(reply)
    thread_id = await magic_chat(discord_emulator, "question")
    notice = await wait_for_post(discord_emulator, thread_id, "⚠️")
    assert says in notice.content and "{" not in notice.content

    mark = await say(discord_emulator, thread_id, "again")
    await wait_for_post(discord_emulator, thread_id, "again", after=mark)
    assert magicai.requests[-1].body["sessionId"] == magicai.requests[0].body["sessionId"]


async def test_key_in_another_header_when_configured(
    make_bot: Callable[..., BotProcess], discord_emulator: DiscordEmulator
) -> None:
    async with MagicAIEmulator(
        api_key="raw-key", project_ids=(MAGICAI_PROJECT,), auth_header="x-api-key", auth_scheme=None
    ) as emu:
        bot = make_bot(MAGICAI_BASE_URL=emu.base_url, MAGICAI_API_KEY="raw-key", MAGICAI_AUTH_HEADER="x-api-key")
        await bot.start()
        emu.enqueue(MagicReply(text="Authenticated."))
        thread_id = await magic_chat(discord_emulator, "hello")
        await wait_for_reply(discord_emulator, thread_id, "Authenticated.")
        await bot.stop()
        assert emu.requests[0].auth_ok


async def test_long_answer_is_split_like_a_streamed_one(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, magicai: MagicAIEmulator
) -> None:
    text = " ".join(f"fact{i}" for i in range(900))  # about 6,000 characters in one JSON reply
    magicai.enqueue(MagicReply(text=text, sources=[]))
    thread_id = await magic_chat(discord_emulator, "everything")
    await wait_for_reply(discord_emulator, thread_id, text)
    assert [len(p.content) <= 2000 for p in bot_posts(discord_emulator, thread_id)] == [True] * 4
