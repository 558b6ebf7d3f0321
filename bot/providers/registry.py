"""Builds the configured providers; a provider whose key is unset is simply absent."""

from __future__ import annotations

import aiohttp

from bot.config import Settings
from bot.providers.ablt import AbltProvider
from bot.providers.base import Provider
from bot.providers.convai import ConvaiProvider
from bot.providers.magicai import MagicAIProvider
from bot.providers.soundverse import SoundverseProvider


def build_providers(settings: Settings, session: aiohttp.ClientSession) -> dict[str, Provider]:
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
    return providers
