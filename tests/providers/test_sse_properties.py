"""Property tests of the SSE decoder: however the network splits any byte stream, the events are those of a
reference model written from the WHATWG rules, and an oversize line or event is refused the same way.

The reference (`reference`) follows WHATWG HTML section 9.2.6 "Interpreting an event stream" on the whole
stream decoded at once, plus the module's documented leniencies (a last line without terminator and a last
event without blank line count at the end; `bare_lines` JSON lines are events of their own).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.providers.sse import SSEDecoder, SSEEvent, SSETooLarge

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LINE_CAP = 40
EVENT_CAP = 60

FRAGMENTS = [
    b"data",
    b"data:",
    b"data: ",
    b"event:",
    b"event: delta",
    b"id:",
    b"id: 7",
    b"id: a\x00b",
    b"retry: 100",
    b":",
    b": comment",
    b" ",
    b"\r",
    b"\n",
    b"\r\n",
    b"\n\n",
    b"{",
    b"[",
    b' {"content":"To"}',
    b"[DONE]",
    b"x",
    b"hello world",
    "é🙂€".encode(),
    b"\xff",
    b"\xe2\x82",
    b"\xef\xbb\xbf",
    b"\x00",
]
streams = st.one_of(
    st.lists(st.sampled_from(FRAGMENTS), max_size=40).map(b"".join),
    st.binary(max_size=200),
    st.builds(
        lambda a, b: a + b, st.just(b"\xef\xbb\xbf"), st.lists(st.sampled_from(FRAGMENTS), max_size=20).map(b"".join)
    ),
)


@st.composite
def split(draw: st.DrawFn, data: bytes) -> list[bytes]:
    """`data` cut at any positions (empty chunks included)."""
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=12)))
    edges = [0, *cuts, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


@st.composite
def stream_and_chunks(draw: st.DrawFn) -> tuple[bytes, list[bytes]]:
    data = draw(streams)
    return data, draw(split(data))


@dataclass
class Outcome:
    events: list[SSEEvent] = field(default_factory=list)
    refused: SSETooLarge | None = None


def decode(chunks: list[bytes], *, bare_lines: bool, line_cap: int = 10**9, event_cap: int = 10**9) -> Outcome:
    """What a caller receives from the decoder: the events, and the refusal if a cap was passed."""
    decoder = SSEDecoder(bare_lines=bare_lines, max_line_bytes=line_cap, max_event_bytes=event_cap)
    outcome = Outcome()
    try:
        for chunk in chunks:
            outcome.events += decoder.feed(chunk)
        outcome.events += decoder.close()
    except SSETooLarge as exc:
        outcome.events += exc.events
        outcome.refused = exc
    return outcome


def reference(data: bytes, *, bare_lines: bool, line_cap: int = 10**9, event_cap: int = 10**9) -> Outcome:
    """The WHATWG algorithm over the whole stream (plus the module's leniencies and caps)."""
    data = data.removeprefix(b"\xef\xbb\xbf")
    raw_lines = re.split(rb"\r\n|\r|\n", data)
    last = raw_lines.pop()  # what follows the last line break (b"" if the stream ends with one)
    if last:
        raw_lines.append(last)
    outcome = Outcome()
    data_buffer, event_type, last_id, data_bytes = "", "", None, 0

    def dispatch() -> None:
        nonlocal data_buffer, event_type, data_bytes
        data_bytes = 0
        if data_buffer == "":
            event_type = ""
            return
        outcome.events.append(SSEEvent(data=data_buffer[:-1], event=event_type or "message", id=last_id))
        data_buffer, event_type = "", ""

    def add_data(value: str, size: int) -> bool:
        nonlocal data_buffer, data_bytes
        data_bytes += size
        if data_bytes > event_cap:
            outcome.refused = SSETooLarge("event", event_cap)
            return False
        data_buffer += value + "\n"
        return True

    for raw in raw_lines:
        if len(raw) > line_cap:
            outcome.refused = SSETooLarge("line", line_cap)
            return outcome
        line = raw.decode("utf-8", errors="replace")
        if line == "":
            dispatch()
        elif line.startswith(":"):
            continue
        elif bare_lines and line.lstrip().startswith(("{", "[")):
            dispatch()
            if not add_data(line.strip(), len(raw)):
                return outcome
            dispatch()
        else:
            name, value = line.split(":", 1) if ":" in line else (line, "")
            value = value[1:] if value.startswith(" ") else value
            if name == "data" and not add_data(value, len(raw)):
                return outcome
            if name == "event":
                event_type = value
            elif name == "id" and "\x00" not in value:
                last_id = value
    dispatch()
    return outcome


def summary(outcome: Outcome) -> tuple[list[SSEEvent], str | None]:
    return outcome.events, None if outcome.refused is None else outcome.refused.what


@FAST
@given(stream_and_chunks(), st.booleans())
@example((b"data: a\r", [b"data: a\r", b""]), False)
@example((b"data: a\r\ndata: b\n\n", [b"data: a\r", b"\ndata: b\n\n"]), False)
@example(("data: é🙂\n\n".encode(), [b"data: \xc3", "é🙂\n\n".encode()[1:]]), False)
def test_any_split_gives_the_events_of_the_whole_stream_and_of_the_reference(
    case: tuple[bytes, list[bytes]], bare_lines: bool
) -> None:
    data, chunks = case
    whole = decode([data], bare_lines=bare_lines)
    assert summary(decode(chunks, bare_lines=bare_lines)) == summary(whole)
    assert summary(whole) == summary(reference(data, bare_lines=bare_lines))


@FAST
@given(stream_and_chunks(), st.booleans())
def test_caps_refuse_the_same_way_whatever_the_split(case: tuple[bytes, list[bytes]], bare_lines: bool) -> None:
    """Events before the first line or event past its cap are handed out, then the refusal, for any split."""
    data, chunks = case
    caps = {"line_cap": LINE_CAP, "event_cap": EVENT_CAP}
    expected = summary(reference(data, bare_lines=bare_lines, **caps))
    assert summary(decode(chunks, bare_lines=bare_lines, **caps)) == expected


@FAST
@given(st.text(max_size=300).filter(lambda t: "\r" not in t and "\n" not in t), st.data())
def test_any_text_survives_utf8_split_anywhere(text: str, data: st.DataObject) -> None:
    raw = f"data: {text}\r\n\r\n".encode()
    for bare_lines in (False, True):
        assert decode(data.draw(split(raw)), bare_lines=bare_lines).events == [SSEEvent(data=text)]


@FAST
@given(st.integers(LINE_CAP + 1, 4 * LINE_CAP), st.sampled_from([b"data: ", b"", b": ", b"{"]), st.data())
def test_an_oversize_line_is_refused_whatever_the_split(length: int, prefix: bytes, data: st.DataObject) -> None:
    raw = b"data: before\n\n" + prefix + b"y" * length + b"\n\ndata: after\n\n"
    for bare_lines in (False, True):
        outcome = decode(data.draw(split(raw)), bare_lines=bare_lines, line_cap=LINE_CAP)
        assert outcome.refused is not None and outcome.refused.what == "line"
        assert outcome.events == [SSEEvent(data="before")]


def test_a_decoder_refuses_more_input_after_a_cap() -> None:
    decoder = SSEDecoder(max_line_bytes=4)
    with pytest.raises(SSETooLarge):
        decoder.feed(b"data: too long")
    with pytest.raises(SSETooLarge):
        decoder.feed(b"\n\n")
    with pytest.raises(SSETooLarge):
        decoder.close()


def test_a_line_at_the_cap_is_read_and_one_byte_more_is_refused() -> None:
    line = b"data: " + b"z" * (LINE_CAP - 6)
    assert decode([line + b"\n\n"], bare_lines=False, line_cap=LINE_CAP).events == [SSEEvent(data="z" * (LINE_CAP - 6))]
    assert decode([line + b"zz\n\n"], bare_lines=False, line_cap=LINE_CAP).refused is not None


def test_data_lines_adding_up_past_the_event_cap_are_refused() -> None:
    raw = b"data: 0123456789\n" * 10 + b"\n"
    outcome = decode([raw], bare_lines=False, event_cap=100)
    assert outcome.refused is not None and outcome.refused.what == "event"
    assert decode([raw], bare_lines=False, event_cap=160).events == [SSEEvent(data="\n".join(["0123456789"] * 10))]
