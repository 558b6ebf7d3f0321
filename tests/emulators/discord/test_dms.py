"""The Discord emulator's direct messages and member role changes, driven by a real discord.py bot."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import discord
import pytest
from discord import app_commands
from discord.ext import commands

from tests.emulators.discord import ApiError, DiscordEmulator
from tests.emulators.discord.payloads import message_payload
from tests.support.emulator_clients import connected, fast_emulator

TOKEN = "emulator-dm-test-token"
BOT_DM_APP_PERMISSIONS = "562949953863680"  # EMBED_LINKS|ATTACH_FILES|MENTION_EVERYONE|USE_EXTERNAL_EMOJIS|SEND_POLLS
VIEW_SEND_AND_COMMANDS = (1 << 10) | (1 << 11) | (1 << 31)
MANAGE_MESSAGES = 1 << 13
pytestmark = pytest.mark.timeout(30)


# ---- a tiny bot -------------------------------------------------------------------------------------
class OkView(discord.ui.View):
    def __init__(self) -> None:
        super().__init__(timeout=30)

    @discord.ui.button(label="OK", custom_id="dm:ok", style=discord.ButtonStyle.primary)
    async def ok(self, interaction: discord.Interaction, button: discord.ui.Button[OkView]) -> None:
        await interaction.response.edit_message(content=f"clicked in {type(interaction.channel).__name__}", view=None)


class NoteModal(discord.ui.Modal, title="Note"):
    note: discord.ui.TextInput[NoteModal] = discord.ui.TextInput(label="Note", custom_id="dm:note")

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"noted: {self.note.value}", ephemeral=True)


class DMBot(commands.Bot):
    """Remembers messages and interactions; replies to ``echo ...`` DMs."""

    def __init__(self, *, dm_messages: bool = True, message_content: bool = False, members: bool = False) -> None:
        intents = discord.Intents.default()
        intents.dm_messages = dm_messages
        intents.message_content = message_content
        intents.members = members
        super().__init__(
            command_prefix="!",
            intents=intents,
            allowed_mentions=discord.AllowedMentions.none(),
            guild_ready_timeout=0.05,
        )
        self.received: list[discord.Message] = []
        self.replies: list[discord.Message] = []
        self.seen: list[discord.Interaction] = []
        self.member_updates: list[tuple[discord.Member, discord.Member]] = []

    async def setup_hook(self) -> None:
        self.tree.add_command(ask_dm)
        self.tree.add_command(panel)
        self.tree.add_command(guild_chat)
        self.tree.add_command(whoami)
        self.tree.add_command(dms_only)
        await self.tree.sync()

    async def on_message(self, message: discord.Message) -> None:
        self.received.append(message)
        if isinstance(message.channel, discord.DMChannel) and message.content.startswith("echo "):
            reply = await message.reply(message.content.removeprefix("echo "))
            self.replies.append(await reply.edit(content=reply.content + " (edited)"))

    async def on_member_update(self, before: discord.Member, after: discord.Member) -> None:
        self.member_updates.append((before, after))

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        self.seen.append(interaction)


@app_commands.command(name="askdm", description="Answer privately, in a DM or a server")
@app_commands.allowed_contexts(guilds=True, dms=True, private_channels=False)
async def ask_dm(interaction: discord.Interaction, prompt: str, tone: str | None = None) -> None:
    await interaction.response.send_message(f"private: {prompt}", ephemeral=True)
    await interaction.followup.send(f"followup: {prompt} ({tone})")


@ask_dm.autocomplete("tone")
async def tone_autocomplete(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
    where = "dm" if interaction.guild is None else "guild"
    return [app_commands.Choice(name=f"{current}-{where}", value=current)]


@app_commands.command(name="panel", description="A button and a modal")
@app_commands.allowed_contexts(guilds=True, dms=True, private_channels=False)
async def panel(interaction: discord.Interaction, modal: bool = False) -> None:
    if modal:
        await interaction.response.send_modal(NoteModal())
    else:
        await interaction.response.send_message("press", view=OkView())


@app_commands.command(name="guildchat", description="Only in servers")
@app_commands.guild_only()
async def guild_chat(interaction: discord.Interaction) -> None:
    await interaction.response.send_message("guild only")


@app_commands.command(name="dmsonly", description="Only in the bot's DM")
@app_commands.allowed_contexts(guilds=False, dms=True, private_channels=False)
async def dms_only(interaction: discord.Interaction) -> None:
    await interaction.response.send_message("dm only")


@app_commands.command(name="whoami", description="Show what Discord says about the caller")
async def whoami(interaction: discord.Interaction) -> None:
    await interaction.response.send_message("noted", ephemeral=True)


# ---- fixtures ----------------------------------------------------------------------------------------
@pytest.fixture
async def emu() -> AsyncIterator[DiscordEmulator]:
    async with fast_emulator(TOKEN) as emulator:
        yield emulator


@contextlib.asynccontextmanager
async def running_bot(emu: DiscordEmulator, **intents: bool) -> AsyncIterator[DMBot]:
    async with connected(emu, DMBot(**intents)) as bot:
        await emu.wait_for_commands()
        yield bot


def seen(bot: DMBot, interaction_id: int) -> discord.Interaction:
    return next(i for i in bot.seen if i.id == interaction_id)


async def raw(
    session: aiohttp.ClientSession, emu: DiscordEmulator, method: str, path: str, body: Any = None
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bot {emu.token}"}
    async with session.request(method, emu.api_base_url + path, json=body, headers=headers) as resp:
        return resp.status, json.loads(await resp.text())


# ---- DMs ---------------------------------------------------------------------------------------------
async def test_bot_receives_a_dm_replies_and_edits(emu: DiscordEmulator) -> None:
    bob = emu.add_member("bob")
    dm = emu.open_dm(bob)
    assert emu.open_dm(bob) == dm and emu.dm_channel_id(bob) == dm
    async with running_bot(emu, message_content=False) as bot:
        sent = await emu.send_user_message(dm, "echo hello bot")  # bob, the DM's recipient, by default
        await emu.wait_for(lambda: len(bot.replies) == 1)
        (received,) = bot.received[:1]
        assert received.guild is None and isinstance(received.channel, discord.DMChannel)
        assert received.author.id == bob and not isinstance(received.author, discord.Member)
        assert received.content == "echo hello bot"  # DMs carry content without MESSAGE_CONTENT
        assert sent.guild_id is None
        wire = message_payload(emu.core.world, sent, gateway=True)
        assert "guild_id" not in wire and "member" not in wire

        reply = emu.message(bot.replies[0].id)
        assert reply.channel_id == dm and reply.guild_id is None and reply.type == 19
        assert reply.message_reference == {"type": 0, "message_id": str(sent.id), "channel_id": str(dm)}
        assert [c for _, c in reply.edits] == ["hello bot", "hello bot (edited)"]
        assert [m.content for m in emu.messages(dm)] == ["echo hello bot", "hello bot (edited)"]
        assert all(r.bucket for r in emu.requests if r.route == "POST /channels/{channel_id}/messages")

        channel = await bot.fetch_channel(dm)
        assert isinstance(channel, discord.DMChannel) and channel.recipient is not None
        assert channel.recipient.id == bob
        async with channel.typing():
            pass
        assert emu.typing_events[-1][1] == dm
        with pytest.raises(discord.Forbidden) as err:  # only the author may delete in a DM
            await channel.get_partial_message(sent.id).delete()
        assert err.value.code == 50003
        await bot.replies[0].delete()
        assert emu.message(reply.id).deleted
        with pytest.raises(ValueError, match="cannot post in DM"):
            await emu.send_user_message(dm, "not my DM", user_id=emu.user_id)


async def test_dm_needs_the_direct_messages_intent(emu: DiscordEmulator) -> None:
    dm = emu.open_dm()
    async with running_bot(emu, dm_messages=False) as bot:
        assert emu.identify_intents is not None and not emu.identify_intents & (1 << 12)
        await emu.send_user_message(dm, "echo are you there?")
        guild_message = await emu.send_user_message(emu.channel_id, "in the guild")
        await emu.wait_for(lambda: any(m.id == guild_message.id for m in bot.received))
        assert [m.id for m in bot.received] == [guild_message.id] and bot.replies == []
        # Interactions need no intent, so slash commands in the DM still reach the bot.
        inter = await emu.run_slash_command("askdm", {"prompt": "hi"}, channel_id=dm)
        await inter.wait_for_response()


async def test_bot_opens_a_dm_and_sends(emu: DiscordEmulator) -> None:
    bob = emu.add_member("bob")
    async with running_bot(emu) as bot:
        user = await bot.fetch_user(bob)
        channel = await user.create_dm()
        assert emu.dm_channel_id(bob) == channel.id and emu.open_dm(bob) == channel.id
        again = await bot.http.start_private_message(bob)  # Create DM returns the same channel
        assert again["id"] == str(channel.id) and again["type"] == 1
        assert [r["id"] for r in again["recipients"]] == [str(bob)] and "guild_id" not in again
        sent = await user.send("hello from the bot")
        assert sent.channel.id == channel.id and emu.message(sent.id).guild_id is None
        assert [m.content for m in emu.messages(channel.id)] == ["hello from the bot"]
        assert not any(e.event == "CHANNEL_CREATE" for e in emu.gateway_events)  # none for DMs

        upload = await channel.send("file", file=discord.File(io.BytesIO(b"dm bytes"), filename="note.txt"))
        assert emu.message(upload.id).attachments[0].data == b"dm bytes"
        await upload.add_reaction("👍")
        assert emu.message(upload.id).reactions == ["👍"]
        started = time.monotonic()
        await asyncio.gather(*(channel.send(f"burst {i}") for i in range(4)))  # 6th send in the 1 s window
        assert time.monotonic() - started >= 0.9 and emu.rate_limit_hits == 0
        general = bot.get_channel(emu.channel_id)
        assert isinstance(general, discord.TextChannel)
        await general.send("in the guild")
        creates = [r for r in emu.requests if r.route == "POST /channels/{channel_id}/messages"]
        assert len({r.bucket for r in creates}) == 1  # one bucket family, keyed per channel id
        with pytest.raises(discord.HTTPException) as err:
            await bot.http.start_private_message(123456789012345678)
        assert (err.value.status, err.value.code) == (400, 50033)
        with pytest.raises(discord.Forbidden) as forbidden:
            await bot.http.edit_channel(channel.id, name="renamed")
        assert forbidden.value.code == 50003


async def test_thread_creation_in_a_dm_is_refused(emu: DiscordEmulator) -> None:
    dm = emu.open_dm()
    async with running_bot(emu) as bot:
        with pytest.raises(discord.HTTPException) as err:
            await bot.http.start_thread_without_message(dm, name="nope", auto_archive_duration=60, type=11)
        assert (err.value.status, err.value.code) == (400, 50024)
        message = await (await bot.fetch_channel(dm)).send("start here")  # type: ignore[union-attr]
        with pytest.raises(discord.HTTPException) as err:
            await bot.http.start_thread_with_message(dm, message.id, name="nope", auto_archive_duration=60)
        assert err.value.code == 50024
    with pytest.raises(ApiError, match="50024"):
        await emu.create_thread("from the user", channel_id=dm)
    assert emu.threads == []


# ---- interactions in DMs -----------------------------------------------------------------------------
async def test_slash_command_in_a_dm_is_ephemeral_with_followup(emu: DiscordEmulator) -> None:
    bob = emu.add_member("bob")
    dm = emu.open_dm(bob)
    async with running_bot(emu) as bot:
        stored = {c["name"]: c for c in emu.commands}
        assert (stored["askdm"]["contexts"], stored["askdm"]["dm_permission"]) == ([0, 1], True)
        assert (stored["guildchat"]["contexts"], stored["guildchat"]["dm_permission"]) == ([0], False)
        assert stored["whoami"]["contexts"] is None and stored["dmsonly"]["contexts"] == [1]

        inter = await emu.run_slash_command("askdm", {"prompt": "secret", "tone": "calm"}, channel_id=dm)
        body = inter.payload
        assert {"guild_id", "guild", "member", "guild_locale"}.isdisjoint(body)
        assert body["user"]["id"] == str(bob) and body["context"] == 1 and body["channel_id"] == str(dm)
        assert body["channel"]["type"] == 1 and body["channel"]["recipients"][0]["id"] == str(bob)
        assert body["authorizing_integration_owners"] == {"0": "0"}
        assert body["app_permissions"] == BOT_DM_APP_PERMISSIONS and inter.guild_id is None
        await inter.wait_for_response()
        (followup,) = await inter.wait_for_followups(1)
        original = inter.original_message
        assert original is not None and original.ephemeral and original.content == "private: secret"
        assert followup.content == "followup: secret (calm)" and followup.channel_id == dm
        assert not followup.ephemeral and followup.guild_id is None
        metadata = message_payload(emu.core.world, followup)["interaction_metadata"]
        assert metadata["authorizing_integration_owners"] == {"0": "0"} and metadata["user"]["id"] == str(bob)

        interaction = seen(bot, inter.id)
        assert interaction.guild is None and interaction.guild_id is None
        assert isinstance(interaction.channel, discord.DMChannel) and interaction.context.dm_channel
        assert isinstance(interaction.user, discord.User) and interaction.user.id == bob
        assert interaction.permissions.value == 0 and interaction.app_permissions.attach_files

        choices = await emu.autocomplete("askdm", {"prompt": "x", "tone": "wa"}, focused="tone", channel_id=dm)
        assert choices == [{"name": "wa-dm", "value": "wa"}]
        assert (await emu.run_slash_command("whoami", channel_id=dm)).payload["context"] == 1  # null contexts
        with pytest.raises(ValueError, match="not the recipient"):
            await emu.run_slash_command("askdm", {"prompt": "x"}, channel_id=dm, user_id=emu.user_id)


async def test_command_contexts_decide_where_the_client_offers_it(emu: DiscordEmulator) -> None:
    dm = emu.open_dm()
    async with running_bot(emu):
        with pytest.raises(ValueError, match="does not offer it in the bot's DM"):
            await emu.run_slash_command("guildchat", channel_id=dm)
        with pytest.raises(ValueError, match="does not offer it in the guild"):
            await emu.run_slash_command("dmsonly")
        inter = await emu.run_slash_command("dmsonly", channel_id=dm)
        await inter.wait_for_response()
        assert inter.original_message is not None and inter.original_message.content == "dm only"
        guild = await emu.run_slash_command("guildchat")
        assert guild.payload["context"] == 0 and guild.payload["member"]["user"]["id"] == str(emu.user_id)
    async with aiohttp.ClientSession() as session:  # commands the way other libraries register them
        legacy = [{"name": "legacy", "description": "d", "dm_permission": False}, {"name": "plain", "description": "d"}]
        assert (await raw(session, emu, "PUT", f"/applications/{emu.application_id}/commands", legacy))[0] == 200
        scoped = f"/applications/{emu.application_id}/guilds/{emu.guild_id}/commands"
        assert (await raw(session, emu, "PUT", scoped, [{"name": "local", "description": "d"}]))[0] == 200
    with pytest.raises(ValueError, match="dm_permission false"):
        await emu.run_slash_command("legacy", channel_id=dm)
    with pytest.raises(ValueError, match="guild command"):
        await emu.run_slash_command("local", channel_id=dm)
    assert (await emu.run_slash_command("plain", channel_id=dm)).payload["context"] == 1
    assert (await emu.run_slash_command("legacy")).payload["context"] == 0


async def test_button_and_modal_in_a_dm(emu: DiscordEmulator) -> None:
    bob = emu.add_member("bob")
    dm = emu.open_dm(bob)
    async with running_bot(emu) as bot:
        inter = await emu.run_slash_command("panel", channel_id=dm)
        await inter.wait_for_response()
        message = inter.original_message
        assert message is not None and message.custom_ids() == ["dm:ok"] and message.guild_id is None
        click = await emu.click_button(message.id, "dm:ok")  # as bob, the DM's recipient
        assert (await click.wait_for_response()).type == 7
        assert message.content == "clicked in DMChannel" and message.components == []
        assert click.payload["user"]["id"] == str(bob) and "member" not in click.payload
        assert click.payload["context"] == 1 and "guild_id" not in click.payload["message"]
        assert seen(bot, click.id).message is not None

        opened = await emu.run_slash_command("panel", {"modal": True}, channel_id=dm)
        assert (await opened.wait_for_response()).type == 9
        submitted = await emu.submit_modal(opened, {"dm:note": "remember"})
        await submitted.wait_for_response()
        assert submitted.payload["context"] == 1 and submitted.guild_id is None
        assert submitted.original_message is not None and submitted.original_message.ephemeral
        assert submitted.original_message.content == "noted: remember"


# ---- member roles ------------------------------------------------------------------------------------
async def test_member_roles_change_permissions_and_roles_the_bot_sees(emu: DiscordEmulator) -> None:
    emu.set_everyone_permissions(VIEW_SEND_AND_COMMANDS)
    mods = emu.add_role("mods", permissions=VIEW_SEND_AND_COMMANDS | MANAGE_MESSAGES)
    admins = emu.add_role("admins", permissions=1 << 3)
    helpers = emu.add_role("helpers", permissions=0)
    bob = emu.add_member("bob", roles=[helpers])
    assert emu.core.world.members[bob].roles == [helpers]
    async with running_bot(emu, members=True) as bot:
        before = await emu.run_slash_command("whoami", user_id=bob)
        await before.wait_for_response()
        assert not seen(bot, before.id).permissions.manage_messages

        emu.set_member_roles(bob, [mods, helpers])
        guild = bot.get_guild(emu.guild_id)
        assert guild is not None
        await emu.wait_for(lambda: bool(bot.member_updates))
        cached = guild.get_member(bob)
        assert cached is not None and {r.id for r in cached.roles} >= {mods, helpers}

        after = await emu.run_slash_command("whoami", user_id=bob)
        await after.wait_for_response()
        member = seen(bot, after.id).user
        assert isinstance(member, discord.Member) and {r.id for r in member.roles} >= {mods, helpers}
        assert seen(bot, after.id).permissions.manage_messages
        assert not seen(bot, after.id).permissions.administrator

        said = await emu.send_user_message(emu.channel_id, "with my new role", user_id=bob)
        await emu.wait_for(lambda: any(m.id == said.id for m in bot.received))
        author = next(m for m in bot.received if m.id == said.id).author
        assert isinstance(author, discord.Member) and mods in {r.id for r in author.roles}

        emu.set_member_roles(bob, [admins])  # Administrator grants every permission
        admin = await emu.run_slash_command("whoami", user_id=bob)
        await admin.wait_for_response()
        assert seen(bot, admin.id).permissions.value == (1 << 51) - 1
        with pytest.raises(ValueError, match="managed"):
            emu.set_member_roles(bob, [emu.core.world.bot_role_id])
        with pytest.raises(ValueError, match="@everyone"):
            emu.set_member_roles(bob, [emu.guild_id])


async def test_member_update_needs_the_members_intent_except_for_the_bot(emu: DiscordEmulator) -> None:
    bob = emu.add_member("bob")
    role = emu.add_role("testers")
    async with running_bot(emu, members=False) as bot:

        def updates() -> int:
            return sum(1 for e in emu.gateway_events if e.event == "GUILD_MEMBER_UPDATE")

        emu.set_member_roles(bob, [role])
        marker = await emu.send_user_message(emu.channel_id, "after the change")
        await emu.wait_for(lambda: any(m.id == marker.id for m in bot.received))
        assert updates() == 0
        emu.set_member_roles(emu.bot_user_id, [role])  # the bot's own member: always sent
        await emu.wait_for(lambda: updates() == 1)
        await emu.wait_for(lambda: bool(bot.member_updates))
        guild = bot.get_guild(emu.guild_id)
        assert guild is not None and guild.me is not None
        assert {r.id for r in guild.me.roles} >= {role, emu.core.world.bot_role_id}  # managed role kept
