"""Keeps refreshed Agentverse tokens in SQLite, so a restart uses the newest pair, not the stale one in .env."""

from __future__ import annotations

import hashlib
import json

from bot.config import AgentverseSettings
from bot.providers.auth import TokenPair
from bot.store import Store

META_KEY = "agentverse_tokens"


def _fingerprint(settings: AgentverseSettings) -> str:
    """Ties stored tokens to the configured ones: new credentials in .env win over old stored tokens."""
    refresh = settings.refresh_token.reveal() if settings.refresh_token else ""
    return hashlib.sha256(f"{settings.api_key.reveal()}\n{refresh}".encode()).hexdigest()


async def load_tokens(store: Store, settings: AgentverseSettings) -> TokenPair:
    configured = TokenPair(
        settings.api_key.reveal(), settings.refresh_token.reveal() if settings.refresh_token else None
    )
    raw = await store.get_meta(META_KEY)
    if raw is None:
        return configured
    saved = json.loads(raw)
    if saved.get("fingerprint") != _fingerprint(settings):
        return configured
    return TokenPair(saved["access"], saved.get("refresh"))


class TokenKeeper:
    """The `Keeper` a RefreshingBearer calls after each refresh."""

    def __init__(self, store: Store, settings: AgentverseSettings) -> None:
        self._store = store
        self._fingerprint = _fingerprint(settings)

    async def __call__(self, pair: TokenPair) -> None:
        record = {"fingerprint": self._fingerprint, "access": pair.access, "refresh": pair.refresh}
        await self._store.set_meta(META_KEY, json.dumps(record))
