"""Replies that use Discord's layout components (Components V2) where they show what plain messages cannot: choices
too long for a button's 80 characters become sections, each with its whole text beside its own button.

Through the real bot, the loopback Agentverse and the loopback Discord, which validates Components V2 messages as
Discord does (no content beside the flag, 40 components, 4,000 characters: its components_v2 module)."""

from __future__ import annotations

from tests.emulators.agentverse import AgentverseEmulator, travel_flow
from tests.emulators.discord import COMPONENTS_V2_FLAG, DiscordEmulator, MessageRecord
from tests.support.agentverse import objective
from tests.support.harness import BotProcess
from tests.support.journey import WAIT_S, bot_posts, wait_for_post
from tests.support.layout import BUTTON, SECTION, TEXT_DISPLAY, parts

LONG_TASK = "Flights/Find the cheapest direct flight from the nearest airport to any city in Europe next weekend"


async def test_choices_too_long_for_a_button_are_sections_with_their_whole_text(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, agentverse: AgentverseEmulator
) -> None:
    agentverse.use_flow(travel_flow("long", tasks=(LONG_TASK, "Hotels/Hotels")))
    thread_id = await objective(discord_emulator, "Plan a weekend away")

    def sectioned() -> MessageRecord | None:
        return next((m for m in bot_posts(discord_emulator, thread_id) if parts(m, SECTION)), None)

    await discord_emulator.wait_for(lambda: sectioned() is not None, WAIT_S, "the choices as sections")
    offer = sectioned()
    assert offer is not None and offer.flags & COMPONENTS_V2_FLAG and offer.content == ""
    texts = [t["content"] for t in parts(offer, TEXT_DISPLAY)]
    assert f"**1.** {LONG_TASK}" in texts and "**2.** Hotels/Hotels" in texts  # whole, not cut at 80
    buttons = {b["label"]: b["custom_id"] for b in parts(offer, BUTTON)}
    assert list(buttons) == ["Choose 1", "Choose 2"]

    clicked = await discord_emulator.click_button(offer.id, buttons["Choose 1"])
    await clicked.wait_for_response(WAIT_S)
    assert clicked.response_type == 7  # the offer itself says who chose what
    await wait_for_post(discord_emulator, thread_id, "departure city", after=offer.id)
    closed = discord_emulator.message(offer.id)
    assert all(b.get("disabled") for b in parts(closed, BUTTON))
    assert any("chose:" in t["content"] and LONG_TASK in t["content"] for t in parts(closed, TEXT_DISPLAY))
    selections = [s.get("user_json") for s in agentverse.latest_session.submits]
    assert {"type": "task_list", "selection": [0]} in selections
