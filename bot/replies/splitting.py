"""Split a reply into Discord-sized messages at natural boundaries, repairing code fences.

A cut inside a fenced code block closes the fence at the end of one message and reopens it, with
its language, at the start of the next, so every message renders on its own. Earlier chunks depend
only on the text before them, so a growing stream never rewrites a message it has already sealed.
"""

from __future__ import annotations

import re

MESSAGE_LIMIT = 2000
_FENCE_LINE = re.compile(r"^ {0,3}(`{3,}|~{3,})([^\n]*)$", re.MULTILINE)
_BOUNDARIES = ("\n\n", "\n", " ")
MAX_FENCE_INFO_CHARS = 40
_RISKY_LINE_START = frozenset("`~ #>-*")
"""Characters a message cut inside a line must not start with (see `_cut_point`)."""
"""A reopened fence repeats the language tag; anything longer is not a language tag."""


def split_message(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Chunks of at most `limit` characters whose repaired concatenation is `text` (see join_chunks)."""
    chunks: list[str] = []
    reopen = ""
    rest = text
    while len(reopen) + len(rest) > limit:
        reserve = 0  # grows by the overflow when a fence must be closed
        while True:
            piece = rest[: _cut_point(rest, limit - len(reopen) - reserve)]
            fence = open_fence(reopen + piece)
            if fence is not None and len(fence[0]) + len(fence[1]) >= limit // 4:
                fence = None  # a pathological fence line too long to repeat: leave that block unrepaired
            close = f"\n{fence[0]}" if fence else ""
            chunk = reopen + piece + close
            if len(chunk) <= limit:
                break
            reserve += len(chunk) - limit
        chunks.append(chunk)
        reopen = f"{fence[0]}{fence[1]}\n" if fence else ""
        rest = rest[len(piece) :]
    chunks.append(reopen + rest)
    return chunks


def join_chunks(chunks: list[str]) -> str:
    """Undo split_message's fence repairs: what a reader reassembles from the messages."""
    text = ""
    reopened = False
    for index, chunk in enumerate(chunks):
        body = chunk.split("\n", 1)[1] if reopened else chunk
        fence = None if index == len(chunks) - 1 else _closing_repair(body)
        if fence is not None:
            body = body[: -len(fence) - 1]
        text += body
        reopened = fence is not None
    return text


def _closing_repair(body: str) -> str | None:
    """The fence marker split_message appended to this chunk, if it appended one.

    Unambiguous because _cut_point never leaves a raw piece ending in a backtick or tilde.
    """
    match = re.search(r"\n(`{3,}|~{3,})\Z", body)
    return None if match is None else match.group(1)


def _cut_point(text: str, budget: int) -> int:
    """Where to cut `text` so the first part fits `budget`: after a paragraph, line or word if possible.

    A cut inside a line makes the rest start a new message, so it never leaves the rest starting with one of
    `_RISKY_LINE_START` (there it could open a code block, heading, quote or list the text did not have). That
    looks one character past the cut, which `split_message` always has, so earlier chunks stay stable.
    """
    window = text[:budget]
    for boundary in _BOUNDARIES:
        at = window.rfind(boundary)
        while boundary == " " and at >= budget // 2 and text[at + 1 : at + 2] in _RISKY_LINE_START:
            at = window.rfind(boundary, 0, at)
        if at >= budget // 2:
            return at + len(boundary)
    # A hard cut: never end a piece on a backtick or tilde, so fence repairs stay recognisable.
    cut = len(window.rstrip("`~"))
    while cut > 0 and (text[cut - 1] in "`~" or text[cut : cut + 1] in _RISKY_LINE_START):
        cut -= 1
    return cut if cut > 0 else max(budget, 1)


def open_fence(text: str) -> tuple[str, str] | None:
    """The (marker, info string) of a code block left open at the end of `text`, or None."""
    open_fence: tuple[str, str] | None = None
    for match in _FENCE_LINE.finditer(text):
        marker, info = match.group(1), match.group(2)
        if open_fence is None:
            open_fence = (marker, info.strip()[:MAX_FENCE_INFO_CHARS])
        elif marker[0] == open_fence[0][0] and len(marker) >= len(open_fence[0]) and not info.strip():
            open_fence = None
    return open_fence
