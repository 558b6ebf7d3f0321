"""The SSE decoder gives the same events however the network splits the bytes."""

from __future__ import annotations

import pytest

from bot.providers.sse import SSEDecoder, SSEEvent

ABLT_STREAM = 'data: {"content":""}\n\ndata: {"content":"To"}\n\ndata: {"content":" pay é🙂"}\n\ndata: [DONE]\n\n'


def decode(chunks: list[bytes], *, bare_lines: bool = False) -> list[SSEEvent]:
    decoder = SSEDecoder(bare_lines=bare_lines)
    events = [event for chunk in chunks for event in decoder.feed(chunk)]
    return events + decoder.close()


def test_ablt_frames_decode_to_data_events() -> None:
    events = decode([ABLT_STREAM.encode()])
    assert [e.data for e in events] == ['{"content":""}', '{"content":"To"}', '{"content":" pay é🙂"}', "[DONE]"]


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_same_events_when_split_at_every_byte_boundary(newline: str) -> None:
    raw = ABLT_STREAM.replace("\n", newline).encode()
    expected = decode([raw])
    for cut in range(1, len(raw)):
        assert decode([raw[:cut], raw[cut:]]) == expected, cut
    assert decode([raw[i : i + 1] for i in range(len(raw))]) == expected


def test_comments_fields_and_multiline_data_follow_the_spec() -> None:
    raw = b": keep-alive\nevent: delta\nid: 7\ndata: line one\ndata:line two\nretry: 100\n\n"
    assert decode([raw]) == [SSEEvent(data="line one\nline two", event="delta", id="7")]


def test_bare_json_lines_are_events_when_tolerated() -> None:
    raw = b'{"content":"To"}\n{"content":" pay"}\n[DONE]\n'
    assert [e.data for e in decode([raw], bare_lines=True)] == ['{"content":"To"}', '{"content":" pay"}', "[DONE]"]
    assert decode([raw]) == []


def test_pending_event_without_final_blank_line_is_dispatched_at_close() -> None:
    assert [e.data for e in decode([b"data: [DONE]"])] == ["[DONE]"]


def test_blank_lines_alone_dispatch_nothing() -> None:
    assert decode([b"\n\n\r\n"]) == []
