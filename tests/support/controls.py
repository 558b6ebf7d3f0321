"""Member controls as a test drives them: a plain member's permissions, buttons pressed, Regenerate run, the
transcript read back once settled."""

from __future__ import annotations

import asyncio
from typing import Any

from bot.store import Store
from tests.emulators.discord import (
    DiscordEmulator,
    InteractionRecord,
    MessageRecord,
)
from tests.support.journey import (
    WAIT_S,
    bot_posts,
)

MEMBER = ((1 << 51) - 1) & ~(1 << 3) & ~(1 << 5) & ~(1 << 34)
"""A plain member's permissions: no Administrator, Manage Server or Manage Threads."""


def with_button(discord: DiscordEmulator, channel_id: int, prefix: str) -> list[MessageRecord]:
    return [m for m in bot_posts(discord, channel_id) if any(i.startswith(prefix) for i in m.custom_ids())]


async def button_on(discord: DiscordEmulator, channel_id: int, prefix: str) -> tuple[MessageRecord, str]:
    """The bot message carrying a button whose custom_id starts with `prefix` (waits for it)."""
    await discord.wait_for(lambda: bool(with_button(discord, channel_id, prefix)), WAIT_S, f"a {prefix} button")
    message = with_button(discord, channel_id, prefix)[-1]
    return message, next(i for i in message.custom_ids() if i.startswith(prefix))


async def press(discord: DiscordEmulator, message: MessageRecord, custom_id: str, by: int | None = None) -> Any:
    interaction = await discord.click_button(message.id, custom_id, user_id=by)
    await interaction.wait_for_response(WAIT_S)
    return interaction


async def entries(database: str, channel_id: int) -> list[dict[str, Any]]:
    store = await Store.open(database)
    try:
        session = await store.active_session(channel_id)
        assert session is not None
        return [
            {"role": e.role, "content": e.content, "status": e.status, "extras": e.extras}
            for e in await store.transcript(session.id)
        ]
    finally:
        await store.close()


async def settled(discord: DiscordEmulator, database: str, channel_id: int) -> list[dict[str, Any]]:
    """The transcript once no reply in it is still being written."""
    found: list[dict[str, Any]] = []
    for _ in range(int(WAIT_S / 0.1)):
        found = await entries(database, channel_id)
        if all(e["status"] != "streaming" for e in found):
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"a reply is still streaming: {found}")


async def regenerate(discord: DiscordEmulator, message_id: int, by: int | None = None) -> InteractionRecord:
    interaction = await discord.run_message_command("Regenerate", message_id, user_id=by)
    await interaction.wait_for_response(WAIT_S)
    return interaction


def reply_message(discord: DiscordEmulator, channel_id: int, text: str) -> MessageRecord:
    return next(m for m in bot_posts(discord, channel_id) if m.content.startswith(text))
