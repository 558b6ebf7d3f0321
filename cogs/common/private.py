"""Private notes to one member: an ephemeral follow-up where they acted through an interaction, else a DM."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import discord

from bot.replies.delivery import WRITE_ERRORS
from bot.replies.writes import NO_PINGS

log = logging.getLogger(__name__)

PrivateNote = Callable[[str], Awaitable[None]]
"""Sends one line that only the member it was made for can read; never raises for Discord trouble."""


def by_interaction(interaction: discord.Interaction) -> PrivateNote:
    """Ephemeral follow-ups (the interaction token lasts 15 minutes), then a DM once it has expired."""

    async def send(text: str) -> None:
        try:
            await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_PINGS)
        except WRITE_ERRORS as exc:
            log.info("private follow-up failed (%s); sending a DM instead", exc)
            await by_dm(interaction.user)(text)

    return send


def by_dm(user: discord.User | discord.Member) -> PrivateNote:
    """A direct message: the only private place to reach a member who wrote a plain message."""

    async def send(text: str) -> None:
        try:
            await user.send(text, allowed_mentions=NO_PINGS)
        except WRITE_ERRORS as exc:
            log.warning("could not send member %d a private note: %s", user.id, exc)

    return send


def to_log(channel_id: int) -> PrivateNote:
    """For turns nobody is waiting on (an agent followed again after a restart): the note goes to the log."""

    async def send(text: str) -> None:
        log.warning("note for channel %d (nobody to tell): %s", channel_id, text)

    return send
