"""Facade part: what simulated people (and other bots and webhooks) do in the emulated guild.

Members act through their Discord client, so the client's refusals surface as ``ValueError``
(a channel that does not exist, someone else's DM, an impossible message shape) while Discord's
own refusals (a permission the member lacks) surface as :class:`~.errors.ApiError`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from . import errors
from .core import Core
from .messaging import Origin
from .records import AttachmentSpec, InteractionRecord, MessageRecord, ThreadRecord
from .validation import UploadedFile


class SimulatedUsers:
    core: Core

    # ---- DMs -------------------------------------------------------------------------------------
    def open_dm(self, user_id: int | None = None) -> int:
        """The id of the DM between the bot and a member (default ``alice``) or a user who installed the app
        to their account, opened if needed.

        Like a user opening the bot's DM: Discord sends bots no CHANNEL_CREATE for DMs, so the bot
        learns of it from the first MESSAGE_CREATE or interaction there.
        """
        uid = user_id or self.core.world.owner_id
        self.core.world.require_dm_party(uid)
        dm = self.core.world.open_dm(uid)
        self.core.notifier.notify()
        return dm.id

    def dm_channel_id(self, user_id: int | None = None) -> int | None:
        """The DM between the bot and ``user_id`` if either side opened one."""
        return self.core.world.dm_by_user.get(user_id or self.core.world.owner_id)

    # ---- commands and components -----------------------------------------------------------------
    async def run_slash_command(
        self,
        name: str,
        options: dict[str, Any] | None = None,
        channel_id: int | None = None,
        user_id: int | None = None,
    ) -> InteractionRecord:
        """Invoke a *registered* slash command (``"group sub"`` for subcommands) as a user.

        In a DM (``channel_id`` from :meth:`open_dm`) the interaction has Discord's BOT_DM shape;
        ``ValueError`` if the client would not offer the command there (its ``contexts``) or the
        channel no longer exists.
        """
        channel = channel_id or self.core.world.default_channel_id
        rec = self.core.interactions.slash(name, options or {}, channel, user_id or self._default_user(channel))
        await asyncio.sleep(0)
        return rec

    async def run_message_command(self, name: str, message_id: int, user_id: int | None = None) -> InteractionRecord:
        """Run a *registered* message command (type 3) from a message's Apps menu, in that message's
        channel, as a member (default alice; in a DM its recipient). ``ValueError`` if the client would
        not offer it there (its ``contexts``) or the message is gone or ephemeral."""
        msg = self.core.world.messages.get(message_id)
        if msg is None or msg.deleted:
            raise ValueError(f"message {message_id} does not exist")
        rec = self.core.interactions.message_command(name, message_id, user_id or self._default_user(msg.channel_id))
        await asyncio.sleep(0)
        return rec

    async def autocomplete(
        self,
        name: str,
        options: dict[str, Any],
        focused: str,
        timeout: float = 5.0,  # noqa: ASYNC109 - part of the agreed test API
        channel_id: int | None = None,
        user_id: int | None = None,
    ) -> list[dict[str, Any]]:
        """Send an autocomplete interaction for option ``focused``; return the bot's choices."""
        channel = channel_id or self.core.world.default_channel_id
        rec = self.core.interactions.slash(
            name, options, channel, user_id or self._default_user(channel), focused=focused
        )
        callback = await rec.wait_for_response(timeout)
        if callback.type != 8 or rec.choices is None:
            raise AssertionError(f"autocomplete answered with callback type {callback.type}, not 8")
        return rec.choices

    async def click_button(self, message_id: int, custom_id: str, user_id: int | None = None) -> InteractionRecord:
        """Click a button on a message (type-3 interaction); in a DM, as its recipient by default."""
        rec = self.core.interactions.component(message_id, custom_id, self._clicker(message_id, user_id))
        await asyncio.sleep(0)
        return rec

    async def select_option(
        self, message_id: int, custom_id: str, values: list[str], user_id: int | None = None
    ) -> InteractionRecord:
        """Choose values in a select menu (type-3 interaction); in a DM, as its recipient by default."""
        rec = self.core.interactions.component(message_id, custom_id, self._clicker(message_id, user_id), values)
        await asyncio.sleep(0)
        return rec

    async def submit_modal(
        self,
        interaction: InteractionRecord,
        values: Mapping[str, str | list[str] | list[AttachmentSpec]],
        user_id: int | None = None,
    ) -> InteractionRecord:
        """Submit the modal the bot opened in response to ``interaction`` (type-5 interaction): a string per
        text input, a list of option values per select, a list of :class:`AttachmentSpec` per file upload
        (stored on the fake CDN, sent in ``data.resolved.attachments``), each by its ``custom_id``."""
        rec = self.core.interactions.modal_submit(interaction, values, user_id or interaction.user_id)
        await asyncio.sleep(0)
        return rec

    async def submit_crafted_modal(
        self, interaction: InteractionRecord, data: dict[str, Any], user_id: int | None = None
    ) -> InteractionRecord:
        """Submit the modal ``interaction`` opened with ``data`` exactly as given (custom ids, values, ``resolved``),
        as a modified client could: for tests of how a bot reads hostile submissions."""
        rec = self.core.interactions.crafted_modal_submit(interaction, data, user_id or interaction.user_id)
        await asyncio.sleep(0)
        return rec

    # ---- messages --------------------------------------------------------------------------------
    async def send_user_message(
        self,
        channel_id: int | None,
        text: str,
        user_id: int | None = None,
        attachments: list[AttachmentSpec] | None = None,
        flags: int = 0,
        reply_to: int | None = None,
        *,
        forward_of: int | None = None,
        sticker_ids: list[int] | None = None,
        embeds: list[dict[str, Any]] | None = None,
    ) -> MessageRecord:
        """A member posts a message (stored, then MESSAGE_CREATE is dispatched).

        ``channel_id`` may be a DM from :meth:`open_dm`; the author must then be its recipient
        (``user_id`` defaults to that recipient). ``forward_of`` forwards that message (text must be
        empty: the client sends a comment as a separate message); ``sticker_ids`` sends stickers
        (e.g. ``[emu.sticker_id]``); ``embeds`` only for bot accounts (``add_member(..., bot=True)``),
        as a person's client cannot send rich embeds. Permission refusals raise ``ApiError``.
        """
        channel = self._live_channel(channel_id or self.core.world.default_channel_id)
        author = self._author_in(channel, user_id)
        specs = attachments or []
        files = [UploadedFile(i, f"files[{i}]", s.filename, s.content_type, s.data) for i, s in enumerate(specs)]
        payload: dict[str, Any] = {
            "content": text,
            "flags": flags,
            "attachments": [
                {
                    k: v
                    for k, v in {
                        "id": i,
                        "filename": s.filename,
                        "duration_secs": s.duration_secs,
                        "waveform": s.waveform,
                        "description": s.description,
                    }.items()
                    if v is not None
                }
                for i, s in enumerate(specs)
            ],
        }
        if reply_to is not None:
            payload["message_reference"] = {"message_id": str(reply_to)}
        if sticker_ids:
            payload["sticker_ids"] = [str(s) for s in sticker_ids]
        if embeds:
            if not self.core.world.users[author].bot:
                raise ValueError("only bot accounts and webhooks send rich embeds; a member's client cannot")
            payload["embeds"] = embeds
        if forward_of is not None:
            if text or specs or reply_to is not None or sticker_ids or embeds:
                raise ValueError("a forward carries only the forwarded message; send any comment separately")
            source = self.core.world.messages.get(forward_of)
            if source is None or source.deleted:
                raise ValueError(f"message {forward_of} does not exist")
            reference = {"type": 1, "message_id": str(forward_of), "channel_id": str(source.channel_id)}
            payload["message_reference"] = reference
        msg = self.core.messages.create(channel, payload, files, Origin(author, "user"))
        for record, spec in zip(msg.attachments, specs, strict=True):  # before the bot can ask the CDN for them
            self.core.messages.store.serve_as(record, spec)
        await asyncio.sleep(0)
        return msg

    async def edit_user_message(self, message_id: int, text: str) -> MessageRecord:
        """The author of ``message_id`` (a member) edits it: MESSAGE_UPDATE with ``edited_timestamp``."""
        msg = self.core.world.messages.get(message_id)
        if msg is None or msg.deleted:
            raise ValueError(f"message {message_id} does not exist")
        world = self.core.world
        if world.any_membership(msg.author_id) is None or msg.author_id == world.bot_user_id:
            raise ValueError(f"message {message_id} was not written by a simulated member")
        self.core.messages.edit(msg, {"content": text}, [], Origin(msg.author_id, "user"))
        await asyncio.sleep(0)
        return msg

    async def send_webhook_message(
        self, channel_id: int | None, text: str, *, username: str = "Hook", embeds: list[dict[str, Any]] | None = None
    ) -> MessageRecord:
        """A channel webhook posts (a thread id posts in that thread through its parent's webhook):
        the message has ``webhook_id`` and the webhook as author (``bot: true``), and no ``member``."""
        channel = self._live_channel(channel_id or self.core.world.default_channel_id)
        if self.core.world.is_dm(channel):
            raise ValueError("webhooks belong to guild channels, not DMs")
        hook = self.core.world.webhook_for(channel)
        payload: dict[str, Any] = {"content": text, "embeds": embeds or []}
        origin = Origin(hook.id, "webhook", webhook_id=hook.id, webhook_username=username)
        msg = self.core.messages.create(channel, payload, [], origin)
        await asyncio.sleep(0)
        return msg

    def redeliver(self, message_id: int) -> None:
        """Dispatch ``message_id``'s original MESSAGE_CREATE again to every session that got it.

        Models one event reaching a bot twice, as happens when two processes briefly hold the same
        shard during a rolling deploy, or when a client RESUMEs with a stale sequence number and
        Discord replays events it had already handled (events/gateway.mdx "Resuming"). The payload
        is the one first sent, not the message's current state.
        """
        event = self.core.messages.create_events.get(message_id)
        if event is None:
            raise ValueError(f"message {message_id} was never dispatched (unknown or ephemeral)")
        self.core.gateway.dispatch("MESSAGE_CREATE", event)
        self.core.notifier.notify()

    # ---- threads ---------------------------------------------------------------------------------
    async def create_thread(
        self,
        name: str,
        channel_id: int | None = None,
        *,
        private: bool = False,
        message_id: int | None = None,
        user_id: int | None = None,
    ) -> ThreadRecord:
        """A member opens a thread (from ``message_id`` if given); THREAD_CREATE is dispatched."""
        author = user_id or self.core.world.owner_id
        parent = channel_id or self.core.world.default_channel_id
        self.core.world.require_member(author, self.core.world.guild_for_channel(parent).id)
        if message_id is not None:
            thread = self.core.threads.create_from_message(parent, message_id, {"name": name}, author)
        else:
            body = {"name": name, "type": 12 if private else 11}
            thread = self.core.threads.create(parent, body, author)
        await asyncio.sleep(0)
        return thread

    # ---- helpers ---------------------------------------------------------------------------------
    def _live_channel(self, channel_id: int) -> int:
        try:
            self.core.world.channel_or_thread(channel_id)
        except errors.ApiError as exc:
            raise ValueError(f"channel {channel_id} does not exist (deleted?); nobody can post there") from exc
        return channel_id

    def _default_user(self, channel_id: int) -> int:
        """Alice, or in a DM the only user who can act there: its recipient (in a DM between users or a
        group DM its first recipient, the group's owner)."""
        dm = self.core.world.dm_channels.get(channel_id)
        private = self.core.world.private_channels.get(channel_id)
        if private is not None:
            return private.recipient_ids[0]
        return dm.recipient_id if dm is not None else self.core.world.owner_id

    def _clicker(self, message_id: int, user_id: int | None) -> int:
        msg = self.core.world.messages.get(message_id)
        return user_id or (self._default_user(msg.channel_id) if msg is not None else self.core.world.owner_id)

    def _author_in(self, channel_id: int, user_id: int | None) -> int:
        """Who posts: ``user_id`` (default :meth:`_default_user`), who must be able to be there: a
        member of the channel's guild, or in a DM its recipient."""
        world = self.core.world
        dm = world.dm_channels.get(channel_id)
        author = user_id or self._default_user(channel_id)
        private = world.private_channels.get(channel_id)
        if private is not None:
            if author not in private.recipient_ids:
                raise ValueError(f"user {author} cannot post in {channel_id}, a DM or group DM they are not in")
            return author
        if dm is not None:
            world.require_dm_party(author)
        else:
            world.require_member(author, world.guild_for_channel(channel_id).id)
        if dm is not None and dm.recipient_id != author:
            raise ValueError(f"user {author} cannot post in DM {channel_id}, which belongs to {dm.recipient_id}")
        return author
