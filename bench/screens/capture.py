"""Read a thread's recorded messages out of the Discord emulator into a `Scene` (what everyone there sees)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from tests.emulators.discord import COMPONENTS_V2_FLAG, AttachmentRecord, DiscordEmulator, MessageRecord
from tests.emulators.discord.snowflakes import DISCORD_EPOCH_MS

from .scene import (
    Block,
    Button,
    Component,
    Container,
    Embed,
    Field,
    File,
    Gallery,
    Person,
    Post,
    Row,
    Scene,
    Section,
    Select,
    Separator,
    Text,
    Thumbnail,
    Voice,
)

ACTION_ROW, SELECT = 1, 3
SECTION, TEXT_DISPLAY, THUMBNAIL, MEDIA_GALLERY, FILE, SEPARATOR, CONTAINER = 9, 10, 11, 12, 13, 14, 17
"""Discord's component types (components/reference.mdx); 9 and above only in Components V2 messages."""
ATTACHMENT_URL = "attachment://"


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


def capture_channel(discord: DiscordEmulator, channel_id: int) -> Scene:
    """The channel `channel_id` (not a thread) as its members see it: its non-ephemeral messages."""
    channel = discord.core.world.channels[channel_id]
    messages = discord.messages(channel_id, include_ephemeral=False)
    return Scene(
        title=channel.name,
        channel=channel.name,
        thread=None,
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
    layout: tuple[Block, ...] = ()
    rows: tuple[tuple[Component, ...], ...] = ()
    files = tuple(File(a.filename, a.size) for a in message.attachments if a not in voices)
    if message.flags & COMPONENTS_V2_FLAG:
        sizes = {a.filename: a.size for a in message.attachments}
        layout = tuple(b for b in (block(c, sizes) for c in message.components) if b is not None)
        shown = {b.filename for b in walk(layout) if isinstance(b, File)}
        files = tuple(f for f in files if f.filename not in shown)
    else:
        rows = tuple(tuple(component(c) for c in row.get("components", [])) for row in message.components)
    return Post(
        id=message.id,
        author=person(discord, message.author_id),
        at=sent_at(message.id),
        content=message.content,
        rows=rows,
        layout=layout,
        embeds=tuple(embed(e) for e in message.embeds),
        voice=voice(voices[0]) if voices else None,
        files=files,
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


def block(data: dict[str, Any], sizes: dict[str, int]) -> Block | None:
    """One Components V2 component as the picture shows it (None for a kind no message shows, e.g. a modal's);
    `sizes` are the message's attachments by filename, for File components (`attachment://<filename>`)."""
    kind = data.get("type")
    children = [c for c in data.get("components") or [] if isinstance(c, dict)]
    if kind == TEXT_DISPLAY:
        return Text(str(data.get("content") or ""))
    if kind == SECTION:
        accessory = data.get("accessory") or {}
        shown: Button | Thumbnail | None = None
        if accessory.get("type") == THUMBNAIL:
            shown = Thumbnail(text_or_none(accessory.get("description")))
        elif accessory:
            found = component(accessory)
            shown = found if isinstance(found, Button) else None
        return Section(tuple(Text(str(c.get("content") or "")) for c in children), shown)
    if kind == SEPARATOR:
        return Separator(divider=data.get("divider", True) is not False, large=data.get("spacing") == 2)
    if kind == ACTION_ROW:
        return Row(tuple(component(c) for c in children))
    if kind == MEDIA_GALLERY:
        return Gallery(
            tuple(text_or_none(i.get("description")) for i in data.get("items") or [] if isinstance(i, dict))
        )
    if kind == FILE:
        name = str((data.get("file") or {}).get("url") or "").removeprefix(ATTACHMENT_URL)
        return File(name, sizes.get(name, 0))
    if kind == CONTAINER:
        inside = tuple(b for b in (block(c, sizes) for c in children) if b is not None)
        colour = data.get("accent_color")
        return Container(inside, colour if isinstance(colour, int) else None, bool(data.get("spoiler")))
    return None


def text_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def walk(blocks: tuple[Block, ...]) -> list[Block]:
    """`blocks` and every block inside their Containers, in order."""
    found: list[Block] = []
    for b in blocks:
        found.append(b)
        if isinstance(b, Container):
            found.extend(walk(b.children))
    return found


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
