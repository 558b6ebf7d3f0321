"""`/usage`: a member sees what they used today and this month and what is left; a manager can see the server's
totals by provider, a chart of the last 30 days and who used most. Every answer is private."""

from __future__ import annotations

import datetime as dt
import io
import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.replies.usage_chart import render_usage_chart
from cogs.common.chat_command import usable_in_dms
from cogs.common.members import asker_of, managed_guild
from cogs.common.usage_view import describe_server_usage, describe_standing

if TYPE_CHECKING:
    from bot.app import BridgeBot

log = logging.getLogger(__name__)

CHART_DAYS = 30
TOP_MEMBERS = 5
MANAGERS_ONLY = "Only members who can manage this server may see its usage."


class UsageCog(commands.Cog):
    def __init__(self, bot: BridgeBot) -> None:
        self.bot = bot
        providers = bot.services.conversations.providers
        self.names = {key: provider.display_name for key, provider in providers.items()}
        usable_in_dms(self.usage, bot.services.gate.allow_dms, user_installs=bot.services.gate.user_installs)

    @app_commands.command(name="usage", description="How much you have used the AI here, and what is left.")
    @app_commands.describe(server="Managers: the whole server's use, by provider and by day, and who used most")
    async def usage(self, interaction: discord.Interaction, server: bool = False) -> None:
        if server:
            await self.server_usage(interaction)
        else:
            await self.own_usage(interaction)

    async def own_usage(self, interaction: discord.Interaction) -> None:
        standing = await self.bot.services.quotas.standing(asker_of(interaction))
        await interaction.response.send_message(
            describe_standing(standing, self.names), ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
        )

    async def server_usage(self, interaction: discord.Interaction) -> None:
        guild_id = await managed_guild(
            interaction, outside="Server usage is shown in the server.", not_manager=MANAGERS_ONLY
        )
        if guild_id is None:
            return
        await interaction.response.defer(ephemeral=True, thinking=True)  # the chart takes a moment to draw
        quotas, usage = self.bot.services.quotas, self.bot.services.store.usage
        when = await quotas.today(guild_id)
        days = _last_days(when.day, CHART_DAYS)
        month_start = f"{when.month}-01"
        by_provider = await usage.totals(guild_id=guild_id, since_day=month_start, group_by=("provider",))
        top = await usage.totals(guild_id=guild_id, since_day=month_start, group_by=("member_id",))
        top = sorted(top, key=lambda row: -row.turns)[:TOP_MEMBERS]
        daily = await usage.totals(guild_id=guild_id, since_day=days[0], group_by=("day", "provider"))
        series = {key: [0] * len(days) for key in self.names}  # registry order: each provider keeps its colour
        for row in daily:
            if row.day in days and row.provider:
                series.setdefault(row.provider, [0] * len(days))[days.index(row.day)] += row.turns
        title = f"Turns a day, last {CHART_DAYS} days"
        png = await render_usage_chart(days, series, title=title, labels=self.names)
        await interaction.followup.send(
            describe_server_usage(by_provider, top, self.names),
            file=discord.File(io.BytesIO(png), filename="usage.png"),
            ephemeral=True,
            allowed_mentions=discord.AllowedMentions.none(),
        )


def _last_days(today: str, n: int) -> list[str]:
    """The `n` days ending with `today` ("YYYY-MM-DD"), oldest first."""
    end = dt.date.fromisoformat(today)
    return [(end - dt.timedelta(days=n - 1 - i)).isoformat() for i in range(n)]


async def setup(bot: BridgeBot) -> None:
    await bot.add_cog(UsageCog(bot))
