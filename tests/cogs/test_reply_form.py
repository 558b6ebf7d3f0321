"""Reading a submitted Reply form (cogs/places.py): whatever a client sends back, the text is found where the
form put it or the submission is refused, never an exception, and never more than a Text Input may hold."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from cogs.places import MESSAGE_FIELD_ID, MESSAGE_MAX_CHARS, owner_in, submitted_text

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=12), children, max_size=6),
    max_leaves=40,
)


def form(value: Any) -> dict[str, Any]:
    """A form as Discord sends it back: a Label holding the text input."""
    text_input = {"type": 4, "id": 2, "custom_id": MESSAGE_FIELD_ID, "value": value}
    return {"custom_id": "place-reply-form:7", "components": [{"type": 18, "id": 1, "component": text_input}]}


@given(st.text(max_size=5000))
def test_the_text_is_read_from_where_the_form_put_it(text: str) -> None:
    assert submitted_text(form(text)) == text[:MESSAGE_MAX_CHARS]


@given(JSON)
def test_any_submission_gives_text_or_none(data: Any) -> None:
    found = submitted_text(data)
    assert found is None or (isinstance(found, str) and len(found) <= MESSAGE_MAX_CHARS)


@given(JSON)
def test_a_value_that_is_not_text_is_refused(value: Any) -> None:
    assert submitted_text(form(value)) == (value[:MESSAGE_MAX_CHARS] if isinstance(value, str) else None)


def test_a_form_nested_deeper_than_discord_nests_one_is_not_searched() -> None:
    deep: dict[str, Any] = {"custom_id": MESSAGE_FIELD_ID, "value": "hidden"}
    for _ in range(10):
        deep = {"component": deep}
    assert submitted_text({"components": [deep]}) is None


@given(st.text(max_size=30))
def test_the_owner_is_a_canonical_member_id_or_nothing(tail: str) -> None:
    owner = owner_in(tail)
    assert owner is None or (str(owner) == tail and owner > 0)
