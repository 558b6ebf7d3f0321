"""Builds the configured providers; a provider whose key is unset is simply absent."""

from __future__ import annotations

import aiohttp

from bot.config.settings import Settings
from bot.providers.ablt import AbltProvider
from bot.providers.agentverse.polling import PollScheduler
from bot.providers.agentverse.provider import AgentverseProvider
from bot.providers.agentverse.wire import AgentverseClient
from bot.providers.auth import Keeper, RefreshingBearer, TokenPair
from bot.providers.base import Provider
from bot.providers.convai.provider import ConvaiProvider
from bot.providers.magicai import MagicAIProvider
from bot.providers.soundverse import SoundverseProvider


def build_providers(
    settings: Settings,
    session: aiohttp.ClientSession,
    *,
    agentverse_tokens: TokenPair | None = None,
    keep_agentverse_tokens: Keeper | None = None,
    scheduler: PollScheduler | None = None,
) -> dict[str, Provider]:
    providers: dict[str, Provider] = {}
    if settings.ablt is not None:
        providers[AbltProvider.key] = AbltProvider(settings.ablt, session, timeout_s=settings.provider_timeout_s)
    if settings.magicai is not None:
        providers[MagicAIProvider.key] = MagicAIProvider(
            settings.magicai, session, timeout_s=settings.provider_timeout_s
        )
    if settings.soundverse is not None:
        providers[SoundverseProvider.key] = SoundverseProvider(
            settings.soundverse, session, timeout_s=settings.provider_timeout_s
        )
    if settings.convai is not None:
        providers[ConvaiProvider.key] = ConvaiProvider(settings.convai, session, timeout_s=settings.provider_timeout_s)
    if settings.agentverse is not None:
        providers[AgentverseProvider.key] = _agentverse(
            settings, session, agentverse_tokens, keep_agentverse_tokens, scheduler or PollScheduler()
        )
    return providers


def _agentverse(
    settings: Settings,
    session: aiohttp.ClientSession,
    tokens: TokenPair | None,
    keeper: Keeper | None,
    scheduler: PollScheduler,
) -> AgentverseProvider:
    config = settings.agentverse
    assert config is not None  # noqa: S101 - checked by the caller
    pair = tokens or TokenPair(config.api_key.reveal(), config.refresh_token.reveal() if config.refresh_token else None)
    client: AgentverseClient | None = None

    async def refresher(refresh_token: str) -> TokenPair:
        assert client is not None  # noqa: S101 - set below before any request
        return await client.refresh(refresh_token)

    async def forget(_: TokenPair) -> None:
        return None

    bearer = RefreshingBearer(pair, refresher, keeper or forget)
    client = AgentverseClient(config, session, bearer, settings.provider_timeout_s)
    return AgentverseProvider(config, client, scheduler)
