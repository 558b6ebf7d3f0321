"""Replies split into Discord-sized messages at natural boundaries, with code fences repaired."""

from __future__ import annotations

import random

from bot.replies.splitting import MESSAGE_LIMIT, join_chunks, split_message


def fence_lines_balanced(chunk: str) -> bool:
    return sum(1 for line in chunk.split("\n") if line.startswith("```")) % 2 == 0


def test_short_text_is_one_message() -> None:
    assert split_message("hello") == ["hello"]
    assert split_message("") == [""]


def test_splits_prefer_paragraphs_then_lines_then_words() -> None:
    paragraph = "word " * 300  # 1,500 characters
    chunks = split_message(paragraph + "\n\n" + paragraph)
    assert chunks == [paragraph + "\n\n", paragraph]
    words = "alpha " * 500
    chunks = split_message(words)
    assert all(chunk.endswith(" ") for chunk in chunks[:-1])
    assert "".join(chunks) == words


def test_unbroken_text_is_cut_hard_at_the_limit() -> None:
    text = "x" * 4500
    assert [len(c) for c in split_message(text)] == [2000, 2000, 500]


def test_code_fence_is_closed_and_reopened_with_its_language() -> None:
    code = "```python\n" + "\n".join(f"print({i})" for i in range(400)) + "\n```\nDone."
    chunks = split_message(code)
    assert len(chunks) > 1
    assert all(len(c) <= MESSAGE_LIMIT for c in chunks)
    assert all(fence_lines_balanced(c) for c in chunks)
    assert all(c.startswith("```python\n") for c in chunks)
    assert join_chunks(chunks) == code


def test_random_markdown_roundtrips_and_earlier_chunks_never_change() -> None:
    rng = random.Random(7)
    pieces = ["hello", "world", "\n```python\n", "\n```\n", "\n~~~\n", "x = 1", "\n", "\n\n", "a" * 60, "é🙂"]
    for _ in range(300):
        text = "".join(rng.choice(pieces) + rng.choice([" ", "", "\n"]) for _ in range(rng.randint(1, 1500)))
        limit = rng.choice([MESSAGE_LIMIT, 300, 120])
        chunks = split_message(text, limit)
        assert join_chunks(chunks) == text
        assert all(len(c) <= limit for c in chunks)
        for cut in range(0, len(text), max(1, len(text) // 5)):
            growing = split_message(text[:cut], limit)
            assert growing[:-1] == chunks[: len(growing) - 1]
