"""A recorded scene as one HTML page in Discord's dark look: a pure function of the `Scene` (no clock, no files
besides the style sheet next to this module). Every text from a member, the bot or an AI is escaped."""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path

from .markdown import escape, to_html
from .scene import (
    Block,
    Button,
    Component,
    Container,
    Embed,
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

STYLE = (Path(__file__).with_name("style.css")).read_text(encoding="utf-8")
AVATAR_COLOURS = ("#5865f2", "#757e8a", "#3ba55c", "#faa61a", "#ed4245", "#eb459f")
"""Discord's default avatar colours: the bot has the first (blurple); a member one of the others, picked from
their name (not from their id as Discord does, so a picture keeps its colours from one run to the next)."""
GROUP_WITHIN = timedelta(minutes=7)
"""Messages by the same author this close together share one header, as Discord shows them."""
WAVE_BARS = 40
WAVE_MIN_PX, WAVE_MAX_PX = 3, 28
THREAD_ICON = (
    '<svg width="24" height="24" viewBox="0 0 24 24" fill="none" stroke="#80848e" stroke-width="2" '
    'stroke-linecap="round"><path d="M6 3 4 17M12 3l-2 14M2.5 7.5h12M1.5 13h12"/>'
    '<path d="M14 12h7a1.5 1.5 0 0 1 1.5 1.5v5a1.5 1.5 0 0 1-1.5 1.5h-1.5v2.5L16.5 20H14a1.5 1.5 0 0 1-1.5-1.5v-5'
    'A1.5 1.5 0 0 1 14 12z" fill="#80848e" stroke="none"/></svg>'
)
HASH_ICON = (
    '<svg width="24" height="24" viewBox="0 0 24 24" fill="none" stroke="#80848e" stroke-width="2" '
    'stroke-linecap="round"><path d="M9 3 7 21M17 3l-2 18M3.5 8.5h17M3 15.5h17"/></svg>'
)
PLAY_ICON = '<svg width="14" height="14" viewBox="0 0 14 14"><path d="M3 1.5v11l9.5-5.5z" fill="#fff"/></svg>'
CHEVRON = (
    '<svg width="18" height="18" viewBox="0 0 24 24"><path d="M7 10l5 5 5-5" fill="none" stroke="#b5bac1" '
    'stroke-width="2"/></svg>'
)
IMAGE_ICON = (
    '<svg width="32" height="32" viewBox="0 0 24 24"><rect x="3" y="4" width="18" height="16" rx="2" fill="none" '
    'stroke="#80848e" stroke-width="1.5"/><circle cx="9" cy="9.5" r="1.75" fill="#80848e"/>'
    '<path d="M4 18l5-5 3 3 3-4 5 6z" fill="#80848e"/></svg>'
)
FILE_ICON = (
    '<svg width="28" height="34" viewBox="0 0 28 34"><path d="M2 1h16l8 8v24H2z" fill="#5865f2"/>'
    '<path d="M18 1v8h8" fill="#949cf7"/></svg>'
)


def page(scene: Scene) -> str:
    """The whole HTML document for `scene`: the header bar, the starter message, the messages, the composer."""
    posts: list[str] = []
    if scene.starter is not None:
        posts.append(post_html(scene.starter, first=True, names=scene.names, extra="starter"))
    previous: Post | None = None
    for post in scene.posts:
        posts.append(post_html(post, first=starts_group(previous, post), names=scene.names))
        previous = post
    where = scene.thread if scene.thread is not None else scene.channel
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(scene.title)}</title><style>{STYLE}</style></head>\n<body>\n"
        f"{header_html(scene)}\n"
        f'<main class="log">\n{chr(10).join(posts)}\n</main>\n'
        f'<div class="composer">Message {escape(("“" + where + "”") if scene.thread else "#" + where)}</div>\n'
        "</body></html>\n"
    )


def header_html(scene: Scene) -> str:
    if scene.thread is None:
        return f'<header class="bar">{HASH_ICON}<span>{escape(scene.channel)}</span></header>'
    return (
        f'<header class="bar"><span class="crumb">#&#8201;{escape(scene.channel)}</span>'
        f'<span class="sep">&#8250;</span>{THREAD_ICON}<span>{escape(scene.thread)}</span></header>'
    )


def starts_group(previous: Post | None, post: Post) -> bool:
    """Whether `post` shows its author's avatar and name (a new author, a command, or a pause of 7 minutes)."""
    return (
        previous is None
        or previous.author.id != post.author.id
        or post.command is not None
        or post.at - previous.at > GROUP_WITHIN
    )


def post_html(post: Post, *, first: bool, names: Mapping[int, str], extra: str = "") -> str:
    """One message; with `first`, under its author's avatar, name, BOT tag and time."""
    classes = " ".join(c for c in ("post", "first" if first else "", "command" if post.command else "", extra) if c)
    parts = [f'<article class="{classes}" data-id="{post.id}">']
    if first:
        if post.command is not None:
            parts.append(used_html(*post.command))
        parts.append(avatar_html(post.author))
        tag = '<span class="tag">BOT</span>' if post.author.bot else ""
        when = post.at.strftime("Today at %H:%M")
        parts.append(
            f'<div class="head"><span class="name">{escape(post.author.name)}</span>{tag}'
            f'<span class="time">{escape(when)}</span></div>'
        )
    if post.content:
        edited = '<span class="edited">(edited)</span>' if post.edited else ""
        parts.append(f'<div class="content">{to_html(post.content, names)}{edited}</div>')
    if post.layout:
        parts.append(f'<div class="layout">{blocks_html(post.layout, names)}</div>')
    parts.extend(embed_html(embed, names) for embed in post.embeds)
    if post.voice is not None:
        parts.append(voice_html(post.voice))
    parts.extend(file_html(file) for file in post.files)
    if post.rows:
        parts.append(rows_html(post.rows))
    if post.reactions:
        pills = "".join(f'<span class="reaction">{escape(r)} 1</span>' for r in post.reactions)
        parts.append(f'<div class="reactions">{pills}</div>')
    parts.append("</article>")
    return "".join(parts)


def avatar_colour(person: Person) -> str:
    if person.bot:
        return AVATAR_COLOURS[0]
    return AVATAR_COLOURS[1 + zlib.crc32(person.name.encode()) % (len(AVATAR_COLOURS) - 1)]


def avatar_html(person: Person) -> str:
    initial = escape(person.name[:1].upper() or "?")
    return f'<div class="avatar" style="background:{avatar_colour(person)}">{initial}</div>'


def used_html(person: Person, command: str) -> str:
    """The line above a slash command's response: "<avatar> Alice used /chat"."""
    mini = f'<span class="mini" style="background:{avatar_colour(person)}">{escape(person.name[:1].upper())}</span>'
    return (
        f'<div class="used">{mini}<span class="who">{escape(person.name)}</span> used '
        f'<span class="cmd">/{escape(command)}</span></div>'
    )


def rows_html(rows: tuple[tuple[Component, ...], ...]) -> str:
    html_rows = ("".join(component_html(c) for c in row) for row in rows)
    return '<div class="rows">' + "".join(f'<div class="row">{r}</div>' for r in html_rows) + "</div>"


def component_html(component: Component) -> str:
    if isinstance(component, Button):
        emoji = f"<span>{escape(component.emoji)}</span>" if component.emoji else ""
        label = f"<span>{escape(component.label)}</span>" if component.label else ""
        off = " off" if component.disabled else ""
        return f'<span class="button s{int(component.style)}{off}">{emoji}{label}</span>'
    assert isinstance(component, Select)
    shown = component.placeholder or (component.options[0] if component.options else "")
    off = ' style="opacity:.5"' if component.disabled else ""
    return f'<span class="select"{off}><span>{escape(shown)}</span>{CHEVRON}</span>'


def blocks_html(blocks: tuple[Block, ...], names: Mapping[int, str]) -> str:
    return "".join(block_html(b, names) for b in blocks)


def block_html(block: Block, names: Mapping[int, str]) -> str:
    """One Components V2 component as Discord draws it: a Text Display as message text, a Section's texts with
    its button or thumbnail on their right, a Container as a box with its accent colour down the left."""
    if isinstance(block, Text):
        return text_html(block, names)
    if isinstance(block, Section):
        texts = "".join(text_html(t, names) for t in block.texts)
        accessory = ""
        if isinstance(block.accessory, Button):
            accessory = f'<div class="accessory">{component_html(block.accessory)}</div>'
        elif isinstance(block.accessory, Thumbnail):
            accessory = f'<div class="accessory">{thumbnail_html(block.accessory.description)}</div>'
        return f'<div class="section"><div class="texts">{texts}</div>{accessory}</div>'
    if isinstance(block, Separator):
        kind = " ".join(c for c in ("separator", "line" if block.divider else "", "large" if block.large else "") if c)
        return f'<div class="{kind}"></div>'
    if isinstance(block, Row):
        return f'<div class="row">{"".join(component_html(c) for c in block.items)}</div>'
    if isinstance(block, Gallery):
        items = "".join(thumbnail_html(d, "media") for d in block.descriptions)
        return f'<div class="gallery">{items}</div>'
    if isinstance(block, File):
        return file_html(block)
    assert isinstance(block, Container)
    accent = f' style="border-left-color:#{block.accent & 0xFFFFFF:06x}"' if block.accent is not None else ""
    classes = " ".join(
        c for c in ("container", "accent" if block.accent is not None else "", "spoiler" if block.spoiler else "") if c
    )
    return f'<div class="{classes}"{accent}>{blocks_html(block.children, names)}</div>'


def text_html(text: Text, names: Mapping[int, str]) -> str:
    return f'<div class="text content">{to_html(text.content, names)}</div>'


def thumbnail_html(description: str | None, kind: str = "thumbnail") -> str:
    """An image's place (images are not fetched): a grey tile, its description as the tile's title."""
    title = f' title="{escape(description)}"' if description else ""
    return f'<div class="{kind}"{title}>{IMAGE_ICON}</div>'


def wave_heights(waveform: bytes, bars: int = WAVE_BARS) -> list[int]:
    """Bar heights in px: Discord's amplitudes (0..255) spread over `bars` bars (nearest sample)."""
    if not waveform:
        return [WAVE_MIN_PX] * bars
    span = WAVE_MAX_PX - WAVE_MIN_PX
    return [WAVE_MIN_PX + round(waveform[i * len(waveform) // bars] / 255 * span) for i in range(bars)]


def voice_html(voice: Voice) -> str:
    """A voice message's player: play button, waveform bars and length (m:ss)."""
    bars = "".join(f'<i style="height:{h}px"></i>' for h in wave_heights(voice.waveform))
    seconds = max(0, round(voice.duration_s))
    return (
        f'<div class="voice"><span class="play">{PLAY_ICON}</span><span class="wave">{bars}</span>'
        f'<span class="length">{seconds // 60}:{seconds % 60:02d}</span></div>'
    )


def file_html(file: File) -> str:
    size = f"{file.size / 1024:.2f} KB" if file.size < 1024 * 1024 else f"{file.size / 1024 / 1024:.2f} MB"
    return (
        f'<div class="file">{FILE_ICON}<div><div class="fname">{escape(file.filename)}</div>'
        f'<div class="size">{escape(size)}</div></div></div>'
    )


def embed_html(embed: Embed, names: Mapping[int, str]) -> str:
    colour = f' style="border-left-color:#{embed.colour:06x}"' if embed.colour is not None else ""
    parts = [f'<div class="embed"{colour}>']
    if embed.title:
        title = escape(embed.title)
        if embed.url and embed.url.startswith(("https://", "http://")):
            title = f'<a href="{escape(embed.url)}">{title}</a>'
        parts.append(f'<div class="title">{title}</div>')
    if embed.description:
        parts.append(f'<div class="description content">{to_html(embed.description, names)}</div>')
    if embed.fields:
        fields = "".join(
            f'<div class="field{" inline" if f.inline else ""}"><div class="fname">{escape(f.name)}</div>'
            f'<div class="content">{to_html(f.value, names)}</div></div>'
            for f in embed.fields
        )
        parts.append(f'<div class="fields">{fields}</div>')
    if embed.footer:
        parts.append(f'<div class="footer">{escape(embed.footer)}</div>')
    parts.append("</div>")
    return "".join(parts)
