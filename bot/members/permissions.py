"""What a member needs from Discord for what the bot does on their behalf, and how a refusal names it.

Through an interaction Discord checks only the bot's own permissions, so the bot checks the member's:
the interaction's `permissions`, "total permissions of the member in the channel, including overwrites"
(resources/guild.mdx, Guild Member Object), without Discord's implicit rules (resources/channel.mdx,
Channel Structure `permissions`), which are applied here. The rules (discord-api-docs):

- posting in a channel takes SEND_MESSAGES; in a thread SEND_MESSAGES_IN_THREADS, as threads do not
  inherit SEND_MESSAGES (topics/permissions.mdx "Inherited Permissions (Threads)");
- opening a public thread takes CREATE_PUBLIC_THREADS; reading messages READ_MESSAGE_HISTORY
  (topics/permissions.mdx "Bitwise Permission Flags");
- without VIEW_CHANNEL nothing else counts (topics/permissions.mdx "Implicit Permissions"), so it is the
  only one named then;
- a locked thread takes MANAGE_THREADS to write in (topics/threads.mdx "Locked Threads");
- "Timed out members will temporarily lose all permissions except VIEW_CHANNEL and READ_MESSAGE_HISTORY.
  Owners and admin users with ADMINISTRATOR permissions are exempt" (topics/permissions.mdx "Permissions For
  Timed Out Members"); applied here, as discord.py's `permissions_for` does, since Discord does not document
  that an interaction's `permissions` already reflect it;
- slowmode: `rate_limit_per_user` seconds between a member's messages, which "also applies to thread
  creation"; "bots, as well as users with the permission BYPASS_SLOWMODE, are unaffected"
  (resources/channel.mdx, Channel Structure). BYPASS_SLOWMODE (1 << 52) was split from MANAGE_MESSAGES,
  MANAGE_CHANNEL and MANAGE_THREADS, which stopped exempting anyone on 2026-02-23 (change-log.mdx, "New
  BYPASS_SLOWMODE Permission & Permission Split"); ADMINISTRATOR "allows all permissions", so it exempts too.
"""

from __future__ import annotations

import math

import discord

from bot.replies.permissions import LABELS, bold_list

Needs = tuple[str, ...]
SEE: Needs = ("view_channel",)
READ: Needs = ("view_channel", "read_message_history")
SPEAK_IN_CHANNEL: Needs = ("view_channel", "send_messages")
SPEAK_IN_THREAD: Needs = ("view_channel", "send_messages_in_threads")
OPEN_THREAD: Needs = ("view_channel", "send_messages", "create_public_threads", "send_messages_in_threads")
"""`/chat` (or Ask AI) in a text channel: the opening line in the channel, a public thread off it, the
member's turn inside."""
TIMED_OUT_KEEPS = discord.Permissions(view_channel=True, read_message_history=True)
WRITING = frozenset({"send_messages", "send_messages_in_threads", "create_public_threads"})

START = "start a conversation"
SEND = "send a turn"
ASK = "ask about that message"
EXPORT = "export this conversation"
LOOK = "use this command"

MISSING = "You can't {what} here: you're missing the {listed} {plural} in this {place}."
LOCKED = (
    "You can't {what} here: a moderator locked this thread, and only members who can **Manage Threads** write in it."
)
TIMED_OUT = "You can't {what} while you are timed out on this server; the timeout ends {when}."
SLOWED = "Slowmode is on in this {place}: one message every {interval} per member. You can {what} again {when}."


def while_timed_out(granted: discord.Permissions, *, timed_out: bool) -> discord.Permissions:
    """What a member keeps while a moderator's timeout holds: View Channel and Read Message History, unless
    they are an administrator (the owner has Administrator in Discord's computed permissions)."""
    if not timed_out or granted.administrator:
        return granted
    return discord.Permissions(granted.value & TIMED_OUT_KEEPS.value)


def needed_to_speak(channel: object, *, opens_thread: bool = False) -> Needs:
    """What a member needs for a turn the bot posts for them in `channel` (nothing in a DM)."""
    if isinstance(channel, discord.Thread):
        return SPEAK_IN_THREAD
    if isinstance(channel, discord.TextChannel):
        return OPEN_THREAD if opens_thread else SPEAK_IN_CHANNEL
    return ()


def missing(granted: discord.Permissions, needed: Needs) -> list[str]:
    """The names (as Discord's settings show them) of what `granted` lacks of `needed`; View Channel alone
    when that is missing, since nothing else counts without it."""
    if granted.administrator:
        return []
    if "view_channel" in needed and not granted.view_channel:
        return [LABELS["view_channel"]]
    return [LABELS.get(name, name) for name in needed if not getattr(granted, name)]


def member_cannot(
    channel: object,
    granted: discord.Permissions | None,
    needed: Needs,
    what: str,
    *,
    timed_out_until: float | None = None,
) -> str | None:
    """Why the member may not `what` in `channel` (a sentence naming what is missing), or None if they may.

    `granted` is the member's permissions there as Discord computed them; None in a DM, where none apply.
    `timed_out_until` (Unix seconds) while a moderator's timeout holds.
    """
    if granted is None or not isinstance(channel, discord.Thread | discord.TextChannel):
        return None
    place = "thread" if isinstance(channel, discord.Thread) else "channel"
    if timed_out_until is not None and missing(while_timed_out(granted, timed_out=True), needed):
        return TIMED_OUT.format(what=what, when=f"<t:{math.ceil(timed_out_until)}:R>")
    absent = missing(granted, needed)
    if absent:
        listed = bold_list(absent)
        plural = "permissions" if len(absent) > 1 else "permission"
        return MISSING.format(what=what, listed=listed, plural=plural, place=place)
    writes = any(name in WRITING for name in needed)
    if writes and isinstance(channel, discord.Thread) and channel.locked and not _moderates(granted):
        return LOCKED.format(what=what)
    return None


def slowmode_s(channel: object) -> int:
    """Seconds between a member's messages in `channel` (a text channel's also spaces the threads they
    open there); 0 when off, in a DM, or anywhere without slowmode."""
    if isinstance(channel, discord.Thread | discord.TextChannel):
        return max(0, int(channel.slowmode_delay or 0))
    return 0


def bypasses_slowmode(granted: discord.Permissions | None) -> bool:
    """Whether slowmode spares the member (BYPASS_SLOWMODE or Administrator); True in a DM."""
    return granted is None or granted.administrator or granted.bypass_slowmode


def slowed(channel: object, free_at: float, interval_s: int, what: str) -> str:
    """The private refusal: the channel's slowmode and when (a Discord relative timestamp) to try again."""
    place = "thread" if isinstance(channel, discord.Thread) else "channel"
    return SLOWED.format(place=place, interval=_interval(interval_s), what=what, when=f"<t:{math.ceil(free_at)}:R>")


def _moderates(granted: discord.Permissions) -> bool:
    return granted.administrator or granted.manage_threads


def _interval(seconds: int) -> str:
    """`30 s`, `5 min`, `6 h`: the channel's slowmode as Discord's settings offer it."""
    if seconds < 60 or seconds % 60:
        return f"{seconds} s"
    if seconds < 3600 or seconds % 3600:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"
