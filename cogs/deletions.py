"""A deleted thread or channel ends its conversation at once: the reply stops and nothing more is sent there."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord.ext import commands

if TYPE_CHECKING:
    from bot.app import BridgeBot

log = logging.getLogger(__name__)


class DeletionsCog(commands.Cog):
    def __init__(self, bot: BridgeBot) -> None:
        self.bot = bot

    @commands.Cog.listener()
    async def on_raw_thread_delete(self, payload: discord.RawThreadDeleteEvent) -> None:
        """THREAD_DELETE (gateway-events.mdx "Thread Delete")."""
        await self.bot.services.conversations.channel_gone(payload.thread_id)

    @commands.Cog.listener()
    async def on_guild_channel_delete(self, channel: discord.abc.GuildChannel) -> None:
        """CHANNEL_DELETE ends the channel's own conversation (a bound channel in channel mode). Discord
        sends nothing for its threads, but discord.py dispatches a raw thread delete for each it had cached."""
        await self.bot.services.conversations.channel_gone(channel.id)


async def setup(bot: BridgeBot) -> None:
    await bot.add_cog(DeletionsCog(bot))
