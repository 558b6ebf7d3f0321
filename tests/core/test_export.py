"""/export: the member gets the conversation's transcript privately as Markdown, in parts when it is big.

The journeys run the real bot against the Discord and provider emulators and read the files the member
receives (the emulator keeps each attachment's bytes).
"""

from __future__ import annotations

import asyncio
import base64
import re
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from bot.core.export import ExportedConversation, export_files
from bot.core.gate import CHAT_REFUSED
from bot.store import Entry, Store
from cogs.common.wording import NO_CONVERSATION
from tests.emulators.ablt import AbltEmulator, Reply
from tests.emulators.agentverse import AgentverseEmulator
from tests.emulators.convai import ConvaiEmulator, ConvaiReply
from tests.emulators.discord import VOICE_MESSAGE_FLAG, AttachmentSpec, DiscordEmulator, InteractionRecord
from tests.emulators.magicai import MagicAIEmulator, MagicReply
from tests.support import audio_samples
from tests.support.harness import BotProcess
from tests.support.journey import (
    bot_posts,
    chat,
    command,
    refusal,
    say,
    shown_reply,
    thread_for,
    wait_for_post,
    wait_for_reply,
)

BOTH_STORES = True  # every journey here runs on SQLite and on PostgreSQL (tests/support/fixtures.py)

WAIT_S = 15.0
ADMINISTRATOR = 1 << 3
MANAGE_GUILD = 1 << 5
MANAGE_THREADS = 1 << 34
MEMBER = ((1 << 51) - 1) & ~ADMINISTRATOR & ~MANAGE_GUILD & ~MANAGE_THREADS
HEADING = re.compile(r"^## (\d+)\. (.+) · (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC)( \(continued\))?$")
SOURCE = re.compile(r"^\d+\. \[(.*)\]\(<(.*)>\)$")


# ---- reading what the member received ----------------------------------------------------------------


@dataclass
class Said:
    """One entry as the file shows it."""

    number: int
    who: str
    when: str
    notes: list[str] = field(default_factory=list)
    quoted: list[str] = field(default_factory=list)
    sources: list[tuple[str, str]] = field(default_factory=list)
    pieces: int = 1

    @property
    def text(self) -> str:
        return "\n".join(self.quoted)

    @property
    def status(self) -> str | None:
        return next((n.removeprefix("Status: ") for n in self.notes if n.startswith("Status: ")), None)


@dataclass
class Transcript:
    header: list[str]
    entries: list[Said]


def parse(*files: str) -> Transcript:
    """Entries in order from one file or all parts (a "(continued)" piece joins its entry)."""
    header: list[str] = []
    entries: list[Said] = []
    for text in files:
        current: Said | None = None
        for line in text.split("\n"):
            heading = HEADING.match(line)
            if heading:
                number, who, when, continued = heading.groups()
                if continued:
                    current = entries[-1]
                    assert current.number == int(number), "a continued piece follows its entry"
                    current.pieces += 1
                else:
                    current = Said(int(number), who, when)
                    entries.append(current)
            elif current is None:
                header.append(line)
            elif line.startswith(">"):
                current.quoted.append(line[2:])
            elif line.startswith("_") and line.endswith("_"):
                current.notes.append(line[1:-1])
            elif SOURCE.match(line):
                title, url = SOURCE.match(line).groups()  # type: ignore[union-attr]
                current.sources.append((title, url))
            else:
                assert line in ("", "Sources:"), f"a line outside the entry's structure: {line!r}"
    return Transcript(header, entries)


async def export(discord: DiscordEmulator, channel_id: int, *, by: int | None = None) -> InteractionRecord:
    """Run `/export` and wait until every file arrived (a split transcript names its part count)."""
    done = await command(discord, "export", channel_id, by=by)

    def arrived() -> bool:
        messages = done.messages
        if not messages or messages[0].loading:
            return False
        names = [a.filename for m in messages for a in m.attachments]
        parts = re.search(r"-of-(\d+)\.md$", names[0]) if names else None
        return not parts or len(names) == int(parts.group(1))

    await discord.wait_for(arrived, WAIT_S, "the export's files")
    return done


def files_of(done: InteractionRecord) -> list[tuple[str, bytes]]:
    return [(a.filename, a.data) for m in done.messages for a in m.attachments]


def assert_private_and_silent(done: InteractionRecord) -> None:
    for message in done.messages:
        assert message.ephemeral, message
        mentions = message.edit_allowed_mentions[-1] if message.edit_allowed_mentions else message.allowed_mentions
        assert mentions is not None and mentions.get("parse") == [], mentions
        assert not message.ever_mentioned.any


@asynccontextmanager
async def opened(database: str) -> AsyncIterator[Store]:
    """The bot's own database, opened beside it (to write what no feature writes yet)."""
    store = await Store.open(database)
    try:
        yield store
    finally:
        await store.close()


async def settled(database: str, channel_id: int) -> None:
    """Wait until no reply in the channel's conversation is still being written (its turn recorded it)."""
    async with opened(database) as store:
        session = await store.active_session(channel_id)
        assert session is not None
        deadline = time.monotonic() + WAIT_S
        while any(e["status"] == "streaming" for e in await store.entries(session.id)):
            assert time.monotonic() < deadline, "a reply still being written"
            await asyncio.sleep(0.05)


# ---- the whole conversation ----------------------------------------------------------------------------

MEMBER_MARKDOWN = "## Not a heading\n```\nan unclosed fence from a member"
REPLY_MARKDOWN = "# Title\n\n---\n<details>\n* item\n```python\nprint('never closed')"


def stop_button(discord: DiscordEmulator, channel_id: int, after: int) -> tuple[int, str] | None:
    """(message id, custom_id) of a Stop button the bot shows after message `after`."""
    for message in bot_posts(discord, channel_id):
        stops = [i for i in message.custom_ids() if i.startswith("stop:")]
        if message.id > after and stops:
            return message.id, stops[0]
    return None


async def test_export_sends_the_whole_conversation_privately_with_every_status(
    make_bot: Callable[..., BotProcess], discord_emulator: DiscordEmulator, ablt: AbltEmulator, database: str
) -> None:
    alice, bob = discord_emulator.user_id, discord_emulator.add_member("bob")
    first = make_bot()
    await first.start()
    ablt.enqueue(Reply(tokens=["Long", " answer", " that", " never", " ends"], hang_after_tokens=2))
    thread = (await thread_for(discord_emulator, await chat(discord_emulator, "Tell me everything"))).id
    await discord_emulator.wait_for(lambda: "Long" in shown_reply(discord_emulator, thread), WAIT_S)
    await first.stop()  # interrupted mid-reply, keeping what was shown
    await wait_for_post(discord_emulator, thread, "cut off because the bot shut down")

    await make_bot(PROVIDER_TIMEOUT_S="2").start()
    ablt.enqueue(Reply(status=401, body={"detail": "Invalid authentication credentials"}))
    await wait_for_post(discord_emulator, thread, "⚠️", after=await say(discord_emulator, thread, "Second question"))
    ablt.enqueue(Reply(tokens=[]))
    await wait_for_post(discord_emulator, thread, "empty reply", after=await say(discord_emulator, thread, "Nothing?"))
    ablt.enqueue(Reply(text=REPLY_MARKDOWN))
    mark = await say(discord_emulator, thread, MEMBER_MARKDOWN, by=bob)
    await wait_for_post(discord_emulator, thread, "never closed", after=mark)
    await settled(database, thread)

    # A reply Bob stops, and one regenerated (the first answer is then replaced), through real clicks.
    # A stream's first write is bare; Stop rides on its next one (bot/replies/notice.py).
    ablt.enqueue(Reply(tokens=["Roses", " are", " red", ",", " violets"], token_interval_s=0.3, hang_after_tokens=5))
    mark = await say(discord_emulator, thread, "Write a long poem")
    await discord_emulator.wait_for(lambda: stop_button(discord_emulator, thread, mark) is not None, WAIT_S)
    stopping = stop_button(discord_emulator, thread, mark)
    assert stopping is not None
    await (await discord_emulator.click_button(stopping[0], stopping[1], user_id=bob)).wait_for_response(WAIT_S)
    stopped = await wait_for_post(discord_emulator, thread, "Stopped by", after=mark)
    poem = stopped.content.split("\n-# ⏹️")[0]
    assert poem.startswith("Roses are red")
    await settled(database, thread)
    ablt.enqueue(Reply(text="First try"), Reply(text="Second try"))
    first_try = await wait_for_post(
        discord_emulator, thread, "First try", after=await say(discord_emulator, thread, "Another try", by=bob)
    )
    await settled(database, thread)
    await (await discord_emulator.run_message_command("Regenerate", first_try.id)).wait_for_response(WAIT_S)
    await wait_for_post(discord_emulator, thread, "Second try", after=first_try.id)
    await settled(database, thread)

    # Then a long run of turns written straight into the store, and a reply still being written.
    async with opened(database) as store:
        session = await store.active_session(thread)
        assert session is not None
        for number in range(1, 101):  # a long conversation: hundreds of entries
            await store.add_entry(session.id, "user", f"Question {number}?", author_id=alice)
            await store.add_entry(session.id, "assistant", f"Answer {number}.", author_id=None)
        await store.add_entry(session.id, "user", "And now?", author_id=alice)
        await store.add_entry(session.id, "assistant", "Still typ", author_id=None, status="streaming")

    started = time.monotonic()
    done = await export(discord_emulator, thread)
    assert time.monotonic() - started < 5
    assert_private_and_silent(done)
    assert len(done.messages) == 1 and "(215 entries)" in done.messages[0].content
    [(name, data)] = files_of(done)
    assert name == f"conversation-{thread}.md"
    transcript = parse(data.decode())
    assert transcript.header[0] == "# Conversation with aBLT · taxson"
    assert "- Entries: 215" in transcript.header and f"- Channel: {thread}" in transcript.header
    assert any(
        re.fullmatch(r"- Started: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC by Alice", line) for line in transcript.header
    )

    entries = transcript.entries
    assert [e.number for e in entries] == list(range(1, 216))  # every entry once, in order: none broke the file
    shown = [(e.who, e.status, e.text, e.notes[1:] if e.status else e.notes) for e in entries]
    assert shown[:15] == [
        ("Alice", None, "Tell me everything", []),
        ("aBLT", "interrupted", entries[1].text, []),
        ("Alice", None, "Second question", []),
        ("aBLT", "failed", "", ["(empty reply)"]),
        ("Alice", None, "Nothing?", []),
        ("aBLT", "complete", "", ["(empty reply)"]),
        ("Bob", None, MEMBER_MARKDOWN, []),
        ("aBLT", "complete", REPLY_MARKDOWN, []),
        ("Alice", None, "Write a long poem", []),
        ("aBLT", "stopped by Bob", poem, []),
        ("Bob", None, "Another try", []),
        ("aBLT", "replaced by a newer answer", "First try", []),
        ("aBLT", "complete", "Second try", []),
        ("Alice", None, "Question 1?", []),
        ("aBLT", "complete", "Answer 1.", []),
    ]
    assert entries[1].text.startswith("Long") and "Long answer that never ends".startswith(entries[1].text)
    assert shown[-2:] == [("Alice", None, "And now?", []), ("aBLT", "still being written", "Still typ", [])]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", e.when) for e in entries)


# ---- what each provider adds -------------------------------------------------------------------------


async def test_magic_ai_sources_are_listed_as_links(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, magicai: MagicAIEmulator, database: str
) -> None:
    magicai.enqueue(
        MagicReply(
            text="Magic AI builds chat bots from your data.",
            sources=[("What is Magic AI?", "https://magicai.ai/what-is"), ("Pricing [2024]", "https://magicai.ai/p")],
        )
    )
    thread = (await thread_for(discord_emulator, await chat(discord_emulator, "What is it?", provider="magicai"))).id
    await wait_for_reply(discord_emulator, thread, "Magic AI builds chat bots from your data.")
    await discord_emulator.wait_for(lambda: bool(bot_posts(discord_emulator, thread)[-1].embeds), WAIT_S)
    await settled(database, thread)

    done = await export(discord_emulator, thread)
    assert_private_and_silent(done)
    [(_, data)] = files_of(done)
    question, answer = parse(data.decode()).entries
    assert (question.who, question.text) == ("Alice", "What is it?")
    assert (answer.who, answer.status, answer.text) == (
        "Magic AI",
        "complete",
        "Magic AI builds chat bots from your data.",
    )
    assert answer.sources == [
        ("What is Magic AI?", "https://magicai.ai/what-is"),
        (r"Pricing \[2024\]", "https://magicai.ai/p"),
    ]


async def test_a_voice_note_says_how_long_it_was_and_what_convai_heard(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, convai: ConvaiEmulator, database: str
) -> None:
    convai.enqueue(ConvaiReply(text="Ready when you are."))
    thread = (await thread_for(discord_emulator, await chat(discord_emulator, "Let's talk", provider="convai"))).id
    await wait_for_post(discord_emulator, thread, "Ready when you are.")
    convai.enqueue(ConvaiReply(text="Sunny all week!", transcript="What's the weather like?"))
    note = AttachmentSpec(
        "voice-message.ogg",
        audio_samples.voice_note_ogg(seconds=3.0),
        "audio/ogg",
        duration_secs=3.0,
        waveform=base64.b64encode(bytes(range(0, 250, 10))).decode(),
    )
    await discord_emulator.send_user_message(thread, "", attachments=[note], flags=VOICE_MESSAGE_FLAG)
    await wait_for_post(discord_emulator, thread, "Sunny all week!")
    await settled(database, thread)

    done = await export(discord_emulator, thread)
    assert_private_and_silent(done)
    [(_, data)] = files_of(done)
    entries = parse(data.decode()).entries
    assert [(e.who, e.text) for e in entries] == [
        ("Alice", "Let's talk"),
        ("Convai", "Ready when you are."),
        ("Alice", "What's the weather like?"),
        ("Convai", "Sunny all week!"),
    ]
    [note] = entries[2].notes
    heard = re.fullmatch(r"voice note, (\d+\.\d) s; Convai heard:", note)
    assert heard is not None and abs(float(heard.group(1)) - 3.0) <= 0.1, note


async def test_an_agentverse_choice_says_what_was_chosen(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, agentverse: AgentverseEmulator, database: str
) -> None:
    objective = await chat(discord_emulator, "Find me a flight to Warsaw", provider="agentverse")
    thread = (await thread_for(discord_emulator, objective)).id
    await discord_emulator.wait_for(
        lambda: any(m.components for m in bot_posts(discord_emulator, thread)), WAIT_S, "the task list"
    )
    offer = next(m for m in bot_posts(discord_emulator, thread) if m.components)
    button = next(i for row in offer.components for i in row["components"] if i.get("label") == "Flights/Flights")
    await (await discord_emulator.click_button(offer.id, button["custom_id"])).wait_for_response(WAIT_S)
    await wait_for_post(discord_emulator, thread, "departure city", after=offer.id)
    await settled(database, thread)

    done = await export(discord_emulator, thread)
    assert_private_and_silent(done)
    [(_, data)] = files_of(done)
    entries = parse(data.decode()).entries
    assert (entries[0].who, entries[0].text) == ("Alice", "Find me a flight to Warsaw")
    [chosen] = [e for e in entries if "chose: Flights/Flights" in e.notes]
    assert chosen.who == "Alice" and chosen.text == ""  # the choice says it all
    assert entries[entries.index(chosen) + 1].who == "Agentverse"


# ---- big transcripts ---------------------------------------------------------------------------------


async def test_a_transcript_over_the_upload_limit_comes_in_parts_ten_files_a_message(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator, database: str
) -> None:
    channel, alice = discord_emulator.channel_id, discord_emulator.user_id
    bound = await command(discord_emulator, "bind", channel, provider="ablt", mode="channel")
    assert not bound.ephemeral
    await wait_for_post(
        discord_emulator, channel, "You said: hello", after=await say(discord_emulator, channel, "hello")
    )
    huge = "ż" * 3000 + "\n" + "\n".join(f"line {n} of a very long answer" for n in range(200))  # > one file
    async with opened(database) as store:
        session = await store.active_session(channel)
        assert session is not None
        for number in range(1, 61):
            await store.add_entry(session.id, "user", f"Question {number}: " + "why? " * 20, author_id=alice)
            await store.add_entry(session.id, "assistant", f"Answer {number}: " + "because. " * 30, author_id=None)
        await store.add_entry(session.id, "assistant", huge, author_id=None)
    limit = 4096
    discord_emulator.core.messages.max_file_size = limit  # what the interaction tells the bot, and enforces

    done = await export(discord_emulator, channel)
    assert_private_and_silent(done)
    files = files_of(done)
    count = len(files)
    assert count > 10 and len(done.messages[0].attachments) == 10  # more follow in a second message
    assert all(len(m.attachments) <= 10 for m in done.messages)
    assert "too big for one file" in done.messages[0].content and f"of {count}" in done.messages[-1].content
    assert [name for name, _ in files] == [
        f"conversation-{channel}-part-{n:02d}-of-{count}.md" for n in range(1, count + 1)
    ]
    assert all(len(data) <= limit for _, data in files)
    texts = [data.decode() for _, data in files]
    assert all(
        text.startswith(f"# Conversation with aBLT · taxson (part {n} of {count})\n") for n, text in enumerate(texts, 1)
    )

    transcript = parse(*texts)
    entries = transcript.entries
    assert [e.number for e in entries] == list(range(1, 124))
    assert [e.pieces for e in entries[:-1]] == [1] * 122  # nothing else was cut...
    assert entries[-1].pieces > 1  # ...but the entry larger than a file, in pieces that keep every character
    assert entries[-1].text.replace("\n", "") == huge.replace("\n", "")
    assert (entries[2].who, entries[2].text) == ("Alice", "Question 1: " + "why? " * 20)


# ---- who may export ----------------------------------------------------------------------------------


async def test_only_members_allowed_to_talk_there_may_export(
    make_bot: Callable[..., BotProcess], discord_emulator: DiscordEmulator, ablt: AbltEmulator
) -> None:
    discord_emulator.set_everyone_permissions(MEMBER)
    patrons, staff = discord_emulator.add_role("Patrons"), discord_emulator.add_role("Staff")
    discord_emulator.set_role_permissions(patrons, MEMBER)
    discord_emulator.set_role_permissions(staff, MEMBER | MANAGE_GUILD)
    pat, bob = discord_emulator.add_member("pat", roles=[patrons]), discord_emulator.add_member("bob")
    mia = discord_emulator.add_member("mia", roles=[staff])
    await make_bot().start()
    thread = (await thread_for(discord_emulator, await chat(discord_emulator, "hello", by=bob))).id
    await wait_for_reply(discord_emulator, thread, "You said: hello")
    await command(
        discord_emulator, "access allow", channel_id=discord_emulator.channel_id, by=mia, what="chat", who=patrons
    )

    refused = await command(discord_emulator, "export", thread, by=bob)  # who started it, but not on the list now
    await discord_emulator.wait_for(lambda: not refused.messages[0].loading, WAIT_S)
    assert refusal(refused) == CHAT_REFUSED and not files_of(refused)
    for allowed in (pat, mia):  # on the list; a manager, who always passes
        done = await export(discord_emulator, thread, by=allowed)
        assert_private_and_silent(done)
        [(name, data)] = files_of(done)
        assert name == f"conversation-{thread}.md"
        assert [e.who for e in parse(data.decode()).entries] == ["Bob", "aBLT"]

    await command(
        discord_emulator, "access allow", channel_id=discord_emulator.channel_id, by=mia, what="use:ablt", who=staff
    )
    kept = await command(discord_emulator, "export", thread, by=pat)
    await discord_emulator.wait_for(lambda: not kept.messages[0].loading, WAIT_S)
    assert "**aBLT** is for some members only" in refusal(kept) and not files_of(kept)


async def test_export_where_there_is_no_conversation_gives_the_usual_hint(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator
) -> None:
    outside = await command(discord_emulator, "export", discord_emulator.channel_id)
    await discord_emulator.wait_for(lambda: not outside.messages[0].loading, WAIT_S)
    assert refusal(outside) == NO_CONVERSATION and not files_of(outside)

    thread = (await thread_for(discord_emulator, await chat(discord_emulator, "hi"))).id
    await wait_for_reply(discord_emulator, thread, "You said: hi")
    await command(discord_emulator, "end", thread)
    ended = await command(discord_emulator, "export", thread)
    await discord_emulator.wait_for(lambda: not ended.messages[0].loading, WAIT_S)
    assert refusal(ended) == NO_CONVERSATION and not files_of(ended)


async def test_export_works_in_a_dm_when_dms_are_allowed(
    make_bot: Callable[..., BotProcess], discord_emulator: DiscordEmulator, ablt: AbltEmulator, database: str
) -> None:
    bob = discord_emulator.add_member("bob")
    await make_bot(ALLOW_DMS="on").start()
    assert {c["name"]: c for c in discord_emulator.commands}["export"]["contexts"] == [0, 1]
    dm = discord_emulator.open_dm(bob)
    started = await command(discord_emulator, "chat", dm, by=bob, provider="ablt", prompt="hi there")
    await wait_for_reply(discord_emulator, dm, "You said: hi there", after=started.original_message.id)
    await settled(database, dm)

    done = await export(discord_emulator, dm, by=bob)
    assert_private_and_silent(done)
    [(name, data)] = files_of(done)
    assert name == f"conversation-{dm}.md"
    assert [(e.who, e.text) for e in parse(data.decode()).entries] == [
        ("Bob", "hi there"),
        ("aBLT", "You said: hi there"),
    ]


# ---- the formatting alone (pure) --------------------------------------------------------------------


def test_hundreds_of_entries_are_formatted_and_cut_quickly_within_every_limit() -> None:
    now = time.time()
    entries = [
        Entry(
            n,
            1,
            "user" if n % 2 else "assistant",
            f"Entry {n}\n# not a heading\n" + "é" * (n % 700) + ".",
            7,
            "complete",
            now,
            None,
            {},
        )
        for n in range(1, 801)
    ]
    conversation = ExportedConversation(5, "aBLT · taxson", "aBLT", now, 7, entries, {7: "al_ice"}, now)
    started = time.perf_counter()
    whole = export_files(conversation, 10 * 1024 * 1024)
    assert time.perf_counter() - started < 1.0
    assert len(whole) == 1 and [e.text for e in parse(whole[0].data.decode()).entries] == [e.content for e in entries]
    for limit in (1024, 1500, 4096, 65536):
        parts = export_files(conversation, limit)
        assert all(len(part.data) <= limit for part in parts), limit
        texts = [part.data.decode() for part in parts]  # never cut inside a character
        flat = [e.text.replace("\n", "") for e in parse(*texts).entries]  # a line too long for a file is cut
        assert flat == [e.content.replace("\n", "") for e in entries], limit
