"""The bot's command tree and event errors: each command is taken by one process, and no failure leaves a member
without an answer.

- Taken once: during a rolling deploy two processes hold the same shard and both receive every interaction
  (Discord allows the second session; gateway.mdx "Sharding"). Each slash or context-menu command is claimed in
  the store first (`Coordination.claim_event`); the process that loses the claim does nothing, so it cannot
  refuse a member ("slow down") for a command the other one is answering. Autocomplete is not claimed: both
  answering is harmless and a claim per keystroke is not.
- Answered always: a command, button, menu or form that fails unexpectedly gets a private line (the store's
  outage named as such), and so does a member's message whose handling failed (`BridgeBot.on_error`); the
  exception goes to the log with its traceback.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import aiohttp
import discord
from discord import app_commands

from bot.core.recording import STORE_DOWN, STORE_ERRORS
from bot.core.turns import UNEXPECTED_ERROR_MESSAGE
from bot.replies.writes import NO_PINGS

log = logging.getLogger(__name__)


def failure_line(error: BaseException) -> str:
    """What a member reads when their action failed on the bot's side: the store's outage, or a plain apology."""
    cause = error.original if isinstance(error, app_commands.CommandInvokeError) else error
    return STORE_DOWN if isinstance(cause, STORE_ERRORS) else UNEXPECTED_ERROR_MESSAGE


async def answer_privately(interaction: discord.Interaction, text: str) -> None:
    """An ephemeral answer, or an ephemeral followup if the interaction was already answered; never raises for
    Discord's refusals (logged)."""
    try:
        if interaction.response.is_done():
            await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_PINGS)
        else:
            await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_PINGS)
    except (discord.HTTPException, aiohttp.ClientError, RuntimeError) as exc:  # RuntimeError: the bot is closing
        log.warning("could not tell member %d that their action failed: %s", interaction.user.id, exc)


class BridgeTree(app_commands.CommandTree[Any]):
    """discord.py's tree, with commands claimed once across processes and failures answered privately."""

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        """True when this process claims the interaction (autocomplete always); a store failure is told privately."""
        if interaction.type is discord.InteractionType.autocomplete:
            return True
        services = getattr(self.client, "services", None)
        if services is None:  # not set up yet: nothing can be answered anyway
            return False
        try:
            if await services.store.coordination.claim_event(interaction.id, services.conversations.owner):
                return True
        except STORE_ERRORS as exc:
            log.warning("interaction %d not taken: the store failed (%s)", interaction.id, exc)
            await answer_privately(interaction, STORE_DOWN)
            return False
        log.info("interaction %d is taken by another process", interaction.id)
        return False

    async def on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError, /) -> None:
        """A command failed: log it and tell the member privately what went wrong."""
        command = interaction.command.qualified_name if interaction.command else "?"
        cause = error.original if isinstance(error, app_commands.CommandInvokeError) else error
        if isinstance(cause, STORE_ERRORS):
            log.warning("command %s failed: %s", command, cause)
        else:
            log.error("command %s failed", command, exc_info=error)
        await answer_privately(interaction, failure_line(error))


_Self = TypeVar("_Self")
Callback = Callable[[_Self, discord.Interaction], Coroutine[Any, Any, None]]


def answers_failures(callback: Callback[_Self]) -> Callback[_Self]:
    """For a component's or modal's callback: a failure is logged and the member told privately, as
    `BridgeTree.on_error` does for commands (discord.py only logs what a button's callback raises); and a click
    still unanswered after `SLOW_ANSWER_S` (the database behind a lock, say) is acknowledged in time."""

    @functools.wraps(callback)
    async def guarded(self: _Self, interaction: discord.Interaction) -> None:
        watchdog = asyncio.create_task(_acknowledge_when_slow(interaction), name="slow-interaction")
        try:
            await callback(self, interaction)
        except Exception as exc:
            if isinstance(exc, STORE_ERRORS):
                log.warning("%s failed: %s", callback.__qualname__, exc)
            else:
                log.exception("%s failed", callback.__qualname__)
            await answer_privately(interaction, failure_line(exc))
        finally:
            watchdog.cancel()

    return guarded


SLOW_ANSWER_S = 2.0
"""Discord drops an interaction not answered within 3 s ("Unknown interaction", receiving-and-responding.mdx):
one of ours still working after this long is acknowledged (`defer`), and answered later by editing or by
followups (`update_message`, `cogs/_wording.refuse`)."""


async def _acknowledge_when_slow(interaction: discord.Interaction) -> None:
    await asyncio.sleep(SLOW_ANSWER_S)
    if not interaction.response.is_done():
        log.info("interaction %d is slow to answer; acknowledging it", interaction.id)
        try:
            await interaction.response.defer()
        except (discord.HTTPException, discord.InteractionResponded) as exc:
            log.debug("could not acknowledge interaction %d: %s", interaction.id, exc)


async def update_message(interaction: discord.Interaction, **fields: Any) -> None:
    """Edit the message a clicked component is on: as the interaction's answer, or, once it was acknowledged
    already, through its original response (the same message)."""
    if interaction.response.is_done():
        await interaction.edit_original_response(**fields)
    else:
        await interaction.response.edit_message(**fields)


async def acknowledge(interaction: discord.Interaction) -> None:
    """Acknowledge a click whose visible answer comes later, unless that already happened."""
    if not interaction.response.is_done():
        await interaction.response.defer()
