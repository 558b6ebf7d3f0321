"""Writing a turn's reply through the interaction that started it, outside the bot's global rate limit.

Discord keeps interaction endpoints out of the global 50 requests/s (rate-limits.md, "Global Rate Limit":
"Interaction endpoints are not bound to the bot's Global Rate Limit"): a followup message
(`POST /webhooks/{application_id}/{token}`) and an edit of one (`PATCH .../messages/{message_id}`) draw
only on that interaction's own bucket. A reply to a click (an offered choice, Retry), to `/chat` or Ask AI
run in the thread or DM where they answer, is therefore posted as followups of that interaction, and does
not queue behind every other channel's writes when many conversations are busy. The token lasts 15 minutes
(receiving-and-responding.mdx, "Followup Messages"); after that, and after a followup Discord refused or did
not answer, the reply goes on through the channel, where the same messages stay editable (a bot may edit
its non-ephemeral interaction messages with `PATCH /channels/{channel_id}/messages/{message_id}`:
discord-api-docs issue 3090). Voice replies and replies to plain messages always go through the channel.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import aiohttp
import discord
from discord import utils
from discord.http import json_or_text
from discord.webhook.async_ import AsyncWebhookAdapter, async_context

TOKEN_LIFETIME_S = 15 * 60.0
"""An interaction token is valid for 15 minutes (receiving-and-responding.mdx, "Followup Messages")."""
WRITE_TIMEOUT_S = 30.0
"""A followup write (with the retries discord.py makes of a 5xx by itself) that takes longer is given up:
discord.py's webhook requests have no read timeout of their own (channel calls get `REST_READ_TIMEOUT_S`)."""
MARGIN_S = 2 * WRITE_TIMEOUT_S
"""Followups stop this long before the token expires, so a write started in time never meets 50027 Invalid
Webhook Token."""
MAX_RATE_LIMITED_TRIES = 5
"""A followup rate limited by Discord (429: nothing created) is tried again after `retry_after`, as discord.py
does, this many times in all."""
T = TypeVar("T")


class InteractionFollowups:
    """Followup messages of one interaction while its token lasts (see the module docstring).

    `usable` turns False for good at `MARGIN_S` before the token expires, or once `give_up()` was called
    (a followup failed: the caller goes on through the channel)."""

    def __init__(self, interaction: discord.Interaction, *, only: bool = False) -> None:
        """`only`: the interaction is the only way to answer (a place reached through a member's own install,
        bot/core/places.py): no channel takes over, every write goes through its webhook and Discord's refusals
        are the reply's (bot/replies/writes.py)."""
        age_s = max(0.0, (discord.utils.utcnow() - interaction.created_at).total_seconds())
        self.only = only
        self.interaction_id = interaction.id
        self._webhook = interaction.followup
        self._usable_until = time.monotonic() - age_s + TOKEN_LIFETIME_S - MARGIN_S
        self._given_up = False

    @property
    def usable(self) -> bool:
        """True while new messages and edits should go through the interaction's webhook."""
        return not self._given_up and time.monotonic() < self._usable_until

    def give_up(self) -> None:
        """A followup failed: every later write of this reply goes through the channel (with its nonces)."""
        self._given_up = True

    async def send(self, content: str | None, **fields: Any) -> discord.WebhookMessage:
        """A public followup message (`fields`: `view`, `embed`, `allowed_mentions`), created in one attempt (see
        `_CreateOnce`); raises what `discord.Webhook.send` raises (`discord.HTTPException`, transport errors) and
        TimeoutError."""
        once = async_context.set(_CREATE_ONCE)
        try:
            return await self.write(lambda: self._webhook.send(content or discord.utils.MISSING, wait=True, **fields))
        finally:
            async_context.reset(once)

    async def write(self, call: Callable[[], Awaitable[T]]) -> T:
        """One webhook request (a send, or an edit or delete of a followup), given up after `WRITE_TIMEOUT_S`
        (TimeoutError)."""
        async with asyncio.timeout(WRITE_TIMEOUT_S):
            return await call()


class _CreateOnce(AsyncWebhookAdapter):
    """discord.py's webhook adapter, but a followup message is created in one attempt.

    discord.py tries a request Discord answered with a 5xx again by itself, up to five times. A followup takes
    no nonce, so one Discord created before answering 5xx would be posted again (`python -m bench.chaos` saw
    replies posted two and three times). Here a 5xx is raised at once, and the reply looks for the followup
    among the channel's newest messages before going on through the channel (bot/replies/writes.py `_landed`). A 429
    creates nothing, so it is waited out and tried again as discord.py does.
    Edits and deletes are repeatable and keep discord.py's retries; so do creations carrying files."""

    async def request(self, route: Any, session: aiohttp.ClientSession, **kwargs: Any) -> Any:
        """`route`: discord.py's webhook `Route` (`method`, `url`); the rest as discord.py passes them."""
        payload = kwargs.get("payload")
        if route.method != "POST" or kwargs.get("multipart") or kwargs.get("files") or payload is None:
            return await super().request(route, session, **kwargs)
        for _ in range(MAX_RATE_LIMITED_TRIES):
            async with session.request(
                "POST",
                route.url,
                data=utils._to_json(payload),
                headers={"Content-Type": "application/json"},
                params=kwargs.get("params"),
                proxy=kwargs.get("proxy"),
                proxy_auth=kwargs.get("proxy_auth"),
            ) as response:
                data = await json_or_text(response)
                if 200 <= response.status < 300:
                    return data
                if response.status == 429 and response.headers.get("Via") and isinstance(data, dict):
                    # Discord's own 429 (a proxy's has no Via): nothing was created; wait it out as discord.py does.
                    await asyncio.sleep(float(data.get("retry_after", 1.0)))
                    continue
                if response.status >= 500:
                    raise discord.DiscordServerError(response, data)
                if response.status == 403:
                    raise discord.Forbidden(response, data)
                if response.status == 404:
                    raise discord.NotFound(response, data)
                raise discord.HTTPException(response, data)
        raise discord.HTTPException(response, data)


_CREATE_ONCE = _CreateOnce()  # type: ignore[no-untyped-call]  # discord.py's __init__ is not annotated


def followups_for(interaction: discord.Interaction | None, channel: object) -> InteractionFollowups | None:
    """Followups of `interaction` when its messages land in `channel` (followups always go to the interaction's
    own channel, so a reply in a thread the command opened cannot use them); else None."""
    if interaction is None or interaction.channel_id != getattr(channel, "id", None):
        return None
    return InteractionFollowups(interaction)
