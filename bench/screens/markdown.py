"""Discord's Markdown (the part replies use) to escaped HTML: a pure function of the message text.

Blocks: code fences, headings (`#`, `##`, `###`), subtext (`-#`), quotes (`>`), lists (`-`, `*`, `1.`).
Inline: backslash escapes, inline code, `***`, `**`, `*`/`_`, `__`, `~~`, `||`, masked and bare http(s)
links, user/role/channel mentions and custom emoji. Every piece of text goes through `html.escape`; an
href is only ever an escaped http(s) URL.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping

FENCE = re.compile(r"```(?:([A-Za-z0-9_+#.-]+)\n)?\n?(.*?)```", re.S)
HEADING = re.compile(r"(#{1,3}) (.+)")
SUBTEXT = re.compile(r"-# (.+)")
QUOTE = re.compile(r"> ?(.*)")
BULLET = re.compile(r"( *)[-*] (.+)")
NUMBERED = re.compile(r"( *)(\d{1,9})\. (.+)")
INLINE = re.compile(
    r"\\(?P<escaped>[^\w\s])"
    r"|(?P<ticks>``?)(?P<code>.+?)(?P=ticks)"
    r"|\[(?P<label>[^\]\n]+)\]\(<?(?P<href>https?://[^\s)>]+)>?\)"
    r"|(?P<url>https?://[^\s<]*[^\s<.,:;\"')\]!?])"
    r"|\*\*\*(?P<strong_em>.+?)\*\*\*"
    r"|\*\*(?P<strong>.+?)\*\*"
    r"|__(?P<underline>.+?)__"
    r"|~~(?P<strike>.+?)~~"
    r"|\|\|(?P<spoiler>.+?)\|\|"
    r"|\*(?P<em>[^\s*](?:.*?[^\s*])?)\*"
    r"|(?<![\w])_(?P<em_>[^\s_](?:.*?[^\s_])?)_(?![\w])"
    r"|<@!?(?P<user>\d+)>|<@&(?P<role>\d+)>|<#(?P<channel>\d+)>"
    r"|<a?:(?P<emoji>\w+):\d+>"
)
WRAPS = {
    "strong_em": ("<strong><em>", "</em></strong>"),
    "strong": ("<strong>", "</strong>"),
    "underline": ("<u>", "</u>"),
    "strike": ("<s>", "</s>"),
    "spoiler": ('<span class="spoiler">', "</span>"),
    "em": ("<em>", "</em>"),
    "em_": ("<em>", "</em>"),
}


def escape(text: str) -> str:
    return html.escape(text, quote=True)


def to_html(text: str, names: Mapping[int, str] | None = None) -> str:
    """A message's content as HTML for a `white-space: pre-wrap` box; `names` resolves mention ids."""
    names = names or {}
    parts: list[str] = []
    last = 0
    for fence in FENCE.finditer(text):
        parts.append(_blocks(_trim_newline(text[last : fence.start()], end=True), names))
        language = f' data-language="{escape(fence.group(1))}"' if fence.group(1) else ""
        parts.append(f"<pre{language}><code>{escape(fence.group(2).rstrip(chr(10)))}</code></pre>")
        last = fence.end() + (1 if text.startswith("\n", fence.end()) else 0)
    parts.append(_blocks(text[last:], names))
    return "".join(parts)


def _trim_newline(text: str, *, end: bool) -> str:
    return text[:-1] if end and text.endswith("\n") else text


def _blocks(text: str, names: Mapping[int, str]) -> str:
    """Lines to HTML: block lines become elements, the others stay text lines joined by newlines."""
    if not text:
        return ""
    out: list[str] = []
    previous_was_block = True  # no newline before the first line
    lines = text.split("\n")
    index = 0
    while index < len(lines):
        block, index = _block_at(lines, index, names)
        if block is None:
            if not previous_was_block:
                out.append("\n")
            out.append(inline(lines[index], names))
            index += 1
            previous_was_block = False
        else:
            out.append(block)
            previous_was_block = True
    return "".join(out)


def _block_at(lines: list[str], index: int, names: Mapping[int, str]) -> tuple[str | None, int]:
    """The block element starting at `lines[index]` and the index after it, or (None, index) for a text line."""
    line = lines[index]
    if heading := HEADING.fullmatch(line):
        level = len(heading.group(1))
        return f"<h{level}>{inline(heading.group(2), names)}</h{level}>", index + 1
    if subtext := SUBTEXT.fullmatch(line):
        return f'<div class="subtext">{inline(subtext.group(1), names)}</div>', index + 1
    if QUOTE.fullmatch(line):
        quoted, end = _run(lines, index, QUOTE)
        body = "\n".join(inline(m.group(1), names) for m in quoted)
        return f"<blockquote>{body}</blockquote>", end
    for pattern, tag in ((BULLET, "ul"), (NUMBERED, "ol")):
        if pattern.fullmatch(line):
            items, end = _run(lines, index, pattern)
            start = f' start="{int(items[0].group(2))}"' if tag == "ol" else ""
            body = "".join(f"<li>{inline(item.group(item.lastindex or 0), names)}</li>" for item in items)
            return f"<{tag}{start}>{body}</{tag}>", end
    return None, index


def _run(lines: list[str], index: int, pattern: re.Pattern[str]) -> tuple[list[re.Match[str]], int]:
    """The consecutive lines from `index` that `pattern` matches, and the index after them."""
    found: list[re.Match[str]] = []
    while index < len(lines) and (match := pattern.fullmatch(lines[index])):
        found.append(match)
        index += 1
    return found, index


def inline(text: str, names: Mapping[int, str]) -> str:
    """One line's inline Markdown as HTML (emphasis nests; code, links and mentions do not)."""
    out: list[str] = []
    last = 0
    for match in INLINE.finditer(text):
        out.append(escape(text[last : match.start()]))
        out.append(_element(match, names))
        last = match.end()
    out.append(escape(text[last:]))
    return "".join(out)


def _element(match: re.Match[str], names: Mapping[int, str]) -> str:
    kind = match.lastgroup
    if kind == "code":
        return f"<code>{escape(match.group('code'))}</code>"
    if kind in WRAPS:
        opening, closing = WRAPS[kind]
        return f"{opening}{inline(match.group(kind), names)}{closing}"
    renderers: dict[str, Callable[[str], str]] = {
        "escaped": escape,
        "url": lambda url: _link(url, escape(url)),
        "user": lambda uid: _mention("@", names.get(int(uid), "unknown-user")),
        "role": lambda rid: _mention("@", names.get(int(rid), "unknown-role")),
        "channel": lambda cid: _mention("#", names.get(int(cid), "unknown")),
        "emoji": lambda name: escape(f":{name}:"),
    }
    if kind == "href":
        return _link(match.group("href"), inline(match.group("label"), names))
    assert kind is not None
    return renderers[kind](match.group(kind))


def _link(url: str, label_html: str) -> str:
    return f'<a href="{escape(url)}">{label_html}</a>'


def _mention(sigil: str, name: str) -> str:
    return f'<span class="mention">{escape(sigil + name)}</span>'
