"""Moderators deleting, archiving and locking things under a real discord.py bot."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import discord
import pytest
from discord import app_commands
from discord.ext import commands

from tests.emulators.discord import DiscordEmulator
from tests.support.emulator_clients import connected, fast_emulator

TOKEN = "emulator-moderation-token"
pytestmark = pytest.mark.timeout(30)


class ModBot(commands.Bot):
    """Keeps the raw dispatches it receives (``enable_debug_events``) and the events it parsed."""

    def __init__(self) -> None:
        intents = discord.Intents.default()
        intents.message_content = True
        super().__init__(command_prefix="!", intents=intents, guild_ready_timeout=0.05, enable_debug_events=True)
        self.dispatches: list[dict[str, Any]] = []
        self.raw_thread_deletes: list[discord.RawThreadDeleteEvent] = []
        self.raw_message_deletes: list[discord.RawMessageDeleteEvent] = []
        self.deleted_channels: list[int] = []
        self.seen: list[discord.Interaction] = []

    async def setup_hook(self) -> None:
        self.tree.add_command(stream)
        await self.tree.sync()

    async def on_socket_raw_receive(self, msg: str) -> None:
        payload = json.loads(msg)
        if payload.get("op") == 0:
            self.dispatches.append(payload)

    async def on_raw_thread_delete(self, payload: discord.RawThreadDeleteEvent) -> None:
        self.raw_thread_deletes.append(payload)

    async def on_raw_message_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        self.raw_message_deletes.append(payload)

    async def on_guild_channel_delete(self, channel: discord.abc.GuildChannel) -> None:
        self.deleted_channels.append(channel.id)

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        self.seen.append(interaction)

    def dispatched(self, event: str) -> list[dict[str, Any]]:
        return [p["d"] for p in self.dispatches if p["t"] == event]


@app_commands.command(name="stream", description="Start a streamed answer")
async def stream(interaction: discord.Interaction) -> None:
    await interaction.response.defer(thinking=True)
    await interaction.edit_original_response(content="partial answer")


@pytest.fixture
async def emu() -> AsyncIterator[DiscordEmulator]:
    async with fast_emulator(TOKEN) as emulator:
        yield emulator


@pytest.fixture
async def bot(emu: DiscordEmulator) -> AsyncIterator[ModBot]:
    async with connected(emu, ModBot()) as client:
        await emu.wait_for_commands()
        yield client


def text_channel(bot: commands.Bot, channel_id: int) -> discord.TextChannel:
    found = bot.get_channel(channel_id)
    assert isinstance(found, discord.TextChannel)
    return found


async def cached_thread(emu: DiscordEmulator, bot: commands.Bot, thread_id: int) -> discord.Thread:
    await emu.wait_for(lambda: isinstance(bot.get_channel(thread_id), discord.Thread), description="thread cached")
    found = bot.get_channel(thread_id)
    assert isinstance(found, discord.Thread)
    return found


async def test_deleted_thread_is_gone_for_every_request(emu: DiscordEmulator, bot: ModBot) -> None:
    thread = await emu.create_thread("doomed")
    cached = await cached_thread(emu, bot, thread.id)
    posted = await cached.send("an answer in progress")
    await emu.send_user_message(thread.id, "a question")

    deleted_at = time.monotonic()
    record = emu.delete_thread(thread.id)
    await emu.wait_for(lambda: bool(bot.raw_thread_deletes), description="on_raw_thread_delete")
    raw = bot.raw_thread_deletes[0]
    assert (raw.thread_id, raw.parent_id, raw.guild_id) == (thread.id, emu.channel_id, emu.guild_id)
    (body,) = bot.dispatched("THREAD_DELETE")
    assert body == {"id": str(thread.id), "guild_id": str(emu.guild_id), "parent_id": str(emu.channel_id), "type": 11}
    assert bot.get_channel(thread.id) is None

    attempts = (
        cached.send("still there?"),
        posted.edit(content="edited"),
        cached.fetch_message(posted.id),
        cached.edit(name="renamed"),
        typing(cached),
    )
    for attempt in attempts:
        with pytest.raises(discord.NotFound) as gone:
            await attempt
        assert gone.value.code == 10003
    late = [r for r in emu.requests if r.channel_id == thread.id and r.t >= deleted_at]
    assert len(late) == len(attempts) and all(r.status == 404 for r in late)  # nothing reached the thread

    assert record.deleted and emu.thread(thread.id) is record and emu.threads == []
    kept = emu.messages(thread.id, include_deleted=True)
    assert len(kept) == 2 and all(m.deleted for m in kept) and emu.messages(thread.id) == []
    with pytest.raises(ValueError, match="does not exist"):
        await emu.run_slash_command("stream", channel_id=thread.id)
    with pytest.raises(ValueError, match="does not exist"):
        await emu.send_user_message(thread.id, "anyone?")


async def typing(channel: discord.abc.Messageable) -> None:
    await channel.typing()


async def test_deleting_a_channel_takes_its_threads_without_thread_delete(emu: DiscordEmulator, bot: ModBot) -> None:
    side = emu.add_text_channel("side")
    await emu.wait_for(lambda: bot.get_channel(side) is not None, description="CHANNEL_CREATE")
    thread = await emu.create_thread("inside", side)
    cached = await cached_thread(emu, bot, thread.id)
    emu.delete_channel(side)
    await emu.wait_for(lambda: side in bot.deleted_channels, description="on_guild_channel_delete")
    (body,) = bot.dispatched("CHANNEL_DELETE")
    assert body["id"] == str(side) and body["name"] == "side" and body["type"] == 0
    assert bot.dispatched("THREAD_DELETE") == []  # Discord sends none for a deleted channel's threads
    guild = bot.get_guild(emu.guild_id)
    assert guild is not None and all(t.id != thread.id for t in guild.threads)  # discord.py drops them itself
    with pytest.raises(discord.NotFound) as gone:
        await cached.send("hello?")
    assert gone.value.code == 10003
    with pytest.raises(discord.NotFound):
        await bot.get_partial_messageable(side).send("hello?")
    assert emu.thread(thread.id).deleted


async def test_archive_lock_and_unarchive_reach_the_bot(emu: DiscordEmulator, bot: ModBot) -> None:
    thread = await emu.create_thread("moderated")
    cached = await cached_thread(emu, bot, thread.id)
    await cached.send("joined")

    def metadata() -> dict[str, Any]:
        updates = bot.dispatched("THREAD_UPDATE")
        return updates[-1]["thread_metadata"] if updates else {}

    emu.lock_thread(thread.id)
    await emu.wait_for(lambda: metadata().get("locked") is True, description="locked")
    assert cached.locked and not cached.archived
    emu.archive_thread(thread.id)
    await emu.wait_for(lambda: metadata().get("archived") is True, description="archived")
    assert bot.get_channel(thread.id) is None  # discord.py drops archived threads from its cache
    emu.unarchive_thread(thread.id)
    await emu.wait_for(lambda: bot.dispatched("THREAD_MEMBER_UPDATE") != [], description="THREAD_MEMBER_UPDATE")
    assert metadata()["archived"] is False and metadata()["locked"] is True  # still locked
    reopened = await cached_thread(emu, bot, thread.id)
    assert reopened.locked
    emu.archive_thread(thread.id, locked=True)
    await emu.wait_for(lambda: metadata().get("archived") is True, description="archived again")
    assert emu.thread(thread.id).locked and emu.thread(thread.id).archived


async def test_deleted_messages_cannot_be_edited(emu: DiscordEmulator, bot: ModBot) -> None:
    channel = text_channel(bot, emu.channel_id)
    sent = await channel.send("the bot's message")
    emu.delete_message(sent.id)
    await emu.wait_for(lambda: any(p.message_id == sent.id for p in bot.raw_message_deletes), description="delete")
    with pytest.raises(discord.NotFound) as gone:
        await sent.edit(content="edited")
    assert gone.value.code == 10008
    assert emu.message(sent.id).deleted


async def test_deleting_a_streamed_interaction_reply(emu: DiscordEmulator, bot: ModBot) -> None:
    rec = await emu.run_slash_command("stream")
    await emu.wait_for(lambda: rec.original_message is not None and rec.original_message.content == "partial answer")
    assert rec.original_message is not None
    emu.delete_message(rec.original_message.id)
    interaction = next(i for i in bot.seen if i.id == rec.id)
    with pytest.raises(discord.NotFound) as gone:
        await interaction.edit_original_response(content="the rest of the answer")
    assert gone.value.code == 10008
