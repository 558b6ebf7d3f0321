"""`/export`: checks the member may read this channel's history and talk here, then hands them privately the
transcript bot/core/export.py wrote."""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.export import (
    DEFAULT_UPLOAD_LIMIT_BYTES,
    MAX_REQUEST_BYTES,
    ExportedConversation,
    ExportFile,
    batches,
    export_files,
)
from bot.core.gate import Refused
from bot.members.permissions import EXPORT, READ
from bot.replies.writes import NO_PINGS
from bot.store import SessionRecord
from cogs.common.chat_command import usable_in_dms
from cogs.common.members import interaction_member, member_refusal
from cogs.common.places import conversation_key, reached_by_user_install
from cogs.common.wording import NO_CONVERSATION, refuse

if TYPE_CHECKING:
    from bot.app import BridgeBot

log = logging.getLogger(__name__)

NAMES_FETCHED = 25
"""Members asked of Discord by id (they are not all in the cache); anyone past this is "member <id>"."""
NOT_SENT = "Discord would not take the transcript file just now. Try `/export` again in a moment."


class ExportCog(commands.Cog):
    def __init__(self, bot: BridgeBot) -> None:
        self.bot = bot
        usable_in_dms(self.export, bot.services.gate.allow_dms, user_installs=bot.services.gate.user_installs)

    @app_commands.command(
        name="export", description="Get this conversation's whole transcript as a file (only you see it)."
    )
    async def export(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)  # the store and names may take a moment
        in_place = reached_by_user_install(interaction)  # there the conversation is the member's own
        if not in_place and (why := member_refusal(interaction, READ, EXPORT)):  # the channel's history
            await refuse(interaction, why)
            return
        services = self.bot.services
        session = await services.store.active_session(conversation_key(interaction))
        if session is None:
            await refuse(interaction, NO_CONVERSATION)
            return
        try:
            await services.gate.check_talk(interaction_member(interaction), session)
        except Refused as exc:
            await refuse(interaction, str(exc))
            return
        entries = await services.store.transcript(session.id)
        people = {session.started_by, *(entry.author_id for entry in entries if entry.author_id is not None)}
        people |= {entry.extras["stopped_by"] for entry in entries if isinstance(entry.extras.get("stopped_by"), int)}
        provider = services.conversations.providers.get(session.provider)
        conversation = ExportedConversation(
            channel_id=session.channel_id,
            provider=services.conversations.describe(session),
            bot_name=provider.display_name if provider else session.provider,
            started_at=session.started_at,
            started_by=session.started_by,
            entries=entries,
            names=await self._names(interaction, people),
            exported_at=time.time(),
        )
        limit = interaction.filesize_limit or DEFAULT_UPLOAD_LIMIT_BYTES
        files = export_files(conversation, limit)
        await self._send(interaction, session, files, limit, len(entries))

    async def _send(
        self,
        interaction: discord.Interaction,
        session: SessionRecord,
        files: Sequence[ExportFile],
        limit: int,
        entries: int,
    ) -> None:
        """The files, 10 to a message: the first message fills the deferred answer, the rest follow it."""
        groups = batches(files, max_bytes=max(limit, MAX_REQUEST_BYTES))
        sent = 0
        try:
            for group in groups:
                await interaction.followup.send(
                    _caption(sent, len(group), len(files), entries),
                    files=[discord.File(io.BytesIO(file.data), filename=file.name) for file in group],
                    ephemeral=True,
                    allowed_mentions=NO_PINGS,
                )
                sent += len(group)
        except discord.HTTPException:
            log.warning(
                "session %d: /export could not send part %d of %d", session.id, sent + 1, len(files), exc_info=True
            )
            await refuse(interaction, NOT_SENT)
            return
        log.info("session %d exported: %d entries in %d file(s)", session.id, entries, len(files))

    async def _names(self, interaction: discord.Interaction, ids: Iterable[int]) -> dict[int, str]:
        """Display names: the member asking, the cache, then Discord for a few; the rest stay unnamed."""
        names = {interaction.user.id: interaction.user.display_name}
        guild = interaction.guild
        unknown = []
        for member_id in sorted(set(ids) - names.keys()):
            known = (guild.get_member(member_id) if guild else None) or self.bot.get_user(member_id)
            if known is not None:
                names[member_id] = known.display_name
            else:
                unknown.append(member_id)
        for member_id in unknown[:NAMES_FETCHED]:
            try:
                found = await guild.fetch_member(member_id) if guild else await self.bot.fetch_user(member_id)
            except discord.NotFound:
                continue  # left the server, or the account is gone
            except discord.HTTPException:
                log.warning("could not look up member %d for /export", member_id, exc_info=True)
                continue
            names[member_id] = found.display_name
        return names


def _caption(sent: int, count: int, total: int, entries: int) -> str:
    """What the message with files `sent + 1`... says (of `total` files)."""
    what = f"This conversation's transcript ({entries} {'entry' if entries == 1 else 'entries'})"
    if total == 1:
        return f"{what}, for you only."
    if not sent:
        return f"{what} is too big for one file: here it is in {total} parts" + (
            f", parts 1 to {count} in this message and the rest just below." if count < total else "."
        )
    return f"Parts {sent + 1} to {sent + count} of {total}." if count > 1 else f"Part {sent + 1} of {total}."


async def setup(bot: BridgeBot) -> None:
    await bot.add_cog(ExportCog(bot))
