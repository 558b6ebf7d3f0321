"""/session and /providers: what a thread is connected to, and how each service answered last."""

from __future__ import annotations

from tests.emulators.ablt import AbltEmulator, Reply
from tests.emulators.discord import DiscordEmulator
from tests.emulators.magicai import MagicAIEmulator
from tests.support.harness import BotProcess
from tests.support.journey import chat, command, thread_for, wait_for_post


async def test_session_shows_provider_turns_and_the_vendor_session_id_privately(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, magicai: MagicAIEmulator
) -> None:
    thread = await thread_for(discord_emulator, await chat(discord_emulator, "What is it?", provider="magicai"))
    await wait_for_post(discord_emulator, thread.id, "Magic AI answer")

    shown = await command(discord_emulator, "session", thread.id)
    assert shown.ephemeral and shown.original_message is not None
    text = shown.original_message.content
    assert "Magic AI" in text and "1 message(s)" in text and "Started <t:" in text
    assert f"Magic AI session: {magicai.requests[0].body['sessionId']}" in text

    outside = await command(discord_emulator, "session", discord_emulator.channel_id)
    assert outside.ephemeral and "no conversation" in outside.original_message.content


async def test_providers_lists_each_service_and_how_its_last_call_went(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator
) -> None:
    before = await command(discord_emulator, "providers", discord_emulator.channel_id)
    assert before.ephemeral and "**aBLT**: no calls since the bot started" in before.original_message.content

    ablt.enqueue(Reply(status=401, body={"detail": "Invalid authentication credentials"}))
    thread = await thread_for(discord_emulator, await chat(discord_emulator, "hi"))
    await wait_for_post(discord_emulator, thread.id, "⚠️")
    thread2 = await thread_for(discord_emulator, await chat(discord_emulator, "hi", provider="magicai"))
    await wait_for_post(discord_emulator, thread2.id, "Magic AI answer")

    after = (await command(discord_emulator, "providers", discord_emulator.channel_id)).original_message.content
    assert "**aBLT**: failed <t:" in after and "ABLT_API_KEY" in after
    assert "**Magic AI**: answered <t:" in after
    assert "**Soundverse**: no calls" in after and "**Agentverse**" in after and "**Convai**" in after
