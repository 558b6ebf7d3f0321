"""Permission bits and how Discord computes a member's permissions in a channel or thread.

Sources (discord-api-docs, topics/permissions.mdx): "Bitwise Permission Flags"; the order in
"Permission Overwrites" and its ``compute_base_permissions`` / ``compute_overwrites`` pseudo-code
(owner and ADMINISTRATOR get everything; @everyone deny/allow, then all role denies/allows
combined, then the member's own deny/allow); "Inherited Permissions (Threads)" (a thread uses its
parent's permissions except SEND_MESSAGES); "Implicit Permissions" (no VIEW_CHANNEL, nothing else
counts). Two results are offered because Discord itself exposes two:

* :func:`computed_permissions` is what interactions carry in ``app_permissions``,
  ``member.permissions`` and the partial ``channel.permissions``: "computed permissions ...
  including overwrites ... This does not include implicit permissions" (resources/channel.mdx,
  Channel Structure, ``permissions`` / ``app_permissions``).
* :func:`effective_permissions` adds the implicit rules and private-thread access, and is what the
  emulator enforces on requests.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .world import World
    from .world_types import MemberInfo

ADMINISTRATOR = 1 << 3
MANAGE_CHANNELS = 1 << 4
ADD_REACTIONS = 1 << 6
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
MANAGE_MESSAGES = 1 << 13
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
MANAGE_THREADS = 1 << 34
CREATE_PUBLIC_THREADS = 1 << 35
CREATE_PRIVATE_THREADS = 1 << 36
SEND_MESSAGES_IN_THREADS = 1 << 38
SEND_VOICE_MESSAGES = 1 << 46
USE_EXTERNAL_APPS = 1 << 50  # user-installed apps may answer publicly (see :mod:`.external_apps`)
BYPASS_SLOWMODE = 1 << 52  # see slowmode.py: since 2026-02-23 the only exemption from slowmode
# Every bit below 1 << 51 (the emulator predates PIN_MESSAGES 1 << 51 and BYPASS_SLOWMODE 1 << 52;
# existing tests compare against this value, so it stays).
ALL_PERMISSIONS = (1 << 51) - 1
# Every permission bit except Administrator, so checks are evaluated yet always pass.
GENEROUS_PERMISSIONS = ALL_PERMISSIONS & ~ADMINISTRATOR

ROLE_OVERWRITE, MEMBER_OVERWRITE = 0, 1


@dataclass
class PermissionOverwrite:
    """One entry of a channel's ``permission_overwrites`` (resources/channel.mdx, "Overwrite Object")."""

    id: int
    type: int  # 0 role (including @everyone, whose id is the guild's), 1 member
    allow: int = 0
    deny: int = 0

    def payload(self) -> dict[str, Any]:
        """Discord sends the bit sets as strings."""
        return {"id": str(self.id), "type": self.type, "allow": str(self.allow), "deny": str(self.deny)}


def parent_channel_id(world: World, channel_id: int) -> int:
    """The channel whose overwrites apply: a thread's parent, else the channel itself."""
    thread = world.threads.get(channel_id)
    return thread.parent_id if thread is not None else channel_id


def apply_overwrites(
    world: World, base: int, user_id: int, overwrites: list[PermissionOverwrite], guild_id: int
) -> int:
    """``compute_overwrites`` from topics/permissions.mdx, step for step, in guild ``guild_id`` (whose
    id is also its @everyone role's)."""
    if base & ADMINISTRATOR:
        return ALL_PERMISSIONS
    by_id = {o.id: o for o in overwrites}
    permissions = base
    everyone = by_id.get(guild_id)
    if everyone is not None:
        permissions &= ~everyone.deny
        permissions |= everyone.allow
    member = world.member(user_id, guild_id)
    allow = deny = 0
    for role_id in member.roles if member is not None else []:
        role_overwrite = by_id.get(role_id)
        if role_overwrite is not None and role_overwrite.type == ROLE_OVERWRITE:
            allow |= role_overwrite.allow
            deny |= role_overwrite.deny
    permissions &= ~deny
    permissions |= allow
    own = by_id.get(user_id)
    if own is not None and own.type == MEMBER_OVERWRITE:
        permissions &= ~own.deny
        permissions |= own.allow
    return permissions


def computed_permissions(world: World, user_id: int, channel_id: int) -> int:
    """Base guild permissions plus the (parent) channel's overwrites, in the guild the channel belongs
    to; in a thread SEND_MESSAGES is dropped because threads do not inherit it ("Inherited
    Permissions (Threads)"). No implicit rules."""
    guild_id = world.guild_for_channel(channel_id).id
    base = world.guild_permissions(user_id, guild_id)
    channel = world.channels.get(parent_channel_id(world, channel_id))
    overwrites = channel.permission_overwrites if channel is not None else []
    permissions = apply_overwrites(world, base, user_id, overwrites, guild_id)
    if channel_id in world.threads and not permissions & ADMINISTRATOR:
        permissions &= ~SEND_MESSAGES
    return permissions


def effective_permissions(world: World, user_id: int, channel_id: int) -> int:
    """What ``user_id`` may actually do in a guild channel or thread.

    * Someone who is not a member of the channel's guild has no permissions there (inferred; it is what makes
      the bot's requests in a guild it is not in answer 403 50001, see :mod:`.outside`).
    * Without VIEW_CHANNEL nothing else counts: "Denying ... VIEW_CHANNEL on a channel implicitly
      denies other permissions on the channel" (Implicit Permissions); for threads, "Users must have
      the VIEW_CHANNEL permission to view any threads in the channel" (Inherited Permissions).
    * A private thread is visible only to its members and to moderators with MANAGE_THREADS
      (topics/threads.mdx, "Permissions"); modelled as VIEW_CHANNEL being absent, so nothing counts.
    * "Timed out members will temporarily lose all permissions except VIEW_CHANNEL and
      READ_MESSAGE_HISTORY. Owners and admin users with ADMINISTRATOR permissions are exempt"
      (topics/permissions.mdx, "Permissions For Timed Out Members"). Whether Discord also applies this
      to an interaction's ``permissions`` is undocumented; :func:`computed_permissions` does not, so a
      bot has to apply it itself (as discord.py's ``permissions_for`` does).
    """
    member = world.member(user_id, world.guild_for_channel(channel_id).id)
    if member is None:
        return 0
    permissions = computed_permissions(world, user_id, channel_id)
    if not permissions & VIEW_CHANNEL:
        return 0
    if timed_out(member) and not permissions & ADMINISTRATOR:
        permissions &= VIEW_CHANNEL | READ_MESSAGE_HISTORY
    thread = world.threads.get(channel_id)
    if (
        thread is not None
        and thread.private
        and user_id not in thread.member_ids
        and not permissions & (MANAGE_THREADS | ADMINISTRATOR)
    ):
        return 0
    return permissions


def timed_out(member: MemberInfo | None) -> bool:
    """Whether a moderator's timeout still holds (it ends by itself at ``timed_out_until``)."""
    return member is not None and member.timed_out_until is not None and member.timed_out_until > time.time()


def send_permission(world: World, channel_id: int) -> int:
    """SEND_MESSAGES_IN_THREADS in a thread, SEND_MESSAGES elsewhere (topics/threads.mdx "Permissions":
    "The SEND_MESSAGES permission has no effect in threads")."""
    return SEND_MESSAGES_IN_THREADS if channel_id in world.threads else SEND_MESSAGES
