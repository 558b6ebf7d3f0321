"""Facade part: permissions, moderator actions and injected faults.

Every method changes the world and dispatches what Discord dispatches for that change, so
discord.py's cache (``channel.permissions_for(guild.me)``, ``guild.threads``...) follows along.
They also work before the bot connects (nothing is dispatched then; GUILD_CREATE carries the state).
"""

from __future__ import annotations

from .core import Core
from .faults import Fault
from .permissions import PermissionOverwrite
from .records import ThreadRecord


class Moderation:
    core: Core

    # ---- role permissions ------------------------------------------------------------------------
    def set_everyone_permissions(self, permissions: int, *, guild_id: int | None = None) -> None:
        """What members without roles may do in a guild (the bot keeps its own role's permissions);
        GUILD_ROLE_UPDATE for @everyone."""
        guild = self.core.world.guild(self.core.world.guild_id if guild_id is None else guild_id)
        guild.roles[guild.id].permissions = permissions
        self.core.moderation.role_updated(guild.id)

    def set_role_permissions(self, role_id: int, permissions: int) -> None:
        """Change a role's permissions (in whichever guild it belongs to); GUILD_ROLE_UPDATE."""
        found = self.core.world.find_role(role_id)
        if found is None:
            raise ValueError(f"role {role_id} does not exist")
        found[1].permissions = permissions
        self.core.moderation.role_updated(role_id)

    def set_bot_permissions(self, permissions: int, *, guild_id: int | None = None) -> None:
        """Give the bot exactly ``permissions`` in a guild (its role and @everyone); GUILD_ROLE_UPDATE
        for both."""
        guild = self.core.world.guild(self.core.world.guild_id if guild_id is None else guild_id)
        guild.roles[guild.id].permissions = permissions
        guild.roles[guild.bot_role_id].permissions = permissions
        self.core.moderation.role_updated(guild.id)
        self.core.moderation.role_updated(guild.bot_role_id)

    # ---- channel overwrites ----------------------------------------------------------------------
    def set_channel_overwrite(
        self, channel_id: int, target_id: int, *, allow: int = 0, deny: int = 0
    ) -> PermissionOverwrite:
        """Set the overwrite for a role (or @everyone: ``target_id`` = the guild id) or a member of the
        channel's guild on a text channel (its threads follow it); CHANNEL_UPDATE."""
        return self.core.moderation.set_overwrite(channel_id, target_id, allow, deny)

    def clear_channel_overwrite(self, channel_id: int, target_id: int) -> None:
        """Remove the overwrite for ``target_id``; CHANNEL_UPDATE."""
        self.core.moderation.clear_overwrite(channel_id, target_id)

    def channel_permissions(self, user_id: int, channel_id: int) -> int:
        """What ``user_id`` may do in a guild channel or thread, as the emulator enforces it."""
        return self.core.world.channel_permissions(user_id, channel_id)

    def set_slowmode(self, channel_id: int, seconds: int) -> None:
        """Slowmode (``rate_limit_per_user``, 0-21600 s) on a text channel or a thread: members then send
        one message (and open one thread) per interval there, refused with 429 20016 in between;
        bots and BYPASS_SLOWMODE holders are exempt (see :mod:`.slowmode`). CHANNEL_UPDATE or
        THREAD_UPDATE."""
        self.core.moderation.set_slowmode(channel_id, seconds)

    # ---- deleting --------------------------------------------------------------------------------
    def delete_message(self, message_id: int) -> None:
        """A moderator deletes any message (e.g. the bot's streamed reply): MESSAGE_DELETE; the bot's
        later edits get 404 10008 Unknown Message."""
        msg = self.core.world.messages.get(message_id)
        if msg is None or msg.deleted:
            raise ValueError(f"message {message_id} does not exist")
        self.core.messages.delete(msg)

    def delete_thread(self, thread_id: int) -> ThreadRecord:
        """THREAD_DELETE; the thread and its messages are gone (every later request on it: 404 10003).
        The returned record (``deleted=True``) stays readable via :meth:`thread`."""
        return self.core.moderation.delete_thread(thread_id)

    def delete_channel(self, channel_id: int) -> None:
        """Delete a text channel: CHANNEL_DELETE; its threads and messages go too (no THREAD_DELETE)."""
        self.core.moderation.delete_channel(channel_id)

    # ---- threads ---------------------------------------------------------------------------------
    def archive_thread(self, thread_id: int, *, locked: bool = False) -> ThreadRecord:
        """Archive (and with ``locked`` also lock) a thread; THREAD_UPDATE."""
        return self.core.moderation.set_archived(thread_id, archived=True, locked=True if locked else None)

    def lock_thread(self, thread_id: int, locked: bool = True) -> ThreadRecord:
        """Lock (or unlock) without archiving; THREAD_UPDATE."""
        thread = self.core.moderation.live_thread(thread_id)
        return self.core.moderation.set_archived(thread_id, archived=thread.archived, locked=locked)

    def unarchive_thread(self, thread_id: int) -> ThreadRecord:
        """Reopen an archived thread (it stays locked if it was); THREAD_UPDATE + THREAD_MEMBER_UPDATE."""
        return self.core.moderation.set_archived(thread_id, archived=False)

    def remove_thread_member(self, thread_id: int, user_id: int) -> None:
        """Remove someone (e.g. the bot) from a thread: THREAD_MEMBERS_UPDATE. Removed from a private
        thread, the bot loses access (50001); in a public one posting re-adds it."""
        self.core.moderation.remove_thread_member(thread_id, user_id)

    # ---- faults ----------------------------------------------------------------------------------
    def inject_fault(self, fault: Fault) -> Fault:
        """Answer matching requests with ``fault`` (before auth and rate limits); returns it so a
        test can read ``fault.hits``."""
        self.core.notifier.notify()
        return self.core.faults.add(fault)

    def clear_faults(self) -> None:
        self.core.faults.clear()

    @property
    def faults(self) -> list[Fault]:
        return list(self.core.faults.faults)
