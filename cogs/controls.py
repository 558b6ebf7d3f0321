"""A reply's member controls: Stop while it is written, Retry on a failure line, Regenerate from the Apps menu.

The buttons are understood from their custom_id alone (`stop:<reply>`, `retry:<reply>`), so they work after a
restart; what they may do is decided from the store (the reply's status) and this process's running turns.
Retry and Regenerate take the reply once, however often they are pressed (one conditional update in the
store), and pass the same gate as a new message (allow-lists, cap, cooldown).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import discord
from discord import app_commands
from discord.ext import commands

from bot.audio import AudioRejected
from bot.command_tree import acknowledge, answers_failures, update_message
from bot.core.conversations import REPLY_ENDED, CannotReplay, Replay
from bot.core.gate import Refused
from bot.members.attachments import AttachmentReader
from bot.members.permissions import SEND
from bot.providers.base import Pick, VoiceInput
from bot.replies.delivery import WRITE_ERRORS
from bot.replies.permissions import cannot_answer
from bot.replies.splitting import MESSAGE_LIMIT
from bot.replies.widgets import ANY_TAIL, RETRY_BUTTON_ID, STOP_BUTTON_ID, reply_id_in
from bot.replies.writes import NO_PINGS
from bot.store import SessionRecord
from cogs.common.chat_command import usable_in_dms
from cogs.common.input import read_message
from cogs.common.members import asker_of, interaction_member, slowmode_refusal, speaking_refusal
from cogs.common.places import InteractionPlace, conversation_key, reached_by_user_install
from cogs.common.private import by_interaction
from cogs.common.turns import reply_in, speaker
from cogs.common.voice import voice_input
from cogs.common.wording import NO_CONVERSATION, display, refuse

if TYPE_CHECKING:
    from bot.app import BridgeBot

log = logging.getLogger(__name__)

REGENERATE = "Regenerate"
WHO_MAY_STOP = "Only {asker}, members who can **Manage Threads** here and server managers can stop this reply."
ELSEWHERE = "This reply is being written by another copy of the bot (it is restarting); try again in a few seconds."
RETRIED = "-# 🔁 {who} sent this turn again."
REPLACED = "-# 🔁 Replaced by a newer answer below."
ASKING_AGAIN = "🔁 Asking {provider} for another answer."
VOICE_GONE = "The voice note this turn came from was deleted, so it can't be sent again. Record it again."
_REPLY_ID = f"(?P<reply_id>{ANY_TAIL})"
NO_REPLY = 0
"""Entry ids start at 1: a malformed custom_id names reply 0 and is answered as one for a reply that is gone."""


class _ReplyButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"(?!)"):
    """A button naming a reply by its transcript entry, rebuilt from its custom_id alone (also after a restart)."""

    custom_id_format: ClassVar[str]

    def __init__(self, reply_id: int) -> None:
        super().__init__(discord.ui.Button(custom_id=self.custom_id_format.format(reply_id=reply_id)))
        self.reply_id = reply_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> _ReplyButton:
        return cls(reply_id_in(match["reply_id"]) or NO_REPLY)


class StopButton(_ReplyButton, template=STOP_BUTTON_ID.format(reply_id=_REPLY_ID)):
    """Stop on a reply being written (or on its "working" notice)."""

    custom_id_format = STOP_BUTTON_ID

    @answers_failures
    async def callback(self, interaction: discord.Interaction) -> None:
        await stop_pressed(interaction, self.reply_id)


class RetryButton(_ReplyButton, template=RETRY_BUTTON_ID.format(reply_id=_REPLY_ID)):
    """Retry on a failure line."""

    custom_id_format = RETRY_BUTTON_ID

    @answers_failures
    async def callback(self, interaction: discord.Interaction) -> None:
        await retry_pressed(interaction, self.reply_id)


async def stop_pressed(interaction: discord.Interaction, reply_id: int) -> None:
    """The member who asked, thread moderators and server managers stop the reply; anyone else, or a Stop on a
    reply that already ended (also before a restart), gets a private note."""
    bot: BridgeBot = interaction.client  # type: ignore[assignment]
    conversations = bot.services.conversations
    channel_id = conversation_key(interaction)
    asker = conversations.turns.asker_of(channel_id, reply_id)
    if asker is None:
        reply = await bot.services.store.entry(reply_id)
        still_written = reply is not None and reply.status == "streaming"
        await refuse(interaction, ELSEWHERE if still_written else REPLY_ENDED)
        return
    member = interaction_member(interaction)
    if member.id != asker and not (member.manages_threads or member.manages_server):
        await refuse(interaction, WHO_MAY_STOP.format(asker=f"<@{asker}>"))
        return
    if not conversations.turns.stop(channel_id, reply_id, speaker(interaction.user)):
        await refuse(interaction, REPLY_ENDED)
        return
    await acknowledge(interaction)  # the reply's own next write says who stopped it


@dataclass(frozen=True)
class _Again:
    """What a replayed turn carries besides its text: the voice note downloaded again, the choice rebuilt."""

    voice: VoiceInput | None = None
    pick: Pick | None = None


async def retry_pressed(interaction: discord.Interaction, reply_id: int) -> None:
    """Send the failed reply's turn again, once; the failure line says who did."""
    bot: BridgeBot = interaction.client  # type: ignore[assignment]
    prepared = await _prepare_replay(interaction, reply_id, regenerate=False)
    if prepared is None:
        return
    session, replay, again, channel = prepared
    message = interaction.message
    if message is not None:
        line = RETRIED.format(who=display(interaction.user))
        try:
            await update_message(interaction, content=_with_line(message.content, line), view=None)
        except discord.HTTPException:
            await bot.services.conversations.replays.give_back(replay)  # the press was lost: Retry stays for another
            raise
    else:
        await acknowledge(interaction)
    await _answer_again(bot, interaction, channel, session, replay, again, via_followups=True)


async def regenerate(interaction: discord.Interaction, message: discord.Message) -> None:
    """Apps → Regenerate on the bot's last reply: the same turn, same history; the old reply is marked replaced."""
    bot: BridgeBot = interaction.client  # type: ignore[assignment]
    conversations = bot.services.conversations
    bot_user = bot.user
    reply = None
    if bot_user is not None and message.author.id == bot_user.id:
        reply = await conversations.replays.reply_in_message(conversation_key(interaction), message.id)
    if reply is None:
        await refuse(interaction, "That message is not one of my replies in a conversation still open here.")
        return
    prepared = await _prepare_replay(interaction, reply.id, regenerate=True)
    if prepared is None:
        return
    session, replay, again, channel = prepared
    provider = conversations.providers.get(session.provider)
    name = provider.display_name if provider else session.provider
    if isinstance(channel, InteractionPlace):  # only the interaction can carry the answer: it fills the response
        await interaction.response.defer(thinking=True)  # the earlier answer stays as it is: the bot may not edit
        # it there (an earlier interaction's message, in a channel the bot is not in); the transcript marks it
    else:
        await interaction.response.send_message(ASKING_AGAIN.format(provider=name), ephemeral=True)
        await _mark_replaced(bot, channel, replay, message)
    # Not as followups: they would show as replies to the private answer above, which others cannot see.
    await _answer_again(bot, interaction, channel, session, replay, again, via_followups=False)


async def _answer_again(
    bot: BridgeBot,
    interaction: discord.Interaction,
    channel: discord.abc.Messageable,
    session: SessionRecord,
    replay: Replay,
    again: _Again,
    *,
    via_followups: bool,
) -> None:
    """The claimed member turn, run again as it was first sent (text, voice note or choice); with
    `via_followups`, written as the interaction's followups (`bot.replies.followups`)."""
    await reply_in(
        bot,
        channel,
        session,
        speaker(interaction.user, in_place=isinstance(channel, InteractionPlace)),
        replay.asked.content,
        note=by_interaction(interaction),
        voice=again.voice,
        pick=again.pick,
        replay=replay,
        interaction=interaction if via_followups else None,
    )


async def _prepare_replay(
    interaction: discord.Interaction, reply_id: int, *, regenerate: bool
) -> tuple[SessionRecord, Replay, _Again, discord.abc.Messageable] | None:
    """Check the member may speak here (bot/members/permissions.py) and the bot may answer, claim the reply, pass
    the gate and spend the slowmode, then fetch what the turn carried. On any refusal, say why privately, give
    the claim back and return None."""
    bot: BridgeBot = interaction.client  # type: ignore[assignment]
    conversations = bot.services.conversations
    channel_id = conversation_key(interaction)
    session = await bot.services.store.active_session(channel_id)
    in_place = reached_by_user_install(interaction)  # no channel: only the interaction carries the answer
    channel = InteractionPlace(interaction, fills_response=regenerate) if in_place else interaction.channel
    if session is None or not isinstance(channel, discord.abc.Messageable):
        await refuse(interaction, NO_CONVERSATION)
        return None
    why = None if in_place else await speaking_refusal(bot, interaction, SEND)  # slowmode looked at, not spent
    why = why or (None if in_place else cannot_answer(channel, f"<#{channel_id}>", granted=interaction.app_permissions))
    why = why or await bot.services.quotas.used_up(asker_of(interaction), session.provider)  # before the claim
    if why is not None:
        await refuse(interaction, why)
        return None
    try:
        replay = await conversations.replays.claim(channel_id, reply_id, regenerate=regenerate)
    except CannotReplay as exc:
        await refuse(interaction, str(exc))
        return None
    try:
        await bot.services.gate.admit_turn(interaction_member(interaction), session)
        if not in_place and (slowed := await slowmode_refusal(bot, interaction, SEND, take=True)):
            raise Refused(slowed)
        again = await _inputs_again(channel, session, replay, bot.services.downloads)
    except (Refused, CannotReplay) as exc:
        await conversations.replays.give_back(replay)
        await refuse(interaction, str(exc))
        return None
    return session, replay, again, channel


async def _inputs_again(
    channel: discord.abc.Messageable, session: SessionRecord, replay: Replay, reader: AttachmentReader
) -> _Again:
    """A voice note is downloaded and converted again from the member's message; a choice is rebuilt from the
    offer still open in the session. Raises CannotReplay (with a reason to show) when that is impossible."""
    asked = replay.asked
    voice = None
    in_place = isinstance(channel, InteractionPlace)  # a voice note came through a form there: none to fetch
    if asked.extras.get("voice") is not None and asked.message_id is not None and not in_place:
        try:
            source = await channel.fetch_message(asked.message_id)
            audio = read_message(source).audio
            if audio is None:
                raise CannotReplay(VOICE_GONE)
            voice = await voice_input(audio, reader)
        except discord.NotFound as exc:
            raise CannotReplay(VOICE_GONE) from exc
        except AudioRejected as exc:
            raise CannotReplay(exc.user_message) from exc
        except discord.HTTPException as exc:
            log.warning("could not download voice note %d again: %s", asked.message_id, exc)
            raise CannotReplay("Discord would not hand me the voice note again; try in a moment.") from exc
    return _Again(voice=voice, pick=_pick_again(session, asked.extras.get("pick"), asked.content))


def _pick_again(session: SessionRecord, label: object, content: str) -> Pick | None:
    """The choice a failed turn carried, if its offer is still the session's open one (else the turn goes as text)."""
    offer = session.state.get("offer")
    if not isinstance(label, str) or not isinstance(offer, dict) or label not in offer.get("labels", []):
        return None
    reason = content if content != label else None
    return Pick(str(offer["token"]), list(offer["labels"]).index(label), label, reason)


async def _mark_replaced(
    bot: BridgeBot, channel: discord.abc.Messageable, replay: Replay, shown: discord.Message
) -> None:
    """The old reply stays in Discord; the message Regenerate was used on says a newer answer replaced it."""
    try:
        await bot.services.pacers[getattr(channel, "id", 0)].slot(steady=False)
        if len(shown.content) + 1 + len(REPLACED) <= MESSAGE_LIMIT:
            await shown.edit(content=_with_line(shown.content, REPLACED), allowed_mentions=NO_PINGS)
        else:  # no room under the text: a small embed says it
            marker = discord.Embed(description=REPLACED.removeprefix("-# "))
            await shown.edit(embeds=[*shown.embeds[:9], marker], allowed_mentions=NO_PINGS)
    except WRITE_ERRORS as exc:  # an old message (error 30046) or one deleted: the regeneration goes on
        log.warning("could not mark reply %d as replaced: %s", replay.reply_id, exc)


def _with_line(content: str, line: str) -> str:
    return f"{content}\n{line}" if len(content) + 1 + len(line) <= MESSAGE_LIMIT else content


class ControlsCog(commands.Cog):
    def __init__(self, bot: BridgeBot) -> None:
        self.bot = bot
        self._menu = app_commands.ContextMenu(name=REGENERATE, callback=regenerate, type=discord.AppCommandType.message)
        gate = bot.services.gate  # conversations in DMs exist only when the owner allows them
        usable_in_dms(self._menu, gate.allow_dms, user_installs=gate.user_installs)

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(StopButton, RetryButton)
        self.bot.tree.add_command(self._menu)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(StopButton, RetryButton)
        self.bot.tree.remove_command(self._menu.name, type=self._menu.type)


async def setup(bot: BridgeBot) -> None:
    await bot.add_cog(ControlsCog(bot))
