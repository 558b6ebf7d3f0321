"""Places the bot reaches only through a member's own install (bot/core/places.py), seen from Discord's side.

An interaction tells where the app is installed (`authorizing_integration_owners`: "0" the guild's install, "1"
the user's; interactions.mdx "Authorizing Integration Owners Object") and in which context it happened
(`context`: 0 a guild, 1 the bot's DM, 2 a DM or group DM without the bot). Where the guild has not installed
the app, or in a private channel, the bot can neither read nor post in the channel: it answers through the
interaction alone, which is what `InteractionPlace` is to a reply.
"""

from __future__ import annotations

from typing import Any

import discord

from bot.core.places import place_key
from bot.replies.followups import InteractionFollowups

REPLY_BUTTON_ID = "place-reply:{owner_id}"
"""The Reply button under a reply in a place: the member whose conversation it is (cogs/places.py answers it)."""
USER_INSTALL_FOLLOWUPS = 5
"""Followup messages an interaction may have when only a user installed the app there: "Apps are limited to 5
followup messages per interaction if it was initiated from a user-installed app and isn't installed in the
server" (receiving-and-responding.mdx, "Create Followup Message"); the sixth gets 40094."""
PLACE_REPLY_MESSAGES = USER_INSTALL_FOLLOWUPS
"""Messages a reply's text may take in a place: the deferred response it fills (not a followup) and four
followups, keeping one followup for what follows the text (a spoken answer, a note)."""


def reached_by_user_install(interaction: discord.Interaction) -> bool:
    """Whether the bot can answer `interaction` only through it: a DM or group DM without the bot, or a guild
    that has not installed the app (its install is missing from the authorizing owners)."""
    context = interaction.context
    if context.private_channel:
        return True
    return interaction.guild_id is not None and not interaction.is_guild_integration()


def conversation_key(interaction: discord.Interaction, owner_id: int | None = None) -> int:
    """The session key of the conversation an interaction belongs to: its channel, or in a place the member's
    own key there (`owner_id`'s, else the interaction user's)."""
    channel_id = interaction.channel_id or 0
    if reached_by_user_install(interaction):
        return place_key(channel_id, owner_id if owner_id is not None else interaction.user.id)
    return channel_id


class InteractionPlace(discord.abc.Messageable):
    """What a reply in a place writes into: the interaction's webhook (the response it deferred, then its
    followups). `id` is the conversation's place key; there is no typing indicator and no history to read."""

    def __init__(self, interaction: discord.Interaction, *, fills_response: bool = True) -> None:
        """`fills_response`: the interaction's response was deferred ("thinking") for this reply, so its first
        message fills that in and is no followup; else (a click's response was an update, a form's was deleted)
        every message is a followup, and the reply keeps to one message less."""
        self.id = conversation_key(interaction)
        self.interaction = interaction
        self.followups = InteractionFollowups(interaction, only=True)
        self.max_messages = PLACE_REPLY_MESSAGES if fills_response else PLACE_REPLY_MESSAGES - 1
        """Messages the reply's text may take here, keeping one followup for what follows it."""

    async def _get_channel(self) -> discord.abc.MessageableChannel:
        raise TypeError("a place has no channel the bot may use: write through its interaction")

    async def send(self, content: str | None = None, **fields: Any) -> discord.WebhookMessage:
        """A followup of the interaction (a `nonce` is dropped: webhooks take none); raises Discord's refusals."""
        fields.pop("nonce", None)
        fields.setdefault("allowed_mentions", discord.AllowedMentions.none())
        return await self.followups.send(content, **fields)

    async def typing(self) -> None:  # type: ignore[override]
        """No typing indicator: the bot cannot trigger one in a channel it is not in."""
        return

    def __repr__(self) -> str:
        return f"<InteractionPlace key={self.id} interaction={self.interaction.id}>"


def reply_view(owner_id: int) -> discord.ui.View:
    """The Reply button for `owner_id`'s conversation in a place; its clicks are answered by custom_id."""
    view = discord.ui.View(timeout=None)
    button: discord.ui.Button[discord.ui.View] = discord.ui.Button(
        label="Reply",
        emoji="💬",
        style=discord.ButtonStyle.primary,
        custom_id=REPLY_BUTTON_ID.format(owner_id=owner_id),
    )
    view.add_item(button)
    return view
