"""Custom ids are outside input (a member's client sends them back): any string is either read as exactly the
id the bot would have written, or refused as None, and every `stop:`, `retry:` and `offer:` id reaches exactly
one handler, which answers it. The end-to-end test clicks crafted ids through real discord.py.

Real Discord checks that a clicked custom_id is one of the message's components ("Custom IDs are now validated
by the API", discord/discord-api-docs#3207; a mismatch fails with COMPONENT_VALIDATION_FAILED,
discord/discord-api-docs#5943), and the emulator does the same (and checks select values against the options).
So a crafted id reaches the bot on a message the bot itself sent earlier, e.g. by an older release or against a
database since restored: the tests post such a message as the bot application through the emulator's REST API.
"""

from __future__ import annotations

import aiohttp
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.replies.widgets import (
    ENTRY_ID_MAX,
    OFFER_BUTTON_ID,
    OFFER_CHOICES_MAX,
    OFFER_MENU_ID,
    RETRY_BUTTON_ID,
    STOP_BUTTON_ID,
    offer_button_in,
    offer_index_in,
    offer_menu_in,
    offer_token_in,
    reply_id_in,
)
from cogs.controls import RetryButton, StopButton
from cogs.offers import OfferButton, OfferMenu
from tests.emulators.discord import DiscordEmulator
from tests.support.harness import BOT_TOKEN, BotProcess
from tests.support.journey import WAIT_S, chat, refusal, say, thread_for, wait_for_reply

BOTH_STORES = True  # the crafted ids are looked up in SQLite and in PostgreSQL (tests/support/fixtures.py)
FAST = settings(max_examples=300, deadline=None)
any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=40) | st.sampled_from(
    ["0", "00", "1", "²", "١٢", "9223372036854775807", "9223372036854775808", "9" * 19, "9" * 20, "-1", " 1", "1 "]
)
TEMPLATES = {
    cls.__name__: cls.__discord_ui_compiled_template__ for cls in (StopButton, RetryButton, OfferButton, OfferMenu)
}


@FAST
@given(any_text)
def test_a_reply_id_is_read_only_in_the_form_the_bot_writes(text: str) -> None:
    value = reply_id_in(text)
    assert value is None or (1 <= value <= ENTRY_ID_MAX and str(value) == text)


@FAST
@given(st.integers(1, ENTRY_ID_MAX))
def test_every_entry_id_round_trips_through_stop_and_retry_ids(reply_id: int) -> None:
    for cls, form in ((StopButton, STOP_BUTTON_ID), (RetryButton, RETRY_BUTTON_ID)):
        match = cls.__discord_ui_compiled_template__.fullmatch(form.format(reply_id=reply_id))
        assert match is not None and reply_id_in(match["reply_id"]) == reply_id


@FAST
@given(any_text)
@example("²")
@example("7" * 200)
def test_a_choice_index_is_read_only_in_the_form_the_bot_writes(text: str) -> None:
    value = offer_index_in(text)
    assert value is None or (0 <= value < OFFER_CHOICES_MAX and str(value) == text)


@FAST
@given(st.from_regex(r"[0-9a-f]{8}", fullmatch=True), st.integers(0, OFFER_CHOICES_MAX - 1), st.integers(0, 4))
def test_offer_ids_round_trip(token: str, index: int, menu: int) -> None:
    button = OFFER_BUTTON_ID.format(token=token, index=index)
    menu_id = OFFER_MENU_ID.format(token=token, menu=menu)
    assert [name for name, t in TEMPLATES.items() if t.fullmatch(button)] == ["OfferButton"]
    assert [name for name, t in TEMPLATES.items() if t.fullmatch(menu_id)] == ["OfferMenu"]
    assert offer_button_in(button.removeprefix("offer:")) == (token, index)
    matched = TEMPLATES["OfferMenu"].fullmatch(menu_id)
    assert matched is not None and offer_menu_in(matched["token"], matched["menu"]) == (token, menu)


@FAST
@given(
    st.sampled_from(["stop:", "retry:", "offer:", "offer:deadbeef:", "offer:deadbeef:menu", "ask-ai:", ""]), any_text
)
def test_every_prefixed_id_reaches_exactly_one_handler_which_reads_it_or_refuses_it(prefix: str, tail: str) -> None:
    custom_id = prefix + tail
    handlers = [name for name, template in TEMPLATES.items() if template.fullmatch(custom_id)]
    if custom_id.startswith(("stop:", "retry:", "offer:")):
        assert len(handlers) == 1
    else:
        assert handlers == []
    if handlers in (["StopButton"], ["RetryButton"]):
        reply_id = reply_id_in(custom_id.split(":", 1)[1])
        assert reply_id is None or 1 <= reply_id <= ENTRY_ID_MAX
    if handlers == ["OfferButton"]:
        parsed = offer_button_in(custom_id.removeprefix("offer:"))
        assert parsed is None or (offer_token_in(parsed[0]) == parsed[0] and 0 <= parsed[1] < OFFER_CHOICES_MAX)


async def post_as_bot(discord: DiscordEmulator, channel_id: int, components: list[dict[str, object]]) -> int:
    """A message the bot application posted earlier (an older release, a restored database): its components."""
    url = f"{discord.api_base_url}/channels/{channel_id}/messages"
    headers = {"Authorization": f"Bot {BOT_TOKEN}"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            url,
            json={"content": "An old reply.", "components": [{"type": 1, "components": components}]},
            headers=headers,
        ) as response,
    ):
        assert response.status == 200, await response.text()
        return int((await response.json())["id"])


def button(custom_id: str) -> dict[str, object]:
    return {"type": 2, "style": 2, "label": "Press", "custom_id": custom_id}


async def test_crafted_ids_get_a_private_note_and_the_bot_keeps_answering(
    running_bot: BotProcess, discord_emulator: DiscordEmulator
) -> None:
    """A reply id past the database's BIGINT, a choice index "²" and malformed offer ids each get the usual
    private note (on the original code the first two raised in the handler and the others went unanswered)."""
    thread = await thread_for(discord_emulator, await chat(discord_emulator, "hello"))
    await wait_for_reply(discord_emulator, thread.id, "You said: hello")
    past_bigint = str(ENTRY_ID_MAX + 1)
    crafted = {
        f"retry:{past_bigint}": "moved on",
        f"stop:{past_bigint}": "already ended",
        "stop:not-a-number": "already ended",
        "offer:NOTAHEX!:3": "moved on",
        "offer:deadbeef:99999": "moved on",
    }
    message_id = await post_as_bot(discord_emulator, thread.id, [button(custom_id) for custom_id in crafted])
    for custom_id, says in crafted.items():
        interaction = await discord_emulator.click_button(message_id, custom_id)
        await interaction.wait_for_response(WAIT_S)
        assert says in refusal(interaction), custom_id

    menu = {
        "type": 3,
        "custom_id": OFFER_MENU_ID.format(token="deadbeef", menu=0),
        "options": [{"label": "Squared", "value": "²"}, {"label": "Fine", "value": "1"}],
    }
    menu_message = await post_as_bot(discord_emulator, thread.id, [menu])
    picked = await discord_emulator.select_option(menu_message, menu["custom_id"], ["²"])  # type: ignore[arg-type]
    await picked.wait_for_response(WAIT_S)
    assert "listed choices" in refusal(picked)
    stale = await discord_emulator.select_option(menu_message, menu["custom_id"], ["1"])  # type: ignore[arg-type]
    await stale.wait_for_response(WAIT_S)
    assert "moved on" in refusal(stale)

    mark = await say(discord_emulator, thread.id, "still there?")
    await wait_for_reply(discord_emulator, thread.id, "You said: still there?", after=mark)
