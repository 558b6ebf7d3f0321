"""Read a thread's recorded messages out of the Discord emulator into a `Scene` (what everyone there sees)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from tests.emulators.discord import AttachmentRecord, DiscordEmulator, MessageRecord
from tests.emulators.discord.snowflakes import DISCORD_EPOCH_MS

from .scene import Button, Component, Embed, Field, File, Person, Post, Scene, Select, Voice

SELECT = 3


def capture(discord: DiscordEmulator, thread_id: int) -> Scene:
    """The thread `thread_id` as its members see it: its starter message and its non-ephemeral messages."""
    world = discord.core.world
    thread = discord.thread(thread_id)
    starter = discord.message(thread.starter_message_id) if thread.starter_message_id else None
    messages = discord.messages(thread_id, include_ephemeral=False)
    return Scene(
        title=thread.name,
        channel=world.channels[thread.parent_id].name,
        thread=thread.name,
        starter=post(discord, starter) if starter is not None else None,
        posts=tuple(post(discord, m) for m in messages),
        names=names(discord),
    )


def names(discord: DiscordEmulator) -> dict[int, str]:
    """Every user, role, channel and thread id the emulator knows, to the name a mention of it shows."""
    world = discord.core.world
    found: dict[int, str] = {uid: user.global_name or user.username for uid, user in world.users.items()}
    found |= {cid: channel.name for cid, channel in world.channels.items()}
    found |= {tid: thread.name for tid, thread in world.threads.items()}
    for guild in world.guilds.values():
        found |= {rid: role.name.removeprefix("@") for rid, role in guild.roles.items()}
    return found


def person(discord: DiscordEmulator, user_id: int) -> Person:
    user = discord.core.world.users[user_id]
    return Person(user_id, user.global_name or user.username, user.bot)


def sent_at(snowflake: int) -> datetime:
    """The UTC time a Discord id was made."""
    return datetime.fromtimestamp(((snowflake >> 22) + DISCORD_EPOCH_MS) / 1000, UTC)


def post(discord: DiscordEmulator, message: MessageRecord) -> Post:
    voices = [a for a in message.attachments if message.is_voice_message and a.is_voice_message]
    command = None
    if message.command_name and message.interaction_user_id is not None:
        command = (person(discord, message.interaction_user_id), message.command_name)
    return Post(
        id=message.id,
        author=person(discord, message.author_id),
        at=sent_at(message.id),
        content=message.content,
        rows=tuple(tuple(component(c) for c in row.get("components", [])) for row in message.components),
        embeds=tuple(embed(e) for e in message.embeds),
        voice=voice(voices[0]) if voices else None,
        files=tuple(File(a.filename, a.size) for a in message.attachments if a not in voices),
        command=command,
        edited=message.edited_timestamp is not None,
        reactions=tuple(message.reactions),
    )


def voice(attachment: AttachmentRecord) -> Voice:
    assert attachment.duration_secs is not None and attachment.waveform is not None
    return Voice(attachment.duration_secs, base64.b64decode(attachment.waveform))


def component(data: dict[str, Any]) -> Component:
    if data.get("type") == SELECT:
        options = tuple(str(o.get("label", "")) for o in data.get("options", []))
        return Select(str(data.get("placeholder") or ""), options, bool(data.get("disabled")))
    emoji = data.get("emoji") or {}
    return Button(
        str(data.get("label") or ""), int(data.get("style", 2)), bool(data.get("disabled")), emoji.get("name")
    )


def embed(data: dict[str, Any]) -> Embed:
    fields = tuple(
        Field(str(f.get("name", "")), str(f.get("value", "")), bool(f.get("inline"))) for f in data.get("fields", [])
    )
    return Embed(
        title=data.get("title"),
        description=data.get("description"),
        url=data.get("url"),
        colour=data["color"] if isinstance(data.get("color"), int) else None,
        fields=fields,
        footer=(data.get("footer") or {}).get("text"),
    )
