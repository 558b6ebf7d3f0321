"""The Discord emulator's message commands (Apps menu on a message), driven by a real discord.py bot.

Shapes from the Discord docs: application-commands.mdx "Message Commands" (type 3, no description, the
example interaction) and receiving-and-responding.mdx "Application Command Data Structure" (`target_id`,
`resolved.messages`).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import discord
import pytest
from discord import app_commands

from tests.emulators.discord import AttachmentSpec, DiscordEmulator
from tests.support.emulator_clients import connected, fast_emulator

TOKEN = "emulator-message-commands-token"
pytestmark = pytest.mark.timeout(30)


class MenuBot(discord.Client):
    """Registers one message command that remembers the message it was run on and answers with its text."""

    def __init__(self) -> None:
        super().__init__(intents=discord.Intents.default(), guild_ready_timeout=0.05)
        self.tree = app_commands.CommandTree(self)
        self.targets: list[discord.Message] = []
        menu = app_commands.ContextMenu(name="Quote it", callback=self.quote, type=discord.AppCommandType.message)
        menu.allowed_contexts = app_commands.AppCommandContext(guild=True, dm_channel=False)
        self.tree.add_command(menu)

    async def setup_hook(self) -> None:
        await self.tree.sync()

    async def quote(self, interaction: discord.Interaction, message: discord.Message) -> None:
        self.targets.append(message)
        secret = message.content == "secret"
        await interaction.response.send_message(f"{message.author.name} said: {message.content}", ephemeral=secret)


@pytest.fixture
async def emu() -> AsyncIterator[DiscordEmulator]:
    async with fast_emulator(TOKEN) as emulator:
        yield emulator


@contextlib.asynccontextmanager
async def menu_bot(emu: DiscordEmulator) -> AsyncIterator[MenuBot]:
    async with connected(emu, MenuBot()) as bot:
        await emu.wait_for_commands()
        yield bot


async def test_a_message_command_is_registered_without_description_and_reaches_the_bot_with_its_message(
    emu: DiscordEmulator,
) -> None:
    bob = emu.add_member("bob")
    note = AttachmentSpec("notes.txt", b"remember the milk", "text/plain")
    async with menu_bot(emu) as bot:
        (command,) = emu.commands
        assert (command["name"], command["type"], command["description"]) == ("Quote it", 3, "")
        target = await emu.send_user_message(None, "ship it on Friday", user_id=bob, attachments=[note])

        run = await emu.run_message_command("Quote it", target.id)
        await run.wait_for_response()

        data = run.payload["data"]
        assert data["type"] == 3 and data["target_id"] == str(target.id) and data["id"] == command["id"]
        assert list(data["resolved"]["messages"]) == [str(target.id)]
        assert "options" not in data and run.user_id == emu.user_id and run.channel_id == emu.channel_id
        (seen,) = bot.targets
        assert seen.id == target.id and seen.author.id == bob and seen.content == "ship it on Friday"
        assert isinstance(seen.channel, discord.TextChannel) and seen.channel.id == emu.channel_id
        assert [a.filename for a in seen.attachments] == ["notes.txt"]
        assert emu.downloaded_attachments == []
        assert await seen.attachments[0].read() == b"remember the milk"  # the attachment is served by the CDN
        assert emu.downloaded_attachments == [seen.attachments[0].id]
        answer = run.original_message
        assert answer is not None and answer.content == "bob said: ship it on Friday"
        assert answer.type == 23  # CONTEXT_MENU_COMMAND (resources/message.mdx, Message Types)


async def test_a_message_command_runs_in_a_thread_and_not_where_the_client_would_not_offer_it(
    emu: DiscordEmulator,
) -> None:
    async with menu_bot(emu) as bot:
        thread = await emu.create_thread("side talk")
        inside = await emu.send_user_message(thread.id, "in the thread")
        run = await emu.run_message_command("Quote it", inside.id)
        await run.wait_for_response()
        assert bot.targets[-1].id == inside.id and isinstance(bot.targets[-1].channel, discord.Thread)

        dm = emu.open_dm()
        in_dm = await emu.send_user_message(dm, "a DM")
        with pytest.raises(ValueError, match="contexts"):  # registered for guilds only
            await emu.run_message_command("Quote it", in_dm.id)
        with pytest.raises(ValueError, match="not registered"):
            await emu.run_message_command("Nope", inside.id)
        secret = await emu.run_message_command("Quote it", (await emu.send_user_message(thread.id, "secret")).id)
        await secret.wait_for_response()
        assert secret.original_message is not None and secret.original_message.ephemeral
        with pytest.raises(ValueError, match="ephemeral"):  # an ephemeral message has no Apps menu
            await emu.run_message_command("Quote it", secret.original_message.id)
