"""The composer: `/chat` without a prompt opens a form (a long message, the provider and its options, files); its
submission opens the conversation as `/chat prompt:` does, and whatever cannot go is refused privately with the
member's words handed back. Played through the real bot, the loopback Discord's modals and the providers'
emulators."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from bot.core.gate import NOT_IN_PLACES
from cogs.common.composer import AGAIN_PREFIX, DRAFT_GONE, EMPTY
from cogs.common.composer_form import FILE_LOST, FILES_ID, OPTION_PREFIX, PROMPT_ID, PROVIDER_ID, STALE
from tests.emulators.ablt import AbltEmulator, Reply
from tests.emulators.convai import ConvaiEmulator, ConvaiReply
from tests.emulators.discord import (
    VOICE_MESSAGE_FLAG,
    AttachmentSpec,
    DiscordEmulator,
    InteractionRecord,
    MessageRecord,
    ThreadRecord,
)
from tests.emulators.magicai import MagicAIEmulator
from tests.emulators.soundverse import SoundverseEmulator, SoundverseReply
from tests.support import audio_samples
from tests.support.databases import KINDS
from tests.support.harness import BotProcess
from tests.support.journey import WAIT_S, bot_posts, command, refusal, wait_for_post, wait_for_reply

DEFERRED_WITH_SOURCE = 5
MEMBER = ((1 << 51) - 1) & ~(1 << 3) & ~(1 << 5) & ~(1 << 34)
"""Everything but Administrator, Manage Server and Manage Threads: an ordinary member."""


async def compose(
    discord: DiscordEmulator, *, provider: str | None = "ablt", by: int | None = None, **options: str
) -> InteractionRecord:
    """`/chat` without a prompt (`provider:` unless None, and `options`) as member `by`; the form it opened."""
    given: dict[str, Any] = {"provider": provider, **options} if provider else dict(options)
    opened = await discord.run_slash_command("chat", given, user_id=by)
    await opened.wait_for_response(WAIT_S)
    assert opened.modal is not None, f"expected the composer's form, got {opened.original_message}"
    return opened


async def submit(discord: DiscordEmulator, opened: InteractionRecord, values: dict[str, Any]) -> InteractionRecord:
    submitted = await discord.submit_modal(opened, values)
    await submitted.wait_for_response(WAIT_S)
    return submitted


def opening_of(interaction: InteractionRecord) -> MessageRecord | None:
    """The public opening line: the answer itself, or (when the form's files were waited for behind a private
    "thinking…", since removed) the interaction's first followup."""
    shown = [m for m in (interaction.original_message, *interaction.followups) if m is not None and not m.deleted]
    return next((m for m in shown if not m.ephemeral), None)


async def thread_of(discord: DiscordEmulator, interaction: InteractionRecord) -> ThreadRecord:
    """The thread the bot opened off the submission's opening line."""

    def opened() -> ThreadRecord | None:
        line = opening_of(interaction)
        return next((t for t in discord.threads if line is not None and t.starter_message_id == line.id), None)

    await discord.wait_for(lambda: opened() is not None, WAIT_S, "the bot to open a thread")
    thread = opened()
    assert thread is not None
    return thread


def fields(form: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The form's inputs by custom id (each inside its Label)."""
    return {top["component"]["custom_id"]: top["component"] for top in form["components"]}


async def private_answer(discord: DiscordEmulator, interaction: InteractionRecord) -> str:
    """The private answer the member got, once any "thinking…" it was acknowledged with is filled in."""
    await discord.wait_for(
        lambda: interaction.original_message is not None and not interaction.original_message.loading,
        WAIT_S,
        "the private answer",
    )
    return refusal(interaction)


def again_button(interaction: InteractionRecord) -> str:
    message = interaction.original_message
    assert message is not None
    (custom_id,) = [i for i in message.custom_ids() if i.startswith(AGAIN_PREFIX)]
    return custom_id


async def test_chat_without_a_prompt_opens_the_form_and_a_text_file_is_read_into_the_turn(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator
) -> None:
    ablt.enqueue(Reply(text="Monday: shop. Tuesday: cook."))
    opened = await compose(discord_emulator)

    form = opened.modal
    assert form is not None and form["custom_id"] == "composer:ablt" and form["title"] == "Chat with aBLT"
    inputs = fields(form)
    assert list(inputs) == [PROMPT_ID, FILES_ID]  # aBLT named: no provider to pick, and no option with choices
    assert inputs[PROMPT_ID]["style"] == 2 and inputs[PROMPT_ID]["max_length"] == 4000
    long = "Plan my week around this list, one line a day please. " * 60  # 3,300 characters
    notes = AttachmentSpec("groceries.md", b"# Groceries\n- milk\n- rice\n", "text/markdown")
    submitted = await submit(discord_emulator, opened, {PROMPT_ID: long, FILES_ID: [notes]})

    thread = await thread_of(discord_emulator, submitted)
    await wait_for_reply(discord_emulator, thread.id, "Monday: shop. Tuesday: cook.")
    block = "[File: groceries.md]\n```markdown\n# Groceries\n- milk\n- rice\n```"
    assert ablt.requests[0].body["messages"] == [{"role": "user", "content": f"{long.strip()}\n\n{block}"}]
    line = opening_of(submitted)
    assert line is not None and line.content.startswith("**Alice** started a conversation with **aBLT · taxson**:")
    assert "Groceries" not in line.content and "[File:" not in line.content  # it quotes what she typed
    assert thread.name.startswith("Plan my week")


async def test_a_voice_note_in_the_form_reaches_convai_and_is_answered_out_loud(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, convai: ConvaiEmulator
) -> None:
    convai.enqueue(ConvaiReply(text="Sunny all week!", transcript="What's the weather like?"))
    opened = await compose(discord_emulator, provider="convai")
    assert opened.modal is not None
    (upload,) = [top for top in opened.modal["components"] if top["component"]["custom_id"] == FILES_ID]
    assert "voice note" in upload["description"] and "Convai" in upload["description"]

    note = audio_samples.voice_note_ogg(seconds=2.0)
    spec = AttachmentSpec("voice-message.ogg", note, "audio/ogg", duration_secs=2.0)
    submitted = await submit(discord_emulator, opened, {FILES_ID: [spec]})

    thread = await thread_of(discord_emulator, submitted)
    await wait_for_post(discord_emulator, thread.id, "What's the weather like?")
    await wait_for_post(discord_emulator, thread.id, "Sunny all week!")
    await discord_emulator.wait_for(
        lambda: any(m.flags & VOICE_MESSAGE_FLAG for m in bot_posts(discord_emulator, thread.id)),
        WAIT_S,
        "Convai's spoken answer as a voice message",
    )
    (request,) = [r for r in convai.requests if r.path.endswith("getResponse")]
    assert "userText" not in request.fields and request.wav is not None
    assert (request.wav.channels, request.wav.sample_width, request.wav.sample_rate) == (1, 2, 16000)
    assert abs(request.wav.duration_s - 2.0) <= 0.05
    line = opening_of(submitted)
    assert line is not None and "🎙️ voice note (2.0 s)" in line.content
    assert submitted.response_type == DEFERRED_WITH_SOURCE and submitted.original_message.deleted  # "thinking…" went


async def test_a_recording_for_a_provider_that_only_reads_is_refused_and_nothing_is_lost(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator
) -> None:
    opened = await compose(discord_emulator)
    clip = AttachmentSpec("memo.ogg", audio_samples.voice_note_ogg(seconds=1.0), "audio/ogg")
    submitted = await submit(discord_emulator, opened, {PROMPT_ID: "Transcribe this *please*", FILES_ID: [clip]})

    said = refusal(submitted)
    assert said.startswith("aBLT reads text only, so it can't take memo.ogg.") and "pick Convai" in said
    message = submitted.original_message
    assert message is not None
    (kept,) = message.attachments
    assert (kept.filename, kept.data) == ("your-message.txt", b"Transcribe this *please*")
    assert not discord_emulator.threads and not ablt.requests

    again = await discord_emulator.click_button(message.id, again_button(submitted))
    await again.wait_for_response(WAIT_S)
    assert again.modal is not None and fields(again.modal)[PROMPT_ID]["value"] == "Transcribe this *please*"
    resent = await submit(discord_emulator, again, {})  # the words as the form kept them, without the recording
    thread = await thread_of(discord_emulator, resent)
    await wait_for_reply(discord_emulator, thread.id, "You said: Transcribe this *please*")


async def test_an_empty_form_and_files_that_cannot_go_are_refused_privately(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator
) -> None:
    opened = await compose(discord_emulator, provider=None)
    assert opened.modal is not None and opened.modal["custom_id"] == "composer:"
    menu = fields(opened.modal)[PROVIDER_ID]
    assert [o["value"] for o in menu["options"]] == ["ablt", "magicai", "soundverse", "convai", "agentverse"]
    assert not any(o.get("default") for o in menu["options"])  # nothing here decides: the member must pick

    empty = await submit(discord_emulator, opened, {PROVIDER_ID: ["ablt"]})
    assert refusal(empty).startswith(EMPTY)
    assert empty.original_message is not None and not empty.original_message.attachments  # no words to hand back

    second = await compose(discord_emulator)
    binary = AttachmentSpec("data.txt", b"\x00\x01\x02", "text/plain")
    pdf = AttachmentSpec("report.pdf", b"%PDF-1.7", "application/pdf")
    refused = await submit(discord_emulator, second, {PROMPT_ID: "Read these", FILES_ID: [binary, pdf]})
    assert refusal(refused).startswith("Not used: report.pdf (not a text file).")

    third = await compose(discord_emulator)
    unreadable = await submit(discord_emulator, third, {PROMPT_ID: "Read this", FILES_ID: [binary]})
    assert (await private_answer(discord_emulator, unreadable)).startswith("Not used: data.txt (not UTF-8 text).")
    answer = unreadable.original_message  # the private "thinking…" filled in: the words and the button are there
    assert answer is not None and [a.filename for a in answer.attachments] == ["your-message.txt"]
    assert again_button(unreadable)
    assert not discord_emulator.threads and not ablt.requests


async def test_what_chat_named_fills_the_form_in(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator, soundverse: SoundverseEmulator
) -> None:
    soundverse.enqueue(SoundverseReply(text="Verse one..."))
    opened = await compose(discord_emulator, provider="soundverse", action="lyric_writing")
    assert opened.modal is not None
    action = fields(opened.modal)[OPTION_PREFIX + "action"]
    assert [o["value"] for o in action["options"] if o.get("default")] == ["lyric_writing"]
    submitted = await submit(discord_emulator, opened, {PROMPT_ID: "A song about rain"})
    thread = await thread_of(discord_emulator, submitted)
    await wait_for_reply(discord_emulator, thread.id, "Verse one...")
    assert soundverse.requests[0].body == {"prompt": "A song about rain", "action": "lyric_writing"}

    unnamed = await compose(discord_emulator, provider=None, bot="writer")
    assert unnamed.modal is not None
    inputs = fields(unnamed.modal)
    assert list(inputs) == [PROMPT_ID, FILES_ID, PROVIDER_ID, OPTION_PREFIX + "bot", OPTION_PREFIX + "action"]
    assert inputs[OPTION_PREFIX + "bot"]["value"] == "writer"
    haiku = await submit(discord_emulator, unnamed, {PROMPT_ID: "A haiku", PROVIDER_ID: ["ablt"]})
    await wait_for_reply(discord_emulator, (await thread_of(discord_emulator, haiku)).id, "You said: A haiku")
    assert ablt.requests[-1].body["bot_slug"] == "writer"


async def test_a_provider_kept_for_others_is_refused_before_the_form_and_after_it_with_the_words_back(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, magicai: MagicAIEmulator
) -> None:
    discord_emulator.set_everyone_permissions(MEMBER)
    bob, patrons = discord_emulator.add_member("bob"), discord_emulator.add_role("Patrons")
    allowed = await command(
        discord_emulator, "access allow", discord_emulator.channel_id, what="use:magicai", who=patrons
    )
    assert refusal(allowed).startswith("Added.")  # the owner keeps Magic AI for the Patrons role

    named = await discord_emulator.run_slash_command("chat", {"provider": "magicai"}, user_id=bob)
    await named.wait_for_response(WAIT_S)
    assert named.modal is None and "**Magic AI** is for some members only" in refusal(named)  # nothing to write

    opened = await compose(discord_emulator, provider=None, by=bob)
    picked = await submit(discord_emulator, opened, {PROMPT_ID: "Where are the docs?", PROVIDER_ID: ["magicai"]})
    assert "**Magic AI** is for some members only" in refusal(picked)
    assert picked.original_message is not None and picked.original_message.attachments[0].data == b"Where are the docs?"
    assert not magicai.requests and not discord_emulator.threads


@pytest.mark.parametrize("database", KINDS, indirect=True)  # the submission is claimed in either store
async def test_a_form_submitted_after_a_restart_opens_the_conversation(
    make_bot: Callable[..., BotProcess], discord_emulator: DiscordEmulator, ablt: AbltEmulator
) -> None:
    first = make_bot()
    await first.start()
    kept = await compose(discord_emulator)
    refused = await submit(discord_emulator, await compose(discord_emulator), {PROMPT_ID: "", FILES_ID: []})
    assert refusal(refused).startswith(EMPTY)
    await first.stop()

    second = make_bot()
    await second.start()
    submitted = await submit(discord_emulator, kept, {PROMPT_ID: "Still there?"})
    thread = await thread_of(discord_emulator, submitted)
    await wait_for_reply(discord_emulator, thread.id, "You said: Still there?")

    assert refused.original_message is not None
    gone = await discord_emulator.click_button(refused.original_message.id, again_button(refused))
    await gone.wait_for_response(WAIT_S)
    assert refusal(gone) == DRAFT_GONE
    await second.stop()


async def test_files_that_take_a_while_to_arrive_are_waited_for(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, convai: ConvaiEmulator
) -> None:
    """Discord drops an interaction unanswered for 3 s: while files download, the submission is acknowledged
    privately ("thinking…"), which then goes, and the opening line comes as a followup with the thread off it."""
    convai.enqueue(ConvaiReply(text="Got it, loud and clear."))
    opened = await compose(discord_emulator, provider="convai")
    arrived = asyncio.Event()
    note = audio_samples.voice_note_ogg(seconds=1.0)
    spec = AttachmentSpec("voice-message.ogg", note, "audio/ogg", duration_secs=1.0, held=arrived)
    submitted = await discord_emulator.submit_modal(opened, {FILES_ID: [spec]})
    await submitted.wait_for_response(WAIT_S)
    thinking = submitted.original_message
    assert submitted.response_type == DEFERRED_WITH_SOURCE and thinking is not None
    assert thinking.loading and thinking.ephemeral  # acknowledged, only to the member, while the file arrives
    arrived.set()

    thread = await thread_of(discord_emulator, submitted)
    await wait_for_post(discord_emulator, thread.id, "Got it, loud and clear.")
    line = opening_of(submitted)
    assert line is not None and "🎙️ voice note (1.0 s)" in line.content and thinking.deleted


async def test_crafted_submissions_get_a_private_answer_and_open_nothing(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator
) -> None:
    opened = await compose(discord_emulator, provider=None)

    def label(custom_id: str, **answer: Any) -> dict[str, Any]:
        return {"type": 18, "id": 1, "component": {"type": 4, "id": 2, "custom_id": custom_id, **answer}}

    prompt = label(PROMPT_ID, value="hello")
    crafted: list[tuple[dict[str, Any], str]] = [
        ({"custom_id": "composer:gpt", "components": [prompt]}, "not set up"),
        ({"custom_id": "composer:x:y", "components": [prompt]}, STALE),
        ({"custom_id": "composer:", "components": [prompt, label(PROVIDER_ID, values=["gpt"])]}, "not set up"),
        ({"custom_id": "composer:ablt", "components": [prompt, label(FILES_ID, values=["123"])]}, FILE_LOST),
        ({"custom_id": "composer:ablt", "components": [label(PROMPT_ID, value=7)]}, STALE),
        ({"custom_id": "composer:ablt", "components": "x"}, STALE),
    ]
    for data, says in crafted:
        answered = await discord_emulator.submit_crafted_modal(opened, data)
        await answered.wait_for_response(WAIT_S)
        assert says in refusal(answered), data
        kept = answered.original_message.attachments if answered.original_message else []
        handed_back = [b"hello"] if isinstance(data["components"], list) and prompt in data["components"] else []
        assert [a.data for a in kept] == handed_back  # the member's words come back whatever else was wrong
    assert not discord_emulator.threads and not ablt.requests


async def test_the_composer_where_only_the_members_own_install_reaches(
    discord_emulator: DiscordEmulator, ablt: AbltEmulator, make_bot: Callable[..., BotProcess]
) -> None:
    """A server without the bot: the form opens, and its submission (a text file read behind a private
    "thinking…") is answered into the interaction, as `/chat prompt:` is there."""
    discord_emulator.support_user_installs()
    await make_bot(USER_INSTALLS="on", USER_INSTALL_PROVIDERS="ablt,convai").start()
    bob = discord_emulator.add_user("bob")
    discord_emulator.install_app(bob)
    server = discord_emulator.add_outside_guild("bob's friends")
    discord_emulator.join_guild(bob, server)
    channel = discord_emulator.general_channel(server)
    ablt.enqueue(Reply(text="Noted: milk."))

    opened = await discord_emulator.run_slash_command("chat", {}, channel_id=channel, user_id=bob)
    await opened.wait_for_response(WAIT_S)
    assert opened.modal is not None, refusal(opened)
    assert [o["value"] for o in fields(opened.modal)[PROVIDER_ID]["options"]] == ["ablt", "convai"]
    notes = AttachmentSpec("list.txt", b"milk\n", "text/plain")
    values = {PROMPT_ID: "What is on my list?", PROVIDER_ID: ["ablt"], FILES_ID: [notes]}
    submitted = await submit(discord_emulator, opened, values)

    def answer() -> str:
        return "".join(m.content for m in (submitted.original_message, *submitted.followups) if m and not m.deleted)

    await discord_emulator.wait_for(lambda: answer() == "Noted: milk.", WAIT_S, "the answer in the interaction")
    assert ablt.requests[-1].body["messages"][-1]["content"].endswith("[File: list.txt]\n```\nmilk\n```")
    assert all(not m.ephemeral for m in submitted.followups)  # the private "thinking…" went; the answer is not
    assert [r.route for r in discord_emulator.requests if r.channel_id == channel] == []  # never the channel

    named = await discord_emulator.run_slash_command("chat", {"provider": "magicai"}, channel_id=channel, user_id=bob)
    await named.wait_for_response(WAIT_S)
    assert named.modal is None and refusal(named) == NOT_IN_PLACES.format(name="Magic AI")  # before any writing


async def test_a_refusal_only_opening_can_tell_still_hands_the_words_back(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator
) -> None:
    """The server's cooldown is spent only when a conversation opens, so the form cannot ask it beforehand: its
    refusal comes from opening itself, and still carries the member's words and *Edit and send again*."""
    discord_emulator.set_everyone_permissions(MEMBER)
    bob = discord_emulator.add_member("bob")
    assert "Changed the cooldown" in refusal(
        await command(discord_emulator, "settings", discord_emulator.channel_id, cooldown=60)
    )
    ablt.enqueue(Reply(text="First answer"))
    first = await submit(discord_emulator, await compose(discord_emulator, by=bob), {PROMPT_ID: "First question"})
    await wait_for_reply(discord_emulator, (await thread_of(discord_emulator, first)).id, "First answer")

    second = await submit(discord_emulator, await compose(discord_emulator, by=bob), {PROMPT_ID: "Second *words*"})
    said = refusal(second)
    assert "one message every 1 min" in said and "Your message is in the file above" in said
    message = second.original_message
    assert message is not None and message.ephemeral
    assert [(a.filename, a.data) for a in message.attachments] == [("your-message.txt", b"Second *words*")]
    again = await discord_emulator.click_button(message.id, again_button(second), user_id=bob)
    await again.wait_for_response(WAIT_S)
    assert again.modal is not None and fields(again.modal)[PROMPT_ID]["value"] == "Second *words*"
    assert len(discord_emulator.threads) == 1 and len(ablt.requests) == 1
