"""Runs one conversation turn into a Discord channel: the glue every cog that starts a turn shares."""

from __future__ import annotations

import contextlib
import functools
from typing import TYPE_CHECKING

import discord

from bot.conversation import NoActiveSession, Speaker
from bot.providers.base import Pick, VoiceInput
from bot.render import NO_PINGS, StreamingReply
from bot.store import SessionRecord
from bot.voice_out import post_spoken_reply
from cogs._wording import ENDED_HINT

if TYPE_CHECKING:
    from bot.app import BridgeBot


async def reply_in(
    bot: BridgeBot,
    channel: discord.abc.Messageable,
    session: SessionRecord,
    speaker: Speaker,
    text: str,
    *,
    voice: VoiceInput | None = None,
    pick: Pick | None = None,
    resume: bool = False,
) -> None:
    conversations = bot.services.conversations
    provider = conversations.providers.get(session.provider)
    sink = StreamingReply(
        channel,
        bot.services.pacers[session.channel_id],
        provider_name=provider.display_name if provider else session.provider,
        post_audio=functools.partial(post_spoken_reply, channel, bot.http),
    )
    if provider is not None and provider.works_in_background:
        typing: contextlib.AbstractAsyncContextManager[object] = channel.typing()
    else:
        typing = contextlib.nullcontext()
        await sink.begin()
    try:
        async with typing:  # polled providers: show that the agent is working until the turn ends
            await conversations.take_turn(
                session.channel_id, speaker, text, sink, voice=voice, pick=pick, resume=resume
            )
    except NoActiveSession:
        await channel.send(ENDED_HINT, allowed_mentions=NO_PINGS)


def speaker(user: discord.abc.User) -> Speaker:
    return Speaker(id=user.id, name=user.display_name)
