"""What a member's turn came to, read from the Discord emulator as the member sees the thread.

A turn is the member's message (or the `/chat` prompt that opened the thread). It is *answered* when the
whole text of one of the provider calls made for it (bench/chaos/script.py: matched by the member's canary
word) is shown, *told why* when the bot said something about it: a line starting ⚠️ or ⏹️ (failure, cut
off, Discord gave up), a `-# ⏹️ Stopped by …` or `-# ⚠️` footer, an empty-reply or cut-reply note, or a
private answer to the member's `/chat`, Stop or Retry. Only the bot's messages after the member's message
(after the failure line a Retry took, once retried) and before the member's next message count as told
why; an answer counts wherever it is shown. Neither is *lost*.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.chaos.script import ProviderScript, Scripted, tag_at_start
from bot.replies.splitting import join_chunks
from tests.emulators.discord import DiscordEmulator, InteractionRecord, MessageRecord

MARKERS = ("⚠️", "⏹️", "-# ⚠️", "-# ⏹️")
"""Lines that tell members why a reply is not (all) there."""
NOTE_WORDS = ("empty reply", "cut", "too long")
"""A `-# ` note with one of these words also says why (the empty-reply note, a reply cap's note)."""


@dataclass
class Turn:
    """One member turn and what the member did while waiting for it."""

    number: int
    member: str
    user_id: int
    provider: str
    canary: str
    sent_at: float
    """time.monotonic() when it was sent."""
    thread_id: int | None = None
    message_id: int = 0
    """The member's message; 0 for the `/chat` prompt (the whole thread follows it)."""
    interaction: InteractionRecord | None = None
    """The `/chat` that opened the thread (for its first turn)."""
    anchor: int = 0
    """Lines that say why count only above this message id (a Retry moves it past the line it took)."""
    until_id: int | None = None
    """The member's next message in the thread: the end of this turn's stretch."""
    clicks: list[InteractionRecord] = field(default_factory=list)
    stops: int = 0
    retries: int = 0
    gave_up: bool = False
    """The member stopped waiting (nothing changed for a long while)."""
    outcome: str | None = None
    """'answered', 'told' or None (lost), once judged."""
    how: str = ""


def public_bot_messages(discord: DiscordEmulator, channel_id: int) -> list[MessageRecord]:
    """The bot's messages every member of the channel sees, oldest first."""
    bot = discord.bot_user_id
    return [m for m in discord.messages(channel_id, include_ephemeral=False) if m.author_id == bot]


def says_why(line: str) -> bool:
    """Whether one line of a bot message tells members why a reply is missing or short."""
    return line.startswith(MARKERS) or (line.startswith("-# ") and any(w in line for w in NOTE_WORDS))


def why_lines(content: str) -> list[str]:
    return [line for line in content.splitlines() if says_why(line)]


def _normal(text: str) -> str:
    return " ".join(text.split())


def shown_in_full(messages: list[MessageRecord], scripted: Scripted) -> bool:
    """Whether the whole text `scripted` answered with is shown: from a message starting with its tag (any of them,
    if it was posted twice), through the messages that continue it (footers left out; other messages in between,
    such as Convai's suggestions, skipped), until a line that says why or another message starting with a tag."""
    expected = _normal(scripted.text)
    starts = [i for i, m in enumerate(messages) if m.content.startswith(scripted.tag)]
    return bool(expected) and any(_shown_from(messages[start:], expected) for start in starts)


def _shown_from(messages: list[MessageRecord], expected: str) -> bool:
    parts: list[str] = []
    for index, message in enumerate(messages):
        lines = message.content.split("\n")
        if index and (tag_at_start(message.content) or says_why(lines[0])):
            return False
        kept = [line for line in lines if not says_why(line)]
        shown = _normal(join_chunks([*parts, "\n".join(kept)]))
        if shown == expected:
            return True
        if expected.startswith(shown):
            parts.append("\n".join(kept))
        elif not index:
            return False
        if len(kept) < len(lines):  # a footer closes the reply
            return False
    return False


def private_note(interaction: InteractionRecord) -> bool:
    """Whether the bot answered an interaction privately (a refusal, a note)."""
    messages = [*([interaction.original_message] if interaction.original_message else []), *interaction.followups]
    return any(m.ephemeral and m.content for m in messages)


def judge(discord: DiscordEmulator, script: ProviderScript, turn: Turn) -> tuple[str, str] | None:
    """('answered' | 'told', how) for a turn as its thread stands now, or None while neither."""
    if turn.thread_id is None:
        if turn.interaction is not None and private_note(turn.interaction):
            return "told", "private note"
        return None
    messages = public_bot_messages(discord, turn.thread_id)
    for scripted in script.scripted_for(turn.canary):
        if shown_in_full(messages, scripted):
            return "answered", scripted.tag
    above = max(turn.message_id, turn.anchor)
    for message in messages:
        if message.id > above and (turn.until_id is None or message.id < turn.until_id):
            lines = why_lines(message.content)
            if lines:
                return "told", lines[0][:60]
    if any(private_note(click) for click in turn.clicks):
        return "told", "private note"
    return None
