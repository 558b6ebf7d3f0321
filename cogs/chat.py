"""`/chat` opens a conversation: a thread off the opening line, the thread it is run in, or a DM."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.providers.base import VoiceInput
from cogs.common.chat_command import build_chat_command
from cogs.common.composer import Composer
from cogs.common.opening import Opening, Options, open_conversation, provider_here
from cogs.common.place_chat import chat_in_place, provider_in_place
from cogs.common.places import reached_by_user_install
from cogs.common.private import by_interaction
from cogs.common.turns import reply_in, speaker
from cogs.common.wording import opening_line, refuse

if TYPE_CHECKING:
    from bot.app import BridgeBot

log = logging.getLogger(__name__)

PICK_A_PROVIDER = "Pick a provider: neither this channel nor this server has a default one."


class ChatCog(commands.Cog):
    def __init__(self, bot: BridgeBot) -> None:
        self.bot = bot
        providers = bot.services.conversations.providers.values()
        gate = bot.services.gate
        self._chat = build_chat_command(
            providers, self.run_chat, self.suggest, dms=gate.allow_dms, user_installs=gate.user_installs
        )
        self.composer = Composer(bot, self.start_chat)

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self._chat)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self._chat.name)

    async def run_chat(self, interaction: discord.Interaction, values: Options) -> None:
        """`/chat`: the provider named, else the channel's binding (with its settings), the server's default,
        or the only one configured. Without a prompt it opens the composer's form."""
        if not values.get("prompt"):
            await self.composer.open(interaction, values)
            return
        options = dict(values)
        prompt, chosen = options.pop("prompt") or "", options.pop("provider", None)
        if chosen is None and reached_by_user_install(interaction):
            chosen = await provider_in_place(self.bot, interaction)
            if chosen is None:
                return
        if chosen is None:
            chosen, defaults = await provider_here(self.bot, interaction)
            options = {**defaults, **{k: v for k, v in options.items() if v is not None}}
        if chosen is None:
            await refuse(interaction, PICK_A_PROVIDER)
            return
        await self.start_chat(interaction, chosen, prompt, options)

    async def start_chat(
        self,
        interaction: discord.Interaction,
        provider_key: str,
        prompt: str,
        options: Options,
        *,
        voice: VoiceInput | None = None,
        shown: str | None = None,
    ) -> None:
        """Open a conversation with `provider_key` where `interaction` happened (a `/chat` command, or a form it
        opened) and answer its first turn: `prompt`, and `voice` (a voice note, for providers that listen).
        `shown`: what the opening line quotes and the thread is named after, when not the whole `prompt` (a
        form's typed message, or its files' names, rather than the files' text folded into the turn). Where
        the bot is reached only through the member's own install, the conversation is theirs there and the answer
        streams into the interaction (cogs/common/place_chat.py)."""
        if reached_by_user_install(interaction):
            await chat_in_place(self.bot, interaction, provider_key, prompt, options, voice=voice)
            return
        user = interaction.user
        quoted = prompt if shown is None else shown
        opening = Opening(quoted, lambda description, notice: opening_line(user, description, quoted, notice))
        opened = await open_conversation(self.bot, interaction, provider_key, options, opening)
        if opened is not None:
            session, target = opened
            note = by_interaction(interaction)
            await reply_in(
                self.bot, target, session, speaker(user), prompt, note=note, voice=voice, interaction=interaction
            )

    @commands.Cog.listener()
    async def on_interaction(self, interaction: discord.Interaction) -> None:
        await self.composer.on_interaction(interaction)  # its forms and buttons, also after a restart

    async def suggest(
        self, interaction: discord.Interaction, option: str, typed: str
    ) -> list[app_commands.Choice[str]]:
        """Autocomplete for a provider option, asking the provider picked in the same command."""
        providers = self.bot.services.conversations.providers
        key = getattr(interaction.namespace, "provider", None)
        candidates = [providers[key]] if key in providers else list(providers.values())
        for provider in candidates:
            if any(o.name == option and o.autocomplete for o in provider.chat_options):
                return [app_commands.Choice(name=c.name, value=c.value) for c in await provider.suggest(option, typed)]
        return []


async def setup(bot: BridgeBot) -> None:
    await bot.add_cog(ChatCog(bot))
