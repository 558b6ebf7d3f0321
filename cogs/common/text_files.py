"""Text files members attach (notes, source code, data): which ones the AI reads, and each as a fenced block.

Which files qualify is decided from what Discord says about them (file name, `content_type`, `size`:
resources/message.mdx, Attachment Object) before anything is downloaded; only those are read, never more
than MAX_TEXT_FILE_BYTES + 1 bytes of each whatever `size` said (bot/members/attachments.py), and only text that
decodes as UTF-8 is used. What is left out is said once, with the reason.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

import discord

from bot.members.attachments import AttachmentReader, AttachmentTooLarge, DownloadFailed

log = logging.getLogger(__name__)

MAX_TEXT_FILE_BYTES = 100 * 1024
MAX_TEXT_FILES = 5
"""At most this many text files of one message are read; the rest are listed as not used."""
LANGUAGES: dict[str, str] = {
    ".txt": "",
    ".md": "markdown",
    ".py": "python",
    ".js": "javascript",
    ".ts": "typescript",
    ".java": "java",
    ".c": "c",
    ".cpp": "cpp",
    ".h": "c",
    ".cs": "csharp",
    ".go": "go",
    ".rs": "rust",
    ".rb": "ruby",
    ".php": "php",
    ".sh": "bash",
    ".sql": "sql",
    ".html": "html",
    ".css": "css",
    ".json": "json",
    ".csv": "csv",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".toml": "toml",
    ".xml": "xml",
    ".log": "",
}
"""Text files by extension, with the language their fenced block is marked with ("" where none is obvious)."""
TEXT_CONTENT_TYPES = ("application/json",)

NOT_TEXT = "not a text file"
TOO_BIG = "over 100 KB"
TOO_MANY = f"only {MAX_TEXT_FILES} files per message are read"
NOT_UTF8 = "not UTF-8 text"
NOT_DOWNLOADED = "Discord would not hand it over"


@dataclass(frozen=True)
class Unused:
    """A file the AI will not see, and why (in a few words members understand)."""

    filename: str
    reason: str


def is_text_file(filename: str, content_type: str | None) -> bool:
    """By extension first (Discord may call a `.ts` file `video/mp2t`), else a `text/*` or JSON content type."""
    if PurePosixPath(filename.lower()).suffix in LANGUAGES:
        return True
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    return kind.startswith("text/") or kind in TEXT_CONTENT_TYPES


def sort_files(attachments: Iterable[discord.Attachment]) -> tuple[tuple[discord.Attachment, ...], tuple[Unused, ...]]:
    """The text files to read (size and count checked, nothing downloaded) and the files left out, with why."""
    usable: list[discord.Attachment] = []
    unused: list[Unused] = []
    for attachment in attachments:
        if not is_text_file(attachment.filename, attachment.content_type):
            unused.append(Unused(attachment.filename, NOT_TEXT))
        elif attachment.size > MAX_TEXT_FILE_BYTES:
            unused.append(Unused(attachment.filename, TOO_BIG))
        elif len(usable) >= MAX_TEXT_FILES:
            unused.append(Unused(attachment.filename, TOO_MANY))
        else:
            usable.append(attachment)
    return tuple(usable), tuple(unused)


async def read_files(
    files: Sequence[discord.Attachment], reader: AttachmentReader
) -> tuple[list[tuple[str, str]], list[Unused]]:
    """Download the files (already checked), all at once, and make each a block for the turn: (file name,
    block) pairs in the files' order; undecodable ones, and those longer than Discord's `size` said, are left
    out."""
    results = await asyncio.gather(*(_read(attachment, reader) for attachment in files))
    return [r for r in results if isinstance(r, tuple)], [r for r in results if isinstance(r, Unused)]


async def _read(attachment: discord.Attachment, reader: AttachmentReader) -> tuple[str, str] | Unused:
    try:
        data = await reader.read(attachment, limit_bytes=MAX_TEXT_FILE_BYTES)
    except AttachmentTooLarge:
        return Unused(attachment.filename, TOO_BIG)
    except (discord.HTTPException, DownloadFailed) as exc:
        log.warning("could not download attachment %d: %s", attachment.id, exc)
        return Unused(attachment.filename, NOT_DOWNLOADED)
    text = decoded(data)
    if text is None:
        return Unused(attachment.filename, NOT_UTF8)
    return attachment.filename, file_block(attachment.filename, text)


def decoded(data: bytes) -> str | None:
    """UTF-8 text (a byte-order mark dropped); None for bytes that are not UTF-8 or look binary (NUL bytes)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    return None if "\x00" in text else text


def file_block(filename: str, text: str) -> str:
    """`[File: name]` then the text fenced, marked with its language; the fence outgrows any backticks inside."""
    language = LANGUAGES.get(PurePosixPath(filename.lower()).suffix, "")
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    body = text if text.endswith("\n") else text + "\n"
    return f"[File: {filename}]\n{fence}{language}\n{body}{fence}"


def with_files(text: str, blocks: Sequence[str]) -> str:
    """The member's text, then each file's block."""
    return "\n\n".join(part for part in (text, *blocks) if part)


def not_used(unused: Sequence[Unused]) -> str:
    """One line for members: `Not used: report.pdf (not a text file), big.log (over 100 KB).`"""
    listed = ", ".join(f"{discord.utils.escape_markdown(u.filename)} ({u.reason})" for u in unused)
    return f"Not used: {listed}."
