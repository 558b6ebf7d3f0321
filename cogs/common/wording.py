"""What the bot says in Discord outside replies: opening lines, thread names, refusals."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from typing import Final

import discord

THREAD_NAME_LIMIT = 100
THREAD_ARCHIVE_MINUTES: Final = 1440
"""Threads the bot opens hide after a day without messages (a message brings them back)."""
OPENING_PROMPT_PREVIEW = 1500
ENDED_HINT = "This conversation has ended. Start a new one with `/chat`."
NO_CONVERSATION = "There is no conversation running here. Start one with `/chat`."


def thread_name(prompt: str) -> str:
    """The prompt's first words, within Discord's 100-character thread name limit."""
    words = re.sub(r"\s+", " ", prompt).strip()
    if len(words) <= THREAD_NAME_LIMIT:
        return words or "Conversation"
    cut = words[: THREAD_NAME_LIMIT - 1]
    if " " in cut[THREAD_NAME_LIMIT // 2 :]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,.;:") + "…"


def opening_line(user: discord.abc.User, description: str, prompt: str, notice: str | None) -> str:
    """Who started what, the prompt quoted, and the provider's caveat if it has one."""
    preview = prompt if len(prompt) <= OPENING_PROMPT_PREVIEW else prompt[:OPENING_PROMPT_PREVIEW] + "…"
    quoted = "\n".join(f"> {line}" for line in preview.splitlines() or [""])
    caveat = f"\n-# {notice}" if notice else ""
    return f"**{display(user)}** started a conversation with **{description}**:\n{quoted}{caveat}"


def already_bound(description: str, place: str = "thread") -> str:
    return f"This {place} already has a conversation with {description}. Type here to continue, or `/end` it first."


def display(user: discord.abc.User) -> str:
    return discord.utils.escape_markdown(user.display_name)


Refusal = Callable[[str], Awaitable[None]]
"""Says a refusal (its text) to the member, some other way than `refuse`'s plain private line."""
_refusing: ContextVar[tuple[int, Refusal] | None] = ContextVar("refusing", default=None)


@contextlib.contextmanager
def refusals_by(interaction_id: int, say: Refusal) -> Iterator[None]:
    """While the block runs (and in tasks it starts), `refuse` hands its refusals of interaction `interaction_id`
    to `say`: the composer's form gives the member's words back with every refusal, whichever check made it."""
    token = _refusing.set((interaction_id, say))
    try:
        yield
    finally:
        _refusing.reset(token)


async def refuse(interaction: discord.Interaction, text: str) -> None:
    """Refusals are ephemeral: only the member who asked sees them (through `refusals_by`'s handler, if one was
    set for this interaction)."""
    handler = _refusing.get()
    if handler is not None and handler[0] == interaction.id:
        await handler[1](text)
        return
    if interaction.response.is_done():
        await interaction.followup.send(text, ephemeral=True)
    else:
        await interaction.response.send_message(text, ephemeral=True)
