"""`/bind` and `/unbind`: server managers give a channel to a provider; thin adapters over the core."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, cast

import discord
from discord.ext import commands

from bot.core.conversations import UnusableOptions
from bot.core.gate import Refused
from bot.members.permissions import LOOK, SEE
from bot.replies.writes import NO_PINGS
from bot.store import Binding
from cogs.common.chat_command import Param, build_command, provider_param
from cogs.common.members import interaction_member, member_refusal
from cogs.common.wording import display, refuse

if TYPE_CHECKING:
    from bot.app import BridgeBot

MODES = {"thread": "A thread per message", "channel": "The channel is one shared conversation"}


class BindingsCog(commands.Cog):
    def __init__(self, bot: BridgeBot) -> None:
        self.bot = bot
        providers = list(bot.services.conversations.providers.values())
        params = [
            provider_param(providers, "Which AI service answers in this channel", required=True),
            Param("mode", "A thread per message (default), or the whole channel as one conversation", choices=MODES),
        ]
        self._bind = build_command(
            "bind",
            "Give this channel to an AI service (server managers, or whom they allow).",
            params,
            providers,
            self.run_bind,
            self.suggest,
        )
        self._unbind = build_command(
            "unbind",
            "Stop this channel answering with an AI service (server managers, or whom they allow).",
            [],
            [],
            self.run_unbind,
            self.suggest,
        )

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self._bind)
        self.bot.tree.add_command(self._unbind)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command("bind")
        self.bot.tree.remove_command("unbind")

    async def run_bind(self, interaction: discord.Interaction, values: dict[str, str | None]) -> None:
        channel = interaction.channel
        if not await self._may_bind(interaction):
            return
        if not isinstance(channel, discord.TextChannel) or interaction.guild_id is None:
            await refuse(interaction, "Bind a text channel (threads follow their channel).")
            return
        options = dict(values)
        provider, mode = options.pop("provider") or "", options.pop("mode") or "thread"
        conversations = self.bot.services.conversations
        try:
            conversations.prepare(provider, options)  # the same check /chat makes, now rather than later
        except (UnusableOptions, KeyError) as exc:
            await refuse(interaction, str(exc) if isinstance(exc, UnusableOptions) else "Unknown provider.")
            return
        binding = Binding(channel.id, interaction.guild_id, provider, cast(Literal["thread", "channel"], mode), options)
        await conversations.bind(binding, by=interaction.user.id)
        describe = conversations.describe_state(provider, conversations.prepare(provider, options))
        how = "each new message opens its own thread" if mode == "thread" else "the channel is one shared conversation"
        await interaction.response.send_message(
            f"{display(interaction.user)} gave this channel to **{describe}**: {how}.", allowed_mentions=NO_PINGS
        )

    async def run_unbind(self, interaction: discord.Interaction, values: dict[str, str | None]) -> None:
        if not await self._may_bind(interaction):
            return
        if not await self.bot.services.conversations.unbind(interaction.channel_id or 0):
            await refuse(interaction, "This channel is not bound to any provider.")
            return
        await interaction.response.send_message(
            f"{display(interaction.user)} unbound this channel; use `/chat` to talk here.", allowed_mentions=NO_PINGS
        )

    async def _may_bind(self, interaction: discord.Interaction) -> bool:
        """Managers, and members the server's `/access` list allows (refused otherwise), in a channel they can see
        (no option names another channel: `tests/members/test_member_permissions.py` keeps it so)."""
        if interaction.guild_id is None:
            await refuse(interaction, "Bind a channel of a server.")
            return False
        if why := member_refusal(interaction, SEE, LOOK):
            await refuse(interaction, why)
            return False
        try:
            await self.bot.services.gate.check_bind(interaction.guild_id, interaction_member(interaction))
        except Refused as exc:
            await refuse(interaction, str(exc))
            return False
        return True

    async def suggest(
        self, interaction: discord.Interaction, option: str, typed: str
    ) -> list[discord.app_commands.Choice[str]]:
        cog = self.bot.get_cog("ChatCog")
        suggest = getattr(cog, "suggest", None)
        return await suggest(interaction, option, typed) if suggest else []


async def setup(bot: BridgeBot) -> None:
    await bot.add_cog(BindingsCog(bot))
