"""Clicks on suggestion buttons become the member's next turn, also for buttons posted before a restart."""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

import discord
from discord.ext import commands

from bot.render import SUGGESTION_ID
from cogs._turns import reply_in, speaker
from cogs._wording import display

if TYPE_CHECKING:
    from bot.app import BridgeBot

log = logging.getLogger(__name__)

STALE = "These suggestions belong to a conversation that has ended or started over. Type your message instead."
TAKEN = "Someone already picked one of these suggestions."
_TEMPLATE = (
    re.escape(SUGGESTION_ID).replace(r"\{token\}", r"(?P<token>[0-9a-f]{8})").replace(r"\{index\}", r"(?P<index>[0-4])")
)


class SuggestionButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=_TEMPLATE):
    """Rebuilt from its custom_id alone; the suggestion's text lives in the session state in SQLite."""

    def __init__(self, token: str, index: int, label: str | None = None) -> None:
        custom_id = SUGGESTION_ID.format(token=token, index=index)
        super().__init__(discord.ui.Button(label=label or "…", custom_id=custom_id))
        self.token = token
        self.index = index

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> SuggestionButton:
        label = item.label if isinstance(item, discord.ui.Button) else None
        return cls(match["token"], int(match["index"]), label)

    async def callback(self, interaction: discord.Interaction) -> None:
        bot: BridgeBot = interaction.client  # type: ignore[assignment]
        conversations = bot.services.conversations
        channel = interaction.channel
        session = await conversations.active(interaction.channel_id or 0)
        offer = session.state.get("starters") if session else None
        items = offer.get("items", []) if isinstance(offer, dict) else []
        if (
            session is None
            or not isinstance(offer, dict)
            or offer.get("token") != self.token
            or self.index >= len(items)
        ):
            await interaction.response.send_message(STALE, ephemeral=True)
            return
        if offer.get("taken_by"):
            await interaction.response.send_message(TAKEN, ephemeral=True)
            return
        await conversations.remember(session, {"starters": {**offer, "taken_by": interaction.user.id}})
        text = str(items[self.index])
        await interaction.response.edit_message(
            content=f"💬 {display(interaction.user)} asked: {text}", view=_disabled(interaction.message)
        )
        if isinstance(channel, discord.abc.Messageable):
            await reply_in(bot, channel, session, speaker(interaction.user), text)


def _disabled(message: discord.Message | None) -> discord.ui.View | None:
    if message is None:
        return None
    view = discord.ui.View.from_message(message, timeout=None)
    for item in view.children:
        if isinstance(item, discord.ui.Button):
            item.disabled = True
    view.stop()
    return view


class SuggestionsCog(commands.Cog):
    def __init__(self, bot: BridgeBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(SuggestionButton)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(SuggestionButton)


async def setup(bot: BridgeBot) -> None:
    await bot.add_cog(SuggestionsCog(bot))
