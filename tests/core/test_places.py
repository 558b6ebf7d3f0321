"""Place keys (bot/core/places.py): a member's conversation in a place reached through their own install is keyed
by channel and member, never colliding with a Discord channel id and the same in every process."""

from __future__ import annotations

import subprocess
import sys

from hypothesis import given
from hypothesis import strategies as st

from bot.core.places import is_place, place_key

SNOWFLAKES = st.integers(min_value=0, max_value=2**63 - 1)


@given(SNOWFLAKES, SNOWFLAKES)
def test_a_place_key_is_negative_fits_a_bigint_and_is_never_a_channel(channel_id: int, member_id: int) -> None:
    key = place_key(channel_id, member_id)
    assert -(2**63) <= key < 0 and is_place(key) and not is_place(channel_id)


@given(SNOWFLAKES, SNOWFLAKES, SNOWFLAKES)
def test_each_member_has_their_own_key_in_a_channel(channel_id: int, member_id: int, other_id: int) -> None:
    assert place_key(channel_id, member_id) == place_key(channel_id, member_id)
    if member_id != other_id:
        assert place_key(channel_id, member_id) != place_key(channel_id, other_id)


def test_the_key_is_the_same_in_another_process() -> None:
    """Shard processes (and restarts) must agree: the key does not depend on Python's per-process hash seed."""
    code = "from bot.core.places import place_key; print(place_key(1234, 5678))"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)  # noqa: S603
    assert int(other.stdout) == place_key(1234, 5678)
