"""Soundverse in a thread: the chosen action steers every turn, only the new prompt is sent, errors are clear."""

from __future__ import annotations

import pytest

from tests.emulators.discord import DiscordEmulator
from tests.emulators.soundverse import SoundverseEmulator, SoundverseReply
from tests.support.harness import BotProcess
from tests.support.journey import bot_posts, chat, command, say, thread_for, wait_for_post, wait_for_reply

BOTH_STORES = True  # every journey here runs on SQLite and on PostgreSQL (tests/support/fixtures.py)


async def test_action_chosen_at_start_steers_every_turn_and_no_history_is_sent(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, soundverse: SoundverseEmulator
) -> None:
    soundverse.enqueue(SoundverseReply(text="Verse one..."), SoundverseReply(text="Chorus..."))
    interaction = await chat(discord_emulator, "A song about rain", provider="soundverse", action="lyric_writing")
    thread = await thread_for(discord_emulator, interaction)
    await wait_for_reply(discord_emulator, thread.id, "Verse one...")

    opening = interaction.original_message.content
    assert "Soundverse · Write lyrics" in opening and "does not remember earlier messages" in opening
    mark = await say(discord_emulator, thread.id, "Now a chorus")
    await wait_for_reply(discord_emulator, thread.id, "Chorus...", after=mark)
    assert [r.body for r in soundverse.requests] == [
        {"prompt": "A song about rain", "action": "lyric_writing"},
        {"prompt": "Now a chorus", "action": "lyric_writing"},
    ]


async def test_default_action_is_other_and_action_command_changes_it(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, soundverse: SoundverseEmulator
) -> None:
    thread = await thread_for(discord_emulator, await chat(discord_emulator, "hi", provider="soundverse"))
    await wait_for_post(discord_emulator, thread.id, "hi")

    choices = await discord_emulator.autocomplete("action", {"action": "stem"}, focused="action", channel_id=thread.id)
    assert choices == [{"name": "Separate stems", "value": "separate_stems"}]
    changed = await command(discord_emulator, "action", thread.id, action="separate_stems")
    assert "Separate stems" in changed.original_message.content and not changed.ephemeral
    mark = await say(discord_emulator, thread.id, "split this track")
    await wait_for_post(discord_emulator, thread.id, "split this track", after=mark)

    assert [r.body["action"] for r in soundverse.requests] == ["other", "separate_stems"]
    refused = await command(discord_emulator, "action", thread.id, action="dance")
    assert refused.ephemeral and "Unknown Soundverse action" in refused.original_message.content


async def test_action_command_outside_soundverse_is_refused_privately(
    running_bot: BotProcess, discord_emulator: DiscordEmulator
) -> None:
    thread = await thread_for(discord_emulator, await chat(discord_emulator, "hello"))
    await wait_for_post(discord_emulator, thread.id, "hello")
    refused = await command(discord_emulator, "action", thread.id, action="other")
    assert refused.ephemeral and "no action setting" in refused.original_message.content


@pytest.mark.parametrize(
    ("reply", "says"),
    [
        pytest.param(SoundverseReply(status=500), "having trouble", id="500"),
        pytest.param(SoundverseReply(status=401), "SOUNDVERSE_API_KEY", id="401"),
        pytest.param(SoundverseReply(missing_reply=True), "without an answer", id="missing-aiReply"),
        pytest.param(SoundverseReply(malformed=True), "could not read", id="malformed-json"),
        pytest.param(SoundverseReply(hang=True), "did not answer in time", id="timeout"),
    ],
)
async def test_errors_become_one_clear_line_and_the_thread_goes_on(
    running_bot: BotProcess,
    discord_emulator: DiscordEmulator,
    soundverse: SoundverseEmulator,
    reply: SoundverseReply,
    says: str,
) -> None:
    soundverse.enqueue(reply)
    thread = await thread_for(discord_emulator, await chat(discord_emulator, "make a beat", provider="soundverse"))
    notice = await wait_for_post(discord_emulator, thread.id, "⚠️")
    assert says in notice.content

    soundverse.enqueue(SoundverseReply(text="Try 90 BPM."))
    mark = await say(discord_emulator, thread.id, "again")
    await wait_for_reply(discord_emulator, thread.id, "Try 90 BPM.", after=mark)
    assert len(soundverse.requests) == 2  # a 500 is not retried


async def test_empty_reply_is_said(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, soundverse: SoundverseEmulator
) -> None:
    soundverse.enqueue(SoundverseReply(empty_reply=True))
    thread = await thread_for(discord_emulator, await chat(discord_emulator, "hm", provider="soundverse"))
    post = await wait_for_post(discord_emulator, thread.id, "empty reply")
    assert post in bot_posts(discord_emulator, thread.id)
