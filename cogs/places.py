"""The Reply button under an answer in a place reached through a member's own install, and the form it opens.

Both are understood from their custom_id alone (`place-reply:<member>`, `place-reply-form:<member>`), so a Reply
clicked, or a form sent, after a restart still continues the member's conversation (bot/core/places.py keys it
by channel and member). Only that member may continue it; anyone else is told privately to run `/chat`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import discord
from discord.ext import commands

from bot.command_tree import answers_failures
from bot.replies.widgets import reply_id_in
from cogs.common.place_chat import NOT_YOURS, PLACE_ENDED, continue_in_place
from cogs.common.places import REPLY_BUTTON_ID, conversation_key
from cogs.common.wording import refuse

if TYPE_CHECKING:
    from bot.app import BridgeBot

log = logging.getLogger(__name__)

FORM_ID = "place-reply-form:{owner_id}"
FORM_PREFIX = "place-reply-form:"
MESSAGE_FIELD_ID = "message"
MESSAGE_MAX_CHARS = 4000
"""A Text Input holds at most 4,000 characters (components/reference.mdx "Text Input")."""
MAX_DEPTH = 4
"""How deep a submitted form's components are searched (a Label holds its component one level down)."""


def owner_in(text: str) -> int | None:
    """The member id a Reply custom_id names, from the text after its prefix (canonical decimal); else None."""
    return reply_id_in(text)


def submitted_text(data: Mapping[str, Any] | None, field_id: str = MESSAGE_FIELD_ID) -> str | None:
    """The value of the text input `field_id` in a submitted form's `data` (interactions.mdx "Modal Submit Data
    Structure"), searched at most MAX_DEPTH levels deep; None when it is missing or not text (a hostile or
    malformed submission), else at most MESSAGE_MAX_CHARS characters."""
    components = data.get("components") if isinstance(data, Mapping) else None
    found = _find(components, field_id, MAX_DEPTH)
    return found[:MESSAGE_MAX_CHARS] if found is not None else None


def _find(node: object, field_id: str, depth: int) -> str | None:
    if depth < 0:
        return None
    if isinstance(node, Mapping):
        if node.get("custom_id") == field_id and isinstance(node.get("value"), str):
            return str(node["value"])
        return _find(node.get("component") or node.get("components"), field_id, depth - 1)
    if isinstance(node, Sequence) and not isinstance(node, str | bytes):
        for item in node[:5]:  # a form holds at most 5 top-level components
            if (found := _find(item, field_id, depth - 1)) is not None:
                return found
    return None


class ReplyForm(discord.ui.Modal):
    """The form a Reply opens: one long text field. Its submission is answered by `PlacesCog.on_interaction`
    from the custom_id (also after a restart), so `on_submit` here does nothing."""

    def __init__(self, owner_id: int) -> None:
        super().__init__(title="Reply", custom_id=FORM_ID.format(owner_id=owner_id), timeout=None)
        field: discord.ui.TextInput[ReplyForm] = discord.ui.TextInput(
            style=discord.TextStyle.paragraph, custom_id=MESSAGE_FIELD_ID, max_length=MESSAGE_MAX_CHARS
        )
        self.add_item(discord.ui.Label(text="Your message", component=field))

    async def on_submit(self, interaction: discord.Interaction, /) -> None:
        """Answered by the cog's listener, which also takes forms sent after a restart."""
        return


class ReplyButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"place-reply:(?P<owner>(?s:.*))"):
    """Reply under an answer in a place: opens the form for the next message of the member's conversation."""

    def __init__(self, owner_id: int) -> None:
        super().__init__(discord.ui.Button(custom_id=REPLY_BUTTON_ID.format(owner_id=owner_id)))
        self.owner_id = owner_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: Any, /
    ) -> ReplyButton:
        return cls(owner_in(match["owner"]) or 0)

    @answers_failures
    async def callback(self, interaction: discord.Interaction) -> None:
        if interaction.user.id != self.owner_id:
            await refuse(interaction, NOT_YOURS.format(owner_id=self.owner_id))
            return
        bot: BridgeBot = interaction.client  # type: ignore[assignment]
        if await bot.services.store.active_session(conversation_key(interaction, self.owner_id)) is None:
            await refuse(interaction, PLACE_ENDED)
            return
        await interaction.response.send_modal(ReplyForm(self.owner_id))


class PlacesCog(commands.Cog):
    def __init__(self, bot: BridgeBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(ReplyButton)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(ReplyButton)

    @commands.Cog.listener()
    async def on_interaction(self, interaction: discord.Interaction) -> None:
        """A Reply form sent (also one opened before a restart): the next turn of the member's conversation."""
        if interaction.type is not discord.InteractionType.modal_submit:
            return
        data: Mapping[str, Any] = dict(interaction.data or {})
        if str(data.get("custom_id", "")).startswith(FORM_PREFIX):
            await self._sent(interaction)

    @answers_failures
    async def _sent(self, interaction: discord.Interaction) -> None:
        data: Mapping[str, Any] = dict(interaction.data or {})
        tail = str(data.get("custom_id", "")).removeprefix(FORM_PREFIX)
        owner_id = owner_in(tail)
        text = submitted_text(data)
        if owner_id is None or text is None:
            log.warning("a Reply form came back malformed (%r)", tail[:40])
            await refuse(interaction, "That form could not be read; press Reply again.")
            return
        await continue_in_place(self.bot, interaction, owner_id, text)


async def setup(bot: BridgeBot) -> None:
    await bot.add_cog(PlacesCog(bot))
