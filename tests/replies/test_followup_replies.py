"""A reply to an interaction goes out as that interaction's followups, outside the bot's global rate limit;
the channel takes over when Discord refuses them, and nothing is lost either way."""

from __future__ import annotations

from collections.abc import Callable

from tests.emulators.ablt import AbltEmulator, Reply
from tests.emulators.agentverse import AgentverseEmulator
from tests.emulators.discord import DiscordEmulator, Fault, MessageRecord
from tests.support.agentverse import click, objective, offer_with
from tests.support.controls import button_on, press
from tests.support.harness import BotProcess
from tests.support.journey import WAIT_S, bot_posts, chat, shown_reply, wait_for_post, wait_for_reply
from tests.support.streams import streaming, wait_for_reply_status, words

WEBHOOK_ROUTES = ("POST /webhooks/{app_id}/{token}", "PATCH /webhooks/{app_id}/{token}/messages/{message_id}")
CHANNEL_WRITES = ("POST /channels/{channel_id}/messages", "PATCH /channels/{channel_id}/messages/{message_id}")
REPLY = words(60)


def routes_since(discord: DiscordEmulator, since: float, channel_id: int | None = None) -> list[str]:
    """The routes of the bot's requests since `since` (a webhook route has no channel: always counted)."""
    return [
        r.route or ""
        for r in discord.requests
        if r.t >= since and (r.channel_id is None or channel_id is None or r.channel_id == channel_id)
    ]


async def test_chat_in_a_thread_streams_its_reply_through_the_interaction(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator
) -> None:
    thread_id = (await discord_emulator.create_thread("planning")).id
    interaction, _ = await streaming(discord_emulator, ablt, REPLY, channel_id=thread_id, interval_s=0.05)
    since = interaction.created_at
    opening = interaction.original_message
    assert opening is not None
    await wait_for_reply(discord_emulator, thread_id, "".join(REPLY), after=opening.id)

    reply = [m for m in bot_posts(discord_emulator, thread_id) if m.id > opening.id]
    assert reply and all(m.interaction_id == interaction.id for m in reply)  # followups of the /chat
    routes = routes_since(discord_emulator, since, thread_id)
    assert routes.count(WEBHOOK_ROUTES[0]) == len(reply) and routes.count(WEBHOOK_ROUTES[1]) >= 1  # streamed edits
    assert not [r for r in routes if r in CHANNEL_WRITES]  # nothing of it drew on the global budget
    assert not any(m.custom_ids() for m in reply)  # the Stop button it carried while streaming is gone


async def test_stop_on_a_reply_written_as_followups_ends_it_in_place(
    make_bot: Callable[..., BotProcess], discord_emulator: DiscordEmulator, ablt: AbltEmulator
) -> None:
    await make_bot().start()  # the default provider timeout: the stream below hangs until stopped
    thread_id = (await discord_emulator.create_thread("planning")).id
    ablt.enqueue(Reply(tokens=["Once", " upon", " a", " time"], token_interval_s=0.2, hang_after_tokens=4))
    interaction = await chat(discord_emulator, "A long story", channel_id=thread_id)
    await discord_emulator.wait_for(lambda: "Once upon" in shown_reply(discord_emulator, thread_id), WAIT_S)
    message, stop = await button_on(discord_emulator, thread_id, "stop:")
    assert message.interaction_id == interaction.id

    await press(discord_emulator, message, stop)
    await discord_emulator.wait_for(lambda: "Stopped by" in discord_emulator.message(message.id).content, WAIT_S)
    stopped = discord_emulator.message(message.id)
    assert stopped.content.startswith("Once upon a time\n-# ⏹️ Stopped by") and stopped.components == []
    await discord_emulator.wait_for(lambda: ablt.requests[-1].client_closed_at is not None, WAIT_S, "closed")


async def test_the_channel_takes_over_when_discord_refuses_the_followups(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator
) -> None:
    """Discord at times refuses an interaction's token before its 15 minutes are up (401 50027 Invalid
    Webhook Token, or 404: discord-api-docs issue 6851): the reply goes on in the channel, whole."""
    thread_id = (await discord_emulator.create_thread("planning")).id
    discord_emulator.core.interactions.token_ttl_s = 0.0  # every followup now meets 50027
    interaction, _ = await streaming(discord_emulator, ablt, REPLY, channel_id=thread_id, interval_s=0.05)
    opening = interaction.original_message
    assert opening is not None
    await wait_for_reply(discord_emulator, thread_id, "".join(REPLY), after=opening.id)

    refused = [r for r in discord_emulator.requests if r.route in WEBHOOK_ROUTES]
    assert len(refused) == 1 and refused[0].status == 401  # tried once, then never again for this reply
    reply = [m for m in bot_posts(discord_emulator, thread_id) if m.id > opening.id]
    assert reply and all(m.interaction_id is None for m in reply)
    assert not any(m.custom_ids() for m in reply)


async def test_agentverse_answers_to_a_click_are_followups_of_the_click(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, agentverse: AgentverseEmulator
) -> None:
    thread_id = await objective(discord_emulator, "Find me a flight to Warsaw")
    tasks = await offer_with(discord_emulator, thread_id, "Flights/Flights")
    assert tasks.interaction_id is None  # the answer to /chat is in the thread /chat opened: a channel message

    chosen = await click(discord_emulator, tasks, "Flights/Flights")
    question = await wait_for_post(discord_emulator, thread_id, "departure city", after=tasks.id)
    after_click: list[MessageRecord] = [m for m in bot_posts(discord_emulator, thread_id) if m.id > tasks.id]
    assert question in after_click and all(m.interaction_id == chosen.id for m in after_click)
    assert not [r for r in routes_since(discord_emulator, chosen.created_at, thread_id) if r in CHANNEL_WRITES]


async def test_a_followup_is_edited_through_the_channel_once_discord_refuses_its_token(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator
) -> None:
    """The first followup goes out in the token's time; by the next edit Discord refuses the token (50027): that
    edit, and the rest of the reply, go through the channel, on the same message."""
    thread_id = (await discord_emulator.create_thread("planning")).id
    discord_emulator.core.interactions.token_ttl_s = 1.0
    interaction, _ = await streaming(discord_emulator, ablt, REPLY, channel_id=thread_id, interval_s=0.05)
    opening = interaction.original_message
    assert opening is not None
    await wait_for_reply(discord_emulator, thread_id, "".join(REPLY), after=opening.id)

    [reply] = [m for m in bot_posts(discord_emulator, thread_id) if m.id > opening.id]
    assert reply.interaction_id == interaction.id  # created as a followup
    refused = [r for r in discord_emulator.requests if r.route == WEBHOOK_ROUTES[1] and r.status == 401]
    edits = [r for r in discord_emulator.requests if r.route == CHANNEL_WRITES[1] and str(reply.id) in r.path]
    assert len(refused) == 1 and edits and all(e.status == 200 for e in edits)
    assert not reply.custom_ids()


async def test_a_followup_whose_answer_was_lost_is_not_posted_twice(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator, database: str
) -> None:
    """Discord creates the followup but the connection drops before its answer: a followup takes no nonce, so
    the bot looks for it among the channel's newest messages before posting through the channel."""
    thread_id = (await discord_emulator.create_thread("planning")).id
    lost = discord_emulator.inject_fault(
        Fault(method="POST", route="/webhooks/{app_id}/{token}", after_handling=True, drop_connection=True, times=1)
    )
    ablt.enqueue(Reply(text="Only once, please."))
    interaction = await chat(discord_emulator, "Say it once", channel_id=thread_id)
    opening = interaction.original_message
    assert opening is not None
    await wait_for_reply(discord_emulator, thread_id, "Only once, please.", after=opening.id)
    await wait_for_reply_status(database, thread_id, "complete")  # every write of the reply was made

    assert lost.hits == 1
    [reply] = [m for m in bot_posts(discord_emulator, thread_id) if m.id > opening.id]
    assert reply.interaction_id == interaction.id  # the followup Discord made, kept


async def test_a_followup_discord_made_but_answered_with_a_500_is_not_posted_again(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator, database: str
) -> None:
    """Discord creates the followup, then answers 500 (found by `python -m bench.chaos`): discord.py would try the
    POST again by itself and post it twice, as a followup carries no nonce. The bot creates a followup once and
    looks for it before going on through the channel."""
    thread_id = (await discord_emulator.create_thread("planning")).id
    lost = discord_emulator.inject_fault(
        Fault.lost_answer(delay_s=0.0, status=500, method="POST", route="/webhooks/{app_id}/{token}", times=1)
    )
    ablt.enqueue(Reply(text="Only once, please."))
    interaction = await chat(discord_emulator, "Say it once", channel_id=thread_id)
    opening = interaction.original_message
    assert opening is not None
    await wait_for_reply(discord_emulator, thread_id, "Only once, please.", after=opening.id)
    await wait_for_reply_status(database, thread_id, "complete")

    assert lost.hits == 1
    [reply] = [m for m in bot_posts(discord_emulator, thread_id) if m.id > opening.id]
    assert reply.interaction_id == interaction.id
