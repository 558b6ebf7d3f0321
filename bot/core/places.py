"""Conversations in places the bot reaches only through a member's own installation of the app.

A member who added the app to their account can use `/chat` in any server (also one the bot is not in), in
DMs with friends and in group DMs (resources/application.mdx "User Context"). The bot cannot read or post in
those channels: it answers through the interaction alone. Each member there has a conversation of their own,
so a session is keyed by the channel *and* the member: a place key, a negative number (never a Discord
snowflake, which is positive), derived from both, the same in every process and after every restart.
"""

from __future__ import annotations

import hashlib

PLACE_KEY_BITS = 62
"""A place key is -(1 + a 62-bit hash): it fits a signed 64-bit column and is never 0 or positive."""


def place_key(channel_id: int, member_id: int) -> int:
    """The session key of `member_id`'s conversation in `channel_id` reached through their own install: a
    negative int, deterministic (BLAKE2b of both ids); two pairs meet on one key with odds of about 2**-62."""
    digest = hashlib.blake2b(f"{channel_id}:{member_id}".encode(), digest_size=8, person=b"place-key").digest()
    return -1 - (int.from_bytes(digest, "big") >> (64 - PLACE_KEY_BITS))


def is_place(channel_id: int) -> bool:
    """Whether a session's `channel_id` is a place key (`place_key`) rather than a Discord channel."""
    return channel_id < 0
