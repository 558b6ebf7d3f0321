"""Channel permission overwrites and the refusals Discord answers with, seen by a real discord.py bot."""

from __future__ import annotations

import contextlib
import io
from collections.abc import AsyncIterator

import aiohttp
import discord
import pytest
from discord import app_commands
from discord.ext import commands

from tests.emulators.discord import (
    ATTACH_FILES,
    CREATE_PRIVATE_THREADS,
    CREATE_PUBLIC_THREADS,
    MANAGE_THREADS,
    READ_MESSAGE_HISTORY,
    SEND_MESSAGES,
    SEND_MESSAGES_IN_THREADS,
    VIEW_CHANNEL,
    ApiError,
    DiscordEmulator,
)
from tests.support.emulator_clients import connected, fast_emulator

TOKEN = "emulator-permissions-token"
pytestmark = pytest.mark.timeout(30)


class PermBot(commands.Bot):
    """Registers ``/perms`` and keeps every interaction it receives."""

    def __init__(self) -> None:
        intents = discord.Intents.default()
        intents.message_content = True
        super().__init__(command_prefix="!", intents=intents, guild_ready_timeout=0.05)
        self.seen: list[discord.Interaction] = []
        self.received: list[discord.Message] = []
        self.thread_updates: list[dict[str, object]] = []  # thread_metadata of each THREAD_UPDATE

    async def setup_hook(self) -> None:
        self.tree.add_command(perms)
        await self.tree.sync()

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        self.seen.append(interaction)

    async def on_message(self, message: discord.Message) -> None:
        self.received.append(message)

    async def on_raw_thread_update(self, payload: discord.RawThreadUpdateEvent) -> None:
        self.thread_updates.append(dict(payload.data.get("thread_metadata") or {}))

    def thread_state(self) -> tuple[object, object]:
        """(archived, locked) as the latest THREAD_UPDATE told the bot (discord.py drops archived
        threads from its cache, so the cached object cannot be watched)."""
        last = self.thread_updates[-1] if self.thread_updates else {}
        return last.get("archived"), last.get("locked")


@app_commands.command(name="perms", description="Show permissions")
async def perms(interaction: discord.Interaction) -> None:
    await interaction.response.send_message("ok", ephemeral=True)


@pytest.fixture
async def emu() -> AsyncIterator[DiscordEmulator]:
    async with fast_emulator(TOKEN) as emulator:
        yield emulator


@contextlib.asynccontextmanager
async def running(emu: DiscordEmulator) -> AsyncIterator[PermBot]:
    async with connected(emu, PermBot()) as bot:
        await emu.wait_for_commands()
        yield bot


async def invoke(
    emu: DiscordEmulator, bot: PermBot, channel_id: int, user_id: int | None = None
) -> discord.Interaction:
    rec = await emu.run_slash_command("perms", channel_id=channel_id, user_id=user_id)
    await rec.wait_for_response()
    return next(i for i in bot.seen if i.id == rec.id)


def text_channel(bot: commands.Bot, channel_id: int) -> discord.TextChannel:
    found = bot.get_channel(channel_id)
    assert isinstance(found, discord.TextChannel)
    return found


def me(bot: commands.Bot, emu: DiscordEmulator) -> discord.Member:
    guild = bot.get_guild(emu.guild_id)
    assert guild is not None and guild.me is not None
    return guild.me


async def thread_in_cache(emu: DiscordEmulator, bot: commands.Bot, thread_id: int) -> discord.Thread:
    await emu.wait_for(lambda: isinstance(bot.get_channel(thread_id), discord.Thread), description="thread cached")
    found = bot.get_channel(thread_id)
    assert isinstance(found, discord.Thread)
    return found


# ---- overwrites ---------------------------------------------------------------------------------------
async def test_overwrites_follow_discords_order_in_cache_payloads_and_interactions(emu: DiscordEmulator) -> None:
    helpers = emu.add_role("helpers", permissions=0)
    bob = emu.add_member("bob", roles=[helpers])
    async with running(emu) as bot:
        channel = text_channel(bot, emu.channel_id)
        assert channel.permissions_for(me(bot, emu)).send_messages

        emu.set_channel_overwrite(emu.channel_id, emu.guild_id, deny=SEND_MESSAGES)  # @everyone
        await emu.wait_for(lambda: not channel.permissions_for(me(bot, emu)).send_messages, description="cache")
        assert not emu.channel_permissions(emu.bot_user_id, emu.channel_id) & SEND_MESSAGES
        seen = await invoke(emu, bot, emu.channel_id, user_id=bob)
        assert not seen.app_permissions.send_messages and seen.app_permissions.view_channel
        assert not seen.permissions.send_messages  # the invoking member, with the overwrite

        emu.set_channel_overwrite(emu.channel_id, helpers, allow=SEND_MESSAGES)  # a role allow beats @everyone
        assert (await invoke(emu, bot, emu.channel_id, user_id=bob)).permissions.send_messages
        emu.set_channel_overwrite(emu.channel_id, bob, deny=SEND_MESSAGES)  # the member's own deny comes last
        assert not (await invoke(emu, bot, emu.channel_id, user_id=bob)).permissions.send_messages
        owner = await invoke(emu, bot, emu.channel_id)  # the owner has every permission regardless
        assert owner.permissions.send_messages and owner.permissions.administrator

        async with aiohttp.ClientSession() as session:
            headers = {"Authorization": f"Bot {emu.token}"}
            async with session.get(f"{emu.api_base_url}/channels/{emu.channel_id}", headers=headers) as resp:
                body = await resp.json()
        everyone = next(o for o in body["permission_overwrites"] if o["id"] == str(emu.guild_id))
        assert everyone == {"id": str(emu.guild_id), "type": 0, "allow": "0", "deny": str(SEND_MESSAGES)}
        assert {"id": str(bob), "type": 1, "allow": "0", "deny": str(SEND_MESSAGES)} in body["permission_overwrites"]

        emu.clear_channel_overwrite(emu.channel_id, emu.guild_id)
        await emu.wait_for(lambda: channel.permissions_for(me(bot, emu)).send_messages, description="cache restored")
        assert not any(o.id == emu.guild_id for o in emu.core.world.channels[emu.channel_id].permission_overwrites)


async def test_threads_inherit_overwrites_but_not_send_messages(emu: DiscordEmulator) -> None:
    async with running(emu) as bot:
        thread = await emu.create_thread("talk")
        seen = await invoke(emu, bot, thread.id)
        assert not seen.app_permissions.send_messages and seen.app_permissions.send_messages_in_threads
        emu.set_channel_overwrite(emu.channel_id, emu.bot_user_id, deny=SEND_MESSAGES_IN_THREADS)
        assert not (await invoke(emu, bot, thread.id)).app_permissions.send_messages_in_threads
        cached = await thread_in_cache(emu, bot, thread.id)
        with pytest.raises(discord.Forbidden) as refused:
            await cached.send("in the thread")
        assert refused.value.code == 50013
        await text_channel(bot, emu.channel_id).send("the parent still works")


async def test_role_permission_changes_reach_the_cache(emu: DiscordEmulator) -> None:
    async with running(emu) as bot:
        assert me(bot, emu).guild_permissions.manage_threads
        emu.set_bot_permissions(VIEW_CHANNEL | SEND_MESSAGES)
        await emu.wait_for(lambda: not me(bot, emu).guild_permissions.manage_threads, description="role update")
        assert sum(e.event == "GUILD_ROLE_UPDATE" for e in emu.gateway_events) == 2
        channel = text_channel(bot, emu.channel_id)
        assert channel.permissions_for(me(bot, emu)).send_messages
        assert not channel.permissions_for(me(bot, emu)).attach_files


# ---- REST refusals --------------------------------------------------------------------------------------
async def test_without_view_channel_everything_is_missing_access(emu: DiscordEmulator) -> None:
    hidden = emu.add_text_channel("hidden")
    said = await emu.send_user_message(hidden, "before the bot lost sight")
    async with running(emu) as bot:
        emu.set_channel_overwrite(hidden, emu.bot_user_id, deny=VIEW_CHANNEL)
        channel = text_channel(bot, hidden)
        await emu.wait_for(lambda: not channel.permissions_for(me(bot, emu)).read_messages, description="cache")
        for attempt in (channel.send("hi"), channel.fetch_message(said.id), typing(channel)):
            with pytest.raises(discord.Forbidden) as refused:
                await attempt
            assert refused.value.code == 50001 and refused.value.status == 403
        with pytest.raises(discord.Forbidden):
            [m async for m in channel.history(limit=5)]
        unseen = await emu.send_user_message(hidden, "the bot cannot see this")
        marker = await emu.send_user_message(emu.channel_id, "but this one")
        await emu.wait_for(lambda: any(m.id == marker.id for m in bot.received), description="marker")
        assert all(m.id != unseen.id for m in bot.received)  # no MESSAGE_CREATE where the bot cannot view


async def typing(channel: discord.abc.Messageable) -> None:
    await channel.typing()  # one POST /channels/{id}/typing


async def test_send_attach_reply_and_typing_need_their_permissions(emu: DiscordEmulator) -> None:
    async with running(emu) as bot:
        channel = text_channel(bot, emu.channel_id)
        first = await channel.send("first")
        emu.set_channel_overwrite(emu.channel_id, emu.bot_user_id, deny=ATTACH_FILES | READ_MESSAGE_HISTORY)
        await emu.wait_for(lambda: not channel.permissions_for(me(bot, emu)).attach_files, description="cache")
        with pytest.raises(discord.Forbidden) as no_files:
            await channel.send(file=discord.File(io.BytesIO(b"hello"), "a.txt"))
        assert no_files.value.code == 50013
        with pytest.raises(discord.HTTPException) as no_reply:
            await first.reply("a reply")
        assert no_reply.value.status == 400 and no_reply.value.code == 160002
        assert [m async for m in channel.history(limit=10)] == []  # "no messages will be returned"
        with pytest.raises(discord.Forbidden) as no_fetch:
            await channel.fetch_message(first.id)
        assert no_fetch.value.code == 50013
        # EMBED_LINKS is not a documented requirement of Create Message: embeds still go through.
        emu.set_channel_overwrite(emu.channel_id, emu.bot_user_id, deny=1 << 14)
        sent = await channel.send(embed=discord.Embed(title="still fine"))
        assert emu.message(sent.id).embeds[0]["title"] == "still fine"

        emu.set_channel_overwrite(emu.channel_id, emu.bot_user_id, deny=SEND_MESSAGES)
        await emu.wait_for(lambda: not channel.permissions_for(me(bot, emu)).send_messages, description="cache")
        for attempt in (channel.send("no"), typing(channel)):
            with pytest.raises(discord.Forbidden) as refused:
                await attempt
            assert refused.value.code == 50013
        emu.set_channel_overwrite(emu.channel_id, emu.guild_id, deny=SEND_MESSAGES)
        bob = emu.add_member("bob")
        with pytest.raises(ApiError) as member_refused:  # a member's client is refused the same way
            await emu.send_user_message(emu.channel_id, "me neither", user_id=bob)
        assert member_refused.value.code == 50013


async def test_creating_threads_needs_the_thread_permissions(emu: DiscordEmulator) -> None:
    async with running(emu) as bot:
        channel = text_channel(bot, emu.channel_id)
        starter = await channel.send("start here")
        emu.set_channel_overwrite(emu.channel_id, emu.bot_user_id, deny=CREATE_PUBLIC_THREADS | CREATE_PRIVATE_THREADS)
        await emu.wait_for(lambda: not channel.permissions_for(me(bot, emu)).create_public_threads, description="cache")
        attempts = (
            starter.create_thread(name="from message"),
            channel.create_thread(name="public", type=discord.ChannelType.public_thread),
            channel.create_thread(name="private", type=discord.ChannelType.private_thread),
        )
        for attempt in attempts:
            with pytest.raises(discord.Forbidden) as refused:
                await attempt
            assert refused.value.code == 50013
        assert emu.threads == []


# ---- locked, archived and private threads ---------------------------------------------------------------
async def test_locked_and_archived_threads_refuse_writes_like_discord(emu: DiscordEmulator) -> None:
    async with running(emu) as bot:
        thread = await emu.create_thread("talk")  # alice's thread
        cached = await thread_in_cache(emu, bot, thread.id)
        posted = await cached.send("the bot's answer")  # posting makes the bot a member
        emu.set_channel_overwrite(emu.channel_id, emu.bot_user_id, deny=MANAGE_THREADS)

        emu.lock_thread(thread.id)
        await emu.wait_for(lambda: bot.thread_state() == (False, True), description="locked")
        for attempt in (cached.send("no"), posted.edit(content="edited")):
            with pytest.raises(discord.Forbidden) as locked:
                await attempt
            assert locked.value.status == 403 and locked.value.code == 50083

        emu.lock_thread(thread.id, locked=False)
        emu.archive_thread(thread.id)
        await emu.wait_for(lambda: bot.thread_state() == (True, False), description="archived")
        with pytest.raises(discord.HTTPException) as archived:
            await posted.edit(content="edited")
        assert archived.value.status == 400 and archived.value.code == 50083
        with pytest.raises(discord.HTTPException) as renamed:
            await cached.edit(name="renamed while archived")  # a PATCH must unarchive it
        assert renamed.value.status == 400 and renamed.value.code == 50083
        await cached.edit(archived=False)  # a member may reopen an unlocked thread
        assert not emu.thread(thread.id).archived

        emu.archive_thread(thread.id, locked=True)
        await emu.wait_for(lambda: bot.thread_state() == (True, True), description="locked and archived")
        with pytest.raises(discord.Forbidden) as reopen:
            await cached.edit(archived=False)  # not its creator, no MANAGE_THREADS
        assert reopen.value.code == 50013
        emu.clear_channel_overwrite(emu.channel_id, emu.bot_user_id)  # MANAGE_THREADS again
        await cached.edit(archived=False)
        await cached.send("a moderator may write in a locked thread")
        assert emu.thread(thread.id).locked and not emu.thread(thread.id).archived


async def test_sending_reopens_an_archived_thread_and_members_can_be_locked_out(emu: DiscordEmulator) -> None:
    bob = emu.add_member("bob")
    emu.set_channel_overwrite(emu.channel_id, bob, deny=MANAGE_THREADS)
    async with running(emu) as bot:
        thread = await emu.create_thread("talk")
        cached = await thread_in_cache(emu, bot, thread.id)
        await cached.send("joining")  # the bot becomes a member: THREAD_MEMBERS_UPDATE
        assert any(e.event == "THREAD_MEMBERS_UPDATE" for e in emu.gateway_events)
        emu.archive_thread(thread.id)
        await emu.wait_for(lambda: bot.thread_state() == (True, False), description="archived")
        await cached.send("back")
        await emu.wait_for(lambda: bot.thread_state() == (False, False), description="unarchived by the post")
        assert bot.get_channel(thread.id) is not None  # back in discord.py's cache
        # "Unarchiving a Thread": THREAD_UPDATE, then THREAD_MEMBER_UPDATE to the thread's members
        await emu.wait_for(lambda: any(e.event == "THREAD_MEMBER_UPDATE" for e in emu.gateway_events))
        emu.lock_thread(thread.id)
        with pytest.raises(ApiError) as refused:
            await emu.send_user_message(thread.id, "let me in", user_id=bob)
        assert refused.value.status == 403 and refused.value.code == 50083


async def test_private_thread_access_ends_when_the_bot_is_removed(emu: DiscordEmulator) -> None:
    async with running(emu) as bot:
        channel = text_channel(bot, emu.channel_id)
        private = await channel.create_thread(name="secret", type=discord.ChannelType.private_thread)
        await private.send("inside")
        emu.set_channel_overwrite(emu.channel_id, emu.bot_user_id, deny=MANAGE_THREADS)
        emu.remove_thread_member(private.id, emu.bot_user_id)
        await emu.wait_for(lambda: emu.bot_user_id not in emu.thread(private.id).member_ids)
        with pytest.raises(discord.Forbidden) as refused:
            await bot.get_partial_messageable(private.id).send("still here?")
        assert refused.value.code == 50001

        public = await emu.create_thread("open")
        cached = await thread_in_cache(emu, bot, public.id)
        await cached.send("joined by posting")
        emu.remove_thread_member(public.id, emu.bot_user_id)
        await emu.wait_for(lambda: emu.bot_user_id not in emu.thread(public.id).member_ids)
        await cached.send("a public thread stays open to the bot")
        assert emu.bot_user_id in emu.thread(public.id).member_ids

        hidden = await emu.create_thread("members only", private=True)  # alice's; the bot is no moderator
        with pytest.raises(discord.Forbidden) as unseen:
            await bot.get_partial_messageable(hidden.id).send("hello?")
        assert unseen.value.code == 50001
        marker = await emu.send_user_message(emu.channel_id, "after the private thread")
        await emu.wait_for(lambda: any(m.id == marker.id for m in bot.received), description="marker")
        assert bot.get_channel(hidden.id) is None  # its THREAD_CREATE never reached the bot
