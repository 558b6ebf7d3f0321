"""Shared HTTP plumbing for providers: timeouts, one bounded retry, and error-body reading."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import aiohttp

from bot.providers.errors import ProviderBadResponse, ProviderError, ProviderUnavailable

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 502, 503, 504})
MAX_ATTEMPTS = 2
MAX_RETRY_WAIT_S = 5.0
CONNECT_TIMEOUT_S = 10.0
ERROR_BODY_LIMIT_BYTES = 4096


def timeout_for(idle_s: float, *, total_s: float | None = None) -> aiohttp.ClientTimeout:
    """`idle_s` bounds the wait for headers and for each later read, so a hung vendor is noticed."""
    return aiohttp.ClientTimeout(total=total_s, connect=CONNECT_TIMEOUT_S, sock_read=idle_s)


@contextlib.asynccontextmanager
async def request(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    provider: str,
    client_timeout: aiohttp.ClientTimeout,
    headers: Mapping[str, str] | None = None,
    json: Any = None,
    form: Callable[[], aiohttp.FormData] | None = None,
) -> AsyncIterator[aiohttp.ClientResponse]:
    """Send a request, retrying once on a connection failure or a retryable status.

    Yields the response (any status) and always releases it. Connection failures and timeouts
    before a response become ProviderUnavailable; reading the body is the caller's job. `form`
    builds a fresh multipart body per attempt (aiohttp cannot send one FormData twice).
    """
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            response = await session.request(
                method, url, headers=headers, json=json, data=form() if form else None, timeout=client_timeout
            )
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError) as exc:
            if attempt < MAX_ATTEMPTS and not isinstance(exc, TimeoutError):
                log.warning("%s: %s %s failed (%s); retrying once", provider, method, url, type(exc).__name__)
                continue
            raise _unavailable(provider, exc) from exc
        if response.status in RETRY_STATUSES and attempt < MAX_ATTEMPTS:
            wait = retry_after_s(response.headers)
            response.release()
            log.warning("%s: %s %s answered %s; retrying in %.1fs", provider, method, url, response.status, wait)
            await asyncio.sleep(wait)
            continue
        try:
            yield response
        finally:
            response.release()
        return


def retry_after_s(headers: Mapping[str, str]) -> float:
    """Honour `Retry-After` (seconds) within a cap; default to a short pause."""
    try:
        return min(max(float(headers.get("Retry-After", "0.5")), 0.0), MAX_RETRY_WAIT_S)
    except ValueError:
        return 0.5


async def error_body(response: aiohttp.ClientResponse) -> str:
    """A bounded slice of an error body ('' if unreadable)."""
    try:
        body = await response.content.read(ERROR_BODY_LIMIT_BYTES)
    except (aiohttp.ClientError, TimeoutError):
        return ""
    return body.decode("utf-8", errors="replace")


async def error_detail(response: aiohttp.ClientResponse) -> str:
    """Status, request id and body slice, for the log only (never shown to users)."""
    return describe_error(response, await error_body(response))


def describe_error(response: aiohttp.ClientResponse, body: str) -> str:
    request_id = response.headers.get("x-request-id")
    return f"HTTP {response.status}{f' request {request_id}' if request_id else ''}: {body or '(no body)'}"


async def post_json(
    session: aiohttp.ClientSession,
    url: str,
    *,
    provider: str,
    client_timeout: aiohttp.ClientTimeout,
    headers: Mapping[str, str],
    json: Any,
    on_error: Callable[[int, str, str], ProviderError],
) -> Any:
    """POST JSON and return the parsed body of a 2xx answer.

    Any other status becomes `on_error(status, body_text, log_detail)`; an unreadable or non-JSON
    body becomes ProviderBadResponse, a body that stalls becomes ProviderUnavailable.
    """
    async with request(
        session, "POST", url, provider=provider, client_timeout=client_timeout, headers=headers, json=json
    ) as response:
        if not 200 <= response.status < 300:
            body = await error_body(response)
            raise on_error(response.status, body, describe_error(response, body))
        try:
            return await response.json(content_type=None)
        except TimeoutError as exc:
            raise _unavailable(provider, exc) from exc
        except (ValueError, aiohttp.ClientPayloadError) as exc:
            raise ProviderBadResponse(
                f"{provider} sent a reply the bot could not read; send your message again.",
                detail=f"unreadable body: {type(exc).__name__}",
            ) from exc


def stalled(provider: str) -> ProviderUnavailable:
    """The vendor went quiet partway through a streamed reply."""
    return ProviderUnavailable(
        f"{provider} stopped sending its reply partway; send your message again to retry.", detail="read timeout"
    )


def _unavailable(provider: str, exc: BaseException) -> ProviderUnavailable:
    if isinstance(exc, TimeoutError):
        return ProviderUnavailable(
            f"{provider} did not answer in time; try again in a minute.", detail="timed out before a response"
        )
    return ProviderUnavailable(f"The bot could not reach {provider}; try again in a minute.", detail=type(exc).__name__)
