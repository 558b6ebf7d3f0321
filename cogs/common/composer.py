"""The composer: `/chat` without a prompt opens a form (cogs/common/composer_form.py) with room for a long message,
the provider and its options, and files; its submission opens the conversation as `/chat prompt:` does.

Files are taken as a member's attachments are: text files sorted by name, type and size before anything is
downloaded, then read as UTF-8 into the turn (cogs/common/text_files.py); a voice note or audio file converted for
a provider that listens (cogs/common/voice.py). Whatever the bot cannot use (an empty form, a provider not set up,
a file it cannot read, a recording for a provider that only reads, audio that does not decode) is refused
privately before anything opens, and logged; the member's words come back with the refusal, as a file, with a
button that opens the form again filled in (kept in this process's memory for `DRAFT_KEPT_S`). So do the refusals
only opening the conversation can make (the cooldown, the server's cap: `refusals_by` routes them here).

Submissions and that button are answered from `on_interaction` by their custom ids, never from discord.py's memory
of open modals and views: a form submitted after a restart is read exactly as before it.
"""

from __future__ import annotations

import io
import logging
import secrets
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol

import discord
from discord import app_commands

from bot.audio import AudioRejected, looks_like_audio
from bot.command_tree import answers_failures
from bot.providers.base import Provider, VoiceInput
from bot.replies.delivery import WRITE_ERRORS
from bot.replies.writes import NO_PINGS
from cogs.common.composer_form import (
    MODAL_PREFIX,
    UNKNOWN_PROVIDER,
    BadForm,
    Draft,
    composer_form,
    options_for,
    read_submission,
    salvaged_prompt,
)
from cogs.common.composer_where import applies_here, blocked, offered
from cogs.common.opening import Options
from cogs.common.text_files import not_used, read_files, sort_files, with_files
from cogs.common.voice import NOT_DOWNLOADED, voice_input, voice_label
from cogs.common.wording import refusals_by, refuse

if TYPE_CHECKING:
    from bot.app import BridgeBot

log = logging.getLogger(__name__)

AGAIN_PREFIX = "composer-again:"
DRAFT_KEPT_S = 15 * 60.0
DRAFTS_KEPT = 1000
"""Drafts kept at most, oldest forgotten first (each holds a message of at most SALVAGED_CHARS characters)."""
EMPTY = "The form was empty: write a message or attach a file."
PICK_A_PROVIDER = "Pick an AI service: neither this channel nor this server has a default one."
READS_ONLY = "{provider} reads text only, so it can't take {file}. Remove the recording{alternative}."
ONE_RECORDING = (
    "{provider} takes a voice note or audio file on its own: send it without text or other files, and type the"
    " rest in the thread afterwards."
)
KEPT = "-# Nothing was sent. **Edit and send again** opens the form with what you chose (attach files again)."
KEPT_WORDS = (
    "-# Nothing was sent. Your message is in the file above; **Edit and send again** opens the form with it"
    " (attach files again)."
)
DRAFT_GONE = (
    "That form is no longer kept (the bot restarted, or 15 minutes passed): run `/chat` again. A message you"
    " wrote is in the file above the button."
)


class StartChat(Protocol):
    """`ChatCog.start_chat`: opens the conversation where `interaction` happened and answers its first turn."""

    async def __call__(
        self,
        interaction: discord.Interaction,
        provider_key: str,
        prompt: str,
        options: Options,
        *,
        voice: VoiceInput | None = None,
        shown: str | None = None,
    ) -> None: ...


class Composer:
    """Opens the form for `/chat`, and answers its submissions and its *Edit and send again* button."""

    def __init__(self, bot: BridgeBot, start: StartChat) -> None:
        self.bot = bot
        self._start = start
        self._drafts: dict[str, tuple[int, float, Draft]] = {}
        """Refused drafts by token: (member id, monotonic expiry, draft)."""

    async def open(self, interaction: discord.Interaction, values: Options) -> None:
        """`/chat` without a prompt: the form, filled in with the provider and options the command named (else the
        channel's binding and its settings, or the server's default provider)."""
        providers = self.bot.services.conversations.providers
        named = values.get("provider")
        if named is not None and named not in providers:
            await refuse(interaction, UNKNOWN_PROVIDER)
            return
        if why := await blocked(self.bot, interaction, named):
            await refuse(interaction, why)  # before the member writes anything
            return
        given = {k: v for k, v in values.items() if k not in ("prompt", "provider") and v}
        default = named
        if named is None:
            default, settings = await applies_here(self.bot, interaction)
            given = {**{k: v for k, v in settings.items() if v}, **given}
        await self._show(interaction, Draft(named, named is not None, "", given), default)

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        """Route the composer's own interactions (any others are left to discord.py)."""
        data: Any = interaction.data
        custom_id = data.get("custom_id") if isinstance(data, dict) else None
        if not isinstance(custom_id, str):
            return
        if interaction.type is discord.InteractionType.modal_submit and custom_id.startswith(MODAL_PREFIX):
            await self.submitted(interaction)
        elif interaction.type is discord.InteractionType.component and custom_id.startswith(AGAIN_PREFIX):
            await self.again(interaction)

    @answers_failures
    async def submitted(self, interaction: discord.Interaction) -> None:
        """A submitted form: read, its provider and files checked, then the conversation opened with it."""
        if not await self._taken(interaction):
            return
        providers = self.bot.services.conversations.providers
        draft: Draft | None = None
        try:
            draft = read_submission(interaction.data, providers)
            if not draft.prompt and not draft.files:
                raise BadForm(EMPTY, "empty")
            key, options = await self._provider(interaction, draft)
            if why := await blocked(self.bot, interaction, key):  # `start` asks again; here the words come back
                raise BadForm(why, "not allowed here")
            recording, text_files = self._sorted(interaction, draft, providers[key])
            if draft.files:  # a download takes as long as it takes: acknowledged (privately) within Discord's 3 s
                await interaction.response.defer(ephemeral=True, thinking=True)
            prompt, voice = await self._fetch(draft, recording, text_files)
        except BadForm as exc:
            log.info("composer form of member %d refused: %s", interaction.user.id, exc.reason)
            await self._refuse(interaction, str(exc), draft or Draft(prompt=salvaged_prompt(interaction.data)))
            return
        if interaction.response.is_done():
            await self._clear_thinking(interaction)
        names = ", ".join(str(f["filename"]) for f in draft.files)
        shown = None if voice is not None else draft.prompt or names  # a voice note is quoted by its own label
        submitted = draft

        async def hand_back(text: str) -> None:  # what only opening can tell (a cooldown, the server's cap)
            log.info("composer form of member %d refused on opening", interaction.user.id)
            await self._refuse(interaction, text, submitted)

        with refusals_by(interaction.id, hand_back):
            await self._start(interaction, key, prompt, options, voice=voice, shown=shown)

    @staticmethod
    async def _clear_thinking(interaction: discord.Interaction) -> None:
        """The private "thinking…" goes, so that the opening line (the next followup) is a public message of its own
        rather than filling it in (a deferred answer keeps the visibility it was deferred with)."""
        try:
            await interaction.delete_original_response()
        except WRITE_ERRORS as exc:
            log.warning("could not remove the composer's private acknowledgement: %s", exc)

    @answers_failures
    async def again(self, interaction: discord.Interaction) -> None:
        """*Edit and send again*: the refused draft's form, filled in as the member left it."""
        if not await self._taken(interaction):
            return
        data: Any = interaction.data
        kept = self._drafts.get(str(data.get("custom_id", "")).removeprefix(AGAIN_PREFIX))
        if kept is None or kept[0] != interaction.user.id or kept[1] < time.monotonic():
            await refuse(interaction, DRAFT_GONE)
            return
        await self._show(interaction, kept[2], kept[2].provider)

    async def _taken(self, interaction: discord.Interaction) -> bool:
        """Claimed by this process (in a rolling deploy two receive every interaction), as commands are by the tree
        (bot/command_tree.py); a store that fails is told privately there."""
        tree: app_commands.CommandTree[Any] = self.bot.tree
        return await tree.interaction_check(interaction)

    async def _show(self, interaction: discord.Interaction, draft: Draft, default: str | None) -> None:
        form = composer_form(offered(self.bot, interaction), draft, default)
        form.stop()  # answered from `on_interaction`: discord.py keeps no copy that a restart would lose
        await interaction.response.send_modal(form)

    async def _provider(self, interaction: discord.Interaction, draft: Draft) -> tuple[str, Options]:
        """The provider named or picked, else the channel's, with its options; the channel's binding settings
        apply under those given when its provider is the one used (as `/chat` without `provider:`)."""
        key, defaults = draft.provider, {}
        if not draft.named:
            here, settings = await applies_here(self.bot, interaction)
            key = key or here
            defaults = settings if key == here else {}
        if key is None:
            raise BadForm(PICK_A_PROVIDER, "no provider")
        given = options_for(self.bot.services.conversations.providers[key], draft.options)
        return key, {**defaults, **given}

    def _sorted(
        self, interaction: discord.Interaction, draft: Draft, provider: Provider
    ) -> tuple[discord.Attachment | None, tuple[discord.Attachment, ...]]:
        """The recording, or the text files, to download: checked by what Discord says of them, before anything is
        downloaded (as a member's attachments are); BadForm for any that cannot go, worded as for a message."""
        attachments = [discord.Attachment(data=payload, state=interaction._state) for payload in draft.files]
        recordings = [a for a in attachments if looks_like_audio(a.filename, a.content_type)]
        if recordings:
            self._check_recording(draft, provider, recordings[0], len(attachments))
            return recordings[0], ()
        usable, unused = sort_files(attachments)
        if unused:
            raise BadForm(not_used(unused), "file left out before download")
        return None, usable

    def _check_recording(self, draft: Draft, provider: Provider, audio: discord.Attachment, files: int) -> None:
        """BadForm unless `provider` listens and the recording comes alone (`files` uploaded in all)."""
        if not provider.accepts_audio:
            listeners = [p.display_name for p in self.bot.services.conversations.providers.values() if p.accepts_audio]
            alternative = f", or pick {' or '.join(listeners)}" if listeners else ""
            name = discord.utils.escape_markdown(audio.filename)
            raise BadForm(
                READS_ONLY.format(provider=provider.display_name, file=name, alternative=alternative),
                "recording for a provider that reads",
            )
        if files > 1 or draft.prompt:
            raise BadForm(ONE_RECORDING.format(provider=provider.display_name), "recording with text or files")

    async def _fetch(
        self, draft: Draft, recording: discord.Attachment | None, text_files: Sequence[discord.Attachment]
    ) -> tuple[str, VoiceInput | None]:
        """The turn: the recording converted (its text a label), or the message then each text file as a block;
        BadForm for audio that does not decode or a file that is not UTF-8 text (or longer than it said)."""
        downloads = self.bot.services.downloads
        if recording is not None:
            try:
                voice = await voice_input(recording, downloads)
            except AudioRejected as exc:
                raise BadForm(exc.user_message, f"audio rejected ({exc.reason}): {exc.detail}") from exc
            except discord.HTTPException as exc:
                raise BadForm(NOT_DOWNLOADED, f"audio download refused: {exc.status}") from exc
            return voice_label(voice), voice
        read, unreadable = await read_files(text_files, downloads)
        if unreadable:
            raise BadForm(not_used(unreadable), "file unreadable")
        return with_files(draft.prompt, [block for _, block in read]), None

    async def _refuse(self, interaction: discord.Interaction, text: str, draft: Draft) -> None:
        """A private refusal, with the member's message as a file and a button that opens the form with `draft`."""
        token = self._keep(interaction.user.id, replace(draft, files=()))  # a form cannot be given files back
        view = discord.ui.View(timeout=None)
        view.add_item(
            discord.ui.Button(
                label="Edit and send again", custom_id=AGAIN_PREFIX + token, style=discord.ButtonStyle.primary
            )
        )
        view.stop()  # answered from `on_interaction`, like the form
        extra: dict[str, Any] = {"view": view}
        if draft.prompt:
            extra["file"] = discord.File(io.BytesIO(draft.prompt.encode()), filename="your-message.txt")
        line = f"{text}\n{KEPT_WORDS if draft.prompt else KEPT}"
        if interaction.response.is_done():
            await interaction.followup.send(line, ephemeral=True, allowed_mentions=NO_PINGS, **extra)
        else:
            await interaction.response.send_message(line, ephemeral=True, allowed_mentions=NO_PINGS, **extra)

    def _keep(self, member_id: int, draft: Draft) -> str:
        """Keep `draft` for `member_id` for DRAFT_KEPT_S; returns its token (the button's custom id names it)."""
        now = time.monotonic()
        for token in [t for t, (_, expiry, _) in self._drafts.items() if expiry < now]:
            del self._drafts[token]
        while len(self._drafts) >= DRAFTS_KEPT:
            del self._drafts[next(iter(self._drafts))]
        token = secrets.token_hex(8)  # unguessable, and short enough for a custom id
        self._drafts[token] = (member_id, now + DRAFT_KEPT_S, draft)
        return token
