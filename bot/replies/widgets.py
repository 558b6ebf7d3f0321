"""Embeds and components a reply carries: the sources embed and offered choices as buttons or menus."""

from __future__ import annotations

import logging
import re

import discord

from bot.providers.base import Offer, Source

log = logging.getLogger(__name__)

OFFER_BUTTON_ID = "offer:{token}:{index}"
OFFER_MENU_ID = "offer:{token}:menu{menu}"
"""custom_ids of offer buttons and select menus; cogs/offers.py matches them, also after a restart."""
STOP_BUTTON_ID = "stop:{reply_id}"
RETRY_BUTTON_ID = "retry:{reply_id}"
"""custom_ids of a reply's Stop and Retry buttons (the reply's transcript entry): cogs/controls.py answers them."""
ANY_TAIL = r"(?s:.*)"
"""What the cogs' templates accept after a custom_id's prefix: anything, so a malformed or stale id is still
answered (privately) rather than left to fail; the functions below read the tail and return None if invalid."""
OFFER_MENU_TEMPLATE = r"offer:(?P<token>[^:]*):menu(?P<menu>(?s:.*))"
OFFER_BUTTON_TEMPLATE = r"offer:(?![^:]*:menu)(?P<tail>(?s:.*))"
"""Every `offer:` custom_id matches exactly one of these two (a menu's has `:menu` after its first field)."""
BUTTON_LABEL_LIMIT = 80
SELECT_LABEL_LIMIT = 100
BUTTONS_PER_ROW = 5
MAX_ROWS = 5
MENU_SIZE = 25
OFFER_CHOICES_MAX = MENU_SIZE * MAX_ROWS
ENTRY_ID_MAX = 2**63 - 1
"""Transcript entry ids are 64-bit signed integers in the store (PostgreSQL BIGINT, SQLite INTEGER)."""
_OFFER_TOKEN = re.compile(r"[0-9a-f]{8}")
EMBED_DESCRIPTION_LIMIT = 4096
SOURCE_TITLE_CHARS = 200
SOURCES_COLOUR = discord.Colour.blurple()


def reply_id_in(text: str) -> int | None:
    """The reply a Stop or Retry custom_id names, from the text after its prefix: the canonical decimal form
    (ASCII digits, no leading zero) of an entry id from 1 to ENTRY_ID_MAX; None for anything else."""
    value = _canonical_number(text, max_digits=len(str(ENTRY_ID_MAX)))
    return value if value is not None and 1 <= value <= ENTRY_ID_MAX else None


def offer_index_in(text: str) -> int | None:
    """A choice's index, from an offer button's custom_id or a menu option's value: the canonical decimal form
    of a number below OFFER_CHOICES_MAX; None for anything else (`"²".isdigit()` is True, but not here)."""
    value = _canonical_number(text, max_digits=len(str(OFFER_CHOICES_MAX)))
    return value if value is not None and value < OFFER_CHOICES_MAX else None


def offer_token_in(text: str) -> str | None:
    """An offer's token (8 lowercase hex digits, see `Offer.token`), or None."""
    return text if _OFFER_TOKEN.fullmatch(text) else None


def offer_button_in(tail: str) -> tuple[str, int] | None:
    """(token, index) from what follows `offer:` in a button's custom_id (`OFFER_BUTTON_ID`), or None."""
    token, sep, index = tail.partition(":")
    checked, number = offer_token_in(token), offer_index_in(index)
    return (checked, number) if sep and checked is not None and number is not None else None


def offer_menu_in(token: str, menu: str) -> tuple[str, int] | None:
    """(token, menu number) from a select menu's custom_id fields (`OFFER_MENU_ID`), or None."""
    checked, number = offer_token_in(token), _canonical_number(menu, max_digits=1)
    return (checked, number) if checked is not None and number is not None and number < MAX_ROWS else None


def _canonical_number(text: str, *, max_digits: int) -> int | None:
    if not 0 < len(text) <= max_digits or not text.isascii() or not text.isdigit():
        return None
    if text[0] == "0" and text != "0":
        return None
    return int(text)


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


def stop_view(reply_id: int) -> discord.ui.View:
    """The Stop button a reply carries while it is being written."""
    return _reply_button("Stop", "⏹️", discord.ButtonStyle.secondary, STOP_BUTTON_ID.format(reply_id=reply_id))


def retry_view(reply_id: int) -> discord.ui.View:
    """The Retry button on a failure line: sends the member's turn again."""
    return _reply_button("Retry", "🔁", discord.ButtonStyle.primary, RETRY_BUTTON_ID.format(reply_id=reply_id))


def _reply_button(label: str, emoji: str, style: discord.ButtonStyle, custom_id: str) -> discord.ui.View:
    return _sent_as_is(discord.ui.Button(label=label, emoji=emoji, style=style, custom_id=custom_id))


def _sent_as_is(*items: discord.ui.Item[discord.ui.View]) -> discord.ui.View:
    """A view discord.py sends without listening to it: clicks are answered by custom_id (DynamicItem) in a
    cog, also after a restart, so no view is kept in memory per message."""
    view = discord.ui.View(timeout=None)
    for item in items:
        view.add_item(item)
    view.stop()
    return view


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


SECTION_CHOICES_MAX = 12
"""Choices shown as sections at most: the prompt and 3 components per choice (section, text, button) stay within
a Components V2 message's 40 components (components/reference.mdx, "Component Reference")."""
LAYOUT_TEXT_LIMIT = 4000
"""Text of all Text Displays in one message (components/reference.mdx "Text Display": 4,000 characters)."""


def offer_layout(offer: Offer) -> discord.ui.LayoutView | None:
    """Choices a button would cut short (a label over 80 characters) as sections, each with its whole text and
    its own button (the same custom_ids as `offer_view`, so cogs/offers.py answers both); None where buttons
    show every label whole, or sections cannot hold the choices (more than SECTION_CHOICES_MAX, or more than
    LAYOUT_TEXT_LIMIT characters): `offer_view` then."""
    labels = [label.strip() or "…" for label in offer.labels]
    if all(len(label) <= BUTTON_LABEL_LIMIT for label in labels) or len(labels) > SECTION_CHOICES_MAX:
        return None
    texts = [f"**{number}.** {label}" for number, label in enumerate(labels, start=1)]
    prompt = offer.prompt.strip()
    if len(prompt) + sum(len(text) for text in texts) > LAYOUT_TEXT_LIMIT:
        return None
    view = discord.ui.LayoutView(timeout=None)
    if prompt:
        view.add_item(discord.ui.TextDisplay(prompt))
    for index, text in enumerate(texts):
        button: discord.ui.Button[discord.ui.LayoutView] = discord.ui.Button(
            label=f"Choose {index + 1}",
            custom_id=OFFER_BUTTON_ID.format(token=offer.token, index=index),
            style=discord.ButtonStyle.danger if index in offer.reason_for else discord.ButtonStyle.secondary,
        )
        view.add_item(discord.ui.Section(discord.ui.TextDisplay(text), accessory=button))
    view.stop()  # clicks are answered by custom_id (cogs/offers.py), also after a restart
    return view


def closed_layout(message: discord.Message, chosen: str) -> discord.ui.LayoutView:
    """An offer shown as sections (`offer_layout`) once a choice was taken: every button disabled, and who chose
    what under it."""
    view = discord.ui.LayoutView.from_message(message, timeout=None)
    for item in view.walk_children():
        if isinstance(item, discord.ui.Button | discord.ui.Select):
            item.disabled = True
    view.add_item(discord.ui.TextDisplay(chosen[:LAYOUT_TEXT_LIMIT]))
    view.stop()
    return view


def _clip(text: str, limit: int) -> str:
    text = text.strip() or "…"
    return text if len(text) <= limit else text[: limit - 1] + "…"
