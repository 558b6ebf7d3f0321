"""The app installed to a member's own account: `/chat`, Reply and Ask AI where the bot is not (a server without
it, a group DM), each answer streamed into the interaction that asked, within Discord's limits for such apps.

Through real parts: the bot process, the loopback Discord (which refuses the bot's channel requests where it is
not, caps followups at 5, and makes answers ephemeral where *Use External Apps* is denied: see its
installs, outside and external_apps modules) and the loopback aBLT.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import pytest

from bot.core.gate import NOT_IN_PLACES
from bot.core.places import place_key
from bot.replies.streaming import WHOLE_ANSWER_FILENAME
from bot.replies.text_stream import OVERFLOW
from bot.store import Store
from cogs.common.places import REPLY_BUTTON_ID
from tests.emulators.ablt import AbltEmulator, Reply
from tests.emulators.convai import ConvaiEmulator, ConvaiReply
from tests.emulators.discord import DiscordEmulator, InteractionRecord, MessageRecord
from tests.support.harness import BotProcess
from tests.support.journey import WAIT_S, refusal

BOTH_STORES = True  # a member's place key is a negative channel id: on SQLite and PostgreSQL alike
USE_EXTERNAL_APPS = 1 << 50
EVERYONE_BUT_EXTERNAL_APPS = ((1 << 51) - 1) & ~(1 << 3) & ~USE_EXTERNAL_APPS


@pytest.fixture
def anywhere(discord_emulator: DiscordEmulator, make_bot: Callable[..., BotProcess]) -> Callable[..., BotProcess]:
    """Bots that members may add to their own account (aBLT and Convai offered there)."""
    discord_emulator.support_user_installs()

    def make(**extra: str) -> BotProcess:
        settings = {"USER_INSTALLS": "on", "USER_INSTALL_PROVIDERS": "ablt,convai", "PROVIDER_TIMEOUT_S": "5"}
        return make_bot(**(settings | extra))

    return make


SERVERS: dict[int, int] = {}
"""Each outside server's #general -> the server (filled by `elsewhere`)."""


def elsewhere(discord: DiscordEmulator, name: str = "bob") -> tuple[int, int]:
    """A member who installed the app, in a server the bot is not in: (member id, its #general)."""
    member = discord.add_user(name)
    discord.install_app(member)
    server = discord.add_outside_guild(f"{name}'s friends")
    discord.join_guild(member, server)
    channel = discord.general_channel(server)
    SERVERS[channel] = server
    return member, channel


def shown(run: InteractionRecord) -> list[MessageRecord]:
    """The messages answering `run`: its response, then its followups."""
    first = [run.original_message] if run.original_message is not None else []
    return [m for m in (*first, *run.followups) if not m.deleted]


def text_of(run: InteractionRecord) -> str:
    return "".join(m.content for m in shown(run))


def reply_button_on(run: InteractionRecord, member: int) -> MessageRecord | None:
    wanted = REPLY_BUTTON_ID.format(owner_id=member)
    return next((m for m in shown(run) if wanted in m.custom_ids()), None)


async def answered(discord: DiscordEmulator, run: InteractionRecord, member: int) -> MessageRecord:
    """Wait until the answer ended (its Reply button is on); that message."""
    await discord.wait_for(lambda: reply_button_on(run, member) is not None, WAIT_S, "the answer to end")
    message = reply_button_on(run, member)
    assert message is not None
    return message


async def chat_as(discord: DiscordEmulator, member: int, channel: int, **options: str) -> InteractionRecord:
    run = await discord.run_slash_command("chat", options, channel_id=channel, user_id=member)
    await run.wait_for_response(WAIT_S)
    return run


def asked(ablt: AbltEmulator) -> list[str]:
    """What the member said in the last aBLT call, with the history before it."""
    body = ablt.requests[-1].body
    return [m["content"] for m in body["messages"] if m["role"] == "user"]


async def test_chat_where_the_bot_is_not_streams_into_the_command_and_stop_ends_it(
    discord_emulator: DiscordEmulator, ablt: AbltEmulator, anywhere: Callable[..., BotProcess]
) -> None:
    await anywhere().start()
    bob, channel = elsewhere(discord_emulator)
    words = " ".join(f"word{i}" for i in range(80))
    ablt.enqueue(Reply(text=words, token_interval_s=0.01))
    run = await chat_as(discord_emulator, bob, channel, provider="ablt", prompt="Tell me a story")
    last = await answered(discord_emulator, run, bob)
    assert text_of(run) == words and last is run.original_message and run.followups == []
    assert len(run.original_message.edits) >= 3  # filled, then edited as text arrived
    assert not last.ephemeral and last.channel_id == channel
    assert [r.route for r in discord_emulator.requests if r.channel_id == channel] == []  # never the channel

    ablt.enqueue(Reply(text=" ".join(f"slow{i}" for i in range(200)), token_interval_s=0.05))
    again = await chat_as(discord_emulator, bob, channel, prompt="And then?")  # no provider: carries on

    def stop_id() -> str | None:
        return next((i for m in shown(again) for i in m.custom_ids() if i.startswith("stop:")), None)

    await discord_emulator.wait_for(lambda: stop_id() is not None, WAIT_S, "Stop on the streaming answer")
    message = next(m for m in shown(again) if stop_id() in m.custom_ids())
    await discord_emulator.click_button(message.id, str(stop_id()), user_id=bob)
    await answered(discord_emulator, again, bob)
    assert text_of(again).endswith("\n-# ⏹️ Stopped by Bob.") and stop_id() is None
    assert asked(ablt) == ["Tell me a story", "And then?"]  # the same conversation, its history sent


async def test_reply_continues_the_conversation_after_a_restart_and_is_the_members_alone(
    discord_emulator: DiscordEmulator, ablt: AbltEmulator, anywhere: Callable[..., BotProcess]
) -> None:
    first = anywhere()
    await first.start()
    bob, channel = elsewhere(discord_emulator)
    ablt.enqueue(Reply(text="Paris."))
    run = await chat_as(discord_emulator, bob, channel, provider="ablt", prompt="Capital of France?")
    message = await answered(discord_emulator, run, bob)
    await first.stop()
    await anywhere().start()

    carol = discord_emulator.add_user("carol")
    discord_emulator.install_app(carol)
    discord_emulator.join_guild(carol, SERVERS[channel])
    button = REPLY_BUTTON_ID.format(owner_id=bob)
    stranger = await discord_emulator.click_button(message.id, button, user_id=carol)
    await stranger.wait_for_response(WAIT_S)
    assert "bob" not in refusal(stranger) and f"<@{bob}>'s conversation" in refusal(stranger)

    click = await discord_emulator.click_button(message.id, button, user_id=bob)
    await click.wait_for_response(WAIT_S)
    assert click.modal is not None
    ablt.enqueue(Reply(text="About two million people."))
    sent = await discord_emulator.submit_modal(click, {"message": "How many live there?"})
    await sent.wait_for_response(WAIT_S)
    await answered(discord_emulator, sent, bob)
    assert text_of(sent) == "About two million people."
    assert asked(ablt) == ["Capital of France?", "How many live there?"]


async def test_ask_ai_in_a_group_dm_answers_into_the_interaction(
    discord_emulator: DiscordEmulator, ablt: AbltEmulator, anywhere: Callable[..., BotProcess]
) -> None:
    await anywhere(USER_INSTALL_PROVIDERS="ablt").start()
    bob = discord_emulator.add_user("bob")
    carol = discord_emulator.add_user("carol")
    discord_emulator.install_app(bob)
    group = discord_emulator.open_group_dm(bob, [carol, discord_emulator.user_id])
    question = await discord_emulator.send_user_message(group, "Is a tomato a fruit?", user_id=carol)
    ablt.enqueue(Reply(text="Botanically, yes."))
    run = await discord_emulator.run_message_command("Ask AI", question.id, user_id=bob)
    await run.wait_for_response(WAIT_S)
    await answered(discord_emulator, run, bob)
    assert text_of(run) == "Botanically, yes." and run.context == 2
    assert asked(ablt) == ["Is a tomato a fruit?"]
    assert [r.route for r in discord_emulator.requests if r.channel_id == group] == []


async def test_a_long_answer_past_the_followup_limit_comes_whole_as_a_file(
    discord_emulator: DiscordEmulator, ablt: AbltEmulator, anywhere: Callable[..., BotProcess]
) -> None:
    await anywhere(MAX_REPLY_CHARS="30000").start()
    bob, channel = elsewhere(discord_emulator)
    long = "\n\n".join(f"Paragraph {i}: " + "lorem ipsum dolor sit amet " * 20 for i in range(45))
    assert len(long) > 5 * 2000
    ablt.enqueue(Reply(text=long))
    run = await chat_as(discord_emulator, bob, channel, provider="ablt", prompt="Write a lot")
    last = await answered(discord_emulator, run, bob)
    messages = shown(run)
    assert len(messages) == 5 and run.rejected_followups == 0  # the response and 4 of the 5 followups allowed
    assert last is messages[-1] and last.content == OVERFLOW
    (attached,) = last.attachments
    assert attached.filename == WHOLE_ANSWER_FILENAME and attached.data.decode() == long
    assert long.startswith("".join(m.content for m in messages[:-1]).rstrip())


async def test_where_external_apps_may_not_post_publicly_the_answer_is_private(
    discord_emulator: DiscordEmulator, ablt: AbltEmulator, anywhere: Callable[..., BotProcess]
) -> None:
    await anywhere().start()
    bob, channel = elsewhere(discord_emulator)
    server = SERVERS[channel]
    discord_emulator.set_everyone_permissions(EVERYONE_BUT_EXTERNAL_APPS, guild_id=server)
    ablt.enqueue(Reply(text="Only you can see this."))
    run = await chat_as(discord_emulator, bob, channel, provider="ablt", prompt="Secret?")
    last = await answered(discord_emulator, run, bob)
    assert text_of(run) == "Only you can see this." and last.ephemeral and run.forced_ephemeral


async def test_the_operator_chooses_the_providers_and_member_quotas_apply(
    discord_emulator: DiscordEmulator, ablt: AbltEmulator, anywhere: Callable[..., BotProcess]
) -> None:
    await anywhere(QUOTA_DEFAULTS="member.day.turns=1").start()
    bob, channel = elsewhere(discord_emulator)
    refused = await chat_as(discord_emulator, bob, channel, provider="magicai", prompt="Hello")
    assert refusal(refused) == NOT_IN_PLACES.format(name="Magic AI") and refused.original_message.ephemeral
    discord_emulator.set_everyone_permissions((1 << 51) - 1, guild_id=SERVERS[channel])
    ablt.enqueue(Reply(text="One."))
    run = await chat_as(discord_emulator, bob, channel, provider="ablt", prompt="Count")
    await answered(discord_emulator, run, bob)  # bob manages that server: no exemption from the bot's quotas here
    over = await chat_as(discord_emulator, bob, channel, prompt="Again")
    assert "limit" in refusal(over) and "<t:" in refusal(over) and over.original_message.ephemeral
    assert len(ablt.requests) == 1


async def recorded(database: str, message_id: int) -> None:
    """Wait until the store knows which reply Discord message `message_id` shows (noted as the turn ends)."""
    store = await Store.open(database)
    try:
        for _ in range(int(WAIT_S / 0.05)):
            if await store.reply_shown_in(message_id) is not None:
                return
            await asyncio.sleep(0.05)
    finally:
        await store.close()
    raise AssertionError(f"message {message_id} was never recorded as a reply's")


async def test_retry_regenerate_and_export_work_on_a_conversation_in_a_place(
    discord_emulator: DiscordEmulator, ablt: AbltEmulator, anywhere: Callable[..., BotProcess], database: str
) -> None:
    await anywhere().start()
    bob, channel = elsewhere(discord_emulator)
    ablt.enqueue(Reply(status=500), Reply(text="Second time lucky."), Reply(text="A fresh take."))
    run = await chat_as(discord_emulator, bob, channel, provider="ablt", prompt="Tell me a joke")

    def retry_on() -> MessageRecord | None:
        return next((m for m in shown(run) if any(i.startswith("retry:") for i in m.custom_ids())), None)

    await discord_emulator.wait_for(lambda: retry_on() is not None, WAIT_S, "the failure line with Retry")
    failure = retry_on()
    assert failure is not None and failure.content.startswith("⚠️")
    retry = next(i for i in failure.custom_ids() if i.startswith("retry:"))
    click = await discord_emulator.click_button(failure.id, retry, user_id=bob)
    await click.wait_for_response(WAIT_S)
    await answered(discord_emulator, click, bob)
    (answer,) = click.followups
    assert answer.content == "Second time lucky." and ablt.requests[-1].body == ablt.requests[-2].body

    await recorded(database, answer.id)
    regenerated = await discord_emulator.run_message_command("Regenerate", answer.id, user_id=bob)
    await regenerated.wait_for_response(WAIT_S)
    await answered(discord_emulator, regenerated, bob)
    assert text_of(regenerated) == "A fresh take." and ablt.requests[-1].body == ablt.requests[-2].body
    assert [r.route for r in discord_emulator.requests if r.channel_id == channel] == []  # no edit it may not make

    export = await discord_emulator.run_slash_command("export", {}, channel_id=channel, user_id=bob)
    await export.wait_for_response(WAIT_S)
    await discord_emulator.wait_for(lambda: any(m.attachments for m in shown(export)), WAIT_S, "the transcript")
    transcript = next(m for m in shown(export) if m.attachments).attachments[0].data.decode()
    assert "Tell me a joke" in transcript and "A fresh take." in transcript and shown(export)[0].ephemeral


async def test_a_spoken_answer_comes_as_a_followup_file_in_a_place(
    discord_emulator: DiscordEmulator, convai: ConvaiEmulator, anywhere: Callable[..., BotProcess]
) -> None:
    await anywhere().start()
    bob, channel = elsewhere(discord_emulator)
    convai.enqueue(ConvaiReply(text="Hello, traveller.", audio_seconds=1.0))
    run = await chat_as(discord_emulator, bob, channel, provider="convai", prompt="Hi!")
    await answered(discord_emulator, run, bob)
    await discord_emulator.wait_for(lambda: any(m.attachments for m in shown(run)), WAIT_S, "the spoken answer")
    assert run.original_message is not None and run.original_message.content.startswith("Hello, traveller.")
    (spoken,) = [m for m in shown(run) if m.attachments]
    assert spoken.attachments[0].data[:4] == b"RIFF" and run.rejected_followups == 0
    assert [r.route for r in discord_emulator.requests if r.channel_id == channel] == []


async def test_the_install_links_are_logged_at_start_up(
    discord_emulator: DiscordEmulator, anywhere: Callable[..., BotProcess], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.app")
    await anywhere().start()
    await discord_emulator.wait_for(lambda: "integration_type=1" in caplog.text, WAIT_S, "the install links in the log")
    app = discord_emulator.application_id
    assert f"client_id={app}&integration_type=0&scope=bot+applications.commands" in caplog.text
    assert f"client_id={app}&integration_type=1&scope=applications.commands" in caplog.text


async def test_a_long_answer_to_a_retry_keeps_a_followup_spare(
    discord_emulator: DiscordEmulator, ablt: AbltEmulator, anywhere: Callable[..., BotProcess]
) -> None:
    """A Retry's response is the failure line's update, so every message of its answer is a followup: the text
    takes four of the five, and the whole answer still comes as a file."""
    await anywhere(MAX_REPLY_CHARS="30000").start()
    bob, channel = elsewhere(discord_emulator)
    long = "\n\n".join(f"Part {i}: " + "sit amet consectetur " * 25 for i in range(40))
    ablt.enqueue(Reply(status=500), Reply(text=long))
    run = await chat_as(discord_emulator, bob, channel, provider="ablt", prompt="Write a lot")
    await discord_emulator.wait_for(
        lambda: any(i.startswith("retry:") for m in shown(run) for i in m.custom_ids()), WAIT_S, "Retry"
    )
    failure = next(m for m in shown(run) if any(i.startswith("retry:") for i in m.custom_ids()))
    retry = next(i for i in failure.custom_ids() if i.startswith("retry:"))
    click = await discord_emulator.click_button(failure.id, retry, user_id=bob)
    await click.wait_for_response(WAIT_S)
    last = await answered(discord_emulator, click, bob)
    assert len(click.followups) == 4 and click.rejected_followups == 0 and last is click.followups[-1]
    assert last.content == OVERFLOW and last.attachments[0].data.decode() == long


async def test_asking_another_provider_while_refused_keeps_the_conversation_going(
    discord_emulator: DiscordEmulator, ablt: AbltEmulator, anywhere: Callable[..., BotProcess], database: str
) -> None:
    """Naming another provider ends the conversation only once the new one may open: refused by the cooldown,
    the member's conversation with the first provider is still theirs."""
    await anywhere(DEFAULT_COOLDOWN_S="600").start()
    bob, channel = elsewhere(discord_emulator)
    ablt.enqueue(Reply(text="Hello from aBLT."))
    await answered(discord_emulator, await chat_as(discord_emulator, bob, channel, provider="ablt", prompt="Hi"), bob)
    refused = await chat_as(discord_emulator, bob, channel, provider="convai", prompt="Hi")
    assert "Slow down" in refusal(refused)
    store = await Store.open(database)
    try:
        session = await store.active_session(place_key(channel, bob))
    finally:
        await store.close()
    assert session is not None and session.provider == "ablt"
