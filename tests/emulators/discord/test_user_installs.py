"""The Discord emulator's user-installable app: the app installed to a member's own account, used in a guild the
bot is not in, in a DM between users and in a group DM, driven by a real discord.py client.

Sources: resources/application.mdx "Installation Context"; receiving-and-responding.mdx "Interaction Context
Types", "Authorizing Integration Owners Object", "Create Followup Message"; topics/permissions.mdx
USE_EXTERNAL_APPS (see the emulator's installs, outside, interaction_context and external_apps modules).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import aiohttp
import discord
import pytest
from discord import app_commands

from tests.emulators.discord import EPHEMERAL_FLAG, GENEROUS_PERMISSIONS, ApiError, DiscordEmulator
from tests.support.emulator_clients import connected, fast_emulator, rest

TOKEN = "emulator-user-installs-token"
USE_EXTERNAL_APPS = 1 << 50
PRIVATE_APP_PERMISSIONS = (1 << 14) | (1 << 15) | (1 << 17)  # EMBED_LINKS | ATTACH_FILES | MENTION_EVERYONE
pytestmark = pytest.mark.timeout(30)

ANYWHERE = app_commands.AppCommandContext(guild=True, dm_channel=True, private_channel=True)
BOTH_INSTALLS = app_commands.AppInstallationType(guild=True, user=True)


class AppBot(discord.Client):
    """``/ask``: defers, tries the channel (refused where the bot is not), then answers in ``count`` followups;
    ``Quote``: a message command. Both installable to users and usable anywhere."""

    def __init__(self) -> None:
        super().__init__(intents=discord.Intents.default(), guild_ready_timeout=0.05)
        self.tree = app_commands.CommandTree(self, allowed_contexts=ANYWHERE, allowed_installs=BOTH_INSTALLS)
        self.seen: list[discord.Interaction] = []
        self.channel_errors: list[discord.HTTPException] = []
        self.followup_errors: list[discord.HTTPException] = []
        self.messages: list[discord.Message] = []
        ask = app_commands.Command(name="ask", description="Ask anywhere", callback=self.ask)
        self.tree.add_command(ask)
        self.tree.add_command(app_commands.ContextMenu(name="Quote", callback=self.quote))
        mine = app_commands.Command(name="mine", description="User installs only", callback=self.mine)
        mine.allowed_installs = app_commands.AppInstallationType(guild=False, user=True)
        self.tree.add_command(mine)

    async def setup_hook(self) -> None:
        await self.tree.sync()

    async def on_message(self, message: discord.Message) -> None:
        self.messages.append(message)

    async def ask(self, interaction: discord.Interaction, prompt: str, count: int = 1, poke: bool = False) -> None:
        self.seen.append(interaction)
        await interaction.response.defer(thinking=True)
        if poke and interaction.channel is not None:
            try:
                await interaction.channel.send("straight to the channel")  # type: ignore[union-attr]
            except discord.HTTPException as exc:
                self.channel_errors.append(exc)
        await interaction.edit_original_response(content=f"answer to {prompt}")
        for i in range(count):
            try:
                await interaction.followup.send(f"part {i + 1}")
            except discord.HTTPException as exc:
                self.followup_errors.append(exc)
                break

    async def quote(self, interaction: discord.Interaction, message: discord.Message) -> None:
        self.seen.append(interaction)
        await interaction.response.send_message(f"{message.author.name} said: {message.content}")

    async def mine(self, interaction: discord.Interaction) -> None:
        self.seen.append(interaction)
        await interaction.response.send_message("yours")


@pytest.fixture
async def emu() -> AsyncIterator[DiscordEmulator]:
    async with fast_emulator(TOKEN) as emulator:
        emulator.support_user_installs()
        yield emulator


@contextlib.asynccontextmanager
async def app_bot(emu: DiscordEmulator) -> AsyncIterator[AppBot]:
    async with connected(emu, AppBot()) as bot:
        await emu.wait_for_commands()
        yield bot


# ---- the application and its commands -----------------------------------------------------------------
async def test_the_application_lists_its_installation_contexts_and_commands_may_only_use_those() -> None:
    async with fast_emulator(TOKEN) as emu, aiohttp.ClientSession() as session:
        for path in ("/applications/@me", "/oauth2/applications/@me"):
            status, app = await rest(session, emu, "GET", path)
            assert status == 200 and list(app["integration_types_config"]) == ["0"]
        commands = f"/applications/{emu.application_id}/commands"
        user_only = [{"name": "mine", "description": "d", "integration_types": [1], "contexts": [0, 1, 2]}]
        status, body = await rest(session, emu, "PUT", commands, user_only)
        assert status == 400 and body["code"] == 50035 and "integration_types" in body["errors"]["0"]
        with pytest.raises(ValueError, match="support_user_installs"):
            emu.install_app()

        emu.support_user_installs()
        status, app = await rest(session, emu, "GET", "/applications/@me")
        config = app["integration_types_config"]
        assert config["1"]["oauth2_install_params"]["scopes"] == ["applications.commands"] and "0" in config
        status, stored = await rest(session, emu, "PUT", commands, user_only)
        assert status == 200 and stored[0]["integration_types"] == [1] and stored[0]["contexts"] == [0, 1, 2]
        status, stored = await rest(session, emu, "PUT", commands, [{"name": "plain", "description": "d"}])
        assert stored[0]["integration_types"] == [0, 1]  # "Defaults to your app's configured contexts"
        bad = [{"name": "bad", "description": "d", "integration_types": [2], "contexts": [3]}]
        status, body = await rest(session, emu, "PUT", commands, bad)
        assert status == 400 and set(body["errors"]["0"]) == {"integration_types", "contexts"}


async def test_who_is_offered_a_command_depends_on_the_installs_and_the_owners_say_which(emu: DiscordEmulator) -> None:
    bob = emu.add_member("bob")
    async with app_bot(emu) as bot:
        plain = await emu.run_slash_command("ask", {"prompt": "x"}, user_id=bob)  # bob has not installed it
        assert plain.authorizing_integration_owners == {"0": str(emu.guild_id)}
        emu.install_app(bob)
        both = await emu.run_slash_command("ask", {"prompt": "x"}, user_id=bob)
        assert both.authorizing_integration_owners == {"0": str(emu.guild_id), "1": str(bob)}
        mine = await emu.run_slash_command("mine", user_id=bob)  # integration_types [1]: the user install only
        await mine.wait_for_response()
        assert mine.authorizing_integration_owners == {"1": str(bob)} and mine.context == 0
        assert bot.seen[-1].is_user_integration() and not bot.seen[-1].is_guild_integration()
        with pytest.raises(ValueError, match="not installed the app"):
            await emu.run_slash_command("mine")  # alice did not install it
        in_dm = await emu.run_slash_command("mine", channel_id=emu.open_dm(bob), user_id=bob)
        assert in_dm.authorizing_integration_owners == {"1": str(bob)} and in_dm.context == 1
        emu.uninstall_app(bob)
        with pytest.raises(ValueError, match="not installed the app"):
            await emu.run_slash_command("mine", user_id=bob)


async def test_the_bots_dm_is_open_to_users_who_installed_the_app(emu: DiscordEmulator) -> None:
    carol = emu.add_user("carol")  # shares no guild with the bot
    with pytest.raises(ApiError, match="10007"):
        emu.open_dm(carol)
    emu.install_app(carol)
    dm = emu.open_dm(carol)
    async with app_bot(emu) as bot:
        inter = await emu.run_slash_command("mine", channel_id=dm)  # carol, the DM's recipient
        await inter.wait_for_response()
        assert inter.user_id == carol and inter.authorizing_integration_owners == {"1": str(carol)}
        said = await emu.send_user_message(dm, "hello bot")
        await emu.wait_for(lambda: said.id in [m.id for m in bot.messages])  # the bot's own DM: events as ever
        async with aiohttp.ClientSession() as session:
            status, app = await rest(session, emu, "GET", "/applications/@me")
        assert status == 200 and app["approximate_user_install_count"] == 1


# ---- a guild the bot is not in -----------------------------------------------------------------------
async def test_a_user_installed_command_in_a_guild_without_the_bot(emu: DiscordEmulator) -> None:
    bob = emu.add_user("bob")  # shares no guild with the bot
    emu.install_app(bob)
    server = emu.add_outside_guild("Elsewhere")
    async with app_bot(emu) as bot:
        emu.join_guild(bob, server)
        general = emu.general_channel(server)
        chatter = await emu.send_user_message(general, "anyone here?")  # alice, the owner
        inter = await emu.run_slash_command("ask", {"prompt": "hi", "count": 2, "poke": True}, general, bob)
        await emu.wait_for(lambda: len(inter.followups) == 2)

        payload = inter.payload
        assert payload["context"] == 0 and payload["authorizing_integration_owners"] == {"1": str(bob)}
        assert payload["guild_id"] == str(server) and payload["member"]["user"]["id"] == str(bob)
        member_permissions = emu.channel_permissions(bob, general)
        assert payload["app_permissions"] == payload["member"]["permissions"] == str(member_permissions)
        assert payload["channel"]["id"] == str(general) and payload["channel"]["app_permissions"] == str(
            member_permissions
        )
        seen = bot.seen[0]
        assert seen.guild is not None and seen.guild.id == server and isinstance(seen.channel, discord.TextChannel)
        assert seen.is_user_integration() and bot.get_guild(server) is None  # never joined, never cached
        (refused,) = bot.channel_errors  # the bot's own REST there: 403 50001 Missing Access
        assert isinstance(refused, discord.Forbidden) and refused.code == 50001
        assert [m.content for m in inter.messages] == ["answer to hi", "part 1", "part 2"]
        assert not inter.ephemeral and all(m.guild_id == server for m in inter.messages)
        assert bot.messages == []  # no MESSAGE_CREATE from that guild, not even of its own answers
        sessions = emu.core.gateway.sessions.values()
        from_there = [f["t"] for s in sessions for f in s.history if f.get("d", {}).get("guild_id") == str(server)]
        assert set(from_there) == {"INTERACTION_CREATE"}  # interactions reach the app; nothing else does

        quoted = await emu.run_message_command("Quote", chatter.id, user_id=bob)
        await quoted.wait_for_response()
        assert quoted.original_message is not None and quoted.original_message.content == "alice said: anyone here?"

        async with aiohttp.ClientSession() as session:
            for method, path in (
                ("GET", f"/channels/{general}"),
                ("POST", f"/channels/{general}/messages"),
                ("GET", f"/channels/{general}/messages"),
                ("GET", f"/channels/{general}/messages/{chatter.id}"),
                ("POST", f"/channels/{general}/typing"),
                ("GET", f"/guilds/{server}"),
                ("GET", f"/guilds/{server}/channels"),
                ("PUT", f"/applications/{emu.application_id}/guilds/{server}/commands"),
            ):
                status, body = await rest(session, emu, method, path, {"content": "x"} if method == "POST" else None)
                assert (status, body["code"]) == (403, 50001), (method, path)
            assert (await rest(session, emu, "GET", f"/channels/{emu.core.world.ids.next()}"))[0] == 404
            hook = f"/webhooks/{emu.application_id}/{inter.token}/messages"
            status, original = await rest(session, emu, "GET", hook + "/@original")
            assert status == 200 and original["content"] == "answer to hi"
            assert (await rest(session, emu, "PATCH", hook + "/@original", {"content": "edited"}))[0] == 200
            assert (await rest(session, emu, "DELETE", f"{hook}/{inter.followups[1].id}"))[0] == 204
        assert inter.messages[0].content == "edited" and inter.followups[1].deleted


async def test_without_use_external_apps_the_answers_are_ephemeral(emu: DiscordEmulator) -> None:
    bob, dave = emu.add_user("bob"), emu.add_member("dave")
    for user in (bob, dave, emu.user_id):
        emu.install_app(user)
    server = emu.add_outside_guild()
    emu.join_guild(bob, server)
    emu.set_everyone_permissions(GENEROUS_PERMISSIONS & ~USE_EXTERNAL_APPS, guild_id=server)
    async with app_bot(emu):
        general = emu.general_channel(server)
        inter = await emu.run_slash_command("ask", {"prompt": "psst", "count": 2}, general, bob)
        await emu.wait_for(lambda: len(inter.followups) == 2)
        assert inter.forced_ephemeral and all(m.ephemeral for m in inter.messages)
        assert emu.messages(general, include_ephemeral=False) == []
        assert inter.callbacks[0].data is None  # the bot deferred publicly...
        assert inter.messages[0].flags & EPHEMERAL_FLAG  # ...Discord made it so

        owner = await emu.run_slash_command("ask", {"prompt": "loud"}, general)  # alice owns it: every permission
        await emu.wait_for(lambda: len(owner.followups) == 1)
        assert not owner.forced_ephemeral and not any(m.ephemeral for m in owner.messages)

        # In a guild the app is installed to, the permission changes nothing ("This only applies to apps not
        # also installed to the server"), even for a command only the user installation offers.
        emu.set_everyone_permissions(GENEROUS_PERMISSIONS & ~USE_EXTERNAL_APPS)
        here = await emu.run_slash_command("mine", user_id=dave)
        await here.wait_for_response()
        assert here.authorizing_integration_owners == {"1": str(dave)} and not here.ephemeral


async def test_five_followups_per_interaction_for_an_app_only_installed_to_the_user(emu: DiscordEmulator) -> None:
    emu.install_app()
    server = emu.add_outside_guild()
    async with app_bot(emu) as bot:
        outside = await emu.run_slash_command("ask", {"prompt": "long", "count": 7}, emu.general_channel(server))
        await emu.wait_for(lambda: bool(bot.followup_errors))
        (limit,) = bot.followup_errors
        assert limit.status == 400 and limit.code == 40094 and len(outside.followups) == 5
        assert outside.rejected_followups == 1
        inside = await emu.run_slash_command("ask", {"prompt": "long", "count": 7})  # owners {"0", "1"}
        await emu.wait_for(lambda: len(inside.followups) == 7)
        assert len(bot.followup_errors) == 1


async def test_the_interaction_token_still_lasts_fifteen_minutes_only(emu: DiscordEmulator) -> None:
    emu.install_app()
    server = emu.add_outside_guild()
    async with app_bot(emu):
        assert emu.core.interactions.token_ttl_s == 15 * 60
        emu.core.interactions.token_ttl_s = 0.0
        inter = await emu.run_slash_command("ask", {"prompt": "late"}, emu.general_channel(server))
        await inter.wait_for_response()
        await emu.wait_for(lambda: any(r.status == 401 for r in emu.requests))
        assert inter.messages[0].loading and inter.followups == []  # the edit was refused: the token expired
        async with aiohttp.ClientSession() as session:
            status, body = await rest(
                session, emu, "POST", f"/webhooks/{emu.application_id}/{inter.token}", {"content": "x"}
            )
        assert (status, body["code"]) == (401, 50027)


# ---- DMs between users and group DMs ------------------------------------------------------------------
async def test_a_user_installed_command_in_a_dm_between_users_and_in_a_group_dm(emu: DiscordEmulator) -> None:
    bob, carol = emu.add_user("bob"), emu.add_user("carol")
    emu.install_app(bob)
    async with app_bot(emu) as bot:
        dm = emu.open_user_dm(bob, emu.user_id)
        gdm = emu.open_group_dm(bob, [emu.user_id, carol], name="plans")
        said = await emu.send_user_message(gdm, "meet at six", user_id=carol)
        for where, kind in ((dm, discord.DMChannel), (gdm, discord.GroupChannel)):
            inter = await emu.run_slash_command("ask", {"prompt": "hey"}, where, bob)
            await emu.wait_for(lambda inter=inter: len(inter.followups) == 1)
            payload = inter.payload
            assert payload["context"] == 2 and payload["authorizing_integration_owners"] == {"1": str(bob)}
            assert "guild_id" not in payload and "member" not in payload and payload["user"]["id"] == str(bob)
            assert payload["app_permissions"] == str(PRIVATE_APP_PERMISSIONS)
            assert isinstance(bot.seen[-1].channel, kind) and bot.seen[-1].context.private_channel
            assert [m.guild_id for m in inter.messages] == [None, None]
        assert emu.core.world.private_channels[gdm].name == "plans"
        assert bot.seen[-1].channel.name == "plans"  # type: ignore[union-attr]

        quoted = await emu.run_message_command("Quote", said.id, user_id=bob)
        await quoted.wait_for_response()
        assert quoted.original_message is not None and quoted.original_message.content == "carol said: meet at six"
        assert bot.messages == []  # the bot hears nothing from channels it is not in

        with pytest.raises(ValueError, match="not installed the app"):
            await emu.run_slash_command("ask", {"prompt": "x"}, gdm, carol)  # carol has no install
        with pytest.raises(ValueError, match="not a recipient"):
            await emu.run_slash_command("ask", {"prompt": "x"}, dm, carol)
        with pytest.raises(ValueError, match="cannot post"):
            await emu.send_user_message(dm, "let me in", user_id=carol)
        async with aiohttp.ClientSession() as session:
            for path in (f"/channels/{gdm}", f"/channels/{dm}/messages"):
                status, body = await rest(session, emu, "GET", path)
                assert (status, body["code"]) == (403, 50001)


async def test_a_button_on_a_user_installed_answer_keeps_the_installing_user_as_owner(emu: DiscordEmulator) -> None:
    bob = emu.add_user("bob")
    emu.install_app(bob)
    gdm = emu.open_group_dm(bob, [emu.user_id])

    clicks: list[discord.Interaction] = []

    class Again(discord.ui.View):
        @discord.ui.button(label="Again", custom_id="again")
        async def again(self, interaction: discord.Interaction, button: discord.ui.Button[Again]) -> None:
            clicks.append(interaction)
            await interaction.response.send_message("again!", ephemeral=True)

    async with app_bot(emu) as bot:

        async def with_button(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("here", view=Again())

        command = app_commands.Command(name="button", description="b", callback=with_button)
        bot.tree.add_command(command)
        await bot.tree.sync()
        inter = await emu.run_slash_command("button", channel_id=gdm, user_id=bob)
        await inter.wait_for_response()
        assert inter.original_message is not None
        click = await emu.click_button(inter.original_message.id, "again", user_id=emu.user_id)  # alice clicks
        await click.wait_for_response()
        assert click.authorizing_integration_owners == {"1": str(bob)} and click.user_id == emu.user_id
        assert click.context == 2 and clicks[0].user.id == emu.user_id
