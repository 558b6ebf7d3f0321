"""Clicks on offered choices (buttons, select menus) become the member's next turn, also after a restart."""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

import discord
from discord.ext import commands

from bot.command_tree import answers_failures, update_message
from bot.core.conversations import AlreadyHandled, UnusablePick
from bot.core.gate import Refused
from bot.members.permissions import SEND
from bot.providers.base import Pick
from bot.replies.permissions import cannot_answer
from bot.replies.widgets import (
    OFFER_BUTTON_ID,
    OFFER_BUTTON_TEMPLATE,
    OFFER_MENU_ID,
    OFFER_MENU_TEMPLATE,
    closed_layout,
    offer_button_in,
    offer_index_in,
    offer_menu_in,
)
from bot.replies.writes import NO_PINGS
from cogs.common.members import interaction_member, speaking_refusal
from cogs.common.private import by_interaction
from cogs.common.turns import reply_in, speaker
from cogs.common.wording import NO_CONVERSATION, display, refuse

if TYPE_CHECKING:
    from bot.app import BridgeBot

log = logging.getLogger(__name__)

REASON_MAX_CHARS = 1000
NO_OFFER = ""
"""The token a malformed custom_id is read as: no offer has it, so the click gets the private "moved on" note."""


class OfferButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=OFFER_BUTTON_TEMPLATE):
    """Rebuilt from its custom_id alone: what the choice means lives in the session state in SQLite."""

    def __init__(self, token: str, index: int) -> None:
        super().__init__(discord.ui.Button(custom_id=OFFER_BUTTON_ID.format(token=token, index=index)))
        self.token, self.index = token, index

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> OfferButton:
        token, index = offer_button_in(match["tail"]) or (NO_OFFER, 0)
        return cls(token, index)

    @answers_failures
    async def callback(self, interaction: discord.Interaction) -> None:
        await choose(interaction, self.token, self.index)


class OfferMenu(discord.ui.DynamicItem[discord.ui.Select[Any]], template=OFFER_MENU_TEMPLATE):
    """A select menu of choices (used past 25); the chosen option's value is the choice's index."""

    def __init__(self, token: str, menu: int) -> None:
        super().__init__(discord.ui.Select(custom_id=OFFER_MENU_ID.format(token=token, menu=menu)))
        self.token = token

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> OfferMenu:
        token, menu = offer_menu_in(match["token"], match["menu"]) or (NO_OFFER, 0)
        return cls(token, menu)

    @answers_failures
    async def callback(self, interaction: discord.Interaction) -> None:
        values = self.item.values
        index = offer_index_in(values[0]) if len(values) == 1 else None
        if index is None:
            await interaction.response.send_message("Pick one of the listed choices.", ephemeral=True)
            return
        await choose(interaction, self.token, index)


class ReasonModal(discord.ui.Modal, title="Tell the agent why"):
    """Asked before a choice that needs a reason (Reject): the reason is what gets sent."""

    reason: discord.ui.TextInput[Any] = discord.ui.TextInput(
        label="Reason", style=discord.TextStyle.paragraph, max_length=REASON_MAX_CHARS
    )

    def __init__(self, token: str, index: int, label: str) -> None:
        super().__init__(timeout=600)
        self.token, self.index, self.label = token, index, label

    @answers_failures
    async def on_submit(self, interaction: discord.Interaction) -> None:
        await run_pick(interaction, Pick(self.token, self.index, self.label, self.reason.value.strip() or None))


async def choose(interaction: discord.Interaction, token: str, index: int) -> None:
    """Check the choice is still open and the member may speak here, ask for a reason if it needs one, then
    run it as a turn."""
    bot: BridgeBot = interaction.client  # type: ignore[assignment]
    conversations = bot.services.conversations
    channel_id = interaction.channel_id or 0
    try:
        label, needs_reason = await conversations.choices.check(
            channel_id, token, index, interaction.user.id, interaction.id
        )
        if why := await speaking_refusal(bot, interaction, SEND):  # slowmode looked at, spent by `run_pick`
            raise Refused(why)
        session = await bot.services.store.active_session(channel_id)
        if session is not None:  # a choice is the member talking to the AI, without the cooldown
            await bot.services.gate.admit_turn(interaction_member(interaction), session, cooldown=False, touch=False)
    except AlreadyHandled:
        return
    except (UnusablePick, Refused) as exc:
        await refuse(interaction, str(exc))
        return
    why = cannot_answer(interaction.channel, f"<#{channel_id}>", granted=interaction.app_permissions)
    if why is not None:
        log.warning("cannot answer a choice in channel %d: %s", channel_id, why)
        await refuse(interaction, why)
        return
    if needs_reason:
        await interaction.response.send_modal(ReasonModal(token, index, label))
        return
    await run_pick(interaction, Pick(token, index, label))


async def run_pick(interaction: discord.Interaction, pick: Pick) -> None:
    """Take the choice (once, however often it is clicked), close the offer in place (buttons disabled,
    who chose what) and answer it as the member's turn; a repeat click only gets a private note.

    The member's permissions are checked again (a reason's modal is a later interaction) and the slowmode
    spent before the choice is taken: a taken choice cannot be given back."""
    bot: BridgeBot = interaction.client  # type: ignore[assignment]
    if why := await speaking_refusal(bot, interaction, SEND, take=True):
        await refuse(interaction, why)
        return
    try:
        await bot.services.conversations.choices.claim(
            interaction.channel_id or 0, pick.token, pick.index, interaction.user.id, interaction.id
        )
    except AlreadyHandled:
        return
    except UnusablePick as exc:
        await refuse(interaction, str(exc))
        return
    chosen = f"✅ **{display(interaction.user)}** chose: {pick.label}" + (f"\n> {pick.reason}" if pick.reason else "")
    message = interaction.message
    if message is not None and message.flags.components_v2:  # choices shown as sections (bot/replies/widgets.py)
        await update_message(interaction, view=closed_layout(message, chosen))
    elif message is not None:
        prompt = message.content.split("\n✅", 1)[0]
        await update_message(interaction, content=f"{prompt}\n{chosen}"[:2000], view=_disabled(message))
    elif interaction.response.is_done():
        await interaction.followup.send(chosen, allowed_mentions=NO_PINGS)
    else:
        await interaction.response.send_message(chosen, allowed_mentions=NO_PINGS)
    session = await bot.services.store.active_session(interaction.channel_id or 0)
    channel = interaction.channel
    if session is None or not isinstance(channel, discord.abc.Messageable):
        await interaction.followup.send(NO_CONVERSATION, ephemeral=True)
        return
    note = by_interaction(interaction)
    member, said = speaker(interaction.user), pick.reason or pick.label
    await reply_in(bot, channel, session, member, said, note=note, pick=pick, interaction=interaction)


def _disabled(message: discord.Message) -> discord.ui.View:
    view = discord.ui.View.from_message(message, timeout=None)
    for item in view.children:
        if isinstance(item, discord.ui.Button | discord.ui.Select):
            item.disabled = True
    view.stop()
    return view


class OffersCog(commands.Cog):
    def __init__(self, bot: BridgeBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(OfferButton, OfferMenu)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(OfferButton, OfferMenu)


async def setup(bot: BridgeBot) -> None:
    await bot.add_cog(OffersCog(bot))
