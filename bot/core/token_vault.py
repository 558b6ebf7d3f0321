"""Keeps refreshed Agentverse tokens in SQLite, so a restart uses the newest pair, not the stale one in .env."""

from __future__ import annotations

import hashlib
import json
import logging

from bot.config.provider_settings import AgentverseSettings
from bot.providers.auth import TokenPair
from bot.store import DatabaseClosed, Store, StoreUnavailable

log = logging.getLogger(__name__)

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
        """Store the new pair; if the database does not take it, the bot goes on with it in memory (after a restart
        it renews the stored pair again), so a refresh never fails a turn because of the store."""
        record = {"fingerprint": self._fingerprint, "access": pair.access, "refresh": pair.refresh}
        try:
            await self._store.set_meta(META_KEY, json.dumps(record))
        except (StoreUnavailable, DatabaseClosed) as exc:
            log.warning("the refreshed Agentverse token was not stored (%s); it is used from memory", exc)
