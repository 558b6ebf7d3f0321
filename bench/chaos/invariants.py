"""The invariants a chaos run checks once the bot has stopped cleanly, each with its first examples.

- every member turn is answered or told why (LOST = sent - answered - told why = 0);
- nothing is posted twice: no reply tag starts two messages, no turn has two whole answers;
- no transcript entry is left `streaming` after the final clean stop;
- no secret and no member canary word is in any bot log (every process of the run);
and, as figures: peak RSS (VmHWM, the most over every process) and event-loop lag p99 (every process's
histogram from /metrics, added up).
"""

from __future__ import annotations

import re
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from pathlib import Path

import aiosqlite
import asyncpg

from bench.chaos.injectors import Event
from bench.chaos.outcomes import Turn, judge, public_bot_messages, shown_in_full
from bench.chaos.script import CANARY, TAG, ProviderScript, describe, tag_at_start
from tests.emulators.discord import DiscordEmulator

EXAMPLES = 2
EXAMPLE_CHARS = 110
NEARBY_S = (10.0, 30.0)
"""Faults from this long before a lost turn was sent to this long after are listed beside it."""


@dataclass
class Findings:
    """What the run showed; `violations` is empty when every invariant holds."""

    turns: list[Turn]
    answered: int = 0
    told: Counter[str] = field(default_factory=Counter)
    lost: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    stranded: list[str] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)
    canaries: list[str] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)
    """Logs holding provider reply text (found by the replies' tags)."""
    stops: int = 0
    retries: int = 0

    @property
    def violations(self) -> list[str]:
        named = {
            "lost turns": self.lost,
            "duplicates": self.duplicates,
            "entries left streaming": self.stranded,
            "secrets in logs": self.secrets,
            "member text in logs": self.canaries,
            "reply text in logs": self.replies,
        }
        return [name for name, found in named.items() if found]


def judge_turns(discord: DiscordEmulator, script: ProviderScript, findings: Findings, events: Sequence[Event]) -> None:
    """Every turn's outcome as the threads stand now; a lost turn is described with the faults around it."""
    for turn in findings.turns:
        verdict = judge(discord, script, turn)
        findings.stops += turn.stops
        findings.retries += turn.retries
        if verdict is None:
            findings.lost.append(_lost(discord, script, turn, events))
            continue
        turn.outcome, turn.how = verdict
        if turn.outcome == "answered":
            findings.answered += 1
        else:
            findings.told[_kind(turn.how)] += 1


def _kind(how: str) -> str:
    if how == "private note":
        return "private note"
    if "Stopped by" in how:
        return "stopped by the member"
    if how.startswith("⏹️"):
        return "⏹️ cut off (restart, shutdown)"
    if how.startswith("-#"):
        return "note (-#)"
    return "⚠️ line"


def _lost(discord: DiscordEmulator, script: ProviderScript, turn: Turn, events: Sequence[Event]) -> str:
    shown = "no thread"
    if turn.thread_id is not None:
        stretch = [
            m
            for m in public_bot_messages(discord, turn.thread_id)
            if m.id > turn.message_id and (turn.until_id is None or m.id < turn.until_id)
        ]
        shown = repr(stretch[-1].content[-80:]) if stretch else "nothing"
    low, high = turn.sent_at - NEARBY_S[0], turn.sent_at + NEARBY_S[1]
    nearby = [
        f"{e.kind} at {e.t - turn.sent_at:+.1f} s"
        for e in events
        if low <= e.t <= high and (e.channel_id is None or e.channel_id == turn.thread_id)
    ]
    return (
        f"{turn.member} ({turn.provider}) turn {turn.canary} in thread {turn.thread_id}: calls"
        f" {describe(script.scripted_for(turn.canary))}; the bot's last text for it: {shown};"
        f" stops {turn.stops}, retries {turn.retries}{', member gave up waiting' if turn.gave_up else ''};"
        f" nearby: {'; '.join(nearby) or 'no injected fault'}"
    )


def find_duplicates(discord: DiscordEmulator, script: ProviderScript, findings: Findings) -> None:
    """A reply tag at the start of two messages, or one turn with two whole answers."""
    starts: defaultdict[str, list[int]] = defaultdict(list)
    threads = {turn.thread_id for turn in findings.turns if turn.thread_id is not None}
    messages = {thread: public_bot_messages(discord, thread) for thread in threads}
    for thread, posted in messages.items():
        for message in posted:
            tag = tag_at_start(message.content)
            if tag is not None:
                starts[tag].append(thread)
    for tag, where in starts.items():
        if len(where) > 1:
            called = script.by_tag.get(tag)
            fault = called.fault if called else "?"
            threads_shown = sorted(set(where))
            findings.duplicates.append(f"{tag} ({fault}) starts {len(where)} messages, in thread(s) {threads_shown}")
    for turn in findings.turns:
        if turn.thread_id is None:
            continue
        whole = [s.tag for s in script.scripted_for(turn.canary) if shown_in_full(messages[turn.thread_id], s)]
        if len(whole) > 1:
            findings.duplicates.append(f"{turn.member}'s turn {turn.canary} answered {len(whole)} times: {whole}")


async def find_stranded(url: str, findings: Findings) -> None:
    """Transcript entries still `streaming` (read after the final clean stop, as another process would)."""
    query = (
        "SELECT t.id, s.channel_id, length(t.content) FROM transcript t JOIN sessions s ON s.id = t.session_id"
        " WHERE t.status = 'streaming' ORDER BY t.id"
    )
    if url.startswith("sqlite"):
        async with aiosqlite.connect(url.split("///", 1)[1]) as db:
            rows = [tuple(row) for row in await (await db.execute(query)).fetchall()]
    else:
        connection = await asyncpg.connect(url, timeout=10)
        try:
            rows = [tuple(row) for row in await connection.fetch(query)]
        finally:
            await connection.close()
    findings.stranded += [
        f"entry {entry} in thread {channel} ({chars} characters saved)" for entry, channel, chars in rows
    ]


def search_logs(
    logs: Sequence[Path],
    secrets: Sequence[tuple[str, str]],
    canaries: set[str],
    findings: Findings,
    tags: AbstractSet[str] = frozenset(),
) -> None:
    """Every secret (by name: several values may share one, such as interaction tokens), every member canary
    word and every provider reply tag (`tags`: a reply's text is the conversation too) found in any log: per
    kind and log, how many were found and the first line holding one."""
    for log in logs:
        text = log.read_text(errors="replace")
        found: dict[str, list[str]] = {}
        for name, secret in secrets:
            if secret and secret in text:
                found.setdefault(name, []).append(secret)
        for name, values in found.items():
            line = next(line for line in text.splitlines() if values[0] in line)
            count = f"{len(values)} of them " if len(values) > 1 else ""
            findings.secrets.append(f"{name} ({count}in {log.name}): {_masked(line, values[0])}")
        for pattern, known, out, what in (
            (CANARY, canaries, findings.canaries, "canaries"),
            (TAG, tags, findings.replies, "reply tags"),
        ):
            words = sorted(set(pattern.findall(text)) & known)
            if words:
                line = next(line for line in text.splitlines() if words[0] in line)
                out.append(f"{len(words)} {what} in {log.name}, first: {line[:200]}")


def _masked(line: str, secret: str) -> str:
    """The log line around the secret, with the secret itself shown as <SECRET> (the report is not a log)."""
    at = line.index(secret)
    return re.sub(re.escape(secret), "<SECRET>", line[max(0, at - 100) : at + len(secret) + 60])


def examples(found: Sequence[str], width: int = EXAMPLE_CHARS) -> str:
    """The first EXAMPLES findings, each cut to `width` characters, for a table cell."""
    shown = [f if len(f) <= width else f[: width - 1] + "…" for f in found[:EXAMPLES]]
    return " / ".join(shown) + (f" / +{len(found) - EXAMPLES} more" if len(found) > EXAMPLES else "")


def elapsed(started: float) -> float:
    return time.monotonic() - started


def write_threads(path: Path, discord: DiscordEmulator, turns: Sequence[Turn]) -> None:
    """What members saw, thread by thread (every message, shortened, with its buttons), each member turn marked
    with its outcome: the file to read beside the logs when a turn is lost."""
    by_message = {turn.message_id: turn for turn in turns if turn.message_id}
    openers = {turn.thread_id: turn for turn in turns if not turn.message_id and turn.thread_id is not None}
    lines: list[str] = []
    for thread_id, opener in openers.items():
        lines.append(f"\n== thread {thread_id}: {opener.member} with {opener.provider}")
        lines.append(f"   /chat turn {opener.canary}: {opener.outcome or 'LOST'} {opener.how}")
        for message in discord.messages(thread_id):
            who = "bot" if message.author_id == discord.bot_user_id else "member"
            flags = " (private)" if message.ephemeral else ""
            buttons = f" [{', '.join(message.custom_ids())}]" if message.custom_ids() else ""
            text = (
                message.content
                if len(message.content) <= 300
                else message.content[:240] + " … " + message.content[-50:]
            )
            lines.append(f"  {message.id} {who}{flags}: {text!r}{buttons}")
            turn = by_message.get(message.id)
            if turn is not None:
                lines.append(f"   ^ turn {turn.canary}: {turn.outcome or 'LOST'} {turn.how}")
    path.write_text("\n".join(lines) + "\n")
