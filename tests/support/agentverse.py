"""An Agentverse objective as a test drives it: started with /chat, offers found by label, options clicked."""

from __future__ import annotations

from typing import Any

from tests.emulators.discord import DiscordEmulator, MessageRecord
from tests.support.journey import WAIT_S, bot_posts, chat, thread_for


async def objective(discord: DiscordEmulator, text: str) -> int:
    return (await thread_for(discord, await chat(discord, text, provider="agentverse"))).id


async def offer_with(discord: DiscordEmulator, thread_id: int, label: str, *, after: int = 0) -> MessageRecord:
    """The bot message offering a choice labelled `label` (a button or a select option)."""

    def find() -> MessageRecord | None:
        for message in bot_posts(discord, thread_id):
            if message.id > after and label in labels(message):
                return message
        return None

    await discord.wait_for(lambda: find() is not None, WAIT_S, f"an offer of {label!r}")
    found = find()
    assert found is not None
    return found


def labels(message: MessageRecord) -> list[str]:
    out: list[str] = []
    for row in message.components:
        for item in row["components"]:
            out.extend([item["label"]] if "label" in item else [o["label"] for o in item.get("options", [])])
    return out


def custom_id(message: MessageRecord, label: str) -> str:
    return next(i["custom_id"] for row in message.components for i in row["components"] if i.get("label") == label)


async def click(discord: DiscordEmulator, message: MessageRecord, label: str) -> Any:
    interaction = await discord.click_button(message.id, custom_id(message, label))
    await interaction.wait_for_response(WAIT_S)
    return interaction
