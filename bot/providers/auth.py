"""Bearer tokens that refresh themselves once when the vendor says they expired, and are remembered."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from bot.ops.logs import hide

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TokenPair:
    """An access token and the refresh token that renews it; both are masked in every log line from the moment
    the bot holds them (`bot.ops.logs.hide`), and never shown by `repr`."""

    access: str = field(repr=False)
    refresh: str | None = field(repr=False)

    def __post_init__(self) -> None:
        hide(self.access, self.refresh)


Refresher = Callable[[str], Awaitable[TokenPair]]
"""Trade a refresh token for a new pair; raises a ProviderError when the vendor refuses."""
Keeper = Callable[[TokenPair], Awaitable[None]]
"""Persist a new pair so the next start uses it."""


class RefreshingBearer:
    """The current pair, and a refresh that runs once however many requests failed with the old token.

    After taking the lock a caller re-checks whether someone else already replaced the token it
    used; only then does it refresh (the pattern of aiohttp's token_refresh_middleware example).
    """

    def __init__(self, pair: TokenPair, refresher: Refresher, keeper: Keeper) -> None:
        self._pair = pair
        self._refresher = refresher
        self._keeper = keeper
        self._lock = asyncio.Lock()

    @property
    def access(self) -> str:
        return self._pair.access

    def header(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._pair.access}"}

    async def refresh_after(self, rejected_access: str) -> bool:
        """True when a newer access token is available to retry with."""
        async with self._lock:
            if self._pair.access != rejected_access:
                return True
            if not self._pair.refresh:
                return False
            new = await self._refresher(self._pair.refresh)
            self._pair = TokenPair(new.access, new.refresh or self._pair.refresh)
            await self._keeper(self._pair)
            log.info("access token refreshed")
            return True
