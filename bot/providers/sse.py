"""Incremental Server-Sent Events decoder (WHATWG rules) that tolerates bare JSON lines, in bounded memory.

Bytes go in as the network delivers them, so a chunk may end mid-line, between the CR and LF of a CRLF,
or mid-character; lines are only decoded once complete. A blank line ends an event, `:` starts a comment,
`data:` lines join with newlines, `id` persists across events (and is ignored if it holds NUL), one
leading byte order mark is skipped. Two documented leniencies: at the end of the stream a last line
without its terminator and an event without its final blank line still count (vendors omit them). Some
vendors document (or send) bare JSON lines without `data:`: with `bare_lines=True` such a line (starting
with `{` or `[`) is an event of its own.

Source: WHATWG HTML, "Server-sent events", section 9.2.6 "Interpreting an event stream".

Decoding is linear in the bytes received: each byte is scanned for a line break once (the scan resumes
where it stopped), and a line is decoded once. A line longer than `max_line_bytes`, or an event whose
`data` lines add up to more than `max_event_bytes`, raises SSETooLarge (after the events completed
before it were handed out), so a vendor cannot make the bot buffer without end.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterable, AsyncIterator, Iterator
from dataclasses import dataclass

MAX_LINE_BYTES = 8 * 1024 * 1024
"""Default cap on one line (terminator excluded), in bytes: Convai's longest legitimate line is one event
carrying a whole spoken answer as base64 (a 60 s 22.05 kHz mono 16-bit WAV is 2.6 MB, 3.5 MB as base64), so
this leaves more than twice that."""
MAX_EVENT_BYTES = MAX_LINE_BYTES
"""Default cap on the `data` of one event (the bytes of its data lines, fields included)."""
TEXT_MAX_LINE_BYTES = 1024 * 1024
"""Cap a provider may pass for a stream that carries only text: a 1 MiB line is 500 Discord messages."""

_LINE_BREAK = re.compile(rb"[\r\n]")
_BOM = b"\xef\xbb\xbf"


class SSETooLarge(ValueError):
    """A line or an event went past its cap. `what` is "line" or "event", `limit_bytes` the cap passed, and
    `events` the events the same call completed before it (hand them out before giving up)."""

    def __init__(self, what: str, limit_bytes: int) -> None:
        super().__init__(f"SSE {what} longer than {limit_bytes} bytes")
        self.what = what
        self.limit_bytes = limit_bytes
        self.events: list[SSEEvent] = []


@dataclass(frozen=True)
class SSEEvent:
    data: str
    event: str = "message"
    id: str | None = None


class SSEDecoder:
    """Feed it bytes with `feed`, then call `close` at the end of the stream; each returns the events completed.

    `feed` and `close` raise SSETooLarge once a line or an event passes its cap, carrying the events that
    call completed before it; the decoder then refuses any more input. Memory stays within about
    `max_line_bytes` + `max_event_bytes` + one chunk.
    """

    def __init__(
        self, *, bare_lines: bool = False, max_line_bytes: int = MAX_LINE_BYTES, max_event_bytes: int = MAX_EVENT_BYTES
    ) -> None:
        self._buffer = bytearray()
        self._scanned = 0  # bytes of _buffer already searched for a line break (none found there)
        self._after_cr = False  # the last line ended with CR: an LF arriving next belongs to it
        self._bom_checked = False
        self._data: list[str] = []
        self._data_bytes = 0
        self._event = ""
        self._id: str | None = None
        self._bare_lines = bare_lines
        self._max_line = max_line_bytes
        self._max_event = max_event_bytes
        self._failed: SSETooLarge | None = None

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Decode what `chunk` completes; keep any partial line for the next call."""
        events: list[SSEEvent] = []
        with self._capped(events):
            self._buffer += chunk
            if self._skip_bom():
                self._take_lines(events)
        return events

    def close(self) -> list[SSEEvent]:
        """At end of stream, dispatch what is pending; a vendor may omit the final blank line."""
        events: list[SSEEvent] = []
        with self._capped(events):
            if self._buffer:
                line = bytes(self._buffer)
                self._buffer.clear()
                self._line(line, events)
            self._dispatch_into(events)
        return events

    @contextlib.contextmanager
    def _capped(self, events: list[SSEEvent]) -> Iterator[None]:
        """Refuse input after a cap was passed; on passing one, drop what is buffered and say what was done."""
        if self._failed is not None:
            raise SSETooLarge(self._failed.what, self._failed.limit_bytes)
        try:
            yield
        except SSETooLarge as exc:
            self._buffer.clear()
            self._data = []
            self._failed = exc
            exc.events = events
            raise

    def _skip_bom(self) -> bool:
        """Drop one leading byte order mark; False while the first bytes could still be the start of one."""
        if self._bom_checked:
            return True
        if len(self._buffer) < len(_BOM) and _BOM.startswith(self._buffer):
            return False
        if self._buffer.startswith(_BOM):
            del self._buffer[: len(_BOM)]
        self._bom_checked = True
        return True

    def _take_lines(self, events: list[SSEEvent]) -> None:
        buffer = self._buffer
        start = 0
        if self._after_cr and buffer:
            start = 1 if buffer[0] == 0x0A else 0  # the LF of a CRLF whose CR ended the previous chunk
            self._after_cr = False
        scan_from = max(self._scanned, start)
        while True:
            found = _LINE_BREAK.search(buffer, scan_from)
            if found is None:
                break
            end = found.start()
            if end - start > self._max_line:
                raise SSETooLarge("line", self._max_line)
            line = buffer[start:end]
            if buffer[end] == 0x0D:
                if end + 1 == len(buffer):
                    self._after_cr = True
                    start = end + 1
                elif buffer[end + 1] == 0x0A:
                    start = end + 2
                else:
                    start = end + 1
            else:
                start = end + 1
            scan_from = start
            self._line(line, events)
        if len(buffer) - start > self._max_line:
            raise SSETooLarge("line", self._max_line)
        del buffer[:start]
        self._scanned = len(buffer)

    def _line(self, raw: bytes | bytearray, events: list[SSEEvent]) -> None:
        if not raw:
            self._dispatch_into(events)
            return
        if raw[:1] == b":":
            return
        line = raw.decode("utf-8", errors="replace")
        if self._bare_lines and line.lstrip().startswith(("{", "[")):
            self._dispatch_into(events)  # unterminated data lines before it stand on their own
            self._add_data(line.strip(), len(raw))
            self._dispatch_into(events)
            return
        name, sep, value = line.partition(":")
        if not sep:
            name, value = line, ""
        value = value.removeprefix(" ")
        if name == "data":
            self._add_data(value, len(raw))
        elif name == "event":
            self._event = value
        elif name == "id" and "\x00" not in value:
            self._id = value

    def _add_data(self, value: str, size: int) -> None:
        self._data_bytes += size
        if self._data_bytes > self._max_event:
            raise SSETooLarge("event", self._max_event)
        self._data.append(value)

    def _dispatch_into(self, events: list[SSEEvent]) -> None:
        event = self._dispatch()
        if event is not None:
            events.append(event)

    def _dispatch(self) -> SSEEvent | None:
        self._data_bytes = 0
        if not self._data:
            self._event = ""
            return None
        event = SSEEvent(data="\n".join(self._data), event=self._event or "message", id=self._id)
        self._data = []
        self._event = ""
        return event


async def iter_sse(
    chunks: AsyncIterable[bytes],
    *,
    bare_lines: bool = False,
    max_line_bytes: int = MAX_LINE_BYTES,
    max_event_bytes: int = MAX_EVENT_BYTES,
) -> AsyncIterator[SSEEvent]:
    """Yield events from an async byte stream such as `aiohttp.StreamReader.iter_any()`.

    Past a cap it yields the events completed before it, then raises SSETooLarge (see SSEDecoder); the
    caller closes the response.
    """
    decoder = SSEDecoder(bare_lines=bare_lines, max_line_bytes=max_line_bytes, max_event_bytes=max_event_bytes)
    try:
        async for chunk in chunks:
            for event in decoder.feed(chunk):
                yield event
        for event in decoder.close():
            yield event
    except SSETooLarge as exc:
        for event in exc.events:
            yield event
        raise
