"""The Discord emulator's modals with the newer components: Labels wrapping a Text Input, a String Select and a File
Upload, and a Text Display, opened by a real discord.py 2.7 bot and submitted with text, a choice and files.

Sources: receiving-and-responding.mdx "Modal", "Modal Submit Data Structure"; components/reference.mdx "Label",
"Text Input", "String Select", "File Upload", "Text Display" (see the emulator's modals module).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import discord
import pytest
from discord import app_commands

from tests.emulators.discord import AttachmentSpec, DiscordEmulator
from tests.support.emulator_clients import connected, fast_emulator

TOKEN = "emulator-modals-token"
pytestmark = pytest.mark.timeout(30)


class Composer(discord.ui.Modal, title="Compose"):
    intro = discord.ui.TextDisplay("Write as much as you like; attach text files or a voice note.")
    prompt: discord.ui.Label[Composer] = discord.ui.Label(
        text="Prompt",
        description="What should the AI answer?",
        component=discord.ui.TextInput(custom_id="c:prompt", style=discord.TextStyle.paragraph, max_length=4000),
    )
    provider: discord.ui.Label[Composer] = discord.ui.Label(
        text="Provider",
        component=discord.ui.Select(
            custom_id="c:provider",
            options=[
                discord.SelectOption(label="aBLT", value="ablt"),
                discord.SelectOption(label="Convai", value="convai"),
            ],
        ),
    )
    upload: discord.ui.Label[Composer] = discord.ui.Label(
        text="Files", component=discord.ui.FileUpload(custom_id="c:file", required=False, max_values=2)
    )

    def __init__(self, seen: list[dict[str, Any]]) -> None:
        super().__init__(timeout=30)
        self.seen = seen

    async def on_submit(self, interaction: discord.Interaction) -> None:
        assert isinstance(self.prompt.component, discord.ui.TextInput)
        assert isinstance(self.provider.component, discord.ui.Select)
        assert isinstance(self.upload.component, discord.ui.FileUpload)
        files = {a.filename: await a.read() for a in self.upload.component.values}
        self.seen.append(
            {"prompt": self.prompt.component.value, "provider": self.provider.component.values, "files": files}
        )
        await interaction.response.send_message(f"asking {self.provider.component.values[0]}")


class Prefilled(discord.ui.Modal, title="Prefilled"):
    """Opened with a value and a default option already in place (the member's earlier draft, say)."""

    note: discord.ui.Label[Prefilled] = discord.ui.Label(
        text="Note", component=discord.ui.TextInput(custom_id="p:note", default="kept words", required=False)
    )
    pick: discord.ui.Label[Prefilled] = discord.ui.Label(
        text="Pick",
        component=discord.ui.Select(
            custom_id="p:pick",
            options=[
                discord.SelectOption(label="A", value="a"),
                discord.SelectOption(label="B", value="b", default=True),
            ],
        ),
    )

    def __init__(self, seen: list[dict[str, Any]]) -> None:
        super().__init__(timeout=30)
        self.seen = seen

    async def on_submit(self, interaction: discord.Interaction) -> None:
        assert isinstance(self.note.component, discord.ui.TextInput)
        assert isinstance(self.pick.component, discord.ui.Select)
        self.seen.append({"note": self.note.component.value, "pick": self.pick.component.values})
        await interaction.response.send_message("noted")


class BadModal(discord.ui.Modal, title="Bad"):
    """A select added straight to a modal: discord.py wraps it in an Action Row, which modals do not allow."""

    choice: discord.ui.Select[BadModal] = discord.ui.Select(
        custom_id="bad:choice", options=[discord.SelectOption(label="a", value="a")]
    )


class ModalBot(discord.Client):
    def __init__(self) -> None:
        super().__init__(intents=discord.Intents.default(), guild_ready_timeout=0.05)
        everywhere = app_commands.AppCommandContext(guild=True, dm_channel=True, private_channel=True)
        installs = app_commands.AppInstallationType(guild=True, user=True)
        self.tree = app_commands.CommandTree(self, allowed_contexts=everywhere, allowed_installs=installs)
        self.seen: list[dict[str, Any]] = []
        self.errors: list[discord.HTTPException] = []
        self.tree.add_command(app_commands.Command(name="compose", description="Compose", callback=self.compose))
        self.tree.add_command(app_commands.Command(name="bad", description="A bad modal", callback=self.bad))
        self.tree.add_command(app_commands.Command(name="again", description="Prefilled", callback=self.again))

    async def setup_hook(self) -> None:
        await self.tree.sync()

    async def compose(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(Composer(self.seen))

    async def again(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(Prefilled(self.seen))

    async def bad(self, interaction: discord.Interaction) -> None:
        try:
            await interaction.response.send_modal(BadModal())
        except discord.HTTPException as exc:
            self.errors.append(exc)
            await interaction.response.send_message("could not open it")


@pytest.fixture
async def emu() -> AsyncIterator[DiscordEmulator]:
    async with fast_emulator(TOKEN) as emulator:
        emulator.support_user_installs()
        yield emulator


@contextlib.asynccontextmanager
async def modal_bot(emu: DiscordEmulator) -> AsyncIterator[ModalBot]:
    async with connected(emu, ModalBot()) as bot:
        await emu.wait_for_commands()
        yield bot


async def test_a_composer_modal_with_text_a_choice_and_files(emu: DiscordEmulator) -> None:
    async with modal_bot(emu) as bot:
        opened = await emu.run_slash_command("compose")
        await opened.wait_for_response()
        assert opened.modal is not None and [c["type"] for c in opened.modal["components"]] == [10, 18, 18, 18]
        assert [c["component"]["type"] for c in opened.modal["components"][1:]] == [4, 3, 19]

        notes = AttachmentSpec("notes.txt", b"remember the milk", "text/plain")
        voice = AttachmentSpec("voice.ogg", b"OggS fake", "audio/ogg")
        long_prompt = "why? " * 700  # 3,500 characters: more than a message's 2,000
        submitted = await emu.submit_modal(
            opened, {"c:prompt": long_prompt, "c:provider": ["convai"], "c:file": [notes, voice]}
        )
        await submitted.wait_for_response()
        assert bot.seen == [
            {
                "prompt": long_prompt,
                "provider": ["convai"],
                "files": {"notes.txt": b"remember the milk", "voice.ogg": b"OggS fake"},
            }
        ]
        assert submitted.original_message is not None and submitted.original_message.content == "asking convai"

        data = submitted.payload["data"]
        display, prompt, provider, upload = data["components"]
        assert display["type"] == 10 and isinstance(display["id"], int)
        assert prompt["type"] == 18 and prompt["component"] == {
            "type": 4,
            "id": prompt["component"]["id"],
            "custom_id": "c:prompt",
            "value": long_prompt,
        }
        assert provider["component"]["type"] == 3 and provider["component"]["values"] == ["convai"]
        file_ids = upload["component"]["values"]
        assert upload["component"]["type"] == 19 and len(file_ids) == 2
        ids = [display["id"], prompt["id"], prompt["component"]["id"], provider["id"], upload["id"]]
        assert len(set(ids)) == len(ids)  # "generated sequentially", unique in the modal
        resolved = data["resolved"]["attachments"]
        assert set(resolved) == set(file_ids) and all(a["ephemeral"] for a in resolved.values())
        assert (
            resolved[file_ids[0]]["filename"] == "notes.txt" and resolved[file_ids[0]]["content_type"] == "text/plain"
        )
        assert [str(i) for i in emu.downloaded_attachments] == file_ids  # the bot read both from the fake CDN

        again = await emu.run_slash_command("compose")
        await again.wait_for_response()
        without_files = await emu.submit_modal(again, {"c:prompt": "short", "c:provider": ["ablt"]})
        await without_files.wait_for_response()
        assert bot.seen[-1] == {"prompt": "short", "provider": ["ablt"], "files": {}}
        assert "resolved" not in without_files.payload["data"]


async def test_what_the_client_would_not_let_a_user_submit(emu: DiscordEmulator) -> None:
    async with modal_bot(emu):
        opened = await emu.run_slash_command("compose")
        await opened.wait_for_response()
        note = AttachmentSpec("a.txt", b"a", "text/plain")
        refusals: list[tuple[dict[str, Any], str]] = [
            ({"c:provider": ["ablt"]}, "required"),
            ({"c:prompt": "x", "c:provider": ["gpt"]}, "not among"),
            ({"c:prompt": "x", "c:provider": []}, "between 1 and 1"),
            ({"c:prompt": "x", "c:provider": ["ablt"], "c:file": [note, note, note]}, "0 to 2 files"),
            ({"c:prompt": "x", "c:provider": ["ablt"], "c:file": "a.txt"}, "AttachmentSpec"),
            ({"c:prompt": "x", "c:provider": ["ablt"], "c:other": "?"}, "no inputs"),
        ]
        for values, why in refusals:
            with pytest.raises(ValueError, match=why):
                await emu.submit_modal(opened, values)
        emu.core.messages.max_file_size = 4
        with pytest.raises(ValueError, match="upload limit"):
            big = AttachmentSpec("big.txt", b"12345", "text/plain")
            await emu.submit_modal(opened, {"c:prompt": "x", "c:provider": ["ablt"], "c:file": [big]})


async def test_modals_only_hold_what_discord_allows(emu: DiscordEmulator) -> None:
    async with modal_bot(emu) as bot:
        inter = await emu.run_slash_command("bad")
        await inter.wait_for_response()
        (refused,) = bot.errors
        assert refused.code == 50035 and inter.original_message is not None
        assert inter.rejected_callbacks == 0 and inter.callbacks[0].type == 4  # the modal (type 9) never opened


async def test_the_composer_in_a_group_dm_through_a_user_install(emu: DiscordEmulator) -> None:
    bob = emu.add_user("bob")
    emu.install_app(bob)
    gdm = emu.open_group_dm(bob, [emu.user_id])
    async with modal_bot(emu) as bot:
        opened = await emu.run_slash_command("compose", channel_id=gdm, user_id=bob)
        await opened.wait_for_response()
        clip = AttachmentSpec("voice-message.ogg", b"OggS", "audio/ogg", duration_secs=1.5, waveform="AAAA")
        submitted = await emu.submit_modal(opened, {"c:prompt": "hi", "c:provider": ["convai"], "c:file": [clip]})
        await submitted.wait_for_response()
        assert submitted.context == 2 and submitted.authorizing_integration_owners == {"1": str(bob)}
        assert bot.seen[-1]["files"] == {"voice-message.ogg": b"OggS"}


async def test_a_prefilled_value_and_default_option_are_sent_unless_the_user_changes_them(emu: DiscordEmulator) -> None:
    async with modal_bot(emu) as bot:
        opened = await emu.run_slash_command("again")
        await opened.wait_for_response()
        untouched = await emu.submit_modal(opened, {})
        await untouched.wait_for_response()
        assert bot.seen[-1] == {"note": "kept words", "pick": ["b"]}

        reopened = await emu.run_slash_command("again")
        await reopened.wait_for_response()
        changed = await emu.submit_modal(reopened, {"p:note": "", "p:pick": ["a"]})
        await changed.wait_for_response()
        assert bot.seen[-1] == {"note": "", "pick": ["a"]}


async def test_a_crafted_submission_reaches_the_bot_exactly_as_given(emu: DiscordEmulator) -> None:
    async with modal_bot(emu) as bot:
        opened = await emu.run_slash_command("again")
        await opened.wait_for_response()
        assert opened.modal is not None
        field = {"type": 4, "id": 2, "custom_id": "p:note", "value": "x" * 5000}  # past what a client allows
        data = {"custom_id": opened.modal["custom_id"], "components": [{"type": 18, "id": 1, "component": field}]}
        crafted = await emu.submit_crafted_modal(opened, data)
        await crafted.wait_for_response()
        assert crafted.payload["data"] == data and crafted.payload["type"] == 5
        assert bot.seen[-1]["note"] == "x" * 5000
