"""What a moderator (or the guild's owner) does to the world, and the events Discord sends for it.

Nothing here checks the moderator's permissions: these model people in Discord's own client.
"""

from __future__ import annotations

import time
from typing import Any

from . import payloads
from .gateway import DataFor, Gateway
from .messaging import MessageService
from .notifier import Notifier
from .permissions import MEMBER_OVERWRITE, ROLE_OVERWRITE, PermissionOverwrite
from .records import ThreadRecord
from .slowmode import MAX_SLOWMODE_S
from .snowflakes import iso_timestamp
from .threads import ThreadService
from .world import World
from .world_types import INTENT_GUILDS, ChannelInfo


def _guilds_only(body: dict[str, Any]) -> DataFor:
    return lambda s: body if s.intents & INTENT_GUILDS else None


class ModerationService:
    def __init__(
        self, world: World, gateway: Gateway, notifier: Notifier, messages: MessageService, threads: ThreadService
    ) -> None:
        self.world = world
        self.gateway = gateway
        self.notifier = notifier
        self.messages = messages
        self.threads = threads

    # ---- roles and overwrites --------------------------------------------------------------------
    def role_updated(self, role_id: int) -> None:
        """GUILD_ROLE_UPDATE {guild_id, role} (gateway-events.mdx "Guild Role Update"; GUILDS intent)."""
        found = self.world.find_role(role_id)
        if found is None:
            raise ValueError(f"role {role_id} does not exist")
        guild, role = found
        body = {"guild_id": str(guild.id), "role": payloads.role_payload(role)}
        self.gateway.dispatch("GUILD_ROLE_UPDATE", _guilds_only(body))
        self.notifier.notify()

    def _text_channel(self, channel_id: int) -> ChannelInfo:
        channel = self.world.channels.get(channel_id)
        if channel is None:
            kind = "a thread (threads use their parent's overwrites)" if channel_id in self.world.threads else "unknown"
            raise ValueError(f"channel {channel_id} is {kind}; overwrites live on guild text channels")
        return channel

    def set_overwrite(self, channel_id: int, target_id: int, allow: int, deny: int) -> PermissionOverwrite:
        """Create or replace the overwrite for a role (or @everyone, whose id is the guild's) or a
        member of the channel's guild; CHANNEL_UPDATE carries the new ``permission_overwrites`` (channel.mdx "Overwrite
        Object": type 0 role, 1 member)."""
        channel = self._text_channel(channel_id)
        guild = self.world.guild(channel.guild_id)
        if target_id in guild.roles:
            kind = ROLE_OVERWRITE
        elif target_id in guild.members:
            kind = MEMBER_OVERWRITE
        else:
            raise ValueError(f"{target_id} is neither a role nor a member of the channel's guild {guild.id}")
        overwrite = PermissionOverwrite(target_id, kind, allow, deny)
        channel.permission_overwrites = [o for o in channel.permission_overwrites if o.id != target_id]
        channel.permission_overwrites.append(overwrite)
        self._channel_updated(channel)
        return overwrite

    def clear_overwrite(self, channel_id: int, target_id: int) -> None:
        channel = self._text_channel(channel_id)
        channel.permission_overwrites = [o for o in channel.permission_overwrites if o.id != target_id]
        self._channel_updated(channel)

    def _channel_updated(self, channel: ChannelInfo) -> None:
        """CHANNEL_UPDATE goes out even when the bot just lost VIEW_CHANNEL: "the app will receive the
        event that caused its permissions on the channel to change" (threads.mdx "Losing Access to
        Channels"). A THREAD_LIST_SYNC on *gaining* access is not modelled."""
        self.gateway.dispatch("CHANNEL_UPDATE", _guilds_only(payloads.channel_payload(self.world, channel)))
        self.notifier.notify()

    def set_slowmode(self, channel_id: int, seconds: int) -> None:
        """A moderator sets ``rate_limit_per_user`` (0-21600 s, channel.mdx "Modify Channel") on a text
        channel (CHANNEL_UPDATE) or a thread (THREAD_UPDATE)."""
        if not 0 <= seconds <= MAX_SLOWMODE_S:
            raise ValueError(f"slowmode is 0 to {MAX_SLOWMODE_S} seconds, not {seconds}")
        thread = self.world.threads.get(channel_id)
        if thread is not None:
            thread.rate_limit_per_user = seconds
            self.messages.thread_changed(thread, was_archived=thread.archived)
            return
        channel = self._text_channel(channel_id)
        channel.rate_limit_per_user = seconds
        self._channel_updated(channel)

    # ---- deleting --------------------------------------------------------------------------------
    def delete_thread(self, thread_id: int) -> ThreadRecord:
        """The thread and its messages are gone; THREAD_DELETE carries only ``id``, ``guild_id``,
        ``parent_id`` and ``type`` (gateway-events.mdx "Thread Delete"). The bot gets it if it could
        see the thread ("Sent when a thread relevant to the current user is deleted")."""
        thread = self.live_thread(thread_id)
        visible = self.world.bot_can_view(thread.id)
        self._forget_thread(thread)
        body = {
            "id": str(thread.id),
            "guild_id": str(thread.guild_id),
            "parent_id": str(thread.parent_id),
            "type": thread.type,
        }
        self.gateway.dispatch("THREAD_DELETE", lambda s: body if s.intents & INTENT_GUILDS and visible else None)
        self.notifier.notify()
        return thread

    def delete_channel(self, channel_id: int) -> ChannelInfo:
        """CHANNEL_DELETE with the channel object (gateway-events.mdx "Channel Delete"). Its threads
        vanish with it *without* THREAD_DELETE events: "THREAD_DELETE is not sent when you delete
        parent channels" (github.com/discordjs/discord.js/pull/10883, a maintainer's comment), which
        is why discord.py drops a deleted channel's threads itself (github.com/Rapptz/discord.py/pull/9796).
        """
        channel = self._text_channel(channel_id)
        body = payloads.channel_payload(self.world, channel)
        for thread in [t for t in self.world.threads.values() if t.parent_id == channel_id]:
            self._forget_thread(thread)
        self._forget_messages(channel_id)
        channel.deleted = True
        del self.world.channels[channel_id]
        self.world.deleted_channels[channel_id] = channel
        self.gateway.dispatch("CHANNEL_DELETE", _guilds_only(body))
        self.notifier.notify()
        return channel

    def _forget_thread(self, thread: ThreadRecord) -> None:
        thread.deleted = True
        thread.deleted_at = time.monotonic()
        self._forget_messages(thread.id)
        del self.world.threads[thread.id]
        self.world.deleted_threads[thread.id] = thread

    def _forget_messages(self, channel_id: int) -> None:
        """A deleted channel's messages go with it, without MESSAGE_DELETE events (inferred: Discord
        documents only the channel/thread delete event for this)."""
        now = time.monotonic()
        for msg in self.world.channel_history(channel_id):
            msg.deleted = True
            msg.deleted_at = now

    # ---- threads ---------------------------------------------------------------------------------
    def live_thread(self, thread_id: int) -> ThreadRecord:
        thread = self.world.threads.get(thread_id)
        if thread is None:
            raise ValueError(f"thread {thread_id} does not exist (or was deleted)")
        return thread

    def set_archived(self, thread_id: int, *, archived: bool, locked: bool | None = None) -> ThreadRecord:
        """(Un)archive and/or (un)lock; THREAD_UPDATE, plus THREAD_MEMBER_UPDATE when unarchived
        (threads.mdx "Unarchiving a Thread"). ``archive_timestamp`` changes with archiving
        (threads.mdx "Thread Fields")."""
        thread = self.live_thread(thread_id)
        was_archived = thread.archived
        if archived != thread.archived:
            thread.archived = archived
            thread.archive_timestamp = iso_timestamp()
        if locked is not None:
            thread.locked = locked
        self.messages.thread_changed(thread, was_archived=was_archived)
        return thread

    def remove_thread_member(self, thread_id: int, user_id: int) -> None:
        """THREAD_MEMBERS_UPDATE (always sent to the bot when it is the one removed, threads.mdx
        "Syncing for the current user"). A removed bot loses a private thread (access.Access)."""
        thread = self.live_thread(thread_id)
        if user_id not in thread.member_ids:
            raise ValueError(f"user {user_id} is not a member of thread {thread_id}")
        self.threads.remove_member(thread, user_id)
