"""Text files as input: attached notes and source code become part of the member's turn, each as a fenced
block with its name; whatever is left out (too big, not text, past five files, not UTF-8) is said once."""

from __future__ import annotations

from tests.emulators.ablt import AbltEmulator, Reply
from tests.emulators.discord import AttachmentSpec, DiscordEmulator
from tests.support.harness import BotProcess
from tests.support.journey import bot_posts, chat, command, last_message_id, thread_for, wait_for_post, wait_for_reply

SCRIPT = AttachmentSpec("hello.py", b'def greet(name):\n    return f"Hello, {name}!"\n', "text/x-python")
NOTES = AttachmentSpec("notes.md", "# Plan\n\n- ship it ✓\n".encode(), "text/markdown")
PDF = AttachmentSpec("report.pdf", b"%PDF-1.7\n" + b"\0" * 200, "application/pdf")
BIG_LOG = AttachmentSpec("big.log", b"GET / 200\n" * 15_000, "text/plain")  # 150,000 bytes
IMAGE = AttachmentSpec("cat.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "image/png")


async def conversation(discord: DiscordEmulator) -> int:
    thread = await thread_for(discord, await chat(discord, "hello"))
    await wait_for_reply(discord, thread.id, "You said: hello")
    return thread.id


def last_turn(ablt: AbltEmulator) -> str:
    return str(ablt.requests[-1].body["messages"][-1]["content"])


async def test_a_python_and_a_markdown_file_reach_the_provider_after_the_question_with_their_names(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator
) -> None:
    thread_id = await conversation(discord_emulator)
    ablt.enqueue(Reply(text="Looks good."))

    question = await discord_emulator.send_user_message(
        thread_id, "Does this match the plan?", attachments=[SCRIPT, NOTES]
    )

    await wait_for_reply(discord_emulator, thread_id, "Looks good.", after=question.id)
    assert last_turn(ablt) == (
        "Does this match the plan?\n\n"
        '[File: hello.py]\n```python\ndef greet(name):\n    return f"Hello, {name}!"\n```\n\n'
        "[File: notes.md]\n```markdown\n# Plan\n\n- ship it ✓\n```"
    )
    assert [m.content for m in bot_posts(discord_emulator, thread_id) if m.id > question.id] == ["Looks good."]


async def test_a_big_file_and_a_pdf_get_one_reply_saying_why_and_the_text_is_still_answered(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator
) -> None:
    thread_id = await conversation(discord_emulator)
    ablt.enqueue(Reply(text="Here is my summary."))

    question = await discord_emulator.send_user_message(thread_id, "Summarise these", attachments=[PDF, BIG_LOG])

    note = await wait_for_post(discord_emulator, thread_id, "Not used", after=question.id)
    await wait_for_post(discord_emulator, thread_id, "Here is my summary.", after=question.id)
    assert note.content == "Not used: report.pdf (not a text file), big.log (over 100 KB)."
    assert note.message_reference is not None and note.message_reference["message_id"] == str(question.id)
    assert sum("Not used" in m.content for m in bot_posts(discord_emulator, thread_id)) == 1
    assert last_turn(ablt) == "Summarise these"
    sent = discord_emulator.message(question.id).attachments
    assert not set(discord_emulator.downloaded_attachments) & {a.id for a in sent}  # checked, never downloaded


async def test_only_five_files_are_read_and_a_file_that_is_not_utf8_is_left_out(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator
) -> None:
    thread_id = await conversation(discord_emulator)
    files = [AttachmentSpec(f"part{n}.txt", f"part {n}\n".encode(), "text/plain") for n in range(1, 7)]
    latin1 = AttachmentSpec("legacy.csv", "name;city\nJosé;Málaga\n".encode("latin-1"), "text/csv")
    ablt.enqueue(Reply(text="Read them."))

    question = await discord_emulator.send_user_message(thread_id, "Join these", attachments=[latin1, *files])

    note = await wait_for_post(discord_emulator, thread_id, "Not used", after=question.id)
    await wait_for_post(discord_emulator, thread_id, "Read them.", after=question.id)
    assert note.content == (
        "Not used: part5.txt (only 5 files per message are read), part6.txt (only 5 files per message are read),"
        " legacy.csv (not UTF-8 text)."
    )
    blocks = "\n\n".join(f"[File: part{n}.txt]\n```\npart {n}\n```" for n in range(1, 5))
    assert last_turn(ablt) == f"Join these\n\n{blocks}"


async def test_a_message_with_only_an_image_gets_the_hint_and_no_provider_call(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator
) -> None:
    thread_id = await conversation(discord_emulator)
    calls, mark = len(ablt.requests), last_message_id(discord_emulator, thread_id)

    await discord_emulator.send_user_message(thread_id, "", attachments=[IMAGE])

    hint = await wait_for_post(discord_emulator, thread_id, "reads text only", after=mark)
    assert hint.content == "Not used: cat.png (not a text file). aBLT · taxson reads text only: type your message."
    assert len(ablt.requests) == calls


async def test_a_file_alone_in_a_bound_channel_opens_a_thread_named_after_it(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator
) -> None:
    await command(discord_emulator, "bind", discord_emulator.channel_id, provider="ablt")
    ablt.enqueue(Reply(text="A greeting function."))

    posted = await discord_emulator.send_user_message(None, "", attachments=[SCRIPT, IMAGE])

    await discord_emulator.wait_for(lambda: bool(discord_emulator.threads), 15, "a thread")
    (thread,) = discord_emulator.threads
    await wait_for_post(discord_emulator, thread.id, "A greeting function.")
    assert thread.name == "hello.py" and thread.starter_message_id == posted.id
    note = await wait_for_post(discord_emulator, thread.id, "Not used")
    assert note.content == "Not used: cat.png (not a text file)."
    assert last_turn(ablt).startswith("[File: hello.py]\n```python\n")
