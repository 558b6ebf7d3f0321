"""Turns provider events into Discord messages: one message edited as text streams, continued past 2,000."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import discord

from bot.pacing import WritePacer
from bot.providers.base import Event, Heard, Notice, Offer, Said, SessionEnded, Source, Sources, SpokenReply, TextDelta
from bot.splitting import MESSAGE_LIMIT, open_fence, split_message

log = logging.getLogger(__name__)

NO_PINGS = discord.AllowedMentions.none()
MAX_WRITE_FAILURES = 3
INTERRUPT_GRACE_S = 3.0
EMPTY_REPLY = "-# {provider} sent an empty reply."
OFFER_BUTTON_ID = "offer:{token}:{index}"
OFFER_MENU_ID = "offer:{token}:menu{menu}"
"""custom_ids of offer buttons and select menus; cogs/offers.py matches them, also after a restart."""
BUTTON_LABEL_LIMIT = 80
SELECT_LABEL_LIMIT = 100
BUTTONS_PER_ROW = 5
MAX_ROWS = 5
MENU_SIZE = 25
EMBED_DESCRIPTION_LIMIT = 4096
SOURCE_TITLE_CHARS = 200
SOURCES_COLOUR = discord.Colour.blurple()
INTERRUPTED = "⏹️ This reply was cut off because the bot shut down. Send your message again once it is back."


class StreamingReply:
    """A ReplySink writing into one Discord channel or thread.

    Text deltas only update `_text`; a single flusher task brings Discord up to date one write at a
    time, each at a pacer slot, always with the newest text, so bursts coalesce into one edit.
    """

    def __init__(
        self,
        channel: discord.abc.Messageable,
        pacer: WritePacer,
        *,
        provider_name: str,
        post_audio: Callable[[bytes], Awaitable[None]] | None = None,
    ) -> None:
        self._channel = channel
        self._post_audio = post_audio
        self._pacer = pacer
        self._provider_name = provider_name
        self._text = ""
        self._frozen: list[str] = []  # messages kept exactly as last shown when the text moved on
        self._frozen_chars = 0
        self._messages: list[discord.Message] = []
        self._shown: list[str] = []
        self._flusher: asyncio.Task[None] | None = None
        self._failures = 0
        self._gave_up = False
        self._sources: tuple[Source, ...] = ()
        self._said = False
        self._spoken: bytes | None = None

    @property
    def messages(self) -> list[discord.Message]:
        return list(self._messages)

    async def begin(self) -> None:
        """Show the typing indicator until the first text arrives."""
        try:
            await self._channel.typing()
        except discord.HTTPException as exc:
            log.debug("typing indicator failed: %s", exc)

    async def handle(self, event: Event) -> None:
        if isinstance(event, TextDelta) and event.text:
            self._text += event.text
            self._kick()
        elif isinstance(event, Sources):
            self._sources = event.items
        elif isinstance(event, Heard):
            await self._post(f"🎙️ *{discord.utils.escape_markdown(event.text)}*")
        elif isinstance(event, SpokenReply):
            self._spoken = event.wav
        elif isinstance(event, Offer):
            await self._drain()
            self._said = True
            await self._offer(event)
        elif isinstance(event, Said):
            await self._drain()
            self._said = True
            for chunk in split_message(event.text):
                if chunk.strip():
                    await self._post(chunk)
        elif isinstance(event, SessionEnded):
            await self._drain()
            await self._post(f"-# {event.reason}")
        elif isinstance(event, Notice):
            await self._drain()
            await self._post(f"-# {event.text}")

    async def finish(self) -> None:
        await self._drain()
        if not self._text and not self._said:
            await self._post(EMPTY_REPLY.format(provider=self._provider_name))
        if self._sources:
            await self._attach(sources_embed(self._sources))
        if self._spoken and self._post_audio is not None:
            await self._pacer.slot(steady=False)
            await self._post_audio(self._spoken)

    async def fail(self, message: str) -> None:
        await self._drain()
        await self._post(f"⚠️ {message}")

    async def interrupt(self) -> None:
        """Called from a cancelled turn: show what arrived and say it was cut off, within a short grace."""
        try:
            async with asyncio.timeout(INTERRUPT_GRACE_S):
                await self._drain()
                await self._post(INTERRUPTED)
        except TimeoutError:
            log.warning("could not mark an interrupted reply in time")
            if self._flusher is not None:
                self._flusher.cancel()

    # Internals -------------------------------------------------------------------------------

    def _kick(self) -> None:
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_until_current(), name="stream-flusher")

    async def _drain(self) -> None:
        """Return once Discord shows all text received so far."""
        while not self._current():
            self._kick()
            assert self._flusher is not None  # noqa: S101 - _kick just set it
            await asyncio.shield(self._flusher)

    def _current(self) -> bool:
        return self._gave_up or self._shown == self._chunks()

    def _chunks(self) -> list[str]:
        rest = self._text[self._frozen_chars :]
        return self._frozen + (split_message(rest) if rest else [])

    def _freeze_live_message_if_clean(self) -> None:
        """Keep an overflowing message as last shown when that already ends at a word boundary.

        Sealing it at split_message's cut would cost one more paced write before the continuation
        appears; freezing lets the very next write create the new message instead.
        """
        live = len(self._frozen)
        rest = self._text[self._frozen_chars :]
        if live >= len(self._shown) or len(rest) <= MESSAGE_LIMIT:
            return
        shown = self._shown[live]
        after = rest[len(shown) : len(shown) + 1]
        at_word_boundary = shown[-1:].isspace() or after.isspace()
        if len(shown) >= MESSAGE_LIMIT // 2 and at_word_boundary and rest.startswith(shown) and not open_fence(shown):
            self._frozen.append(shown)
            self._frozen_chars += len(shown)

    async def _flush_until_current(self) -> None:
        while not self._current():
            await self._pacer.slot(steady=True)
            await self._write_next()

    async def _write_next(self) -> None:
        """One create or edit: the first message that differs from what Discord should show."""
        self._freeze_live_message_if_clean()
        for index, chunk in enumerate(self._chunks()):
            if index < len(self._shown) and self._shown[index] == chunk:
                continue
            try:
                if index < len(self._messages):
                    await self._messages[index].edit(content=chunk, allowed_mentions=NO_PINGS)
                    self._shown[index] = chunk
                else:
                    message = await self._channel.send(chunk, allowed_mentions=NO_PINGS)
                    self._messages.append(message)
                    self._shown.append(chunk)
                self._failures = 0
            except discord.NotFound:
                log.info("a streamed message was deleted; continuing in a new one")
                del self._messages[index:], self._shown[index:]
            except discord.HTTPException as exc:
                self._note_failure(exc)
            return

    async def _post(self, content: str) -> None:
        """A standalone line after the reply (notice, error), paced like the stream."""
        await self._pacer.slot(steady=False)
        try:
            await self._channel.send(content, allowed_mentions=NO_PINGS)
        except discord.HTTPException as exc:
            log.warning("could not post %r: %s", content[:60], exc)

    async def _attach(self, embed: discord.Embed) -> None:
        """Put an embed under the reply: on its last message, or on its own if nothing was shown."""
        await self._pacer.slot(steady=False)
        try:
            if self._messages and not self._gave_up:
                await self._messages[-1].edit(content=self._shown[-1], embed=embed, allowed_mentions=NO_PINGS)
            else:
                await self._channel.send(embed=embed, allowed_mentions=NO_PINGS)
        except discord.HTTPException as exc:
            log.warning("could not attach the sources: %s", exc)

    async def _offer(self, offer: Offer) -> None:
        """Buttons (select menus past 25 choices) whose clicks are understood by id, even after a restart."""
        await self._pacer.slot(steady=False)
        view = offer_view(offer)
        try:
            await self._channel.send(offer.prompt[:2000], view=view, allowed_mentions=NO_PINGS)
        except discord.HTTPException as exc:
            log.warning("could not post the choices: %s", exc)
        finally:
            view.stop()  # cogs/offers.py answers clicks; this view needs no listener

    def _note_failure(self, exc: discord.HTTPException) -> None:
        self._failures += 1
        log.warning("streaming write failed (%d/%d): %s", self._failures, MAX_WRITE_FAILURES, exc)
        if self._failures >= MAX_WRITE_FAILURES or isinstance(exc, discord.Forbidden):
            self._gave_up = True


def sources_embed(sources: tuple[Source, ...]) -> discord.Embed:
    """A numbered list of source links within Discord's embed description limit."""
    lines: list[str] = []
    used = 0
    for number, source in enumerate(sources, start=1):
        title = source.title.replace("[", "(").replace("]", ")")
        title = title if len(title) <= SOURCE_TITLE_CHARS else title[: SOURCE_TITLE_CHARS - 1] + "…"
        url = source.url.replace(" ", "%20").replace("(", "%28").replace(")", "%29")
        line = f"{number}. [{title}]({url})" if url else f"{number}. {title}"
        more = f"…and {len(sources) - number + 1} more"
        if used + len(line) + 1 > EMBED_DESCRIPTION_LIMIT - len(more) - 1:
            lines.append(more)
            break
        lines.append(line)
        used += len(line) + 1
    return discord.Embed(title="Sources", description="\n".join(lines), colour=SOURCES_COLOUR)


def offer_view(offer: Offer) -> discord.ui.View:
    """Up to 25 choices as buttons (5 per row); more as select menus of 25 (5 menus, 125 choices at most)."""
    view = discord.ui.View(timeout=None)
    labels = offer.labels
    if len(labels) <= BUTTONS_PER_ROW * MAX_ROWS:
        for index, label in enumerate(labels):
            view.add_item(
                discord.ui.Button(
                    label=_clip(label, BUTTON_LABEL_LIMIT),
                    custom_id=OFFER_BUTTON_ID.format(token=offer.token, index=index),
                    style=discord.ButtonStyle.danger if index in offer.reason_for else discord.ButtonStyle.secondary,
                    row=index // BUTTONS_PER_ROW,
                )
            )
        return view
    if len(labels) > MENU_SIZE * MAX_ROWS:
        log.warning("offer has %d choices; showing the first %d", len(labels), MENU_SIZE * MAX_ROWS)
    for menu, start in enumerate(range(0, min(len(labels), MENU_SIZE * MAX_ROWS), MENU_SIZE)):
        chunk = labels[start : start + MENU_SIZE]
        view.add_item(
            discord.ui.Select(
                custom_id=OFFER_MENU_ID.format(token=offer.token, menu=menu),
                placeholder=f"Choices {start + 1} to {start + len(chunk)}",
                options=[
                    discord.SelectOption(label=_clip(label, SELECT_LABEL_LIMIT), value=str(start + i))
                    for i, label in enumerate(chunk)
                ],
            )
        )
    return view


def _clip(text: str, limit: int) -> str:
    text = text.strip() or "…"
    return text if len(text) <= limit else text[: limit - 1] + "…"
