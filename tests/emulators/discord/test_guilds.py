"""The Discord emulator with several guilds, driven by a real (unsharded) discord.py bot: everything
about a channel resolves against the guild it belongs to."""

from __future__ import annotations

from collections.abc import AsyncIterator

import discord
import pytest
from discord import app_commands
from discord.ext import commands

from tests.emulators.discord import ApiError, DiscordEmulator
from tests.support.emulator_clients import connected, fast_emulator

TOKEN = "emulator-guilds-test-token"
VIEW_SEND_AND_COMMANDS = (1 << 10) | (1 << 11) | (1 << 31)
SEND_MESSAGES = 1 << 11
pytestmark = pytest.mark.timeout(30)


class PressView(discord.ui.View):
    def __init__(self) -> None:
        super().__init__(timeout=30)

    @discord.ui.button(label="Press", custom_id="guilds:press")
    async def press(self, interaction: discord.Interaction, button: discord.ui.Button[PressView]) -> None:
        await interaction.response.edit_message(content=f"pressed in {interaction.guild_id}", view=None)


@app_commands.command(name="whoami", description="Where am I and what may I do")
async def whoami(interaction: discord.Interaction) -> None:
    member = interaction.user
    assert isinstance(member, discord.Member) and interaction.guild is not None
    roles = ",".join(sorted(r.name for r in member.roles if not r.is_default()))
    text = f"{interaction.guild.name}|{roles}|{interaction.permissions.value}"
    await interaction.response.send_message(text, view=PressView())


@app_commands.command(name="local", description="Registered in one guild only")
async def local(interaction: discord.Interaction) -> None:
    await interaction.response.send_message(f"local to {interaction.guild_id}")


class GuildBot(commands.Bot):
    def __init__(self, *, local_guild: int | None = None) -> None:
        intents = discord.Intents.default()
        intents.message_content = True
        intents.members = True
        super().__init__(
            command_prefix="!",
            intents=intents,
            allowed_mentions=discord.AllowedMentions.none(),
            guild_ready_timeout=0.05,
        )
        self.local_guild = local_guild
        self.received: list[discord.Message] = []

    async def setup_hook(self) -> None:
        self.tree.add_command(whoami)
        await self.tree.sync()
        if self.local_guild is not None:
            self.tree.add_command(local, guild=discord.Object(self.local_guild))
            await self.tree.sync(guild=discord.Object(self.local_guild))

    async def on_message(self, message: discord.Message) -> None:
        self.received.append(message)


@pytest.fixture
async def emu() -> AsyncIterator[DiscordEmulator]:
    async with fast_emulator(TOKEN) as emulator:
        yield emulator


async def test_a_second_guild_is_set_up_like_the_first(emu: DiscordEmulator) -> None:
    second = emu.add_guild("Second")
    assert emu.guild_ids == [emu.guild_id, second]
    general = emu.general_channel(second)
    assert emu.general_channel(emu.guild_id) == emu.channel_id != general
    async with connected(emu, GuildBot()) as bot:
        assert sorted(g.id for g in bot.guilds) == sorted(emu.guild_ids)
        guild = bot.get_guild(second)
        assert guild is not None and guild.name == "Second" and guild.owner_id == emu.user_id
        assert guild.default_role.id == second and guild.member_count == 2
        assert [c.id for c in guild.text_channels] == [general] and guild.text_channels[0].name == "general"
        assert guild.me is not None and any(r.is_bot_managed() for r in guild.me.roles)
        first = bot.get_guild(emu.guild_id)
        assert first is not None and {r.id for r in first.roles}.isdisjoint({r.id for r in guild.roles})
        fetched = await bot.fetch_guild(second)
        assert fetched.name == "Second"
        assert [c.id for c in await guild.fetch_channels()] == [general]
        with pytest.raises(discord.NotFound) as unknown:
            await bot.fetch_guild(1234)
        assert unknown.value.code == 10004
        late = emu.add_text_channel("late", guild_id=second)  # CHANNEL_CREATE lands in that guild
        await emu.wait_for(lambda: guild.get_channel(late) is not None)
        assert first.get_channel(late) is None


async def test_members_roles_and_messages_resolve_in_the_channels_guild(emu: DiscordEmulator) -> None:
    second = emu.add_guild("Second")
    helpers = emu.add_role("helpers", guild_id=second)
    bob = emu.add_member("bob", roles=[helpers], guild_id=second)
    carol = emu.add_member("carol", guild_id=second)
    with pytest.raises(ValueError, match="not a member of guild"):
        emu.set_member_roles(bob, [])  # bob is not in the default guild (yet)
    async with connected(emu, GuildBot()) as bot:
        emu.join_guild(bob, emu.guild_id)  # GUILD_MEMBER_ADD in the default guild; no roles there
        with pytest.raises(ValueError, match="does not exist in guild"):
            emu.set_member_roles(bob, [helpers])  # helpers is a role of the second guild
        first = bot.get_guild(emu.guild_id)
        guild = bot.get_guild(second)
        assert first is not None and guild is not None
        await emu.wait_for(lambda: first.get_member(bob) is not None)
        there = await emu.send_user_message(emu.general_channel(second), f"<@&{helpers}> hi", user_id=bob)
        here = await emu.send_user_message(emu.channel_id, f"<@&{helpers}> hi", user_id=bob)
        await emu.wait_for(lambda: len(bot.received) == 2)
        by_id = {m.id: m for m in bot.received}
        assert by_id[there.id].guild == guild and by_id[here.id].guild == first
        author_there, author_here = by_id[there.id].author, by_id[here.id].author
        assert isinstance(author_there, discord.Member) and isinstance(author_here, discord.Member)
        assert [r.id for r in author_there.roles if not r.is_default()] == [helpers]
        assert [r.id for r in author_here.roles if not r.is_default()] == []
        assert there.mentions.roles == {helpers} and here.mentions.roles == frozenset()  # not a role there
        with pytest.raises(ApiError) as not_member:
            await emu.send_user_message(emu.channel_id, "let me in", user_id=carol)
        assert not_member.value.code == 10007
        emu.set_member_roles(bob, [], guild_id=second)
        await emu.wait_for(lambda: [r.id for r in guild.get_member(bob).roles if not r.is_default()] == [])  # type: ignore[union-attr]
        # DMs stay guild-less, also for someone who shares only the second guild with the bot.
        dm = emu.open_dm(carol)
        private = await emu.send_user_message(dm, "psst")
        await emu.wait_for(lambda: any(m.id == private.id for m in bot.received))
        received = next(m for m in bot.received if m.id == private.id)
        assert received.guild is None and isinstance(received.channel, discord.DMChannel)


async def test_interactions_commands_and_permissions_are_per_guild(emu: DiscordEmulator) -> None:
    second = emu.add_guild("Second")
    helpers = emu.add_role("helpers", guild_id=second, permissions=VIEW_SEND_AND_COMMANDS)
    bob = emu.add_member("bob", roles=[helpers], guild_id=second)
    emu.join_guild(bob, emu.guild_id)
    emu.set_everyone_permissions(VIEW_SEND_AND_COMMANDS, guild_id=second)
    async with connected(emu, GuildBot(local_guild=second)):
        await emu.wait_for(lambda: any(c.get("guild_id") == str(second) for c in emu.commands))
        there = await emu.run_slash_command("whoami", channel_id=emu.general_channel(second), user_id=bob)
        here = await emu.run_slash_command("whoami", user_id=bob)
        for rec in (there, here):
            await rec.wait_for_response()
        assert there.guild_id == second and there.payload["member"]["roles"] == [str(helpers)]
        assert there.original_message is not None and here.original_message is not None
        assert there.original_message.content == f"Second|helpers|{VIEW_SEND_AND_COMMANDS}"
        assert here.guild_id == emu.guild_id and here.original_message.content.startswith("Emulator Guild||")
        assert int(here.payload["member"]["permissions"]) != VIEW_SEND_AND_COMMANDS  # the default guild's
        click = await emu.click_button(there.original_message.id, "guilds:press", user_id=bob)
        await click.wait_for_response()
        assert click.guild_id == second and there.original_message.content == f"pressed in {second}"
        # A guild command exists only in its guild.
        done = await emu.run_slash_command("local", channel_id=emu.general_channel(second))
        await done.wait_for_response()
        assert done.original_message is not None and done.original_message.content == f"local to {second}"
        with pytest.raises(ValueError, match="not registered"):
            await emu.run_slash_command("local")


async def test_threads_and_overwrites_in_another_guild(emu: DiscordEmulator) -> None:
    second = emu.add_guild("Second")
    general = emu.general_channel(second)
    async with connected(emu, GuildBot()) as bot:
        guild = bot.get_guild(second)
        assert guild is not None
        record = await emu.create_thread("topic", channel_id=general)
        assert record.guild_id == second
        await emu.wait_for(lambda: guild.get_thread(record.id) is not None)
        thread = guild.get_thread(record.id)
        assert thread is not None and thread.parent_id == general
        await thread.send("in the second guild's thread")
        assert [m.content for m in emu.bot_messages(record.id)] == ["in the second guild's thread"]
        with pytest.raises(ValueError, match="channel's guild"):
            emu.set_channel_overwrite(general, emu.guild_id, deny=SEND_MESSAGES)  # the default guild's @everyone
        emu.set_channel_overwrite(general, emu.bot_user_id, deny=SEND_MESSAGES)
        channel = guild.get_channel(general)
        assert isinstance(channel, discord.TextChannel)
        await emu.wait_for(lambda: not channel.permissions_for(guild.me).send_messages)
        with pytest.raises(discord.Forbidden) as refused:
            await channel.send("no")
        assert refused.value.code == 50013
        default_general = bot.get_channel(emu.channel_id)
        assert isinstance(default_general, discord.TextChannel)
        await default_general.send("still fine here")
        emu.delete_thread(record.id)
        await emu.wait_for(lambda: guild.get_thread(record.id) is None)
