"""Resolve which mentions in a message would highlight/notify, following Discord's rules.

* Without ``allowed_mentions`` a channel message parses everything (users, roles, @everyone);
  interaction responses and webhook messages parse only users.
* With ``allowed_mentions``: ``parse`` enables whole categories, ``users``/``roles`` whitelist ids,
  ``replied_user`` (default false) pings the author of the replied-to message.
* Edits re-parse the new content with the edit's ``allowed_mentions`` or, if absent, the defaults.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any

from .records import Pings

USER_MENTION = re.compile(r"<@!?(\d{15,21})>")
ROLE_MENTION = re.compile(r"<@&(\d{15,21})>")
EVERYONE_MENTION = re.compile(r"@(everyone|here)")

ALL_PARSE: frozenset[str] = frozenset({"users", "roles", "everyone"})
USERS_ONLY: frozenset[str] = frozenset({"users"})


def resolve_pings(
    content: str,
    allowed_mentions: dict[str, Any] | None,
    *,
    default_parse: frozenset[str],
    known_users: Collection[int],
    known_roles: Collection[int],
    replied_user_id: int | None = None,
) -> Pings:
    """Return the users/roles/@everyone that ``content`` would actually mention."""
    if allowed_mentions is None:
        parse = set(default_parse)
        user_whitelist: set[int] = set()
        role_whitelist: set[int] = set()
        replied_user = replied_user_id is not None
    else:
        parse = set(allowed_mentions.get("parse") or [])
        user_whitelist = {int(u) for u in allowed_mentions.get("users") or []}
        role_whitelist = {int(r) for r in allowed_mentions.get("roles") or []}
        replied_user = bool(allowed_mentions.get("replied_user", False))

    users = {
        uid
        for uid in (int(m) for m in USER_MENTION.findall(content))
        if uid in known_users and ("users" in parse or uid in user_whitelist)
    }
    roles = {
        rid
        for rid in (int(m) for m in ROLE_MENTION.findall(content))
        if rid in known_roles and ("roles" in parse or rid in role_whitelist)
    }
    everyone = "everyone" in parse and EVERYONE_MENTION.search(content) is not None
    if replied_user and replied_user_id is not None and replied_user_id in known_users:
        users.add(replied_user_id)
    return Pings(frozenset(users), frozenset(roles), everyone)
