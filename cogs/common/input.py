"""What a member's message says, whatever shape Discord delivers it in: text, a reply, a forward,
attachments (voice notes, text files), stickers or embeds (discord-api-docs, resources/message.mdx)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import discord

from bot.audio import looks_like_audio
from bot.members.attachments import AttachmentReader
from cogs.common.text_files import NOT_TEXT, Unused, not_used, read_files, sort_files, with_files

FORWARDED = "[Forwarded message]"
QUOTE_CHARS = 300
"""How much of a replied-to message is quoted into the turn, so the AI knows what it refers to."""
NOTHING_TO_READ = "I couldn't find any text in that message to answer; type your message."


@dataclass(frozen=True)
class MemberMessage:
    """A message as a turn: the member's words, a voice note or audio file if it carries one, and its text
    files: still to read (`text_files`), read (`files`, each a block for the turn), or left out (`unused`)."""

    text: str
    audio: discord.Attachment | None
    has_files: bool
    has_stickers: bool
    text_files: tuple[discord.Attachment, ...] = ()
    files: tuple[str, ...] = ()
    file_names: tuple[str, ...] = ()
    unused: tuple[Unused, ...] = ()

    @property
    def turn(self) -> str:
        """What the provider receives: the member's words, then each file read as a block with its name."""
        return with_files(self.text, self.files)

    @property
    def readable(self) -> bool:
        """Whether anything in it is text the AI can read (files not read yet count)."""
        return bool(self.text or self.files or self.text_files)

    def text_only(self) -> MemberMessage:
        """The message for a provider that does not listen: a recording it carries is listed as not used."""
        if self.audio is None:
            return self
        return replace(self, unused=(*self.unused, Unused(self.audio.filename, NOT_TEXT)))

    def hint(self, provider_name: str, *, listens: bool) -> str | None:
        """The short reply a message gets when nothing in it can reach `provider_name`; None if it can."""
        if self.readable or (self.audio is not None and listens):
            return None
        if self.audio is not None or self.has_files:
            reads = f"{provider_name} reads text only: type your message."
            return f"{not_used(self.unused)} {reads}" if self.unused else reads
        if self.has_stickers:
            return f"I can't show stickers to {provider_name}; type your message."
        return NOTHING_TO_READ


def read_message(message: discord.Message) -> MemberMessage:
    """The member's turn in `message`.

    A forward carries empty `content`; its text is in `message_snapshots` ("Forwards"), used here and
    marked as forwarded. A reply quotes the start of the message it answers. A message with only
    embeds (from an app) is read from them.
    """
    text = message.content.strip()
    attachments = list(message.attachments)
    stickers = bool(message.stickers)
    if message.message_snapshots:
        snapshot = message.message_snapshots[0]
        forwarded = snapshot.content.strip() or embeds_text(snapshot.embeds)
        attachments += snapshot.attachments
        stickers = stickers or bool(snapshot.stickers)
        if forwarded:
            text = "\n\n".join(part for part in (text, f"{FORWARDED}\n{forwarded}") if part)
    elif not text:
        text = embeds_text(message.embeds)
    quoted = _replied_quote(message)
    if text and quoted:
        text = f"{quoted}\n\n{text}"
    audio = next((a for a in attachments if looks_like_audio(a.filename, a.content_type)), None)
    text_files, unused = sort_files(a for a in attachments if a is not audio)
    return MemberMessage(text, audio, bool(attachments), stickers, text_files, unused=unused)


async def read_text_files(said: MemberMessage, reader: AttachmentReader) -> MemberMessage:
    """`said` with its text files downloaded and read (after the size and type checks `read_message` made);
    those that are not UTF-8 text join `unused`."""
    if not said.text_files:
        return said
    read, unreadable = await read_files(said.text_files, reader)
    return replace(
        said,
        text_files=(),
        files=(*said.files, *(block for _, block in read)),
        file_names=(*said.file_names, *(name for name, _ in read)),
        unused=(*said.unused, *unreadable),
    )


def embeds_text(embeds: list[discord.Embed]) -> str:
    """The readable text of embeds: titles, descriptions and fields."""
    lines: list[str] = []
    for embed in embeds:
        lines += [part for part in (embed.title, embed.description) if part]
        lines += [f"{field.name}: {field.value}" for field in embed.fields]
    return "\n".join(lines).strip()


def _replied_quote(message: discord.Message) -> str:
    """A "[Replying to X]" line and the start of the message a reply answers, quoted (empty if none)."""
    reference = message.reference
    replied = reference.resolved if reference is not None else None
    if message.type is not discord.MessageType.reply or not isinstance(replied, discord.Message):
        return ""
    said = replied.content.strip() or embeds_text(replied.embeds)
    if not said:
        return ""
    if len(said) > QUOTE_CHARS:
        said = said[: QUOTE_CHARS - 1] + "…"
    quoted = "\n".join(f"> {line}" for line in said.splitlines())
    return f"[Replying to {replied.author.display_name}]\n{quoted}"
