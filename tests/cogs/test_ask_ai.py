"""Ask AI (Apps → Ask AI on a message): a conversation opened from someone's message, as `/chat` would.

The provider comes from the channel's binding, the server's default, the only one configured, or a private
picker; the gate and its refusals are `/chat`'s; the opening line names whose message it was and links to it.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from bot.config.settings import load_settings
from bot.core.gate import CHAT_REFUSED
from cogs.ask import NOTHING_TO_ASK, PICK_ONE
from tests.emulators.ablt import AbltEmulator, Reply
from tests.emulators.discord import AttachmentSpec, DiscordEmulator, InteractionRecord, MessageRecord
from tests.emulators.magicai import MagicAIEmulator
from tests.support.harness import BotProcess, bot_environment
from tests.support.journey import WAIT_S, bot_posts, command, refusal, thread_for, wait_for_post, wait_for_reply

ASK_AI = "Ask AI"
MEMBER = ((1 << 51) - 1) & ~(1 << 3) & ~(1 << 5) & ~(1 << 34)
"""Everything but Administrator, Manage Server and Manage Threads: an ordinary member."""


async def ask(discord: DiscordEmulator, message_id: int, *, by: int | None = None) -> InteractionRecord:
    """Run Ask AI on a message (as member `by`, default alice) and wait for the bot's acknowledgement."""
    run = await discord.run_message_command(ASK_AI, message_id, user_id=by)
    await run.wait_for_response(WAIT_S)
    return run


def jump_url(discord: DiscordEmulator, message: MessageRecord) -> str:
    return f"https://discord.com/channels/{discord.guild_id}/{message.channel_id}/{message.id}"


def button(message: MessageRecord, label: str) -> str:
    """The custom_id of the button labelled `label`."""
    buttons = [c for row in message.components for c in row.get("components", []) if c.get("type") == 2]
    return next(b["custom_id"] for b in buttons if b.get("label") == label)


def labels(message: MessageRecord) -> list[str]:
    return [c["label"] for row in message.components for c in row.get("components", []) if c.get("type") == 2]


@pytest.fixture
async def only_ablt(discord_emulator: DiscordEmulator, ablt: AbltEmulator, database: str) -> AsyncIterator[BotProcess]:
    """The bot with aBLT as its only provider."""
    env = bot_environment(discord_emulator, ablt, database, PROVIDER_TIMEOUT_S="2")
    bot = BotProcess(load_settings(env, None), discord_emulator)
    await bot.start()
    try:
        yield bot
    finally:
        await bot.stop()


async def test_ask_ai_in_a_thread_of_a_bound_channel_uses_the_binding_and_links_the_message(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator
) -> None:
    bound = await command(discord_emulator, "bind", discord_emulator.channel_id, provider="ablt", bot="coder")
    assert not bound.ephemeral
    thread = await discord_emulator.create_thread("design talk")
    bob = discord_emulator.add_member("bob")
    question = await discord_emulator.send_user_message(thread.id, "What is a monad, <@&1> @everyone?", user_id=bob)
    ablt.enqueue(Reply(text="A monoid in the category of endofunctors."))

    run = await ask(discord_emulator, question.id)
    await wait_for_reply(
        discord_emulator, thread.id, "A monoid in the category of endofunctors.", after=run.original_message.id
    )

    opening = run.original_message
    assert opening is not None and not opening.ephemeral and opening.channel_id == thread.id  # no new thread
    link = jump_url(discord_emulator, question)
    assert opening.content.startswith(f"**Alice** asked **aBLT · coder** about [a message]({link}) by **Bob**:")
    assert "> What is a monad, <@&1> @everyone?" in opening.content
    assert opening.allowed_mentions == {"parse": []} and not opening.pings.any  # named, never pinged
    request = ablt.requests[-1].body
    assert request["bot_slug"] == "coder"
    assert request["messages"] == [{"role": "user", "content": "What is a monad, <@&1> @everyone?"}]
    assert [t.id for t in discord_emulator.threads] == [thread.id]

    mark = (await discord_emulator.send_user_message(thread.id, "and in Python?")).id
    await wait_for_post(discord_emulator, thread.id, "You said: and in Python?", after=mark)  # a conversation
    again = await ask(discord_emulator, question.id)
    assert "already has a conversation" in refusal(again)


async def test_ask_ai_uses_the_server_default_provider(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, magicai: MagicAIEmulator, ablt: AbltEmulator
) -> None:
    await command(discord_emulator, "settings", discord_emulator.channel_id, default_provider="magicai")
    question = await discord_emulator.send_user_message(None, "How do refunds work?")

    thread = await thread_for(discord_emulator, await ask(discord_emulator, question.id))

    await discord_emulator.wait_for(lambda: bool(magicai.requests), WAIT_S, "Magic AI to be asked")
    assert magicai.requests[-1].body["text"] == "How do refunds work?"
    await wait_for_post(discord_emulator, thread.id, "How do refunds work?")
    assert not ablt.requests


async def test_ask_ai_with_a_single_provider_uses_it_and_reads_a_forward_as_a_turn_would(
    only_ablt: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator
) -> None:
    original = await discord_emulator.send_user_message(None, "The meeting moved to 5 pm.")
    forward = await discord_emulator.send_user_message(None, "", forward_of=original.id)

    thread = await thread_for(discord_emulator, await ask(discord_emulator, forward.id))

    turn = "[Forwarded message]\nThe meeting moved to 5 pm."
    await wait_for_reply(discord_emulator, thread.id, f"You said: {turn}")
    assert ablt.requests[-1].body["messages"] == [{"role": "user", "content": turn}]
    assert ablt.requests[-1].body["bot_slug"] == "taxson"  # the server default bot


async def test_ask_ai_with_nothing_to_decide_offers_a_private_picker_and_the_pick_starts_the_conversation(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator
) -> None:
    bob = discord_emulator.add_member("bob")
    question = await discord_emulator.send_user_message(None, "Summarise the release notes", user_id=bob)

    run = await ask(discord_emulator, question.id)

    picker = run.original_message
    assert picker is not None and picker.ephemeral and picker.content == PICK_ONE
    assert labels(picker) == ["aBLT", "Magic AI", "Soundverse", "Convai", "Agentverse"]
    assert not discord_emulator.threads and not ablt.requests  # nothing starts before the pick

    click = await discord_emulator.click_button(picker.id, button(picker, "aBLT"))
    await click.wait_for_response(WAIT_S)
    thread = await thread_for(discord_emulator, click)
    await wait_for_reply(discord_emulator, thread.id, "You said: Summarise the release notes")

    opening = click.original_message
    assert opening is not None and not opening.ephemeral
    assert f"about [a message]({jump_url(discord_emulator, question)}) by **Bob**" in opening.content
    await discord_emulator.wait_for(lambda: discord_emulator.message(picker.id).content == "Asked **aBLT**.", WAIT_S)
    assert discord_emulator.message(picker.id).components == []  # the buttons are gone
    assert len(ablt.requests) == 1


async def test_an_unanswered_picker_says_it_expired(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Five minutes in production. The running bot's module: discord.py loads each extension afresh into sys.modules.
    monkeypatch.setattr(sys.modules["cogs.ask"], "PICKER_TIMEOUT_S", 0.3)
    question = await discord_emulator.send_user_message(None, "anyone?")

    picker = (await ask(discord_emulator, question.id)).original_message

    assert picker is not None
    await discord_emulator.wait_for(lambda: "expired" in discord_emulator.message(picker.id).content, WAIT_S)
    assert discord_emulator.message(picker.id).components == []


async def test_ask_ai_is_refused_privately_by_a_chat_allow_list(
    make_bot: Callable[..., BotProcess], discord_emulator: DiscordEmulator, ablt: AbltEmulator
) -> None:
    discord_emulator.set_everyone_permissions(MEMBER)
    patrons = discord_emulator.add_role("Patrons")
    bob = discord_emulator.add_member("bob")
    bot = make_bot(PROVIDER_TIMEOUT_S="2")
    await bot.start()
    await command(discord_emulator, "access allow", discord_emulator.channel_id, what="chat", who=patrons)
    question = await discord_emulator.send_user_message(None, "Can I ask too?", user_id=bob)

    picked = await ask(discord_emulator, question.id, by=bob)  # no default: refused before any picker
    await command(discord_emulator, "settings", discord_emulator.channel_id, default_provider="ablt")
    defaulted = await ask(discord_emulator, question.id, by=bob)  # the gate itself refuses

    assert refusal(picked) == CHAT_REFUSED and refusal(defaulted) == CHAT_REFUSED
    assert not picked.original_message.components  # type: ignore[union-attr]
    assert not discord_emulator.threads and not ablt.requests
    public = [m for m in bot_posts(discord_emulator, discord_emulator.channel_id) if not m.ephemeral]
    assert not [m for m in public if "asked" in m.content]


async def test_ask_ai_on_a_message_with_nothing_readable_explains_privately(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator
) -> None:
    image = AttachmentSpec("cat.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "image/png")
    picture = await discord_emulator.send_user_message(None, "", attachments=[image])
    sticker = await discord_emulator.send_user_message(None, "", sticker_ids=[discord_emulator.sticker_id])

    about_picture = refusal(await ask(discord_emulator, picture.id))
    about_sticker = refusal(await ask(discord_emulator, sticker.id))

    assert about_picture == f"{NOTHING_TO_ASK} Not used: cat.png (not a text file)."
    assert about_sticker == NOTHING_TO_ASK
    assert not discord_emulator.threads and not ablt.requests


async def test_ask_ai_reads_the_messages_text_files_into_the_first_turn(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator
) -> None:
    script = AttachmentSpec("fib.py", b"def fib(n):\n    return n\n", "text/x-python")
    pdf = AttachmentSpec("spec.pdf", b"%PDF-1.7\n", "application/pdf")
    question = await discord_emulator.send_user_message(None, "Why is this slow?", attachments=[script, pdf])
    await command(discord_emulator, "settings", discord_emulator.channel_id, default_provider="ablt")
    ablt.enqueue(Reply(text="It is not."))

    run = await ask(discord_emulator, question.id)
    thread = await thread_for(discord_emulator, run)
    await wait_for_reply(discord_emulator, thread.id, "It is not.")

    turn: Any = ablt.requests[-1].body["messages"][-1]["content"]
    assert turn == "Why is this slow?\n\n[File: fib.py]\n```python\ndef fib(n):\n    return n\n```"
    assert refusal_text(run) == "Not used: spec.pdf (not a text file)."


def refusal_text(run: InteractionRecord) -> str:
    """The private follow-up the asker got."""
    notes = [m for m in run.followups if m.ephemeral]
    assert notes, "expected a private note"
    return notes[0].content


async def test_with_dms_allowed_a_dm_message_can_be_asked_about_and_the_dm_is_the_conversation(
    make_bot: Callable[..., BotProcess], discord_emulator: DiscordEmulator, ablt: AbltEmulator
) -> None:
    bob = discord_emulator.add_member("bob")
    await make_bot(ALLOW_DMS="on", PROVIDER_TIMEOUT_S="2").start()
    dm = discord_emulator.open_dm(bob)
    menu = next(c for c in discord_emulator.commands if c["type"] == 3)
    assert menu["contexts"] == [0, 1]
    note = await discord_emulator.send_user_message(dm, "Remind me what a closure is", user_id=bob)
    await wait_for_post(discord_emulator, dm, "Start one with `/chat`", after=note.id)  # a DM without a conversation

    picker = (await ask(discord_emulator, note.id, by=bob)).original_message
    assert picker is not None and picker.ephemeral
    click = await discord_emulator.click_button(picker.id, button(picker, "aBLT"), user_id=bob)
    await click.wait_for_response(WAIT_S)

    opening = click.original_message
    assert opening is not None and opening.channel_id == dm
    assert f"about [a message](https://discord.com/channels/@me/{dm}/{note.id}) by **Bob**" in opening.content
    await wait_for_reply(discord_emulator, dm, "You said: Remind me what a closure is", after=opening.id)
    assert not discord_emulator.threads  # the DM itself is the conversation
