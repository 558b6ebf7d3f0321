"""Incremental Server-Sent Events decoder (WHATWG rules) that tolerates bare JSON lines.

Bytes go in as the network delivers them, so a chunk may end mid-line or mid-character; lines are
only decoded once complete. A blank line ends an event, `:` starts a comment, `data:` lines join with
newlines. Some vendors document (or send) bare JSON lines without `data:`: with `bare_lines=True`
such a line (starting with `{` or `[`) is an event of its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass


@dataclass(frozen=True)
class SSEEvent:
    data: str
    event: str = "message"
    id: str | None = None


class SSEDecoder:
    def __init__(self, *, bare_lines: bool = False) -> None:
        self._buffer = b""
        self._data: list[str] = []
        self._event = ""
        self._id: str | None = None
        self._bare_lines = bare_lines

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Decode what `chunk` completes; keep any partial line for the next call."""
        self._buffer += chunk
        events: list[SSEEvent] = []
        while True:
            line, found = self._take_line()
            if not found:
                return events
            events.extend(self._line(line))

    def close(self) -> list[SSEEvent]:
        """At end of stream, dispatch what is pending; a vendor may omit the final blank line."""
        events: list[SSEEvent] = []
        if self._buffer:
            events.extend(self._line(self._buffer.decode("utf-8", errors="replace")))
            self._buffer = b""
        pending = self._dispatch()
        if pending is not None:
            events.append(pending)
        return events

    def _take_line(self) -> tuple[str, bool]:
        for index, byte in enumerate(self._buffer):
            if byte in (0x0A, 0x0D):
                if byte == 0x0D and index + 1 == len(self._buffer):
                    return "", False  # a CR at the end may be half of CRLF: wait for more
                end = index + 2 if self._buffer[index : index + 2] == b"\r\n" else index + 1
                line = self._buffer[:index].decode("utf-8", errors="replace")
                self._buffer = self._buffer[end:]
                return line, True
        return "", False

    def _line(self, line: str) -> list[SSEEvent]:
        if not line:
            return self._dispatched()
        if line.startswith(":"):
            return []
        if self._bare_lines and line.lstrip().startswith(("{", "[")):
            events = self._dispatched()  # unterminated data lines before it stand on their own
            self._data.append(line.strip())
            return events + self._dispatched()
        name, sep, value = line.partition(":")
        if not sep:
            name, value = line, ""
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\x00" not in value:
            self._id = value
        return []

    def _dispatched(self) -> list[SSEEvent]:
        event = self._dispatch()
        return [] if event is None else [event]

    def _dispatch(self) -> SSEEvent | None:
        if not self._data:
            self._event = ""
            return None
        event = SSEEvent(data="\n".join(self._data), event=self._event or "message", id=self._id)
        self._data = []
        self._event = ""
        return event


async def iter_sse(chunks: AsyncIterable[bytes], *, bare_lines: bool = False) -> AsyncIterator[SSEEvent]:
    """Yield events from an async byte stream such as `aiohttp.StreamReader.iter_any()`."""
    decoder = SSEDecoder(bare_lines=bare_lines)
    async for chunk in chunks:
        for event in decoder.feed(chunk):
            yield event
    for event in decoder.close():
        yield event
