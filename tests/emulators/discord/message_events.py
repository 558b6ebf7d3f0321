"""Which gateway sessions hear of a message or thread, and with what body.

Messages in a DM carry no ``guild_id``/``member`` and reach only sessions with the DIRECT_MESSAGES intent (on
shard 0), with content even without MESSAGE_CONTENT; DMs between users and group DMs (:mod:`.outside`) reach
nobody. Guild message events reach the bot only where it can view the channel (topics/threads.mdx: "Clients will
not be informed of a thread through the gateway if they do not have permission to view that thread"; the same
holds for channels), and without MESSAGE_CONTENT their content, embeds, attachments, components and poll are
blanked (except the bot's own messages and mentions of the bot).
"""

from __future__ import annotations

from typing import Any

from . import forwards, payloads
from .gateway import DataFor, GatewaySession
from .records import MessageRecord, ThreadRecord
from .world import World
from .world_types import INTENT_DIRECT_MESSAGES, INTENT_GUILD_MESSAGES, INTENT_GUILDS, INTENT_MESSAGE_CONTENT


def receives(world: World, session: GatewaySession, msg: MessageRecord) -> bool:
    """Guild message events need GUILD_MESSAGES and a channel the bot can view; DM ones DIRECT_MESSAGES and
    shard 0; DMs between users and group DMs never."""
    if msg.channel_id in world.private_channels:
        return False
    if msg.guild_id is None:
        return bool(session.intents & INTENT_DIRECT_MESSAGES) and session.gets_guildless_events
    live = msg.channel_id in world.channels or msg.channel_id in world.threads
    return bool(session.intents & INTENT_GUILD_MESSAGES) and live and world.bot_can_view(msg.channel_id)


def message_event(world: World, msg: MessageRecord) -> DataFor:
    """MESSAGE_CREATE/UPDATE body per session, blanking content without MESSAGE_CONTENT (except the bot's own
    messages, mentions of the bot and DMs)."""
    full = payloads.message_payload(world, msg, gateway=True)
    bot_id = world.bot_user_id

    def for_session(session: GatewaySession) -> dict[str, Any] | None:
        if not receives(world, session, msg):
            return None
        exempt = msg.guild_id is None or msg.author_id == bot_id or bot_id in msg.mentions.users
        if session.intents & INTENT_MESSAGE_CONTENT or exempt:
            return full
        stripped = dict(full)
        stripped.update(content="", embeds=[], attachments=[], components=[])
        stripped.pop("poll", None)
        if "message_snapshots" in stripped:
            stripped["message_snapshots"] = forwards.blank_snapshots(stripped["message_snapshots"])
        return stripped

    return for_session


def thread_event(world: World, thread: ThreadRecord, **extra: Any) -> DataFor:
    """THREAD_CREATE/UPDATE for sessions with GUILDS, if the bot can see the thread (threads.mdx "Permissions";
    a private thread only as a member or moderator)."""
    body = payloads.thread_payload(world, thread, member_for=world.bot_user_id)
    body.update(extra)
    return lambda s: body if s.intents & INTENT_GUILDS and world.bot_can_view(thread.id) else None
