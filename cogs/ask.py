"""Ask AI (a message's Apps menu): opens a conversation from that message, as `/chat` would with its text.

The provider is the channel's binding (with its settings), else the server's default, else the only one
configured; otherwise the member picks one from a private message whose buttons work for five minutes
(they live in this process's memory: after a restart the member runs Ask AI again).
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.command_tree import answers_failures
from bot.core.gate import CHAT_REFUSED
from bot.core.server_rules import CHAT, use_provider
from bot.members.permissions import ASK, READ
from bot.providers.base import Provider
from bot.replies.delivery import WRITE_ERRORS
from bot.replies.writes import NO_PINGS
from cogs.common.chat_command import usable_in_dms
from cogs.common.input import MemberMessage, read_message, read_text_files
from cogs.common.members import interaction_member, member_refusal
from cogs.common.opening import Opening, Options, obstacle, open_conversation, provider_here
from cogs.common.place_chat import chat_in_place, offered_here
from cogs.common.places import conversation_key, reached_by_user_install
from cogs.common.private import by_interaction
from cogs.common.text_files import not_used
from cogs.common.turns import reply_in, speaker
from cogs.common.wording import OPENING_PROMPT_PREVIEW, display, refuse

if TYPE_CHECKING:
    from bot.app import BridgeBot

log = logging.getLogger(__name__)

ASK_AI = "Ask AI"
COMMAND = "**Ask AI**"
PICKER_TIMEOUT_S = 300.0
MESSAGE_MAX_CHARS = 2000
NOTHING_TO_ASK = "That message has nothing the AI can read: no text, and no text files."
PICK_ONE = "Which AI should answer? Neither this channel nor this server has a default one."
NO_PROVIDER_FOR_YOU = (
    "On this server none of the AI services is open to you. A server manager can change that with `/access`."
)
ALREADY_ASKED = "You already picked one; the conversation is starting."
PICKER_EXPIRED = f"This choice expired after {PICKER_TIMEOUT_S / 60:.0f} minutes; use {COMMAND} on the message again."


class AskCog(commands.Cog):
    def __init__(self, bot: BridgeBot) -> None:
        self.bot = bot
        self._menu = app_commands.ContextMenu(name=ASK_AI, callback=self.ask, type=discord.AppCommandType.message)
        gate = bot.services.gate  # as `/chat`: offered in DMs only when the owner allows them
        usable_in_dms(self._menu, gate.allow_dms, user_installs=gate.user_installs)
        self._pickers: weakref.WeakSet[ProviderPicker] = weakref.WeakSet()

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self._menu)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self._menu.name, type=self._menu.type)
        for picker in list(self._pickers):
            picker.stop()

    async def ask(self, interaction: discord.Interaction, message: discord.Message) -> None:
        """Apps → Ask AI: the message read as a member's turn would be, then the provider that applies here.

        Nothing of the message is read (nor its files fetched) unless the member may read the channel's history
        (in a place reached through their own install, Discord offers the command only on messages they see).
        """
        in_place = reached_by_user_install(interaction)
        if not in_place and (why := member_refusal(interaction, READ, ASK)):
            await refuse(interaction, why)
            return
        said = read_message(message).text_only()
        if said.readable and not said.text:  # files alone: read them now, to be sure there is something to ask
            said = await read_text_files(said, self.bot.services.downloads)
        if not said.readable:
            reason = f"{NOTHING_TO_ASK} {not_used(said.unused)}" if said.unused else NOTHING_TO_ASK
            await refuse(interaction, reason)
            return
        chosen, options = await provider_here(self.bot, interaction) if not in_place else (None, {})
        if in_place:
            offered = offered_here(self.bot)
            existing = await self.bot.services.store.active_session(conversation_key(interaction))
            chosen = existing.provider if existing is not None else offered[0] if len(offered) == 1 else None
        if chosen is None:
            await self._offer_choice(interaction, message, said)
            return
        await self.start(interaction, message, said, chosen, options)

    async def start(
        self,
        interaction: discord.Interaction,
        message: discord.Message,
        said: MemberMessage,
        provider_key: str,
        options: Options,
        *,
        on_open: Callable[[], Awaitable[None]] | None = None,
    ) -> bool:
        """Open the conversation (a refusal is private), then `on_open`, then answer the message's text;
        False if nothing opened."""
        if reached_by_user_install(interaction):
            return await self._start_in_place(interaction, said, provider_key, on_open)
        asker = interaction.user
        preview = said.text or ", ".join((*said.file_names, *(a.filename for a in said.text_files)))

        def line(description: str, notice: str | None) -> str:
            return asked_line(asker, description, message, preview, notice)

        opening = Opening(preview, line, COMMAND, reads_message=True)
        opened = await open_conversation(self.bot, interaction, provider_key, options, opening)
        if opened is None:
            return False
        session, target = opened
        if on_open is not None:
            await on_open()
        note = by_interaction(interaction)
        said = await read_text_files(said, self.bot.services.downloads)
        if said.unused:
            await note(not_used(said.unused))
        await reply_in(self.bot, target, session, speaker(asker), said.turn, note=note, interaction=interaction)
        return True

    async def _start_in_place(
        self,
        interaction: discord.Interaction,
        said: MemberMessage,
        provider_key: str,
        on_open: Callable[[], Awaitable[None]] | None,
    ) -> bool:
        """Ask AI where only the member's own install reaches: the message's text as the next turn of their
        conversation here (cogs/common/place_chat.py), answered into the interaction."""
        said = await read_text_files(said, self.bot.services.downloads)
        if on_open is not None:
            await on_open()
        await chat_in_place(self.bot, interaction, provider_key, said.turn, {})
        if said.unused:
            await by_interaction(interaction)(not_used(said.unused))
        return True

    async def _offer_choice(
        self, interaction: discord.Interaction, message: discord.Message, said: MemberMessage
    ) -> None:
        """Nothing decides the provider here: a private message with one button per provider the member may use."""
        if reached_by_user_install(interaction):
            await self._offer(
                interaction,
                message,
                said,
                [self.bot.services.conversations.providers[key] for key in offered_here(self.bot)],
            )
            return
        if why := await obstacle(self.bot, interaction, COMMAND, reads_message=True):
            await refuse(interaction, why)
            return
        providers = list(self.bot.services.conversations.providers.values())
        if interaction.guild_id is not None:
            rules = await self.bot.services.gate.rules(interaction.guild_id)
            member = interaction_member(interaction)
            if not rules.allows(CHAT, member):
                await refuse(interaction, CHAT_REFUSED)
                return
            providers = [p for p in providers if rules.allows(use_provider(p.key), member)]
        await self._offer(interaction, message, said, providers)

    async def _offer(
        self,
        interaction: discord.Interaction,
        message: discord.Message,
        said: MemberMessage,
        providers: list[Provider],
    ) -> None:
        """The private picker of `providers` (a refusal when there is none)."""
        if not providers:
            await refuse(interaction, NO_PROVIDER_FOR_YOU)
            return
        picker = ProviderPicker(self, interaction, message, said, providers)
        self._pickers.add(picker)
        await interaction.response.send_message(PICK_ONE, view=picker, ephemeral=True)


class ProviderPicker(discord.ui.View):
    """One button per provider; the first pick opens the conversation and the message says which was asked.

    Held in memory only (a restart forgets it); after `PICKER_TIMEOUT_S` it says it expired.
    """

    def __init__(
        self,
        cog: AskCog,
        source: discord.Interaction,
        message: discord.Message,
        said: MemberMessage,
        providers: list[Provider],
    ) -> None:
        super().__init__(timeout=PICKER_TIMEOUT_S)
        self._cog, self._source, self._message, self._said = cog, source, message, said
        self._picked = False
        for provider in providers[:25]:
            self.add_item(ProviderButton(provider, custom_id=f"ask-ai:{source.id}:{provider.key}"))

    async def pick(self, interaction: discord.Interaction, provider: Provider) -> None:
        if self._picked:  # a second click while the first one is opening the conversation
            await interaction.response.send_message(ALREADY_ASKED, ephemeral=True)
            return

        async def opened() -> None:
            self.stop()
            await self._settle(f"Asked **{provider.display_name}**.")

        self._picked = True
        started = False
        try:
            started = await self._cog.start(interaction, self._message, self._said, provider.key, {}, on_open=opened)
        finally:
            self._picked = started  # refused (privately, saying why): the member may pick again

    async def on_timeout(self) -> None:
        await self._settle(PICKER_EXPIRED)

    async def _settle(self, text: str) -> None:
        """The private message says how it ended and loses its buttons."""
        try:
            await self._source.edit_original_response(content=text, view=None, allowed_mentions=NO_PINGS)
        except WRITE_ERRORS as exc:
            log.info("could not update the provider picker: %s", exc)


class ProviderButton(discord.ui.Button[ProviderPicker]):
    def __init__(self, provider: Provider, *, custom_id: str) -> None:
        super().__init__(label=provider.display_name, custom_id=custom_id, style=discord.ButtonStyle.secondary)
        self.provider = provider

    @answers_failures
    async def callback(self, interaction: discord.Interaction) -> None:
        if self.view is not None:
            await self.view.pick(interaction, self.provider)


def asked_line(
    asker: discord.abc.User, description: str, message: discord.Message, preview: str, notice: str | None
) -> str:
    """Who asked which AI about whose message (named, never pinged), a link to it, and what it says, quoted
    within one Discord message."""
    head = (
        f"**{display(asker)}** asked **{description}** about [a message]({message.jump_url})"
        f" by **{display(message.author)}**:\n"
    )
    caveat = f"\n-# {notice}" if notice else ""
    shown = preview if len(preview) <= OPENING_PROMPT_PREVIEW else preview[:OPENING_PROMPT_PREVIEW] + "…"
    quoted = "\n".join(f"> {line}" for line in shown.splitlines() or [""])
    room = MESSAGE_MAX_CHARS - len(head) - len(caveat)
    if len(quoted) > room:  # many short lines: each "> " adds two characters
        quoted = quoted[: room - 1] + "…"
    return f"{head}{quoted}{caveat}"


async def setup(bot: BridgeBot) -> None:
    await bot.add_cog(AskCog(bot))
