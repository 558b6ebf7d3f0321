"""Members' messages a process received but never took before it died (a `kill -9` between Discord delivering a
message and the turn being recorded), found after a restart so they are answered rather than lost.

Discord does not deliver them again: a fresh session starts from now (gateway.mdx, "Resuming": only a
resumed session replays what it missed). So at start-up each conversation active in the last
`CATCH_UP_WINDOW_S` reads the messages after the last one it took (`channel.history`, at most
`CATCH_UP_MESSAGES`), and a member's message sent before this process started that no transcript entry took,
and that no live process has claimed, is claimed here and answered as the next turn.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import discord

from bot.core.presence import Liveness
from bot.replies.delivery import WRITE_ERRORS
from bot.store import SessionRecord

if TYPE_CHECKING:
    from bot.app import BridgeBot

log = logging.getLogger(__name__)

CATCH_UP_WINDOW_S = 3600.0
"""Conversations someone spoke in within this long before the restart are looked at."""
CATCH_UP_SESSIONS = 200
"""At most this many conversations are read (one history request each), the most recent first."""
CATCH_UP_MESSAGES = 20
MEMBER_MESSAGE_TYPES = (discord.MessageType.default, discord.MessageType.reply)


async def recent_conversations(bot: BridgeBot) -> list[SessionRecord]:
    """The conversations of this process's servers worth reading after a restart."""
    store, serves = bot.services.store, bot.services.shards.serves
    sessions = await store.recently_active(time.time() - CATCH_UP_WINDOW_S, CATCH_UP_SESSIONS)
    return [session for session in sessions if serves(session.guild_id)]


async def missed_messages(
    bot: BridgeBot, channel: discord.abc.Messageable, session: SessionRecord, started: float, alive: Liveness
) -> list[discord.Message]:
    """The member messages of `channel` sent before `started` (Unix seconds) that no turn took and no live
    process claimed, oldest first; each is claimed for this process before it is returned."""
    store = bot.services.store
    opened = discord.utils.time_snowflake(datetime.fromtimestamp(session.started_at, tz=UTC))
    after = discord.Object(await store.last_taken_message(session.id) or opened)
    try:
        found = [
            message
            async for message in channel.history(after=after, oldest_first=True, limit=CATCH_UP_MESSAGES)
            if _from_a_member(message) and message.created_at.timestamp() < started
        ]
    except WRITE_ERRORS as exc:
        log.info("channel %s: could not read what was missed (%s)", getattr(channel, "id", "?"), exc)
        return []
    ids = [message.id for message in found]
    taken = await store.taken_among(ids)
    claims = await store.coordination.claims(ids)
    me = bot.services.conversations.owner
    missed = []
    for message in found:
        if message.id in taken:
            continue
        owner = claims.get(message.id)
        if message.id in claims and alive(owner):
            continue  # a live process has it (it is being answered, or it was refused with a reason)
        if await store.coordination.retake_event(message.id, me, owner):
            missed.append(message)
    return missed


def _from_a_member(message: discord.Message) -> bool:
    return not message.author.bot and message.webhook_id is None and message.type in MEMBER_MESSAGE_TYPES
