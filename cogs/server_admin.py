"""`/access` and `/settings`: a server's managers decide who may do what, its limits and its default provider."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.config.settings import MAX_COOLDOWN_S
from bot.core.server_rules import Grant, abilities
from bot.replies.splitting import split_message
from cogs.common.chat_command import usable_in_dms
from cogs.common.members import managed_guild
from cogs.common.server_view import describe_ability, describe_rules

if TYPE_CHECKING:
    from bot.app import BridgeBot

log = logging.getLogger(__name__)

MANAGERS_ONLY = "Only members who can manage this server may change its AI settings."
NO_DEFAULT = "-"
MAX_CAP = 10_000
Mentionable = discord.Member | discord.User | discord.Role


class ServerAdminCog(commands.Cog):
    def __init__(self, bot: BridgeBot) -> None:
        self.bot = bot
        providers = bot.services.conversations.providers
        self.names = {key: provider.display_name for key, provider in providers.items()}
        self.abilities = abilities(self.names)
        self._access = self._access_group()
        self._settings = self._settings_command()

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self._access)
        self.bot.tree.add_command(self._settings)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self._access.name)
        self.bot.tree.remove_command(self._settings.name)

    # ---- /access -------------------------------------------------------------------------------

    def _access_group(self) -> app_commands.Group:
        group = app_commands.Group(
            name="access",
            description="Choose who may use the AI here, by role or member (server managers).",
            default_permissions=discord.Permissions(manage_guild=True),
        )
        usable_in_dms(group, allowed=False)
        what = [app_commands.Choice(name=label, value=key) for key, label in self.abilities.items()]

        @app_commands.command(name="allow", description="Add a role or member to who may do something.")
        @app_commands.describe(what="What they may do", who="A role (or @everyone) or a member")
        @app_commands.choices(what=what)
        async def allow(interaction: discord.Interaction, what: app_commands.Choice[str], who: Mentionable) -> None:
            await self.change_access(interaction, what.value, who, add=True)

        @app_commands.command(name="remove", description="Take a role or member off who may do something.")
        @app_commands.describe(what="What they may no longer do", who="The role or member to take off")
        @app_commands.choices(what=what)
        async def remove(interaction: discord.Interaction, what: app_commands.Choice[str], who: Mentionable) -> None:
            await self.change_access(interaction, what.value, who, add=False)

        @app_commands.command(name="clear", description="Empty a list, back to the default (see /settings).")
        @app_commands.describe(what="Which list to empty")
        @app_commands.choices(what=what)
        async def clear(interaction: discord.Interaction, what: app_commands.Choice[str]) -> None:
            await self.clear_access(interaction, what.value)

        commands_: tuple[app_commands.Command[ServerAdminCog, ..., None], ...] = (allow, remove, clear)
        for command in commands_:
            group.add_command(command)
        return group

    async def change_access(
        self, interaction: discord.Interaction, ability: str, who: Mentionable, *, add: bool
    ) -> None:
        guild_id = await self._managed_guild(interaction)
        if guild_id is None or ability not in self.abilities:
            return
        gate = self.bot.services.gate
        grant = Grant(who.id, "role" if isinstance(who, discord.Role) else "user")
        if add:
            changed = await gate.grant(guild_id, ability, grant, by=interaction.user.id)
        else:
            changed = await gate.revoke(guild_id, ability, who.id)
        log.info(
            "guild %d: %d %s %s %d for %s", guild_id, interaction.user.id, "allowed" if add else "removed",
            grant.kind, grant.target_id, ability,
        )  # fmt: skip
        current = describe_ability(ability, self.abilities[ability], await gate.rules(guild_id))
        if add:
            note = "Added." if changed else f"{who.mention} was already on that list."
        else:
            note = "Removed." if changed else f"{who.mention} was not on that list."
        await interaction.response.send_message(f"{note}\n{current}", ephemeral=True)

    async def clear_access(self, interaction: discord.Interaction, ability: str) -> None:
        guild_id = await self._managed_guild(interaction)
        if guild_id is None or ability not in self.abilities:
            return
        removed = await self.bot.services.gate.clear(guild_id, ability)
        log.info("guild %d: %d cleared the list for %s", guild_id, interaction.user.id, ability)
        rules = await self.bot.services.gate.rules(guild_id)
        current = describe_ability(ability, self.abilities[ability], rules)
        await interaction.response.send_message(f"Removed {removed} from the list.\n{current}", ephemeral=True)

    # ---- /settings -----------------------------------------------------------------------------

    def _settings_command(self) -> app_commands.Command[ServerAdminCog, ..., None]:
        providers = [app_commands.Choice(name=name, value=key) for key, name in self.names.items()]
        providers.append(app_commands.Choice(name="No default", value=NO_DEFAULT))

        @app_commands.command(name="settings", description="Show or change how this server uses the AI (managers).")
        @app_commands.describe(
            default_provider="Who answers /chat when neither the member nor the channel picks one",
            cooldown="Seconds each member waits between messages to the AI (0: no wait)",
            max_conversations="Conversations going at once on this server (0: no limit)",
        )
        @app_commands.choices(default_provider=providers)
        @app_commands.guild_only()
        @app_commands.default_permissions(manage_guild=True)
        async def settings(
            interaction: discord.Interaction,
            default_provider: app_commands.Choice[str] | None = None,
            cooldown: app_commands.Range[float, 0.0, MAX_COOLDOWN_S] | None = None,
            max_conversations: app_commands.Range[int, 0, MAX_CAP] | None = None,
        ) -> None:
            await self.change_settings(
                interaction, default_provider.value if default_provider else None, cooldown, max_conversations
            )

        return settings

    async def change_settings(
        self,
        interaction: discord.Interaction,
        default_provider: str | None,
        cooldown: float | None,
        max_conversations: int | None,
    ) -> None:
        guild_id = await self._managed_guild(interaction)
        if guild_id is None:
            return
        gate = self.bot.services.gate
        changed = []
        if default_provider is not None:
            await gate.change_setting(
                guild_id, "default_provider", None if default_provider == NO_DEFAULT else default_provider
            )
            changed.append("default provider")
        if cooldown is not None:
            await gate.change_setting(guild_id, "cooldown_s", float(cooldown))
            changed.append("cooldown")
        if max_conversations is not None:
            await gate.change_setting(guild_id, "max_conversations", int(max_conversations))
            changed.append("conversation limit")
        if changed:
            log.info("guild %d: %d changed the %s", guild_id, interaction.user.id, ", ".join(changed))
        rules = await gate.rules(guild_id)
        view = describe_rules(rules, gate, self.names, self.abilities)
        heading = f"Changed the {' and '.join(changed)}.\n" if changed else ""
        first, *rest = split_message(heading + view)  # long allow-lists run past one message
        await interaction.response.send_message(first, ephemeral=True)
        for more in rest:
            await interaction.followup.send(more, ephemeral=True)

    async def _managed_guild(self, interaction: discord.Interaction) -> int | None:
        return await managed_guild(
            interaction, outside="Server settings are changed in the server.", not_manager=MANAGERS_ONLY
        )


async def setup(bot: BridgeBot) -> None:
    await bot.add_cog(ServerAdminCog(bot))
