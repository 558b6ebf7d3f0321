"""What members, other bots and webhooks can post, as a real discord.py bot receives it: forwards,
stickers, edits, webhook and bot messages, and the same event delivered twice."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import discord
import pytest

from tests.emulators.discord import HAS_SNAPSHOT_FLAG, DiscordEmulator
from tests.support.emulator_clients import connected, fast_emulator

TOKEN = "emulator-inputs-token"
pytestmark = pytest.mark.timeout(30)


class Listener(discord.Client):
    def __init__(self, *, message_content: bool = True) -> None:
        intents = discord.Intents.default()
        intents.message_content = message_content
        super().__init__(intents=intents, guild_ready_timeout=0.05)
        self.received: list[discord.Message] = []
        self.edits: list[discord.RawMessageUpdateEvent] = []

    async def on_message(self, message: discord.Message) -> None:
        self.received.append(message)

    async def on_raw_message_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        self.edits.append(payload)


@pytest.fixture
async def emu() -> AsyncIterator[DiscordEmulator]:
    async with fast_emulator(TOKEN) as emulator:
        yield emulator


@contextlib.asynccontextmanager
async def listening(emu: DiscordEmulator, *, message_content: bool = True) -> AsyncIterator[Listener]:
    async with connected(emu, Listener(message_content=message_content)) as client:
        yield client


async def arrival(emu: DiscordEmulator, client: Listener, message_id: int) -> discord.Message:
    await emu.wait_for(lambda: any(m.id == message_id for m in client.received), description=f"message {message_id}")
    return next(m for m in client.received if m.id == message_id)


async def test_a_member_forwards_a_message(emu: DiscordEmulator) -> None:
    elsewhere = emu.add_text_channel("elsewhere")
    bob = emu.add_member("bob")
    async with listening(emu) as client:
        original = await emu.send_user_message(emu.channel_id, "the original words")
        forward = await emu.send_user_message(elsewhere, "", user_id=bob, forward_of=original.id)
        seen = await arrival(emu, client, forward.id)
        assert seen.content == "" and seen.flags.forwarded
        assert seen.reference is not None and seen.reference.type is discord.MessageReferenceType.forward
        assert seen.reference.message_id == original.id and seen.reference.channel_id == emu.channel_id
        (snapshot,) = seen.message_snapshots
        assert snapshot.content == "the original words"
        assert forward.flags & HAS_SNAPSHOT_FLAG and forward.is_forward

        await emu.edit_user_message(original.id, "changed afterwards")
        assert forward.message_snapshots[0]["message"]["content"] == "the original words"  # immutable
        with pytest.raises(ValueError, match="forward carries only"):
            await emu.send_user_message(elsewhere, "a comment", forward_of=original.id)


async def test_forward_snapshot_is_blank_without_message_content(emu: DiscordEmulator) -> None:
    async with listening(emu, message_content=False) as client:
        original = await emu.send_user_message(emu.channel_id, "secret words")
        forward = await emu.send_user_message(emu.channel_id, "", forward_of=original.id)
        seen = await arrival(emu, client, forward.id)
        assert seen.message_snapshots[0].content == ""


async def test_the_bot_forwards_through_rest(emu: DiscordEmulator) -> None:
    async with listening(emu) as client:
        original = await emu.send_user_message(emu.channel_id, "worth sharing")
        seen = await arrival(emu, client, original.id)
        sent = await seen.forward(seen.channel)
        assert sent.message_snapshots[0].content == "worth sharing"
        assert emu.message(sent.id).is_forward


async def test_stickers_edits_and_bot_authors(emu: DiscordEmulator) -> None:
    helper_bot = emu.add_member("helperbot", bot=True)
    async with listening(emu) as client:
        sticker = await emu.send_user_message(emu.channel_id, "", sticker_ids=[emu.sticker_id])
        seen = await arrival(emu, client, sticker.id)
        assert seen.content == "" and [(s.id, s.name) for s in seen.stickers] == [(emu.sticker_id, "wave")]

        said = await emu.send_user_message(emu.channel_id, "first draft")
        await arrival(emu, client, said.id)
        await emu.edit_user_message(said.id, "second draft")
        await emu.wait_for(lambda: any(e.message_id == said.id for e in client.edits), description="MESSAGE_UPDATE")
        edit = next(e for e in client.edits if e.message_id == said.id)
        assert edit.data["content"] == "second draft" and edit.data["edited_timestamp"] is not None
        assert edit.message.edited_at is not None

        embed = {"title": "Build passed", "description": "all green"}
        announced = await emu.send_user_message(emu.channel_id, "", user_id=helper_bot, embeds=[embed])
        seen = await arrival(emu, client, announced.id)
        assert seen.author.bot and seen.author.id == helper_bot and seen.embeds[0].title == "Build passed"
        with pytest.raises(ValueError, match="embeds"):
            await emu.send_user_message(emu.channel_id, "", embeds=[embed])  # alice's client cannot


async def test_webhook_messages(emu: DiscordEmulator) -> None:
    async with listening(emu) as client:
        hooked = await emu.send_webhook_message(emu.channel_id, "from CI", username="CI")
        seen = await arrival(emu, client, hooked.id)
        assert seen.webhook_id == hooked.webhook_id and seen.webhook_id is not None
        assert seen.author.bot and seen.author.name == "CI" and seen.author.id == seen.webhook_id
        assert not isinstance(seen.author, discord.Member)  # webhook messages carry no member
        again = await emu.send_webhook_message(emu.channel_id, "again")
        assert again.webhook_id == hooked.webhook_id  # one webhook per channel


async def test_redelivery_dispatches_the_same_message_twice(emu: DiscordEmulator) -> None:
    async with listening(emu) as client:
        said = await emu.send_user_message(emu.channel_id, "hello once")
        await arrival(emu, client, said.id)
        emu.redeliver(said.id)
        await emu.wait_for(lambda: sum(m.id == said.id for m in client.received) == 2, description="redelivery")
        assert [m.content for m in client.received if m.id == said.id] == ["hello once", "hello once"]
        assert len(emu.messages()) == 1
