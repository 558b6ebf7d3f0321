"""What one picture shows, as plain data: a thread (or channel) and its messages as the emulator recorded them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Person:
    """A message's author (`name` is their display name)."""

    id: int
    name: str
    bot: bool = False


@dataclass(frozen=True)
class Button:
    """A button component; `style` is Discord's (1 primary, 2 secondary, 3 success, 4 danger, 5 link)."""

    label: str
    style: int = 2
    disabled: bool = False
    emoji: str | None = None


@dataclass(frozen=True)
class Select:
    """A string select menu, shown closed: its placeholder (or first option) and how many options it holds."""

    placeholder: str
    options: tuple[str, ...] = ()
    disabled: bool = False


Component = Button | Select


@dataclass(frozen=True)
class Voice:
    """A voice message's attachment: its length in seconds and Discord's waveform (amplitudes 0..255)."""

    duration_s: float
    waveform: bytes


@dataclass(frozen=True)
class File:
    """Any other attachment, shown as a file box."""

    filename: str
    size: int


@dataclass(frozen=True)
class Field:
    name: str
    value: str
    inline: bool = False


@dataclass(frozen=True)
class Embed:
    """The parts of a rich embed the pictures show; `colour` is an RGB integer or None."""

    title: str | None = None
    description: str | None = None
    url: str | None = None
    colour: int | None = None
    fields: tuple[Field, ...] = ()
    footer: str | None = None


@dataclass(frozen=True)
class Text:
    """A Text Display (Components V2 type 10): Markdown, shown as message content is."""

    content: str


@dataclass(frozen=True)
class Thumbnail:
    """A Section's picture (type 11). The image is not fetched (pictures are made offline): a placeholder with
    its description (alt text)."""

    description: str | None = None


@dataclass(frozen=True)
class Section:
    """Up to three Text Displays with an accessory (a button or thumbnail) on their right (type 9)."""

    texts: tuple[Text, ...]
    accessory: Button | Thumbnail | None = None


@dataclass(frozen=True)
class Separator:
    """Space between components (type 14): `divider` draws a line, `large` is spacing 2 (else 1)."""

    divider: bool = True
    large: bool = False


@dataclass(frozen=True)
class Row:
    """An Action Row (type 1) in a Components V2 layout: buttons, or one select."""

    items: tuple[Component, ...]


@dataclass(frozen=True)
class Gallery:
    """A Media Gallery (type 12): its items' descriptions, shown as placeholders (nothing is fetched)."""

    descriptions: tuple[str | None, ...]


@dataclass(frozen=True)
class Container:
    """A box around components (type 17), with an accent colour (RGB integer) down its left side."""

    children: tuple[Block, ...]
    accent: int | None = None
    spoiler: bool = False


Block = Text | Section | Separator | Row | Gallery | Container | File
"""One top-level component of a Components V2 message (File: a File component, type 13)."""


@dataclass(frozen=True)
class Post:
    """One message: `command` is set on a slash command's response (shown as "<user> used /<command>").

    A Components V2 message (flag 1 << 15) has no `content`, `rows` or `embeds`: its `layout` is everything
    it shows."""

    id: int
    author: Person
    at: datetime
    content: str = ""
    rows: tuple[tuple[Component, ...], ...] = ()
    embeds: tuple[Embed, ...] = ()
    voice: Voice | None = None
    files: tuple[File, ...] = ()
    command: tuple[Person, str] | None = None
    edited: bool = False
    reactions: tuple[str, ...] = ()
    layout: tuple[Block, ...] = ()


@dataclass(frozen=True)
class Scene:
    """A thread's view: the channel it hangs from, its name, its starter message and its messages in order.

    With `thread` None, the view is of the channel itself. `names` maps user, role and channel ids to the names
    mentions (`<@id>`, `<@&id>`, `<#id>`) are shown with."""

    title: str
    channel: str
    thread: str | None
    posts: tuple[Post, ...]
    starter: Post | None = None
    names: dict[int, str] = field(default_factory=dict)
