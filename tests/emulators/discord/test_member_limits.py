"""Slowmode, timeouts and the send permission as Discord enforces them on members' own messages and threads,
with bots exempt and discord.py's cache following each change (tests/emulators/discord/slowmode.py,
permissions.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import discord
import pytest

from tests.emulators.discord import (
    BYPASS_SLOWMODE,
    GENEROUS_PERMISSIONS,
    MANAGE_MESSAGES,
    READ_MESSAGE_HISTORY,
    SEND_MESSAGES_IN_THREADS,
    SLOWMODE_CODE,
    VIEW_CHANNEL,
    ApiError,
    DiscordEmulator,
)
from tests.support.emulator_clients import connected, fast_emulator

TOKEN = "emulator-member-limits-token"
MANAGE_CHANNELS = 1 << 4
pytestmark = pytest.mark.timeout(30)


@pytest.fixture
async def emu() -> AsyncIterator[DiscordEmulator]:
    async with fast_emulator(TOKEN) as emulator:
        yield emulator


def slowed(exc: pytest.ExceptionInfo[ApiError]) -> float:
    """The seconds Discord says are left, after checking the refusal is slowmode's 429 20016."""
    assert (exc.value.status, exc.value.code) == (429, SLOWMODE_CODE)
    body = exc.value.body()
    assert body["message"] == "This action cannot be performed due to slowmode rate limit" and body["global"] is False
    return float(body["retry_after"])


async def test_a_member_sends_one_message_per_interval_and_others_are_not_held_back(emu: DiscordEmulator) -> None:
    bob, carol = emu.add_member("bob"), emu.add_member("carol")
    emu.set_slowmode(emu.channel_id, 1)
    await emu.send_user_message(emu.channel_id, "first", user_id=bob)
    with pytest.raises(ApiError) as refused:
        await emu.send_user_message(emu.channel_id, "too soon", user_id=bob)
    left = slowed(refused)
    assert 0 < left <= 1
    await emu.send_user_message(emu.channel_id, "my own first", user_id=carol)  # per member
    await asyncio.sleep(left)  # Discord's own deadline, not a guess
    await emu.send_user_message(emu.channel_id, "on time", user_id=bob)
    assert [m.content for m in emu.messages(emu.channel_id)] == ["first", "my own first", "on time"]


async def test_opening_a_thread_has_its_own_allowance_and_a_thread_its_own_slowmode(emu: DiscordEmulator) -> None:
    bob = emu.add_member("bob")
    emu.set_slowmode(emu.channel_id, 60)
    await emu.send_user_message(emu.channel_id, "a message", user_id=bob)
    thread = await emu.create_thread("one thread", user_id=bob)  # "one message and create one thread"
    with pytest.raises(ApiError) as second_thread:
        await emu.create_thread("another", user_id=bob)
    assert slowed(second_thread) > 59
    await emu.send_user_message(thread.id, "in the thread", user_id=bob)  # the thread has no slowmode
    await emu.send_user_message(thread.id, "and again", user_id=bob)
    emu.set_slowmode(thread.id, 30)
    await emu.send_user_message(thread.id, "now counted", user_id=bob)
    with pytest.raises(ApiError) as in_thread:
        await emu.send_user_message(thread.id, "too soon", user_id=bob)
    assert 29 < slowed(in_thread) <= 30


async def test_bots_and_bypass_slowmode_are_exempt_but_managing_messages_alone_no_longer_is(
    emu: DiscordEmulator,
) -> None:
    bypass = emu.add_role("Regulars", permissions=BYPASS_SLOWMODE)
    old_mods = emu.add_role("Old mods", permissions=(GENEROUS_PERMISSIONS | MANAGE_MESSAGES | MANAGE_CHANNELS))
    regular, old_mod = emu.add_member("regular", roles=[bypass]), emu.add_member("oldmod", roles=[old_mods])
    emu.set_slowmode(emu.channel_id, 60)
    async with connected(emu, discord.Client(intents=discord.Intents.default())) as client:
        channel = client.get_channel(emu.channel_id)
        assert isinstance(channel, discord.TextChannel) and channel.slowmode_delay == 60  # the cache follows
        await channel.send("bot one")
        await channel.send("bot two")
    for who in (regular, emu.user_id):  # BYPASS_SLOWMODE; the owner (Administrator)
        await emu.send_user_message(emu.channel_id, "one", user_id=who)
        await emu.send_user_message(emu.channel_id, "two", user_id=who)
    await emu.send_user_message(emu.channel_id, "one", user_id=old_mod)
    with pytest.raises(ApiError) as refused:  # the split took effect on 2026-02-23
        await emu.send_user_message(emu.channel_id, "two", user_id=old_mod)
    slowed(refused)


async def test_a_members_message_where_they_may_not_send_is_refused_before_slowmode(emu: DiscordEmulator) -> None:
    bob = emu.add_member("bob")
    thread = await emu.create_thread("talk")
    emu.set_channel_overwrite(emu.channel_id, bob, deny=SEND_MESSAGES_IN_THREADS)
    emu.set_slowmode(thread.id, 60)
    for _ in range(2):  # a refused message does not start the member's slowmode
        with pytest.raises(ApiError) as refused:
            await emu.send_user_message(thread.id, "let me in", user_id=bob)
        assert (refused.value.status, refused.value.code) == (403, 50013)
    emu.clear_channel_overwrite(emu.channel_id, bob)
    await emu.send_user_message(thread.id, "thanks", user_id=bob)


async def test_slowmode_changes_reach_discord_py_and_the_limits_are_discords(emu: DiscordEmulator) -> None:
    thread = await emu.create_thread("talk")
    async with connected(emu, discord.Client(intents=discord.Intents.default())) as client:
        emu.set_slowmode(emu.channel_id, 21600)
        emu.set_slowmode(thread.id, 5)

        def seen() -> tuple[object, object]:
            channel, cached = client.get_channel(emu.channel_id), client.get_channel(thread.id)
            return getattr(channel, "slowmode_delay", None), getattr(cached, "slowmode_delay", None)

        await emu.wait_for(lambda: seen() == (21600, 5), description="CHANNEL_UPDATE and THREAD_UPDATE")
    for bad in (-1, 21601):
        with pytest.raises(ValueError, match="0 to 21600"):
            emu.set_slowmode(emu.channel_id, bad)


async def test_a_timed_out_member_keeps_only_view_and_history_until_the_timeout_ends(emu: DiscordEmulator) -> None:
    bob = emu.add_member("bob")
    seen: list[discord.Interaction] = []

    class Watcher(discord.Client):
        async def on_interaction(self, interaction: discord.Interaction) -> None:
            seen.append(interaction)

    async with connected(emu, Watcher(intents=discord.Intents.default())) as client:
        tree = discord.app_commands.CommandTree(client)

        @tree.command(name="ping", description="Ping")
        async def ping(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("pong", ephemeral=True)

        await tree.sync()
        await emu.wait_for_commands()
        emu.time_out_member(bob, 60)
        with pytest.raises(ApiError) as refused:
            await emu.send_user_message(emu.channel_id, "let me talk", user_id=bob)
        assert (refused.value.status, refused.value.code) == (403, 50013)
        assert emu.channel_permissions(bob, emu.channel_id) == VIEW_CHANNEL | READ_MESSAGE_HISTORY
        ran = await emu.run_slash_command("ping", user_id=bob)
        await ran.wait_for_response()
        [interaction] = [i for i in seen if i.id == ran.id]
        assert isinstance(interaction.user, discord.Member) and interaction.user.is_timed_out()
        assert interaction.permissions.send_messages  # as sent: the timeout is for the bot to apply
    with pytest.raises(ValueError, match="owner"):
        emu.time_out_member(emu.user_id, 60)
    emu.time_out_member(bob, 0)  # lifted
    await emu.send_user_message(emu.channel_id, "thanks", user_id=bob)
