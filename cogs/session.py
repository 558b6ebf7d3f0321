"""Session commands (`/end`, `/reset`, `/action`, `/session`, `/providers`), handed to the conversation core."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.conversations import JustChanged, NoActiveSession, UnusableOptions
from bot.core.gate import Refused
from bot.members.permissions import LOOK, SEE
from bot.replies.writes import NO_PINGS
from cogs.common.chat_command import usable_in_dms
from cogs.common.members import interaction_member, member_refusal
from cogs.common.wording import NO_CONVERSATION, display, refuse

if TYPE_CHECKING:
    from bot.app import BridgeBot


ALREADY_ENDED = "This conversation has just been ended. Start a new one with `/chat`."
JUST_RESET = "This conversation was just reset (nothing said since), so there is nothing more to forget."


class SessionCog(commands.Cog):
    def __init__(self, bot: BridgeBot) -> None:
        self.bot = bot
        for command in (self.end, self.reset, self.session, self.providers, self.action):
            usable_in_dms(command, bot.services.gate.allow_dms)

    async def _may_change(self, interaction: discord.Interaction) -> bool:
        """Changing a conversation is for its starter or whoever may end others' (refused otherwise), and only
        where they can see the channel."""
        if why := member_refusal(interaction, SEE, LOOK):
            await refuse(interaction, why)
            return False
        session = await self.bot.services.store.active_session(interaction.channel_id or 0)
        if session is None:
            await refuse(interaction, NO_CONVERSATION)
            return False
        try:
            await self.bot.services.gate.check_manage(interaction_member(interaction), session)
        except Refused as exc:
            await refuse(interaction, str(exc))
            return False
        return True

    @app_commands.command(name="end", description="End the conversation in this thread.")
    async def end(self, interaction: discord.Interaction) -> None:
        conversations = self.bot.services.conversations
        if not await self._may_change(interaction):
            return
        session = await conversations.end(interaction.channel_id or 0)
        if session is None:  # another /end got there a moment before this one
            await refuse(interaction, ALREADY_ENDED)
            return
        await interaction.response.send_message(
            f"Conversation with **{conversations.describe(session)}** ended by {display(interaction.user)}."
            " Start a new one with `/chat`.",
            allowed_mentions=NO_PINGS,
        )

    @app_commands.command(name="reset", description="Start over with a fresh session here, keeping the settings.")
    async def reset(self, interaction: discord.Interaction) -> None:
        conversations = self.bot.services.conversations
        if not await self._may_change(interaction):
            return
        try:
            session = await conversations.reset(interaction.channel_id or 0, by=interaction.user.id)
        except JustChanged:
            await refuse(interaction, JUST_RESET)
            return
        except (NoActiveSession, UnusableOptions) as exc:
            await refuse(interaction, NO_CONVERSATION if isinstance(exc, NoActiveSession) else str(exc))
            return
        await interaction.response.send_message(
            f"{display(interaction.user)} started a fresh session with **{conversations.describe(session)}**:"
            " earlier messages here are forgotten.",
            allowed_mentions=NO_PINGS,
        )

    @app_commands.command(name="session", description="Show what this thread's conversation is connected to.")
    async def session(self, interaction: discord.Interaction) -> None:
        if why := member_refusal(interaction, SEE, LOOK):
            await refuse(interaction, why)
            return
        info = await self.bot.services.conversations.info(interaction.channel_id or 0)
        if info is None:
            await refuse(interaction, NO_CONVERSATION)
            return
        lines = [
            f"**{info.provider}**",
            f"Started <t:{int(info.started_at)}:R> · {info.turns} message(s) from members",
            *(f"{label}: {value}" for label, value in info.details),
        ]
        await interaction.response.send_message("\n".join(lines), ephemeral=True)

    @app_commands.command(name="providers", description="List the AI services this bot offers and how they are doing.")
    async def providers(self, interaction: discord.Interaction) -> None:
        conversations = self.bot.services.conversations
        lines = []
        for key, provider in conversations.providers.items():
            last = conversations.turns.last_calls.get(key)
            if last is None:
                state = "no calls since the bot started"
            elif last.ok:
                state = f"answered <t:{int(last.at)}:R>"
            else:
                state = f"failed <t:{int(last.at)}:R>: {last.why}"
            lines.append(f"**{provider.display_name}**: {state}")
        await interaction.response.send_message("\n".join(lines) or "No providers are set up.", ephemeral=True)

    @app_commands.command(name="action", description="Soundverse: change what kind of help this thread asks for.")
    @app_commands.describe(action="What Soundverse should help with from now on")
    async def action(self, interaction: discord.Interaction, action: str) -> None:
        conversations = self.bot.services.conversations
        if not await self._may_change(interaction):
            return
        try:
            session = await conversations.change_setting(interaction.channel_id or 0, "action", action)
        except (NoActiveSession, UnusableOptions) as exc:
            await refuse(interaction, NO_CONVERSATION if isinstance(exc, NoActiveSession) else str(exc))
            return
        await interaction.response.send_message(
            f"{display(interaction.user)} switched this thread to **{conversations.describe(session)}**.",
            allowed_mentions=NO_PINGS,
        )

    @action.autocomplete("action")
    async def action_choices(self, interaction: discord.Interaction, typed: str) -> list[app_commands.Choice[str]]:
        labels = self.bot.services.conversations.setting_labels("action")
        needle = typed.lower()
        return [
            app_commands.Choice(name=label, value=value)
            for value, label in labels.items()
            if needle in value or needle in label.lower()
        ][:25]


async def setup(bot: BridgeBot) -> None:
    await bot.add_cog(SessionCog(bot))
