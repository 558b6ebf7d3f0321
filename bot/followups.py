"""Writing a turn's reply through the interaction that started it, outside the bot's global rate limit.

Discord keeps interaction endpoints out of the global 50 requests/s (rate-limits.md, "Global Rate Limit":
"Interaction endpoints are not bound to the bot's Global Rate Limit"): a followup message
(`POST /webhooks/{application_id}/{token}`) and an edit of one (`PATCH .../messages/{message_id}`) draw
only on that interaction's own bucket. A reply to a click, a Retry or a `/chat` run where it answers is
therefore posted as followups of that interaction, and does not queue behind every other channel's writes
when many conversations are busy. The token lasts 15 minutes (receiving-and-responding.mdx, "Followup
Messages"); after that, and after any failed followup, the reply goes on through the channel, where the
same messages stay editable (a bot may edit its non-ephemeral interaction messages with
`PATCH /channels/{channel_id}/messages/{message_id}`: discord-api-docs issue 3090).
"""

from __future__ import annotations

import time
from typing import Any

import discord

TOKEN_LIFETIME_S = 15 * 60.0
"""An interaction token is valid for 15 minutes (receiving-and-responding.mdx, "Followup Messages")."""
MARGIN_S = 60.0
"""Followups stop this long before the token expires, so a slow write never meets 50027 Invalid Webhook Token."""


class InteractionFollowups:
    """Followup messages of one interaction while its token lasts (see the module docstring).

    `usable` turns False for good at `MARGIN_S` before the token expires, or once `give_up()` was called
    (a followup failed: the caller goes on through the channel)."""

    def __init__(self, interaction: discord.Interaction) -> None:
        age_s = max(0.0, (discord.utils.utcnow() - interaction.created_at).total_seconds())
        self._webhook = interaction.followup
        self._usable_until = time.monotonic() - age_s + TOKEN_LIFETIME_S - MARGIN_S
        self._given_up = False

    @property
    def usable(self) -> bool:
        """True while new messages and edits should go through the interaction's webhook."""
        return not self._given_up and time.monotonic() < self._usable_until

    def give_up(self) -> None:
        """A followup failed: every later write of this reply goes through the channel (with its nonces)."""
        self._given_up = True

    async def send(self, content: str | None, **fields: Any) -> discord.WebhookMessage:
        """A public followup message (`fields`: `view`, `embed`, `allowed_mentions`); raises what
        `discord.Webhook.send` raises (`discord.HTTPException` and transport errors)."""
        return await self._webhook.send(content or discord.utils.MISSING, wait=True, **fields)


def followups_for(interaction: discord.Interaction | None, channel: object) -> InteractionFollowups | None:
    """Followups of `interaction` when its messages land in `channel` (followups always go to the interaction's
    own channel, so a reply in a thread the command opened cannot use them); else None."""
    if interaction is None or interaction.channel_id != getattr(channel, "id", None):
        return None
    return InteractionFollowups(interaction)
