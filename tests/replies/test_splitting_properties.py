"""Property tests of reply splitting: for any text (long words, code fences, newlines, emoji, lone
surrogates), every message fits Discord's limit, the messages join back to the text, no message but the last
leaves a code block open, and earlier messages never change as the reply grows."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.replies.splitting import MAX_FENCE_INFO_CHARS, MESSAGE_LIMIT, join_chunks, open_fence, split_message

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FENCE_LINE = re.compile(r"^ {0,3}(`{3,}|~{3,})([^\n]*)$", re.MULTILINE)

pieces = st.one_of(
    st.sampled_from(["```", "```python", "````", "~~~", "~~~ js", "   ```", "    ```", "`", "``", "~"]),
    st.sampled_from(["\n", "\n\n", " ", "  ", "\t", "word", "é🙂", "👩‍👩‍👧", "\ud83d", "\ude00", "\u200b"]),
    st.integers(1, 2500).map(lambda n: "x" * n),  # long words, up to past a whole message
    st.integers(1, 300).map(lambda n: "ab " * n),
    st.text(max_size=40),
    st.text(st.characters(codec=None, exclude_categories=()), max_size=20),  # surrogates included
)
texts = st.lists(pieces, max_size=60).map("".join)
limits = st.sampled_from([MESSAGE_LIMIT, MESSAGE_LIMIT, 300, 80])


def repairable(text: str, limit: int) -> bool:
    """No fence line too long to repeat (split_message leaves such a block unrepaired, by design)."""
    return all(
        len(m.group(1)) + len(m.group(2).strip()[:MAX_FENCE_INFO_CHARS]) < limit // 4 for m in FENCE_LINE.finditer(text)
    )


@FAST
@given(texts, limits)
def test_every_message_fits_and_the_messages_join_back_to_the_text(text: str, limit: int) -> None:
    chunks = split_message(text, limit)
    assert all(len(chunk) <= limit for chunk in chunks)
    assert join_chunks(chunks) == text
    assert all(chunks[:-1]), "no empty message before the last"


@FAST
@given(texts, limits)
def test_no_message_but_the_last_leaves_a_code_block_open(text: str, limit: int) -> None:
    chunks = split_message(text, limit)
    if repairable(text, limit):
        assert [open_fence(chunk) for chunk in chunks[:-1]] == [None] * (len(chunks) - 1)
    last_open = open_fence(chunks[-1])
    assert (last_open is None) == (open_fence(text) is None) or not repairable(text, limit)


@FAST
@given(texts, limits, st.data())
def test_earlier_messages_never_change_as_the_reply_grows(text: str, limit: int, data: st.DataObject) -> None:
    cut = data.draw(st.integers(0, len(text)))
    grown, growing = split_message(text, limit), split_message(text[:cut], limit)
    assert growing[:-1] == grown[: len(growing) - 1]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.large_base_example])
@given(st.text(st.characters(codec=None, exclude_categories=()), min_size=MESSAGE_LIMIT, max_size=3 * MESSAGE_LIMIT))
def test_unbroken_text_of_any_characters_is_cut_within_the_limit(text: str) -> None:
    chunks = split_message(text)
    assert all(len(chunk) <= MESSAGE_LIMIT for chunk in chunks) and join_chunks(chunks) == text
