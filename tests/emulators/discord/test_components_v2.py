"""The Discord emulator's Components V2 (IS_COMPONENTS_V2, 1 << 15): layouts a real discord.py LayoutView sends,
and what Discord refuses (content or embeds with the flag, more than 40 components, more than 4,000 characters
of text, components where the layout does not allow them, removing the flag), on channel messages, interaction
responses and followups.

Sources: components/reference.mdx; resources/message.mdx "Create Message", "Edit Message"; discord-api-docs#8562
(see the emulator's components_v2 module).
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import discord
import pytest
from discord import app_commands

from tests.emulators.discord import COMPONENTS_V2_FLAG, DiscordEmulator
from tests.support.emulator_clients import connected, fast_emulator, rest

TOKEN = "emulator-components-v2-token"
LEGACY = "MESSAGE_CANNOT_USE_LEGACY_FIELDS_WITH_COMPONENTS_V2"
REFUSED = "field cannot be used when using MessageFlags.IS_COMPONENTS_V2"  # what discord.py shows of it
pytestmark = pytest.mark.timeout(30)


class Layout(discord.ui.LayoutView):
    """Every kind of layout component, with a button in a container and one as a section's accessory."""

    def __init__(self, text: str = "The answer") -> None:
        super().__init__(timeout=30)
        self.pressed: list[str] = []
        stop = discord.ui.Button(label="Stop", custom_id="v2:stop")
        stop.callback = self.press
        more = discord.ui.Button(label="More", custom_id="v2:more")
        more.callback = self.press
        self.add_item(
            discord.ui.Container(
                discord.ui.TextDisplay(text),
                discord.ui.Section("Source: example.org", accessory=discord.ui.Thumbnail("https://example.org/a.png")),
                discord.ui.Separator(),
                discord.ui.MediaGallery(discord.MediaGalleryItem("https://example.org/b.png")),
                discord.ui.File("attachment://notes.txt"),
                discord.ui.ActionRow(stop),
                accent_colour=0x5865F2,
            )
        )
        self.add_item(discord.ui.Section("Read on", accessory=more))

    async def press(self, interaction: discord.Interaction) -> None:
        self.pressed.append(str((interaction.data or {}).get("custom_id")))
        await interaction.response.defer()


class LayoutBot(discord.Client):
    """``/card``: answers with a layout (``defer`` first when asked), then a V2 followup; ``/mixed`` adds content."""

    def __init__(self) -> None:
        super().__init__(intents=discord.Intents.default(), guild_ready_timeout=0.05)
        self.tree = app_commands.CommandTree(self)
        self.errors: list[discord.HTTPException] = []
        self.tree.add_command(app_commands.Command(name="card", description="A card", callback=self.card))
        self.tree.add_command(app_commands.Command(name="mixed", description="Content too", callback=self.mixed))

    async def setup_hook(self) -> None:
        await self.tree.sync()

    async def card(self, interaction: discord.Interaction, deferred: bool = False) -> None:
        notes = discord.File(io.BytesIO(b"notes"), filename="notes.txt")
        if deferred:
            await interaction.response.defer(thinking=True)
            await interaction.edit_original_response(view=Layout(), attachments=[notes])
        else:
            await interaction.response.send_message(view=Layout(), file=notes)
        await interaction.followup.send(view=discord.ui.LayoutView().add_item(discord.ui.TextDisplay("more")))
        try:
            await interaction.followup.send(
                "plain text", view=discord.ui.LayoutView().add_item(discord.ui.TextDisplay("x"))
            )
        except discord.HTTPException as exc:
            self.errors.append(exc)

    async def mixed(self, interaction: discord.Interaction) -> None:
        try:
            await interaction.response.send_message("hello", view=Layout())
        except discord.HTTPException as exc:
            self.errors.append(exc)
            await interaction.response.send_message("fell back")


@pytest.fixture
async def emu() -> AsyncIterator[DiscordEmulator]:
    async with fast_emulator(TOKEN) as emulator:
        yield emulator


@contextlib.asynccontextmanager
async def layout_bot(emu: DiscordEmulator) -> AsyncIterator[LayoutBot]:
    async with connected(emu, LayoutBot()) as bot:
        await emu.wait_for_commands()
        yield bot


def text(content: str) -> dict[str, Any]:
    return {"type": 10, "content": content}


# ---- channel messages --------------------------------------------------------------------------------
async def test_a_layout_view_is_sent_and_edited_and_its_buttons_work(emu: DiscordEmulator) -> None:
    async with connected(emu, discord.Client(intents=discord.Intents.default(), guild_ready_timeout=0.05)) as bot:
        channel = bot.get_channel(emu.channel_id)
        assert isinstance(channel, discord.TextChannel)
        view = Layout()
        sent = await channel.send(view=view, file=discord.File(io.BytesIO(b"notes"), filename="notes.txt"))
        record = emu.message(sent.id)
        assert record.flags & COMPONENTS_V2_FLAG and record.content == "" and sent.flags.components_v2
        assert [c["type"] for c in record.components] == [17, 9]
        assert [c["type"] for c in record.components[0]["components"]] == [10, 9, 14, 12, 13, 1]
        assert sorted(record.custom_ids()) == ["v2:more", "v2:stop"]
        for custom_id in ("v2:stop", "v2:more"):  # in a container's action row, and a section's accessory
            click = await emu.click_button(sent.id, custom_id)
            await click.wait_for_response()
        assert view.pressed == ["v2:stop", "v2:more"]

        edited = await sent.edit(view=Layout("Edited"))
        assert emu.message(sent.id).components[0]["components"][0]["content"] == "Edited"
        assert edited.flags.components_v2

        with pytest.raises(discord.HTTPException) as refused:  # no content on a V2 message, even in an edit
            await sent.edit(content="plain now")
        assert refused.value.code == 50035 and REFUSED in refused.value.text
        with pytest.raises(discord.HTTPException) as mixed:
            await channel.send("hello", view=Layout())
        assert mixed.value.code == 50035 and REFUSED in mixed.value.text

        plain = await channel.send("first plain")  # a legacy message may become V2 once its content is cleared
        with pytest.raises(discord.HTTPException):
            await plain.edit(view=Layout())
        await plain.edit(content=None, view=Layout())
        assert emu.message(plain.id).flags & COMPONENTS_V2_FLAG and emu.message(plain.id).content == ""


async def test_the_flag_cannot_be_removed_and_legacy_fields_are_refused(emu: DiscordEmulator) -> None:
    path = f"/channels/{emu.channel_id}/messages"
    async with aiohttp.ClientSession() as session:
        status, msg = await rest(session, emu, "POST", path, {"flags": COMPONENTS_V2_FLAG, "components": [text("hi")]})
        assert status == 200 and msg["flags"] & COMPONENTS_V2_FLAG
        status, body = await rest(
            session, emu, "PATCH", f"{path}/{msg['id']}", {"flags": 0, "components": [text("still V2")]}
        )
        assert status == 200 and body["flags"] & COMPONENTS_V2_FLAG  # the flag "can only be set"
        status, body = await rest(session, emu, "PATCH", f"{path}/{msg['id']}", {"flags": 0, "content": "legacy"})
        assert status == 400 and body["errors"]["content"]["_errors"][0]["code"] == LEGACY

        legacy = {
            "flags": COMPONENTS_V2_FLAG,
            "components": [text("x")],
            "content": "no",
            "embeds": [{"title": "no"}],
            "sticker_ids": [str(emu.sticker_id)],
            "poll": {"question": {"text": "no"}, "answers": [{"poll_media": {"text": "a"}}]},
        }
        status, body = await rest(session, emu, "POST", path, legacy)
        assert status == 400 and body["code"] == 50035
        assert set(body["errors"]) == {"content", "embeds", "sticker_ids", "poll"}
        empty = {"flags": COMPONENTS_V2_FLAG, "components": [text("x")], "content": "", "embeds": []}
        assert (await rest(session, emu, "POST", path, empty))[0] == 200  # empty legacy fields are fine


async def test_forty_components_and_four_thousand_characters(emu: DiscordEmulator) -> None:
    path = f"/channels/{emu.channel_id}/messages"

    def v2(components: list[Any]) -> dict[str, Any]:
        return {"flags": COMPONENTS_V2_FLAG, "components": components}

    row = {"type": 1, "components": [{"type": 2, "style": 1, "label": "b", "custom_id": "b"}]}
    async with aiohttp.ClientSession() as session:
        forty = [{"type": 17, "components": [text("t") for _ in range(37)]}, row]  # 1 + 37 + 2 = 40
        assert (await rest(session, emu, "POST", path, v2(forty)))[0] == 200
        forty[0]["components"].append(text("one too many"))
        status, body = await rest(session, emu, "POST", path, v2(forty))
        assert status == 400 and body["errors"]["components"]["_errors"][0]["code"] == "BASE_TYPE_MAX_LENGTH"

        assert (await rest(session, emu, "POST", path, v2([text("a" * 4000)])))[0] == 200
        status, body = await rest(session, emu, "POST", path, v2([text("a" * 2000), text("b" * 2001)]))
        assert status == 400 and "4000" in body["errors"]["components"]["_errors"][0]["message"]
        inside = v2(
            [
                {"type": 17, "components": [text("a" * 3000)]},
                {"type": 9, "components": [text("b" * 1001)], "accessory": row["components"][0]},
            ]
        )
        assert (await rest(session, emu, "POST", path, inside))[0] == 400  # nested text counts too


async def test_components_only_where_the_layout_allows_them(emu: DiscordEmulator) -> None:
    path = f"/channels/{emu.channel_id}/messages"
    button = {"type": 2, "style": 1, "label": "b", "custom_id": "b"}
    cases: list[tuple[list[Any], tuple[Any, ...]]] = [
        ([button], ("0", "type")),  # a button only in an action row or as an accessory
        ([{"type": 11, "media": {"url": "https://example.org/a.png"}}], ("0", "type")),  # thumbnail: accessory
        ([{"type": 17, "components": [{"type": 17, "components": [text("x")]}]}], ("0", "components", "0", "type")),
        ([{"type": 9, "components": [text("x")]}], ("0", "accessory")),
        ([{"type": 9, "components": [text(str(i)) for i in range(4)], "accessory": button}], ("0", "components")),
        ([{"type": 13, "file": {"url": "https://example.org/a.txt"}}], ("0", "file", "url")),
        ([{"type": 12, "items": []}], ("0", "items")),
        ([{"type": 18, "label": "x", "component": {"type": 4, "custom_id": "t", "style": 1}}], ("0", "type")),
        ([{"type": 14, "spacing": 3}], ("0", "spacing")),
        ([{"type": 17, "accent_color": 0x1000000, "components": [text("x")]}], ("0", "accent_color")),
        ([text("")], ("0", "content")),
        (
            [{"type": 1, "components": [button]}, {"type": 9, "components": [text("x")], "accessory": button}],
            ("1", "accessory", "custom_id"),
        ),
    ]
    async with aiohttp.ClientSession() as session:
        for components, where in cases:
            status, body = await rest(
                session, emu, "POST", path, {"flags": COMPONENTS_V2_FLAG, "components": components}
            )
            assert status == 400 and body["code"] == 50035, components
            node = body["errors"]["components"]
            for key in where:
                node = node[key]
            assert "_errors" in node, (components, body["errors"])
        # Without the flag nothing changes: layout components are refused, 5 action rows at most.
        status, body = await rest(session, emu, "POST", path, {"components": [{"type": 17, "components": [text("x")]}]})
        assert status == 400 and body["errors"]["components"]["0"]["type"]["_errors"][0]["code"] == "UNION_TYPE_CHOICES"
        rows = [{"type": 1, "components": [dict(button, custom_id=f"b{i}")]} for i in range(6)]
        assert (await rest(session, emu, "POST", path, {"content": "x", "components": rows}))[0] == 400
        assert (await rest(session, emu, "POST", path, {"content": "x", "components": rows[:5]}))[0] == 200


# ---- interactions ------------------------------------------------------------------------------------
async def test_interaction_responses_and_followups_take_layouts(emu: DiscordEmulator) -> None:
    async with layout_bot(emu) as bot:
        for deferred in (False, True):
            inter = await emu.run_slash_command("card", {"deferred": deferred})
            errors = 1 + deferred
            await emu.wait_for(
                lambda inter=inter, errors=errors: len(inter.followups) == 1 and len(bot.errors) == errors
            )
            original = inter.original_message
            assert original is not None and original.flags & COMPONENTS_V2_FLAG and not original.loading
            assert [a.filename for a in original.attachments] == ["notes.txt"]
            assert inter.followups[0].flags & COMPONENTS_V2_FLAG
            assert bot.errors[-1].code == 50035 and REFUSED in bot.errors[-1].text  # followup with content + V2
        mixed = await emu.run_slash_command("mixed")
        await mixed.wait_for_response()
        assert mixed.original_message is not None and mixed.original_message.content == "fell back"
        assert bot.errors[-1].code == 50035 and REFUSED in bot.errors[-1].text
