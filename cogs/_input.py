"""What a member's message says, whatever shape Discord delivers it in: text, a reply, a forward,
attachments, stickers or embeds (discord-api-docs, resources/message.mdx)."""

from __future__ import annotations

from dataclasses import dataclass

import discord

from bot.audio import looks_like_audio

FORWARDED = "[Forwarded message]"
QUOTE_CHARS = 300
"""How much of a replied-to message is quoted into the turn, so the AI knows what it refers to."""
NOTHING_TO_READ = "I couldn't find any text in that message to answer; type your message."


@dataclass(frozen=True)
class MemberMessage:
    """A message as a turn: its text for the provider, and a voice note or audio file if it carries one."""

    text: str
    audio: discord.Attachment | None
    has_files: bool
    has_stickers: bool

    def hint(self, provider_name: str, *, listens: bool) -> str | None:
        """The short reply a message gets when nothing in it can reach `provider_name`; None if it can."""
        if self.text or (self.audio is not None and listens):
            return None
        if self.audio is not None or self.has_files:
            return f"{provider_name} reads text only: type your message."
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
    return MemberMessage(text, audio, bool(attachments), stickers)


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
