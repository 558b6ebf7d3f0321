"""What the bot needs from Discord to answer in a place, and how members read a missing permission.

Sources (discord-api-docs, topics/permissions.mdx): a thread inherits its parent's permissions
except SEND_MESSAGES, so answering in a thread takes SEND_MESSAGES_IN_THREADS ("Inherited
Permissions (Threads)"); nothing in a channel works without VIEW_CHANNEL; creating a thread off a
message takes CREATE_PUBLIC_THREADS; locked threads take MANAGE_THREADS to write in
(topics/threads.mdx "Locked Threads").
"""

from __future__ import annotations

import discord

LABELS = {
    "view_channel": "View Channel",
    "send_messages": "Send Messages",
    "send_messages_in_threads": "Send Messages in Threads",
    "create_public_threads": "Create Public Threads",
    "manage_threads": "Manage Threads",
    "embed_links": "Embed Links",
    "attach_files": "Attach Files",
    "read_message_history": "Read Message History",
}
IN_THREAD = ("view_channel", "send_messages_in_threads")
IN_CHANNEL = ("view_channel", "send_messages")
OPENING_THREADS = ("view_channel", "create_public_threads", "send_messages_in_threads")
"""`/chat` in a text channel: a public thread off the opening line, then the reply inside it."""
LOCKED = "A moderator locked {where}, so I can't write there; the conversation continues if it is unlocked."


def needed_to_answer(channel: object, *, opens_thread: bool = False) -> tuple[str, ...]:
    """The permission names the bot needs to answer in `channel` (none in a DM)."""
    if isinstance(channel, discord.Thread):
        return IN_THREAD
    if isinstance(channel, discord.TextChannel):
        return OPENING_THREADS if opens_thread else IN_CHANNEL
    return ()


def missing(granted: discord.Permissions, needed: tuple[str, ...]) -> list[str]:
    """Names (as Discord's settings show them) of the permissions in `needed` that `granted` lacks."""
    return [LABELS.get(name, name) for name in needed if not getattr(granted, name)]


def bots_permissions(channel: object) -> discord.Permissions | None:
    """What the bot may do in a server channel or thread, from discord.py's cache (None in a DM)."""
    if isinstance(channel, discord.Thread | discord.TextChannel):
        return channel.permissions_for(channel.guild.me)
    return None


def cannot_answer(
    channel: object, where: str, *, granted: discord.Permissions | None = None, opens_thread: bool = False
) -> str | None:
    """Why the bot cannot answer in `channel`, or None if it can.

    `granted` is what an interaction says the bot may do there (its `app_permissions`, computed by
    Discord with the channel's overwrites); without one, discord.py's cache is asked.
    """
    granted = granted if granted is not None else bots_permissions(channel)
    if granted is None:
        return None
    if isinstance(channel, discord.Thread) and channel.locked and not granted.manage_threads:
        return LOCKED.format(where=where)
    absent = missing(granted, needed_to_answer(channel, opens_thread=opens_thread))
    return explain_missing(absent, where) if absent else None


def bold_list(names: list[str]) -> str:
    """`**A**`, `**A** and **B**`, `**A**, **B** and **C**`."""
    bold = [f"**{name}**" for name in names]
    return bold[0] if len(bold) == 1 else ", ".join(bold[:-1]) + " and " + bold[-1]


def explain_missing(names: list[str], where: str) -> str:
    """One sentence for the member: which permission is missing where, and who can fix it."""
    listed = bold_list(names)
    plural, them = ("permissions", "them") if len(names) > 1 else ("permission", "it")
    return (
        f"I can't answer in {where}: I'm missing the {listed} {plural} there."
        f" A server manager can grant {them} in the channel's settings; nothing you said is lost."
    )
