"""Tests of the loopback Discord emulator, driven by a real, unmodified discord.py ``commands.Bot``."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import time
import zlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import discord
import pytest
from discord import app_commands
from discord.ext import commands

from tests.emulators.discord import (
    EPHEMERAL_FLAG,
    VOICE_MESSAGE_FLAG,
    AttachmentSpec,
    DiscordEmulator,
    MessageRecord,
)
from tests.support.emulator_clients import connected, fast_emulator

TOKEN = "emulator-test-token"
pytestmark = pytest.mark.timeout(30)


# ---- a tiny bot -------------------------------------------------------------------------------------
class ConfirmView(discord.ui.View):
    def __init__(self) -> None:
        super().__init__(timeout=30)

    @discord.ui.button(label="OK", custom_id="confirm:ok", style=discord.ButtonStyle.primary)
    async def ok(self, interaction: discord.Interaction, button: discord.ui.Button[ConfirmView]) -> None:
        await interaction.response.edit_message(content="confirmed", view=None)


class AskModal(discord.ui.Modal, title="Ask"):
    question: discord.ui.TextInput[AskModal] = discord.ui.TextInput(label="Question", custom_id="ask:q")

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"you asked: {self.question.value}", ephemeral=True)


class TinyBot(commands.Bot):
    """Registers a few slash commands and remembers every message it receives."""

    def __init__(self, *, message_content: bool = True, members: bool = False) -> None:
        intents = discord.Intents.default()
        intents.message_content = message_content
        intents.members = members
        super().__init__(
            command_prefix="!",
            intents=intents,
            allowed_mentions=discord.AllowedMentions.none(),
            guild_ready_timeout=0.05,
        )
        self.received: list[discord.Message] = []
        self.resumed = asyncio.Event()

    async def setup_hook(self) -> None:
        self.tree.add_command(chat)
        self.tree.add_command(buttons)
        self.tree.add_command(ask)
        self.tree.add_command(admin)
        self.tree.add_command(stream)
        await self.tree.sync()

    async def on_message(self, message: discord.Message) -> None:
        self.received.append(message)

    async def on_resumed(self) -> None:
        self.resumed.set()

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """discord.py sleeps 5 s before every re-IDENTIFY (gateway etiquette); not needed on loopback."""


@app_commands.command(name="chat", description="Talk to a provider")
@app_commands.choices(provider=[app_commands.Choice(name="aBLT", value="ablt")])
async def chat(
    interaction: discord.Interaction, provider: str, prompt: str, bot: str | None = None, turns: int = 1
) -> None:
    await interaction.response.defer(thinking=True)
    await interaction.followup.send(f"[{provider}/{bot}] {prompt} x{turns}")
    await interaction.edit_original_response(content=f"[{provider}/{bot}] {prompt} x{turns} (done)")
    await interaction.followup.send("only you can see this", ephemeral=True)


@chat.autocomplete("bot")
async def chat_bot_autocomplete(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
    names = ["tarot", "tax-helper", "poet"]
    return [app_commands.Choice(name=n, value=n) for n in names if n.startswith(current)]


@app_commands.command(name="buttons", description="Show a button")
async def buttons(interaction: discord.Interaction) -> None:
    await interaction.response.send_message("press it", view=ConfirmView())


@app_commands.command(name="ask", description="Open a modal")
async def ask(interaction: discord.Interaction) -> None:
    await interaction.response.send_modal(AskModal())


@app_commands.command(name="stream", description="Stream an answer by editing the response")
async def stream(interaction: discord.Interaction, parts: int) -> None:
    await interaction.response.defer(thinking=True)
    text = ""
    for i in range(parts):
        text += f"part{i} "
        await interaction.edit_original_response(content=text.strip())


admin = app_commands.Group(name="admin", description="Admin tools")


@admin.command(name="ping", description="Ping")
async def admin_ping(interaction: discord.Interaction, loud: bool = False) -> None:
    await interaction.response.send_message("PONG" if loud else "pong")


# ---- fixtures ----------------------------------------------------------------------------------------
@pytest.fixture
async def emu() -> AsyncIterator[DiscordEmulator]:
    async with fast_emulator(TOKEN) as emulator:
        yield emulator


def running_bot(
    emu: DiscordEmulator, *, message_content: bool = True, members: bool = False
) -> contextlib.AbstractAsyncContextManager[TinyBot]:
    return connected(emu, TinyBot(message_content=message_content, members=members))


def channel(bot: TinyBot, emu: DiscordEmulator, channel_id: int | None = None) -> discord.TextChannel:
    found = bot.get_channel(channel_id or emu.channel_id)
    assert isinstance(found, discord.TextChannel)
    return found


async def raw(
    session: aiohttp.ClientSession, emu: DiscordEmulator, method: str, path: str, body: Any = None, auth: bool = True
) -> tuple[int, dict[str, str], Any]:
    headers = {"Authorization": f"Bot {emu.token}"} if auth else {}
    async with session.request(method, emu.api_base_url + path, json=body, headers=headers) as resp:
        text = await resp.text()
        data = json.loads(text) if resp.headers.get("Content-Type") == "application/json" else text
        return resp.status, dict(resp.headers), data


# ---- connection --------------------------------------------------------------------------------------
async def test_connect_ready_and_guild_cached(emu: DiscordEmulator) -> None:
    async with running_bot(emu) as bot:
        assert bot.user is not None and bot.user.id == emu.bot_user_id
        guild = bot.get_guild(emu.guild_id)
        assert guild is not None and not guild.unavailable
        assert guild.member_count == 2 and guild.owner_id == emu.user_id
        assert guild.me is not None and guild.me.id == emu.bot_user_id
        assert guild.default_role.id == emu.guild_id
        assert channel(bot, emu).name == "general"
        assert emu.gateway_connections == 1
        assert emu.identify_intents == bot.intents.value
        assert emu.identify_intents is not None and emu.identify_intents & (1 << 15)
        assert emu.core.gateway.connections[0].compress == "zstd-stream"
        # Snowflakes carry realistic creation times.
        assert abs(guild.created_at.timestamp() - time.time()) < 60
    assert emu.gateway_connections == 0


async def test_members_intent_gets_member_list(emu: DiscordEmulator) -> None:
    bob = emu.add_member("bob")
    async with running_bot(emu, members=True) as bot:
        guild = bot.get_guild(emu.guild_id)
        assert guild is not None and guild.get_member(bob) is not None
        assert guild.get_member(emu.user_id) is not None
        carol = emu.add_member("carol")  # GUILD_MEMBER_ADD reaches bots with the members intent
        await emu.wait_for(lambda: guild.get_member(carol) is not None)


async def test_wrong_token_is_refused(emu: DiscordEmulator) -> None:
    async with aiohttp.ClientSession() as session:
        status, _, body = await raw(session, emu, "GET", "/users/@me", auth=False)
        assert (status, body) == (401, {"message": "401: Unauthorized", "code": 0})
    client = discord.Client(intents=discord.Intents.default())
    old_base = discord.http.Route.BASE
    discord.http.Route.BASE = emu.api_base_url
    try:
        with pytest.raises(discord.LoginFailure):
            await client.login("not-the-token")
    finally:
        await client.close()
        discord.http.Route.BASE = old_base


async def test_resume_replays_missed_dispatches(emu: DiscordEmulator) -> None:
    async with running_bot(emu) as bot:
        await emu.disconnect_gateway()
        missed = await emu.send_user_message(emu.channel_id, "while you were away")
        await asyncio.wait_for(bot.resumed.wait(), timeout=10)
        await emu.wait_for(lambda: any(m.id == missed.id for m in bot.received))
        assert emu.core.gateway.resume_count == 1
        await emu.disconnect_gateway(invalidate_session=True)
        await emu.wait_until_ready(count=2)
        assert emu.core.gateway.identify_count == 2


async def test_zlib_stream_transport_by_hand(emu: DiscordEmulator) -> None:
    inflator = zlib.decompressobj()
    buffer = bytearray()

    async def receive(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
        while True:
            msg = await ws.receive(timeout=5)
            assert msg.type is aiohttp.WSMsgType.BINARY
            buffer.extend(msg.data)
            if bytes(buffer[-4:]) == b"\x00\x00\xff\xff":
                payload: dict[str, Any] = json.loads(inflator.decompress(bytes(buffer)))
                buffer.clear()
                return payload

    async with aiohttp.ClientSession() as session:
        url = emu.gateway_url + "?v=10&encoding=json&compress=zlib-stream"
        async with session.ws_connect(url) as ws:
            hello = await receive(ws)
            assert hello["op"] == 10 and hello["d"]["heartbeat_interval"] == 41250
            await ws.send_json({"op": 1, "d": None})
            assert (await receive(ws))["op"] == 11
            await ws.send_json({"op": 2, "d": {"token": emu.token, "intents": 513, "properties": {}}})
            ready = await receive(ws)
            assert (ready["t"], ready["s"]) == ("READY", 1)
            assert ready["d"]["guilds"] == [{"id": str(emu.guild_id), "unavailable": True}]
            guild = await receive(ws)
            assert guild["t"] == "GUILD_CREATE" and guild["d"]["channels"][0]["name"] == "general"
            assert emu.identify_intents == 513
        async with session.ws_connect(emu.gateway_url + "?v=10&encoding=json") as ws:
            assert json.loads((await ws.receive(timeout=5)).data)["op"] == 10
            await ws.send_json({"op": 2, "d": {"token": "wrong", "intents": 0, "properties": {}}})
            closing = await ws.receive(timeout=5)
            assert closing.type is aiohttp.WSMsgType.CLOSE and closing.data == 4004


# ---- slash commands ----------------------------------------------------------------------------------
async def test_slash_sync_invoke_defer_followup_and_edit(emu: DiscordEmulator) -> None:
    async with running_bot(emu):
        registered = {c["name"]: c for c in await emu.wait_for_commands()}
        assert set(registered) == {"chat", "buttons", "ask", "admin", "stream"}
        provider = registered["chat"]["options"][0]
        assert (provider["name"], provider["type"], provider["required"]) == ("provider", 3, True)
        assert provider["choices"] == [{"name": "aBLT", "value": "ablt"}]
        with pytest.raises(ValueError, match="unknown option"):
            await emu.run_slash_command("chat", {"provider": "ablt", "prompt": "hi", "nope": 1})
        with pytest.raises(ValueError, match="not one of"):
            await emu.run_slash_command("chat", {"provider": "other", "prompt": "hi"})

        inter = await emu.run_slash_command("chat", {"provider": "ablt", "prompt": "hi", "turns": "3"})
        first = await inter.wait_for_response(timeout=5)
        assert first.type == 5 and inter.deferred
        await inter.wait_for_followups(1)
        original = inter.original_message
        assert original is not None and not original.loading and not original.ephemeral
        # The first followup filled in the "thinking" message; then the bot edited it.
        assert [content for _, content in original.edits] == ["", "[ablt/None] hi x3", "[ablt/None] hi x3 (done)"]
        assert original.command_name == "chat" and original.interaction_user_id == emu.user_id
        (secret,) = inter.followups
        assert secret.ephemeral and secret.flags & EPHEMERAL_FLAG and secret.content == "only you can see this"
        assert inter.messages == [original, secret]

        group = await emu.run_slash_command("admin ping", {"loud": True})
        await group.wait_for_response()
        assert group.original_message is not None and group.original_message.content == "PONG"


async def test_autocomplete_returns_choices(emu: DiscordEmulator) -> None:
    async with running_bot(emu):
        await emu.wait_for_commands()
        choices = await emu.autocomplete("chat", {"provider": "ablt", "prompt": "x", "bot": "ta"}, focused="bot")
        assert choices == [{"name": "tarot", "value": "tarot"}, {"name": "tax-helper", "value": "tax-helper"}]


async def test_button_click_and_modal_submit(emu: DiscordEmulator) -> None:
    async with running_bot(emu):
        await emu.wait_for_commands()
        inter = await emu.run_slash_command("buttons")
        await inter.wait_for_response()
        message = inter.original_message
        assert message is not None and message.custom_ids() == ["confirm:ok"]
        click = await emu.click_button(message.id, "confirm:ok")
        assert (await click.wait_for_response()).type == 7
        assert message.content == "confirmed" and message.components == []

        opened = await emu.run_slash_command("ask")
        assert (await opened.wait_for_response()).type == 9
        submitted = await emu.submit_modal(opened, {"ask:q": "why?"})
        await submitted.wait_for_response()
        assert submitted.original_message is not None
        assert submitted.original_message.content == "you asked: why?" and submitted.ephemeral


async def test_interaction_callback_rules() -> None:
    """No bot here: the test plays the bot over raw HTTP to see the exact error bodies."""
    async with (
        DiscordEmulator(token=TOKEN, interaction_callback_timeout_s=0.2) as emu,
        aiohttp.ClientSession() as session,
    ):
        command = {"name": "raw", "description": "d", "type": 1}
        status, _, stored = await raw(session, emu, "PUT", f"/applications/{emu.application_id}/commands", [command])
        assert status == 200 and stored[0]["name"] == "raw" and stored[0]["id"]
        fast = await emu.run_slash_command("raw")
        late = await emu.run_slash_command("raw")
        path = f"/interactions/{fast.id}/{fast.token}/callback?with_response=1"
        reply = {"type": 4, "data": {"content": f"hi <@{emu.user_id}> @everyone"}}
        status, _, body = await raw(session, emu, "POST", path, reply, auth=False)
        assert status == 200
        assert body["interaction"]["response_message_id"] == body["resource"]["message"]["id"]
        status, _, body = await raw(session, emu, "POST", path, {"type": 4, "data": {"content": "again"}}, auth=False)
        assert (status, body) == (400, {"message": "Interaction has already been acknowledged.", "code": 40060})
        await asyncio.sleep(0.25)  # past the (shortened) 3 s response window
        late_path = f"/interactions/{late.id}/{late.token}/callback?with_response=1"
        status, _, body = await raw(session, emu, "POST", late_path, {"type": 5}, auth=False)
        assert (status, body) == (404, {"message": "Unknown interaction", "code": 10062})
        assert late.rejected_callbacks == 1 and not late.responded
        hook = f"/webhooks/{emu.application_id}/nope?wait=true"
        status, _, body = await raw(session, emu, "POST", hook, {"content": "x"}, auth=False)
        assert (status, body["code"]) == (404, 10015)
        # Interaction responses parse only user mentions by default.
        assert fast.original_message is not None
        assert fast.original_message.pings.users == {emu.user_id} and not fast.original_message.pings.everyone


# ---- messages and threads ----------------------------------------------------------------------------
async def test_message_create_edit_delete_and_history(emu: DiscordEmulator) -> None:
    async with running_bot(emu) as bot:
        sent = await channel(bot, emu).send("hello")
        await emu.wait_for(lambda: any(m.id == sent.id for m in bot.received))  # MESSAGE_CREATE for own message
        await sent.edit(content="hello again")
        record = emu.message(sent.id)
        assert [c for _, c in record.edits] == ["hello", "hello again"] and record.edited_timestamp
        fetched = await channel(bot, emu).fetch_message(sent.id)
        assert fetched.content == "hello again"
        history = [m.content async for m in channel(bot, emu).history(limit=10)]
        assert history == ["hello again"]
        async with channel(bot, emu).typing():
            pass
        assert emu.typing_events[-1][1] == emu.channel_id
        await sent.delete()
        assert emu.messages() == [] and emu.messages(include_deleted=True) == [record]
        with pytest.raises(discord.NotFound) as err:
            await channel(bot, emu).fetch_message(sent.id)
        assert err.value.code == 10008


async def test_threads_private_by_default_public_from_message(emu: DiscordEmulator) -> None:
    async with running_bot(emu) as bot:
        general = channel(bot, emu)
        private = await general.create_thread(name="private talk")
        assert private.type is discord.ChannelType.private_thread
        public = await general.create_thread(
            name="public talk", type=discord.ChannelType.public_thread, auto_archive_duration=60
        )
        assert public.type is discord.ChannelType.public_thread
        starter = await general.send("start here")
        from_message = await starter.create_thread(name="from message")
        assert from_message.id == starter.id and from_message.type is discord.ChannelType.public_thread
        with pytest.raises(discord.HTTPException) as err:
            await general.create_thread(name="x" * 101)
        assert err.value.code == 50035

        await private.add_user(discord.Object(emu.user_id))
        await private.send("in the thread")
        await private.edit(archived=True, name="renamed")
        records = {t.id: t for t in emu.threads}
        assert records[private.id].type == 12 and records[private.id].archived
        assert records[private.id].name == "renamed" and emu.user_id in records[private.id].member_ids
        assert records[public.id].auto_archive_duration == 60
        assert records[from_message.id].starter_message_id == starter.id
        assert [m.content for m in emu.messages(private.id)] == ["in the thread"]
        await emu.wait_for(lambda: bot.get_channel(public.id) is not None)

        by_user = await emu.create_thread("user thread")  # a member opens a public thread
        await emu.wait_for(lambda: bot.get_channel(by_user.id) is not None)
        assert by_user.owner_id == emu.user_id and by_user.type == 11


async def test_content_over_2000_rejected(emu: DiscordEmulator) -> None:
    async with running_bot(emu) as bot:
        with pytest.raises(discord.HTTPException) as err:
            await channel(bot, emu).send("x" * 2001)
        assert err.value.status == 400 and err.value.code == 50035
        assert "content" in err.value.text or "2000" in str(err.value)
        ok = await channel(bot, emu).send("🙂" * 2000)  # code points, not UTF-16 units
        assert len(emu.message(ok.id).content) == 2000
        with pytest.raises(discord.HTTPException) as err:
            await channel(bot, emu).send(embed=discord.Embed(description="d" * 4097))
        assert err.value.code == 50035 and "4096 or fewer" in err.value.text


async def test_limits_on_raw_bodies() -> None:
    button = {"type": 2, "style": 1, "label": "b", "custom_id": "same"}
    cases: list[tuple[dict[str, Any], str]] = [
        ({"content": "x" * 2001}, "BASE_TYPE_MAX_LENGTH"),
        ({"content": "   "}, "50006"),
        (
            {"components": [{"type": 1, "components": [dict(button, custom_id=f"r{i}")]} for i in range(6)]},
            "5 or fewer",
        ),
        (
            {"content": "x", "components": [{"type": 1, "components": [button, button]}]},
            "COMPONENT_CUSTOM_ID_DUPLICATED",
        ),
        (
            {
                "content": "x",
                "components": [
                    {
                        "type": 1,
                        "components": [
                            {"type": 2, "style": 5, "label": "l", "url": "https://example.invalid", "custom_id": "c"}
                        ],
                    }
                ],
            },
            "BUTTON_COMPONENT_LINK_HAS_CUSTOM_ID",
        ),
        ({"content": "x", "components": [{"type": 1, "components": [dict(button, label="l" * 81)]}]}, "80 or fewer"),
        ({"content": "x", "allowed_mentions": {"parse": ["users"], "users": ["1"]}}, "mutually exclusive"),
        ({"content": "x", "allowed_mentions": {"parse": ["channels"]}}, "BASE_TYPE_CHOICES"),
        ({"embeds": [{"description": "d" * 4096}, {"description": "d" * 2000}]}, "MAX_EMBED_SIZE_EXCEEDED"),
        ({"embeds": [{"fields": [{"name": "n", "value": "v"}] * 26}]}, "25 or fewer"),
    ]
    async with (
        DiscordEmulator(token=TOKEN, message_bucket_limit=100, max_file_size=1024) as emu,
        aiohttp.ClientSession() as session,
    ):
        for body, expected in cases:
            status, _, data = await raw(session, emu, "POST", f"/channels/{emu.channel_id}/messages", body)
            assert status == 400, body
            assert expected in json.dumps(data), (expected, data)
        status, _, data = await raw(session, emu, "POST", "/channels/1/messages", {"content": "x"})
        assert (status, data["code"]) == (404, 10003)
        assert emu.messages() == [] and emu.rate_limit_hits == 0

        async def upload(sizes: list[int]) -> tuple[int, Any]:
            form = aiohttp.FormData(quote_fields=False)
            form.add_field("payload_json", json.dumps({"content": "files"}))
            for i, size in enumerate(sizes):
                form.add_field(f"files[{i}]", b"x" * size, filename=f"f{i}.bin")
            url = f"{emu.api_base_url}/channels/{emu.channel_id}/messages"
            async with session.post(url, data=form, headers={"Authorization": f"Bot {emu.token}"}) as resp:
                return resp.status, await resp.json()

        assert await upload([2048]) == (413, {"message": "Request entity too large", "code": 40005})
        status, data = await upload([1] * 11)
        assert status == 400 and data["code"] == 50035
        status, data = await upload([1024] * 10)
        assert status == 200 and len(data["attachments"]) == 10


async def test_attachments_and_voice_message_multipart(emu: DiscordEmulator) -> None:
    async with running_bot(emu) as bot:
        upload = discord.File(io.BytesIO(b"hello bytes"), filename="note.txt")
        sent = await channel(bot, emu).send("file", file=upload)
        (att,) = emu.message(sent.id).attachments
        assert (att.filename, att.size, att.data, att.content_type) == ("note.txt", 11, b"hello bytes", "text/plain")
        assert await sent.attachments[0].read() == b"hello bytes"  # served by the emulator's CDN

        waveform = base64.b64encode(bytes(range(64))).decode()
        payload = {
            "flags": VOICE_MESSAGE_FLAG,
            "attachments": [{"id": "0", "filename": "voice-message.ogg", "duration_secs": 3.2, "waveform": waveform}],
        }
        audio: dict[str, Any] = {
            "name": "files[0]",
            "value": b"OggS-fake",
            "filename": "voice-message.ogg",
            "content_type": "audio/ogg",
        }
        form: list[dict[str, Any]] = [{"name": "payload_json", "value": json.dumps(payload)}, audio]
        route = discord.http.Route("POST", "/channels/{channel_id}/messages", channel_id=emu.channel_id)
        data = await bot.http.request(route, form=form, files=[])
        voice = emu.message(int(data["id"]))
        assert voice.is_voice_message and voice.attachments[0].is_voice_message
        assert (voice.attachments[0].duration_secs, voice.attachments[0].waveform) == (3.2, waveform)
        with pytest.raises(discord.HTTPException) as err:
            with_text = json.dumps({"content": "hi", **payload})
            await bot.http.request(route, form=[{"name": "payload_json", "value": with_text}, audio], files=[])
        assert err.value.code == 50159


# ---- rate limits -------------------------------------------------------------------------------------
async def test_discord_py_waits_out_the_channel_bucket(emu: DiscordEmulator) -> None:
    other = emu.add_text_channel("other")
    async with running_bot(emu) as bot:

        async def sequential() -> list[discord.Message]:
            return [await channel(bot, emu).send(f"m{i}") for i in range(6)]

        async def concurrent() -> list[discord.Message]:
            return list(await asyncio.gather(*(channel(bot, emu, other).send(f"c{i}") for i in range(6))))

        started = time.monotonic()
        sent, _ = await asyncio.gather(sequential(), concurrent())
        elapsed = time.monotonic() - started
        assert [m.content for m in emu.messages()] == [f"m{i}" for i in range(6)]
        assert sorted(m.content for m in emu.messages(other)) == [f"c{i}" for i in range(6)]
        assert elapsed >= 0.9  # each 6th send waited for its channel's 1 s window to reset
        assert emu.rate_limit_hits == 0  # the headers let discord.py sleep pre-emptively
        creates = [r for r in emu.requests if r.route == "POST /channels/{channel_id}/messages"]
        assert len({r.bucket for r in creates}) == 1 and creates[0].bucket
        await sent[0].edit(content="edited shares the bucket")
        assert emu.requests[-1].bucket == creates[0].bucket


async def test_interaction_webhook_bucket_paces_edits(emu: DiscordEmulator) -> None:
    async with running_bot(emu):
        await emu.wait_for_commands()
        inter = await emu.run_slash_command("stream", {"parts": 7})
        await emu.wait_for(lambda: inter.original_message is not None and inter.original_message.edit_count == 7)
        edits = [r for r in emu.requests if r.route == "PATCH /webhooks/{app_id}/{token}/messages/{message_id}"]
        assert len(edits) == 7 and emu.rate_limit_hits == 0
        assert edits[5].t - edits[0].t >= 0.9  # 5 per (shortened) 1 s window, then a pause
        assert inter.original_message is not None and inter.original_message.content.endswith("part6")


async def test_raw_burst_gets_real_429s(emu: DiscordEmulator) -> None:
    path = f"/channels/{emu.channel_id}/messages"
    async with aiohttp.ClientSession() as session:
        results = [await raw(session, emu, "POST", path, {"content": f"r{i}"}) for i in range(6)]
        statuses = [status for status, _, _ in results]
        assert statuses == [200] * 5 + [429]
        _, headers, body = results[-1]
        assert headers["Via"] == "1.1 google" and headers["Content-Type"] == "application/json"
        assert headers["X-RateLimit-Scope"] == "user" and "X-RateLimit-Global" not in headers
        assert body["message"] == "You are being rate limited." and body["global"] is False
        assert 0 < body["retry_after"] <= 1.0
        first_headers = results[0][1]
        assert first_headers["X-RateLimit-Limit"] == "5" and first_headers["X-RateLimit-Remaining"] == "4"
        assert float(first_headers["X-RateLimit-Reset-After"]) <= 1.0 and "X-RateLimit-Bucket" in first_headers
        assert float(first_headers["X-RateLimit-Reset"]) > time.time()
        assert emu.rate_limit_hits == 1
        assert emu.rate_limit_hits_by_route == {"POST /channels/{channel_id}/messages": 1}
        await asyncio.sleep(body["retry_after"])
        status, headers, _ = await raw(session, emu, "POST", path, {"content": "after reset"})
        assert status == 200 and headers["X-RateLimit-Remaining"] == "4"


async def test_global_rate_limit() -> None:
    async with DiscordEmulator(token=TOKEN, global_limit=3) as emu, aiohttp.ClientSession() as session:
        results = [await raw(session, emu, "GET", "/users/@me") for _ in range(4)]
        assert [s for s, _, _ in results] == [200, 200, 200, 429]
        _, headers, body = results[-1]
        assert body["global"] is True and headers["X-RateLimit-Global"] == "true"
        assert headers["X-RateLimit-Scope"] == "global" and headers["Via"] == "1.1 google"
        assert emu.requests[-1].rate_limited == "global"


# ---- gateway semantics -------------------------------------------------------------------------------
async def test_message_content_intent_gating(emu: DiscordEmulator) -> None:
    voice = AttachmentSpec("voice-message.ogg", b"OggS", "audio/ogg", duration_secs=1.0, waveform="AAAA")
    async with running_bot(emu, message_content=False) as bot:
        plain = await emu.send_user_message(emu.channel_id, "secret text")
        with_file = await emu.send_user_message(emu.channel_id, "", attachments=[voice], flags=VOICE_MESSAGE_FLAG)
        mention = await emu.send_user_message(emu.channel_id, f"<@{emu.bot_user_id}> hi bot")
        await emu.wait_for(lambda: len(bot.received) == 3)
        by_id = {m.id: m for m in bot.received}
        assert by_id[plain.id].content == "" and by_id[with_file.id].attachments == []
        assert by_id[mention.id].content == f"<@{emu.bot_user_id}> hi bot"
    async with running_bot(emu, message_content=True) as bot:
        again = await emu.send_user_message(emu.channel_id, "visible now", attachments=[voice])
        await emu.wait_for(lambda: any(m.id == again.id for m in bot.received))
        received = next(m for m in bot.received if m.id == again.id)
        assert received.content == "visible now" and received.attachments[0].is_voice_message()


async def test_allowed_mentions_pings(emu: DiscordEmulator) -> None:
    role = emu.add_role("testers")
    bob = emu.add_member("bob")
    text = f"@everyone <@{emu.user_id}> <@&{role}> <@{bob}>"
    async with running_bot(emu) as bot:
        quiet = await channel(bot, emu).send(text)  # client default AllowedMentions.none()
        record = emu.message(quiet.id)
        assert record.allowed_mentions == {"parse": []} and not record.pings.any
        just_bob = discord.AllowedMentions(users=[discord.Object(bob)])
        only_bob = await channel(bot, emu).send(text, allowed_mentions=just_bob)
        assert emu.message(only_bob.id).pings.users == {bob} and not emu.message(only_bob.id).pings.everyone
        await quiet.edit(content=f"now <@{bob}>")  # edits never notify, but re-parse highlights
        assert emu.message(quiet.id).mentions.users == set() and not emu.message(quiet.id).pings.any
    async with aiohttp.ClientSession() as session:
        status, _, data = await raw(session, emu, "POST", f"/channels/{emu.channel_id}/messages", {"content": text})
        assert status == 200
        loud: MessageRecord = emu.message(int(data["id"]))
        assert loud.allowed_mentions is None
        assert loud.pings.everyone and loud.pings.users == {emu.user_id, bob} and loud.pings.roles == {role}
        assert data["mention_everyone"] is True
