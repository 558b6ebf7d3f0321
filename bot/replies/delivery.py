"""What a failed Discord write means for a reply, and the back-off that rides out Discord's bad moments.

Discord answers a write with one of a few kinds of trouble (discord-api-docs,
topics/opcodes-and-status-codes.mdx, and the sources named on each kind):

- transient: any 5xx (discord.py itself retries only 500, 502, 504 and 524, never 503, e.g. the
  proxy's plain-text "upstream connect error"), a timeout, a dropped connection, or a 429 that
  discord.py stopped retrying. Worth trying again later, with back-off.
- gone (404, 10003 Unknown Channel): a moderator deleted the thread or channel.
- no access (403, 50001 Missing Access): the bot can no longer see it (removed from a private
  thread, View Channel denied).
- forbidden (403, 50013 Missing Permissions): Send Messages (in Threads), Attach Files, ...
- locked (403, 50083 "Thread is archived"; 160005 Thread is locked): a moderator locked the thread, and
  only members with Manage Threads may create or edit messages there (topics/threads.mdx "Locked
  Threads"; the 403/50083 pair is what Discord returns: discord-api-docs issues 6884 and 7707).
- archived (400, 50083): messages in an archived thread cannot be edited until it is unarchived;
  sending a message unarchives it by itself (topics/threads.mdx "Active & Archived Threads").
- message gone (404, 10008 Unknown Message): someone deleted the message being edited.
- rejected: any other 4xx, which no retry will fix.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import aiohttp
import discord

log = logging.getLogger(__name__)
T = TypeVar("T")

RETRY_FIRST_S = 1.0
RETRY_MAX_S = 30.0
"""Back-off between tries while Discord fails: 1, 2, 4, ... seconds, at most 30."""
OUTAGE_NOTICE_S = 10.0
"""A reply held back by Discord for longer than this says so once it is shown."""
OUTAGE_GIVE_UP_S = 900.0
"""After 15 minutes of failures the reply stops waiting for Discord (the turn ends)."""

UNKNOWN_CHANNEL, UNKNOWN_MESSAGE = 10003, 10008
MISSING_ACCESS, MISSING_PERMISSIONS, THREAD_ARCHIVED, THREAD_LOCKED = 50001, 50013, 50083, 160005
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (TimeoutError, aiohttp.ClientError, OSError, discord.RateLimited)
"""Failures below HTTP (no status at all) that a later try may not meet; discord.HTTPException covers the rest."""
WRITE_ERRORS: tuple[type[BaseException], ...] = (discord.HTTPException, *TRANSIENT_ERRORS)
"""Everything a Discord write may raise that `classify` understands."""


class Trouble(enum.Enum):
    """What kind of failure a Discord write met (see the module docstring)."""

    TRANSIENT = "transient"
    GONE = "gone"
    NO_ACCESS = "no access"
    FORBIDDEN = "forbidden"
    LOCKED = "locked"
    ARCHIVED = "archived"
    MESSAGE_GONE = "message gone"
    REJECTED = "rejected"


def classify(exc: BaseException) -> Trouble:
    """The kind of trouble behind an exception from one of `WRITE_ERRORS`."""
    if not isinstance(exc, discord.HTTPException):
        return Trouble.TRANSIENT
    status, code = exc.status, exc.code
    if status >= 500 or status == 429:
        return Trouble.TRANSIENT
    if status == 404:
        return {UNKNOWN_CHANNEL: Trouble.GONE, UNKNOWN_MESSAGE: Trouble.MESSAGE_GONE}.get(code, Trouble.REJECTED)
    if code == THREAD_LOCKED or (status == 403 and code == THREAD_ARCHIVED):
        return Trouble.LOCKED
    if code == THREAD_ARCHIVED:
        return Trouble.ARCHIVED
    if status == 403:
        return Trouble.NO_ACCESS if code == MISSING_ACCESS else Trouble.FORBIDDEN
    return Trouble.REJECTED


UNKNOWN_WEBHOOK, INVALID_WEBHOOK_TOKEN = 10015, 50027


def followup_token_trouble(exc: BaseException) -> bool:
    """A failed interaction followup that the channel should take over: the token refused (401, 50027 Invalid
    Webhook Token; 10015 Unknown Webhook: discord-api-docs issue 6851) or no answer at all (`Trouble.TRANSIENT`,
    after discord.py's own retries of a 5xx)."""
    if not isinstance(exc, discord.HTTPException):
        return True
    token_refused = exc.status == 401 or exc.code in (UNKNOWN_WEBHOOK, INVALID_WEBHOOK_TOKEN)
    return token_refused or classify(exc) is Trouble.TRANSIENT


class Outage:
    """A run of transient failures: how long to wait before the next try, and how long it has lasted."""

    def __init__(self, first_s: float | None = None, max_s: float | None = None) -> None:
        self._first_s = RETRY_FIRST_S if first_s is None else first_s
        self._max_s = RETRY_MAX_S if max_s is None else max_s
        self._delay_s = 0.0
        self.started_at: float | None = None

    @property
    def lasted_s(self) -> float:
        """Seconds since the first failure of the current run (0 when Discord is answering)."""
        return 0.0 if self.started_at is None else time.monotonic() - self.started_at

    def failed(self) -> float:
        """Record one more failure; returns how long to wait before trying again (seconds)."""
        if self.started_at is None:
            self.started_at = time.monotonic()
        self._delay_s = min(self._max_s, self._delay_s * 2 if self._delay_s else self._first_s)
        return self._delay_s

    def answered(self) -> float:
        """Discord answered again; returns how long the run of failures lasted (0 if there was none)."""
        lasted = self.lasted_s
        self.started_at, self._delay_s = None, 0.0
        return lasted


def duration_in_words(seconds: float) -> str:
    """How long Discord kept a reply waiting, as members read it: "about 40 seconds", "about 3 minutes"."""
    return f"about {round(seconds)} seconds" if seconds < 90 else f"about {round(seconds / 60)} minutes"


async def until_taken(write: Callable[[], Awaitable[T]], *, what: str, give_up_s: float = OUTAGE_GIVE_UP_S) -> T | None:
    """A single write a member must see (a notice, a refusal, a hint), tried again with back-off while Discord's
    trouble is transient, for at most `give_up_s`. Returns its result, or None if Discord refused it for good or
    stayed down (logged as `what`). The caller makes retries safe: a new message carries a nonce."""
    outage = Outage()
    while True:
        try:
            return await write()
        except WRITE_ERRORS as exc:
            if classify(exc) is not Trouble.TRANSIENT:
                log.warning("%s refused by Discord: %s", what, exc)
                return None
            delay = outage.failed()
            if outage.lasted_s + delay > give_up_s:
                log.warning("%s never reached Discord: %s", what, exc)
                return None
            log.info("%s failed (%s); trying again in %.0f s", what, exc, delay)
            await asyncio.sleep(delay)
