"""The permission checks Discord makes before acting, raising the errors it really returns.

Applied to the bot's REST requests and to simulated members (whose client refuses the same things).
Interaction responses skip the channel checks (an app may answer a command even where it cannot
see or post: that is what interactions are for) but not the thread rules (a moderator locking a
thread breaks a pending response: github.com/discord/discord-api-docs/issues/6884).
DMs have no guild permissions, so every check passes there.
"""

from __future__ import annotations

from typing import Any

from . import errors
from .permissions import (
    ADD_REACTIONS,
    ATTACH_FILES,
    CREATE_PRIVATE_THREADS,
    CREATE_PUBLIC_THREADS,
    MANAGE_CHANNELS,
    MANAGE_MESSAGES,
    MANAGE_THREADS,
    READ_MESSAGE_HISTORY,
    SEND_MESSAGES_IN_THREADS,
    VIEW_CHANNEL,
    send_permission,
)
from .records import MessageRecord, ThreadRecord
from .world import World
from .world_types import PRIVATE_THREAD


class Access:
    def __init__(self, world: World) -> None:
        self.world = world

    def permissions(self, user_id: int, channel_id: int) -> int | None:
        """Effective permissions in a guild channel or thread; None (no guild permissions) in a DM, and in a
        DM between users or a group DM for its recipients (nothing at all for anyone else, the bot included)."""
        private = self.world.private_channels.get(channel_id)
        if private is not None:
            return None if user_id in private.recipient_ids else 0
        if self.world.is_dm(channel_id):
            return None
        return self.world.channel_permissions(user_id, channel_id)

    def has(self, user_id: int, channel_id: int, bits: int) -> bool:
        granted = self.permissions(user_id, channel_id)
        return granted is None or granted & bits == bits

    def require_view(self, user_id: int, channel_id: int) -> None:
        """404 10003 for an unknown or deleted channel; 403 50001 "Missing Access" without
        VIEW_CHANNEL there (topics/permissions.mdx "Implicit Permissions"), which includes a private
        thread the user is not in and cannot moderate (topics/threads.mdx "Permissions"), a channel of a
        guild the user is not in and a DM or group DM they are not part of (inferred from community
        reports of 50001 for such channels, e.g. discord-api-docs#7666)."""
        self.world.channel_or_thread(channel_id)
        if not self.has(user_id, channel_id, VIEW_CHANNEL):
            raise errors.missing_access()

    def require(self, user_id: int, channel_id: int, bits: int) -> None:
        """403 50013 "Missing Permissions" unless every bit in ``bits`` is granted."""
        if not self.has(user_id, channel_id, bits):
            raise errors.missing_permissions()

    # ---- messages --------------------------------------------------------------------------------
    def check_send(self, user_id: int, channel_id: int, *, files: bool, reply: bool) -> None:
        """resources/message.mdx, Create Message "Limitations": SEND_MESSAGES in a channel (in a thread
        SEND_MESSAGES_IN_THREADS, topics/threads.mdx "Permissions"); ATTACH_FILES for uploads
        (topics/permissions.mdx "Allows for uploading images and files"); READ_MESSAGE_HISTORY for a
        reply, else 160002.

        Embeds without EMBED_LINKS are *not* refused: the docs list no such limitation for Create
        Message (EMBED_LINKS only governs auto-embedding of links users post).
        """
        self.require_view(user_id, channel_id)
        self.require(user_id, channel_id, send_permission(self.world, channel_id))
        if files:
            self.require(user_id, channel_id, ATTACH_FILES)
        if reply and not self.has(user_id, channel_id, READ_MESSAGE_HISTORY):
            raise errors.cannot_reply_without_history()

    def check_thread_write(self, user_id: int, thread: ThreadRecord, *, editing: bool) -> None:
        """topics/threads.mdx: without MANAGE_THREADS nobody creates or updates messages in a *locked*
        thread ("Locked Threads"; Discord answers 403 50083, issues 7707/6884); nobody edits messages
        in an *archived* thread ("Active & Archived Threads"; 400 50083)."""
        if thread.locked and not self.has(user_id, thread.id, MANAGE_THREADS):
            raise errors.locked_thread_forbidden()
        if editing and thread.archived:
            raise errors.thread_archived()

    def check_delete_message(self, user_id: int, msg: MessageRecord) -> None:
        """Deleting someone else's message takes MANAGE_MESSAGES (message.mdx "Delete Message"); in a
        locked thread it is allowed only while the thread is active (threads.mdx "Locked Threads")."""
        if msg.author_id != user_id:
            self.require(user_id, msg.channel_id, MANAGE_MESSAGES)
        thread = self.world.threads.get(msg.channel_id)
        locked_and_closed = thread is not None and thread.locked and thread.archived
        if locked_and_closed and not self.has(user_id, msg.channel_id, MANAGE_THREADS):
            raise errors.locked_thread_forbidden()

    def check_add_reaction(self, user_id: int, msg: MessageRecord, *, new_emoji: bool) -> None:
        """message.mdx "Create Reaction": READ_MESSAGE_HISTORY, plus ADD_REACTIONS for an emoji nobody
        used yet; threads.mdx: no reactions in archived threads (locked ones: MANAGE_THREADS)."""
        self.require(user_id, msg.channel_id, READ_MESSAGE_HISTORY | (ADD_REACTIONS if new_emoji else 0))
        thread = self.world.threads.get(msg.channel_id)
        if thread is not None:
            if thread.locked and not self.has(user_id, thread.id, MANAGE_THREADS):
                raise errors.locked_thread_forbidden()
            if thread.archived:
                raise errors.thread_archived()

    # ---- channels and threads --------------------------------------------------------------------
    def check_modify_channel(self, user_id: int, channel_id: int) -> None:
        """channel.mdx "Modify Channel": MANAGE_CHANNELS for a guild channel."""
        self.require(user_id, channel_id, MANAGE_CHANNELS)

    def check_create_thread(self, user_id: int, parent_id: int, thread_type: int) -> None:
        """CREATE_PUBLIC_THREADS / CREATE_PRIVATE_THREADS in the parent (topics/permissions.mdx flags)."""
        self.require_view(user_id, parent_id)
        needed = CREATE_PRIVATE_THREADS if thread_type == PRIVATE_THREAD else CREATE_PUBLIC_THREADS
        self.require(user_id, parent_id, needed)

    def check_modify_thread(self, user_id: int, thread: ThreadRecord, body: dict[str, Any]) -> None:
        """topics/threads.mdx "Editing & Deleting Threads" and channel.mdx "JSON Params (Thread)":

        * a PATCH on an archived thread must unarchive it (``archived: false``), else 400 50083
          ("Requires the thread to have archived set to false or be set to false in the request");
        * unarchiving needs thread membership; if the thread is locked, being its creator or
          MANAGE_THREADS;
        * name / archiving / auto_archive_duration need MANAGE_THREADS or being the creator;
        * locked / rate_limit_per_user need MANAGE_THREADS.
        Refusals are 403 50013. Only fields whose value changes are judged (inferred: resending the
        current value changes nothing).
        """
        unarchiving = "archived" in body and not body["archived"] and thread.archived
        if thread.archived and not unarchiving:
            raise errors.thread_archived()
        if self.has(user_id, thread.id, MANAGE_THREADS):
            return
        creator = thread.owner_id == user_id
        current = {
            "name": thread.name,
            "archived": thread.archived,
            "auto_archive_duration": thread.auto_archive_duration,
            "locked": thread.locked,
            "rate_limit_per_user": thread.rate_limit_per_user,
        }
        changed = {k for k, v in current.items() if k in body and body[k] is not None and body[k] != v}
        if changed & {"locked", "rate_limit_per_user"}:
            raise errors.missing_permissions()
        if unarchiving:
            allowed = creator if thread.locked else (creator or user_id in thread.member_ids)
            if not allowed:
                raise errors.missing_permissions()
            changed.discard("archived")
        if changed & {"name", "archived", "auto_archive_duration"} and not creator:
            raise errors.missing_permissions()

    def check_add_thread_member(self, user_id: int, thread: ThreadRecord, target_id: int) -> None:
        """channel.mdx "Add Thread Member": "Requires the ability to send messages in the thread"; a
        private thread with ``invitable: false`` lets only moderators add others (channel.mdx)."""
        if thread.archived:
            raise errors.thread_archived()
        if target_id == user_id:
            return
        self.require(user_id, thread.id, SEND_MESSAGES_IN_THREADS)
        if thread.private and not thread.invitable:
            self.require(user_id, thread.id, MANAGE_THREADS)

    def check_remove_thread_member(self, user_id: int, thread: ThreadRecord, target_id: int) -> None:
        """channel.mdx "Remove Thread Member": MANAGE_THREADS, or the creator of a private thread;
        "Leave Thread"/"Remove Thread Member": the thread must not be archived."""
        if thread.archived:
            raise errors.thread_archived()
        if target_id == user_id or (thread.private and thread.owner_id == user_id):
            return
        self.require(user_id, thread.id, MANAGE_THREADS)
