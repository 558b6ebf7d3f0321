"""A conversation's transcript as Markdown files for `/export`: pure text work, cut to fit Discord's upload limit.

Each entry's own text is quoted line by line (`> `), so whatever Markdown a member or an AI wrote (headings,
unclosed code fences, rules, HTML) stays inside its quote and cannot break the file's structure; names, labels
and titles are escaped. A transcript over the limit becomes several files ("part 2 of 3"), cut between entries;
only an entry larger than a whole file is cut itself (between lines where it can), each further piece under the
entry's heading marked "(continued)".
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.store import Entry

DEFAULT_UPLOAD_LIMIT_BYTES = 10 * 1024 * 1024
"""Discord's upload limit for a server without boosts, when an interaction does not say."""
MAX_FILES_PER_MESSAGE = 10
MAX_REQUEST_BYTES = 25 * 1024 * 1024
"""Discord has refused message requests over this, whatever each file's size; a message's files stay under it
(or under the upload limit, when that is larger)."""
MIN_FILE_BYTES = 1024
"""The smallest file this cuts to: below it the headings alone would not fit."""

_INLINE_SPECIALS = re.compile(r"([\\`*_\[\]<>~|#&])")
_LINK_UNSAFE = {" ": "%20", "<": "%3C", ">": "%3E", "\\": "%5C"}
STATUS_WORDS = {
    "complete": "complete",
    "streaming": "still being written",
    "interrupted": "interrupted",
    "failed": "failed",
    "stopped": "stopped",
    "replaced": "replaced by a newer answer",
}


@dataclass(frozen=True)
class ExportedConversation:
    """What a transcript file says: the session's facts, its entries in order and the names to show."""

    channel_id: int
    provider: str
    """The provider and its settings, as `Conversations.describe` gives them."""
    bot_name: str
    """Who the replies are from: the provider's name."""
    started_at: float
    started_by: int
    entries: Sequence[Entry]
    names: Mapping[int, str]
    """Members' display names where known; anyone else is "member <id>"."""
    exported_at: float


@dataclass(frozen=True)
class ExportFile:
    name: str
    data: bytes


def export_files(conversation: ExportedConversation, limit_bytes: int) -> list[ExportFile]:
    """The transcript as one file `conversation-<channel id>.md`, or as parts when it is over `limit_bytes`."""
    if limit_bytes < MIN_FILE_BYTES:
        raise ValueError(f"an upload limit of {limit_bytes} bytes is too small for a transcript")
    blocks = [_entry(number, entry, conversation) for number, entry in enumerate(conversation.entries, start=1)]
    whole = (_header(conversation, None) + "".join(blocks)).rstrip("\n") + "\n"
    data = whole.encode()
    if len(data) <= limit_bytes:
        return [ExportFile(f"conversation-{conversation.channel_id}.md", data)]
    parts = _parts(conversation, blocks, limit_bytes)
    width = len(str(len(parts)))
    return [
        ExportFile(
            f"conversation-{conversation.channel_id}-part-{number:0{width}d}-of-{len(parts)}.md",
            ((_header(conversation, (number, len(parts))) + "".join(pieces)).rstrip("\n") + "\n").encode(),
        )
        for number, pieces in enumerate(parts, start=1)
    ]


def batches(files: Sequence[ExportFile], *, max_bytes: int = MAX_REQUEST_BYTES) -> list[list[ExportFile]]:
    """Files grouped into messages: at most 10 each (Discord's limit), together at most `max_bytes`."""
    grouped: list[list[ExportFile]] = []
    size = 0
    for file in files:
        if not grouped or len(grouped[-1]) >= MAX_FILES_PER_MESSAGE or size + len(file.data) > max_bytes:
            grouped.append([])
            size = 0
        grouped[-1].append(file)
        size += len(file.data)
    return grouped


# ---- one entry -------------------------------------------------------------------------------------


def _entry(number: int, entry: Entry, conversation: ExportedConversation) -> str:
    """One entry: a heading (number, who, when), notes on what it carried, its text quoted, a reply's sources."""
    reply = entry.role == "assistant"
    who = conversation.bot_name if reply else name_of(entry.author_id, conversation.names)
    out = [f"## {number}. {escape(who)} · {timestamp(entry.created_at)}"]
    out.extend(f"_{note}_" for note in _notes(entry, conversation.bot_name, conversation.names))
    text = entry.content.strip()
    pick = entry.extras.get("pick")
    if pick and text == str(pick).strip():
        text = ""  # the choice says it all
    if text:
        out.append(quote(entry.content))
    elif not pick:
        out.append("_(empty reply)_" if reply else "_(no text)_")
    sources = _sources(entry.extras.get("sources"))
    if sources:
        out.extend(["Sources:", "\n".join(sources)])
    return "\n\n".join(out) + "\n\n"


def _notes(entry: Entry, bot_name: str, names: Mapping[int, str]) -> list[str]:
    """A reply's status; what a member's turn was (a choice, files, a voice note and what was heard)."""
    extras = entry.extras
    notes = [f"Status: {status_words(entry, names)}"] if entry.role == "assistant" or entry.status != "complete" else []
    if extras.get("pick"):
        notes.append(f"chose: {escape(str(extras['pick']))}")
    if isinstance(extras.get("files"), list) and extras["files"]:
        notes.append("attached: " + ", ".join(escape(str(name)) for name in extras["files"]))
    voice = extras.get("voice")
    if isinstance(voice, int | float) and not isinstance(voice, bool):
        notes.append(f"voice note, {voice:.1f} s; {escape(bot_name)} heard:")
    return notes


def _sources(sources: object) -> list[str]:
    """Magic AI's sources as a numbered list of links; a source without a URL is its title alone."""
    if not isinstance(sources, list):
        return []
    lines = []
    for number, source in enumerate(sources, start=1):
        item = source if isinstance(source, Mapping) else {}
        title = escape(str(item.get("title") or item.get("url") or "untitled"))
        url = "".join(_LINK_UNSAFE.get(char, char) for char in str(item.get("url") or "") if char not in "\r\n")
        lines.append(f"{number}. [{title}](<{url}>)" if url else f"{number}. {title}")
    return lines


def status_words(entry: Entry, names: Mapping[int, str]) -> str:
    """A reply's status as a reader would say it (`names`: display names by member id, for who stopped it)."""
    stopped_by = entry.extras.get("stopped_by")
    if entry.status == "stopped" and isinstance(stopped_by, int) and not isinstance(stopped_by, bool):
        return f"stopped by {escape(name_of(stopped_by, names))}"
    return STATUS_WORDS.get(entry.status, escape(entry.status))


def name_of(member_id: int | None, names: Mapping[int, str]) -> str:
    if member_id is None:
        return "someone"
    return names.get(member_id) or f"member {member_id}"


def timestamp(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def escape(text: str) -> str:
    """Text safe inside a heading, a list item or emphasis: one line, Markdown's specials backslashed."""
    return _INLINE_SPECIALS.sub(r"\\\1", " ".join(text.split()))


def quote(text: str) -> str:
    """Every line of `text` inside one block quote (blank lines too, so the quote never ends early)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").strip("\n").split("\n")
    return "\n".join(f"> {line}" if line.strip() else ">" for line in lines)


# ---- files and parts -------------------------------------------------------------------------------


def _header(conversation: ExportedConversation, part: tuple[int, int] | None) -> str:
    """The title; then, in the first (or only) file, who started what and when."""
    title = f"# Conversation with {escape(conversation.provider)}"
    if part is not None:
        title += f" (part {part[0]} of {part[1]})"
    if part is not None and part[0] > 1:
        return f"{title}\n\n_Channel {conversation.channel_id}, continued from part {part[0] - 1}._\n\n"
    started_by = escape(name_of(conversation.started_by, conversation.names))
    return (
        f"{title}\n\n"
        f"- Channel: {conversation.channel_id}\n"
        f"- Started: {timestamp(conversation.started_at)} by {started_by}\n"
        f"- Entries: {len(conversation.entries)}\n"
        f"- Exported: {timestamp(conversation.exported_at)}\n\n"
        "---\n\n"
    )


def _parts(conversation: ExportedConversation, blocks: list[str], limit_bytes: int) -> list[list[str]]:
    """The entries packed into files under the limit, with room kept for each file's heading.

    That heading names the number of parts, so its room is kept for numbers of `digits` digits, one more
    digit whenever the count needs it (rarely more than one round).
    """
    digits = 1
    while True:
        widest = 10**digits - 1
        first = limit_bytes - len(_header(conversation, (1, widest)).encode())
        rest = limit_bytes - len(_header(conversation, (widest, widest)).encode())
        if min(first, rest) < MIN_FILE_BYTES // 2:
            raise ValueError(f"an upload limit of {limit_bytes} bytes leaves no room for the entries")
        pieces = [piece for block in blocks for piece in _cut(block, min(first, rest))]
        parts = _pack(pieces, first, rest)
        if len(parts) <= widest:
            return parts
        digits += 1


def _pack(pieces: list[str], first: int, rest: int) -> list[list[str]]:
    """Fill each file with whole pieces in order: `first` bytes in the first file, `rest` in the others."""
    parts: list[list[str]] = [[]]
    used, room = 0, first
    for piece in pieces:
        size = len(piece.encode())
        if used + size > room and parts[-1]:
            parts.append([])
            used, room = 0, rest
        parts[-1].append(piece)
        used += size
    return parts


def _cut(block: str, room: int) -> list[str]:
    """An entry as it is or, when larger than a whole file, in pieces of at most `room` bytes.

    It is cut between lines; a line too long for a piece of its own is cut within (never inside a character),
    where the piece is full, and a quoted line's pieces stay quoted. Each piece after the first repeats the
    entry's heading, marked "(continued)".
    """
    if len(block.encode()) <= room:
        return [block]
    heading, _, body = block.partition("\n")
    again = f"{heading} (continued)"
    fresh_room = room - len(again.encode()) - 4  # a whole piece for one line: heading, blank line, closing blank line
    pieces: list[str] = []
    lines, used = [heading, ""], len(heading.encode()) + 2
    for whole in body.strip("\n").split("\n"):
        line, prefix = whole, "> " if whole.startswith(">") else ""
        while True:
            data, free = line.encode(), room - used - 2
            if len(data) <= free:
                lines.append(line)
                used += len(data) + 1
                break
            if len(data) > fresh_room and free > len(prefix) + 4:  # too long for any piece: fill this one
                head = data[:free].decode("utf-8", errors="ignore")  # `ignore` drops only a character cut in two
                lines.append(head)
                line = prefix + data[len(head.encode()) :].decode()
            pieces.append("\n".join(lines) + "\n\n")
            lines, used = [again, ""], len(again.encode()) + 2
    pieces.append("\n".join(lines) + "\n\n")
    return pieces
