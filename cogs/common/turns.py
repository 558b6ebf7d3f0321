"""Runs one conversation turn into a Discord channel: the glue every cog that starts a turn shares."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import secrets
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import discord

from bot.core.conversations import CannotReplay, NoActiveSession, Replay, Speaker, Undeliverable, UnusablePick
from bot.core.quotas import OverQuota
from bot.core.recording import STORE_DOWN, STORE_ERRORS
from bot.providers.base import Pick, Provider, VoiceInput
from bot.replies.delivery import WRITE_ERRORS, Trouble, classify, until_taken
from bot.replies.followups import followups_for
from bot.replies.notice import QUIET_BEFORE_NOTICE_S
from bot.replies.pacing import Urgency, requests_at
from bot.replies.permissions import LOCKED, cannot_answer
from bot.replies.streaming import StreamingReply
from bot.replies.voice_out import post_spoken_reply
from bot.replies.writes import NO_PINGS
from bot.store import SessionRecord
from cogs.common.places import InteractionPlace, reply_view
from cogs.common.private import PrivateNote
from cogs.common.wording import ENDED_HINT

if TYPE_CHECKING:
    from bot.app import BridgeBot

log = logging.getLogger(__name__)

NO_ACCESS = "I can no longer see {where} (I was removed from it, or lost **View Channel**), so I stopped the reply."
TYPING_RENEW_S = 8.0
STILL_CANNOT = "I couldn't finish the reply in {where}: Discord stopped letting me post there."
UNFOLLOWED = (
    "-# ⚠️ I stopped following {provider} here because my database did not answer in time."
    " Send a message here to check on it again."
)


async def reply_in(
    bot: BridgeBot,
    channel: discord.abc.Messageable,
    session: SessionRecord,
    speaker: Speaker,
    text: str,
    *,
    note: PrivateNote,
    voice: VoiceInput | None = None,
    pick: Pick | None = None,
    resume: bool = False,
    message_id: int | None = None,
    replay: Replay | None = None,
    files: tuple[str, ...] = (),
    interaction: discord.Interaction | None = None,
) -> None:
    """Answer one turn in `channel` (or, with `replay`, a member's earlier turn again); what only the speaker
    should read (a stale choice, a replay the conversation moved past, a reply Discord stopped letting the
    bot finish) goes to `note`. The `interaction` that started the turn (a click, `/chat` where it answers)
    carries the reply as its followups while it can (`bot.replies.followups`)."""
    conversations = bot.services.conversations
    provider = conversations.providers.get(session.provider)
    sink = _reply_for(bot, channel, session, provider, interaction)
    if provider is not None and provider.works_in_background:
        typing: contextlib.AbstractAsyncContextManager[object] = _typing(channel)
    else:
        typing = contextlib.nullcontext()
        await sink.begin()
    try:
        async with typing:  # polled providers: show that the agent is working until the turn ends
            lost = await conversations.turns.take(
                session.channel_id,
                speaker,
                text,
                sink,
                voice=voice,
                pick=pick,
                resume=resume,
                message_id=message_id,
                replay=replay,
                files=files,
                seen=session,
            )
    except NoActiveSession:
        if not conversations.is_gone(session.channel_id):
            await _post_quietly(channel, ENDED_HINT)
        return
    except (UnusablePick, CannotReplay, OverQuota) as exc:
        await note(str(exc))
        return
    except STORE_ERRORS as exc:  # the turn never started: say so where the reply would have been
        log.warning("channel %d: a turn was not taken, the store failed: %s", session.channel_id, exc)
        await sink.fail(STORE_DOWN)
        return
    if lost is not None:
        await _after_loss(bot, channel, sink, lost, note=note, provider=provider, channel_id=session.channel_id)


def _reply_for(
    bot: BridgeBot,
    channel: discord.abc.Messageable,
    session: SessionRecord,
    provider: Provider | None,
    interaction: discord.Interaction | None,
) -> StreamingReply:
    """The reply a turn streams into: paced with the channel's other writes, as followups while `interaction` can;
    in a place, through its interaction alone, in as many messages as Discord allows there, with Reply under it."""
    in_place = isinstance(channel, InteractionPlace)
    return StreamingReply(
        channel,
        bot.services.pacers[session.channel_id],
        provider_name=provider.display_name if provider else session.provider,
        post_audio=functools.partial(post_spoken_reply, channel, bot.http),
        streamed=provider is not None and provider.streams,
        followups=channel.followups if isinstance(channel, InteractionPlace) else followups_for(interaction, channel),
        notice_after_s=(provider.usual_wait_s() if provider else None) or QUIET_BEFORE_NOTICE_S,
        max_messages=channel.max_messages if isinstance(channel, InteractionPlace) else None,
        closing_view=functools.partial(reply_view, session.started_by) if in_place else None,
    )


async def _after_loss(
    bot: BridgeBot,
    channel: discord.abc.Messageable,
    sink: StreamingReply,
    lost: Undeliverable,
    *,
    note: PrivateNote,
    provider: Provider | None,
    channel_id: int,
) -> None:
    """Tell members about a reply Discord stopped the bot from finishing, each case where it can be read."""
    if lost is Undeliverable.BLOCKED:
        await note(_why_blocked(channel, sink.trouble))
    elif lost is Undeliverable.UNFOLLOWED:
        await _post_quietly(channel, UNFOLLOWED.format(provider=provider.display_name if provider else "the agent"))
    elif lost is Undeliverable.UNREACHABLE:
        bot.services.background.spawn(sink.say_when_reachable(), name=f"cut-off-{channel_id}")


def _why_blocked(channel: discord.abc.Messageable, trouble: Trouble | None) -> str:
    """What stopped a reply midway, in the member's terms (the permission, as discord.py's cache now says)."""
    where = _where(channel)
    if trouble is Trouble.LOCKED:
        return LOCKED.format(where=where)
    if trouble is Trouble.NO_ACCESS:
        return NO_ACCESS.format(where=where)
    return cannot_answer(channel, where) or STILL_CANNOT.format(where=where)


def _where(channel: discord.abc.Messageable) -> str:
    channel_id = getattr(channel, "id", None)
    return f"<#{channel_id}>" if channel_id else "this chat"


@contextlib.asynccontextmanager
async def _typing(channel: discord.abc.Messageable) -> AsyncIterator[None]:
    """The typing indicator while a polled agent works; failing to show it never stops the turn."""
    task = asyncio.create_task(_keep_typing(channel), name="typing")
    try:
        yield
    finally:
        task.cancel()


async def _keep_typing(channel: discord.abc.Messageable) -> None:
    """Discord shows the indicator for 10 s (channel.mdx, Trigger Typing Indicator): renew it until cancelled,
    riding out failures, and stop for good where the bot can no longer write. It waits behind every other
    request for the global budget: under load the indicator is the first thing to go."""
    while True:
        try:
            with requests_at(lambda: (Urgency.BACKGROUND, 0.0)):  # only when no other request waits
                await channel.typing()
        except WRITE_ERRORS as exc:
            if classify(exc) is not Trouble.TRANSIENT:
                return
            log.debug("typing indicator failed: %s", exc)
        await asyncio.sleep(TYPING_RENEW_S)


async def _post_quietly(channel: discord.abc.Messageable, text: str) -> None:
    """A line members must see, tried again while Discord's trouble passes (its nonce keeps it single)."""
    nonce = secrets.token_hex(8)
    await until_taken(
        lambda: channel.send(text, nonce=nonce, allowed_mentions=NO_PINGS),
        what=f"a notice in channel {getattr(channel, 'id', '?')}",
    )


def speaker(user: discord.abc.User, *, in_place: bool = False) -> Speaker:
    """Who a turn is for: on a server, with their roles and whether they manage it (for quotas); `in_place`
    (reached through their own install) as in a DM."""
    if isinstance(user, discord.Member) and not in_place:
        roles = frozenset(role.id for role in user.roles if not role.is_default())
        return Speaker(user.id, user.display_name, roles, user.guild_permissions.manage_guild)
    return Speaker(id=user.id, name=user.display_name)
