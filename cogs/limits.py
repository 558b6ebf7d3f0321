"""`/limits`: a server's managers set quotas on turns and characters per member, role and server, its timezone, and
whether managers are exempt; every answer is private."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.config.usage_settings import MAX_QUOTA
from bot.core.quota_rules import EVERY_MEMBER, ROLE_PREFIX, WHOLE_SERVER, zone
from bot.store import QuotaRule
from cogs.common.chat_command import usable_in_dms
from cogs.common.members import managed_guild
from cogs.common.usage_view import describe_limits
from cogs.common.wording import refuse

if TYPE_CHECKING:
    from bot.app import BridgeBot

log = logging.getLogger(__name__)

MANAGERS_ONLY = "Only members who can manage this server may change its limits."
ALL_PROVIDERS = "all"
Who = Literal["member", "role", "server"]
WHO = [
    app_commands.Choice(name="Each member", value="member"),
    app_commands.Choice(name="Each member with a role", value="role"),
    app_commands.Choice(name="The whole server", value="server"),
]
PERIOD = [app_commands.Choice(name="Per day", value="day"), app_commands.Choice(name="Per month", value="month")]


class LimitsCog(commands.Cog):
    def __init__(self, bot: BridgeBot) -> None:
        self.bot = bot
        providers = bot.services.conversations.providers
        self.names = {key: provider.display_name for key, provider in providers.items()}
        self._group = self._limits_group()

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self._group)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self._group.name)

    def _limits_group(self) -> app_commands.Group:
        group = app_commands.Group(
            name="limits",
            description="Quotas on how much members may use the AI here (server managers).",
            default_permissions=discord.Permissions(manage_guild=True),
        )
        usable_in_dms(group, allowed=False)
        providers = [app_commands.Choice(name="All providers", value=ALL_PROVIDERS)]
        providers += [app_commands.Choice(name=name, value=key) for key, name in self.names.items()]

        @app_commands.command(name="show", description="Show this server's quotas, timezone and exemptions.")
        async def show(interaction: discord.Interaction) -> None:
            await self.show(interaction)

        @app_commands.command(name="set", description="Set a quota on turns and/or characters.")
        @app_commands.describe(
            who="Whom the quota is for",
            period="Counted per day or per month (in the server's timezone)",
            turns="Turns allowed in the period",
            characters="Characters (sent and received) allowed in the period",
            role="The role, when the quota is for members with a role (the most generous role applies)",
            provider="Count only one provider's turns (default: all)",
        )
        @app_commands.choices(who=WHO, period=PERIOD, provider=providers)
        async def set_(
            interaction: discord.Interaction,
            who: app_commands.Choice[str],
            period: app_commands.Choice[str],
            turns: app_commands.Range[int, 1, MAX_QUOTA] | None = None,
            characters: app_commands.Range[int, 1, MAX_QUOTA] | None = None,
            role: discord.Role | None = None,
            provider: app_commands.Choice[str] | None = None,
        ) -> None:
            await self.change(interaction, who.value, period.value, role, provider, turns, characters)

        @app_commands.command(name="clear", description="Remove a quota.")
        @app_commands.describe(who="Whom it was for", period="Its period", role="Its role", provider="Its provider")
        @app_commands.choices(who=WHO, period=PERIOD, provider=providers)
        async def clear(
            interaction: discord.Interaction,
            who: app_commands.Choice[str],
            period: app_commands.Choice[str],
            role: discord.Role | None = None,
            provider: app_commands.Choice[str] | None = None,
        ) -> None:
            await self.change(interaction, who.value, period.value, role, provider, None, None, clear=True)

        commands_: tuple[app_commands.Command[LimitsCog, ..., None], ...] = (
            show,
            set_,
            clear,
            *self._server_commands(),
        )
        for command in commands_:
            group.add_command(command)
        return group

    def _server_commands(self) -> tuple[app_commands.Command[LimitsCog, ..., None], ...]:
        """`/limits timezone` and `/limits managers`: how the server's quotas count."""

        @app_commands.command(name="timezone", description="The timezone days and months are counted in.")
        @app_commands.describe(name="An IANA timezone such as Europe/Warsaw or America/New_York (UTC: the default)")
        async def timezone(interaction: discord.Interaction, name: app_commands.Range[str, 1, 64]) -> None:
            await self.set_timezone(interaction, name)

        @app_commands.command(name="managers", description="Whether server managers skip member quotas.")
        @app_commands.describe(exempt="True: managers are not held to member quotas (server quotas still count)")
        async def managers(interaction: discord.Interaction, exempt: bool) -> None:
            await self.set_exempt(interaction, exempt)

        return timezone, managers

    async def show(self, interaction: discord.Interaction, heading: str = "") -> None:
        guild_id = await self._managed_guild(interaction)
        if guild_id is None:
            return
        quotas = self.bot.services.quotas
        text = describe_limits(
            await quotas.rules(guild_id), await self.bot.services.gate.rules(guild_id), quotas.settings, self.names
        )
        await interaction.response.send_message(
            (heading + "\n" if heading else "") + text,
            ephemeral=True,
            allowed_mentions=discord.AllowedMentions.none(),
        )

    async def change(
        self,
        interaction: discord.Interaction,
        who: str,
        period: str,
        role: discord.Role | None,
        provider: app_commands.Choice[str] | None,
        turns: int | None,
        characters: int | None,
        *,
        clear: bool = False,
    ) -> None:
        guild_id = await self._managed_guild(interaction)
        if guild_id is None:
            return
        if who == "role" and role is None:
            await refuse(interaction, "Pick the `role` this quota is for.")
            return
        if not clear and turns is None and characters is None:
            await refuse(interaction, "Give `turns`, `characters` or both.")
            return
        target = (
            f"{ROLE_PREFIX}{role.id}" if who == "role" and role else EVERY_MEMBER if who == "member" else WHOLE_SERVER
        )
        key = "" if provider is None or provider.value == ALL_PROVIDERS else provider.value
        quotas = self.bot.services.quotas
        if clear:
            done = await quotas.clear_rule(guild_id, target, key, period)
            heading = "Removed." if done else "There was no such quota."
        else:
            rule = QuotaRule(guild_id, target, key, period, turns, characters)
            await quotas.set_rule(rule, by=interaction.user.id)
            heading = "Saved."
        log.info(
            "guild %d: %d %s a %s %s quota",
            guild_id,
            interaction.user.id,
            "cleared" if clear else "set",
            target,
            period,
        )
        await self.show(interaction, heading)

    async def set_timezone(self, interaction: discord.Interaction, name: str) -> None:
        guild_id = await self._managed_guild(interaction)
        if guild_id is None:
            return
        try:
            zone(name.strip())
        except ValueError:
            await refuse(interaction, "That is not a timezone this bot knows; try a name like `Europe/Warsaw`.")
            return
        value = None if name.strip().upper() == "UTC" else name.strip()
        await self.bot.services.gate.change_setting(guild_id, "timezone", value)
        await self.show(interaction, f"Days and months now count in {value or 'UTC'}.")

    async def set_exempt(self, interaction: discord.Interaction, exempt: bool) -> None:
        guild_id = await self._managed_guild(interaction)
        if guild_id is None:
            return
        await self.bot.services.gate.change_setting(guild_id, "quota_exempt_managers", exempt)
        await self.show(interaction, "Managers skip member quotas." if exempt else "Managers count like everyone.")

    async def _managed_guild(self, interaction: discord.Interaction) -> int | None:
        """The server's id when the member may manage it; otherwise refuse (privately) and None."""
        return await managed_guild(interaction, outside="Limits are set in the server.", not_manager=MANAGERS_ONLY)


async def setup(bot: BridgeBot) -> None:
    await bot.add_cog(LimitsCog(bot))
