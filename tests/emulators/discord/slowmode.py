"""Slowmode: how often a member may post in a channel or thread, and open threads in a channel.

Sources (discord-api-docs):

* resources/channel.mdx, Channel Structure ``rate_limit_per_user``: "amount of seconds a user has to
  wait before sending another message (0-21600); bots, as well as users with the permission
  BYPASS_SLOWMODE, are unaffected", and its note: "rate_limit_per_user also applies to thread
  creation. Users can send one message and create one thread during each rate_limit_per_user
  interval." A thread has its own ``rate_limit_per_user``.
* change-log.mdx, "New BYPASS_SLOWMODE Permission & Permission Split" (2025-11-24): BYPASS_SLOWMODE
  (1 << 52) is split from MANAGE_MESSAGES, MANAGE_CHANNEL and MANAGE_THREADS; "Starting on February
  23, 2026, users will need the BYPASS_SLOWMODE permission to not be affected by slowmode
  restrictions." So managing messages or channels alone no longer exempts anyone. ADMINISTRATOR
  "allows all permissions" (topics/permissions.mdx), the owner likewise, so both are exempt.
* The refusal: HTTP 429 with JSON code 20016 "This action cannot be performed due to slowmode rate
  limit" (topics/opcodes-and-status-codes.mdx, JSON Error Codes), ``retry_after`` the seconds left
  and ``global: false`` (a body captured from Discord:
  github.com/Merubokkusu/Discord-S.C.U.M/issues/232).

Only people's own sends are limited: the bot (and any bot account), webhooks, interaction responses
and Discord's system messages are not.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Literal

from .errors import ApiError
from .permissions import ADMINISTRATOR, BYPASS_SLOWMODE, computed_permissions
from .world import World

MAX_SLOWMODE_S = 21600
SLOWMODE_CODE = 20016
SLOWMODE_MESSAGE = "This action cannot be performed due to slowmode rate limit"

Action = Literal["message", "thread"]


class SlowmodeLimited(ApiError):
    """429 20016 with Discord's ``retry_after`` (seconds) and ``global: false``."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(429, SLOWMODE_CODE, SLOWMODE_MESSAGE)
        self.retry_after = retry_after_s

    def body(self) -> dict[str, Any]:
        return {**super().body(), "retry_after": round(self.retry_after, 3), "global": False}


class Slowmode:
    """When each person last sent a message, or opened a thread, in each channel (monotonic seconds)."""

    def __init__(self, world: World, clock: Callable[[], float] = time.monotonic) -> None:
        self.world = world
        self._clock = clock
        self._last: dict[tuple[Action, int, int], float] = {}

    def interval_s(self, channel_id: int) -> int:
        """The channel's or thread's ``rate_limit_per_user`` (0: off; DMs have none)."""
        place = self.world.channels.get(channel_id) or self.world.threads.get(channel_id)
        return int(getattr(place, "rate_limit_per_user", 0) or 0)

    def exempt(self, user_id: int, channel_id: int) -> bool:
        """Bots, and people holding BYPASS_SLOWMODE (or ADMINISTRATOR, which the owner has) there."""
        user = self.world.users.get(user_id)
        if user is None or user.bot or user_id == self.world.bot_user_id:
            return True
        return bool(computed_permissions(self.world, user_id, channel_id) & (ADMINISTRATOR | BYPASS_SLOWMODE))

    def check(self, action: Action, user_id: int, channel_id: int) -> None:
        """Raise :class:`SlowmodeLimited` if ``user_id`` did ``action`` there less than the interval ago."""
        interval = self.interval_s(channel_id)
        if interval <= 0 or self.exempt(user_id, channel_id):
            return
        last = self._last.get((action, channel_id, user_id))
        if last is not None and (left := last + interval - self._clock()) > 0:
            raise SlowmodeLimited(left)

    def record(self, action: Action, user_id: int, channel_id: int) -> None:
        """``user_id`` just did ``action`` there (kept only where slowmode applies to them)."""
        if self.interval_s(channel_id) > 0 and not self.exempt(user_id, channel_id):
            self._last[(action, channel_id, user_id)] = self._clock()
