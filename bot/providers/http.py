"""Shared HTTP plumbing for providers: timeouts, one bounded retry, bounded body reading, error bodies.

Every body the bot reads from a provider is capped in bytes, whatever `Content-Length` claims (it may lie
or be absent, as in a chunked body): at most cap + 1 bytes are read, and a longer reply becomes a
ProviderBadResponse ("...sent a reply too large to read...") with the response closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json as jsonlib
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import aiohttp

from bot.providers.bounded import OverLimit, read_at_most
from bot.providers.errors import ProviderBadResponse, ProviderError, ProviderUnavailable

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 502, 503, 504})
MAX_ATTEMPTS = 2
MAX_RETRY_WAIT_S = 5.0
CONNECT_TIMEOUT_S = 10.0
ERROR_BODY_LIMIT_BYTES = 4096
JSON_BODY_MAX_BYTES = 2 * 1024 * 1024
"""Default cap on a JSON reply: a text answer (with Magic AI's source documents) is far smaller."""
AUDIO_JSON_BODY_MAX_BYTES = 8 * 1024 * 1024
"""Cap on a JSON reply that may carry a spoken answer as base64 (Convai: a 60 s 22.05 kHz mono 16-bit WAV is
2.6 MB, 3.5 MB as base64)."""
PARSE_OFF_LOOP_BYTES = 256 * 1024
"""JSON bodies larger than this are parsed in a worker thread, so a big reply does not hold up the event loop."""


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
    """Status, request id and the error body as the log may hold it (`loggable`)."""
    request_id = response.headers.get("x-request-id")
    return f"HTTP {response.status}{f' request {request_id}' if request_id else ''}: {loggable(body) or '(no body)'}"


ECHOED_FIELDS = frozenset({"input", "ctx"})
"""Where validation errors repeat what was sent: pydantic's errors carry the offending value as `input` (and
its context as `ctx`: docs.pydantic.dev, "Validation Errors"), and FastAPI-style vendors (aBLT, Soundverse)
answer 422 with them, so a member's words would reach the log."""


def loggable(body: str) -> str:
    """An error body without the fields that echo the request (a JSON body; other text is kept as it is)."""
    try:
        parsed = jsonlib.loads(body)
    except (ValueError, RecursionError):
        return body
    return jsonlib.dumps(_without_echoes(parsed), ensure_ascii=False)


def _without_echoes(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: "(left out)" if k in ECHOED_FIELDS else _without_echoes(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_echoes(item) for item in value]
    return value


async def post_json(
    session: aiohttp.ClientSession,
    url: str,
    *,
    provider: str,
    client_timeout: aiohttp.ClientTimeout,
    headers: Mapping[str, str],
    json: Any,
    on_error: Callable[[int, str, str], ProviderError],
    limit_bytes: int = JSON_BODY_MAX_BYTES,
) -> Any:
    """POST JSON and return the parsed body of a 2xx answer, read within `limit_bytes`.

    Any other status becomes `on_error(status, body_text, log_detail)`; an unreadable, non-JSON or too
    large body becomes ProviderBadResponse, a body that stalls becomes ProviderUnavailable.
    """
    async with request(
        session, "POST", url, provider=provider, client_timeout=client_timeout, headers=headers, json=json
    ) as response:
        if not 200 <= response.status < 300:
            body = await error_body(response)
            raise on_error(response.status, body, describe_error(response, body))
        return await read_json(response, provider=provider, limit_bytes=limit_bytes)


async def read_body(response: aiohttp.ClientResponse, *, provider: str, limit_bytes: int) -> bytes:
    """The whole body, reading at most `limit_bytes` + 1 bytes whatever `Content-Length` says.

    Raises ProviderBadResponse past the cap (the response is closed, the detail logged), ProviderUnavailable
    when the body stalls past the request's timeout, ProviderBadResponse when the connection breaks.
    """
    declared = response.content_length
    if declared is not None and declared > limit_bytes:
        raise refuse_too_large(response, provider, f"Content-Length {declared} over the {limit_bytes}-byte cap")
    try:
        return await read_at_most(response.content, limit_bytes)
    except OverLimit as exc:
        raise refuse_too_large(response, provider, f"body over the {limit_bytes}-byte cap") from exc
    except TimeoutError as exc:
        raise _unavailable(provider, exc) from exc
    except aiohttp.ClientError as exc:  # the connection broke partway through the body
        raise unreadable(provider, type(exc).__name__) from exc


async def read_json(response: aiohttp.ClientResponse, *, provider: str, limit_bytes: int = JSON_BODY_MAX_BYTES) -> Any:
    """The body parsed as JSON, read within `limit_bytes` (see read_body); ProviderBadResponse if not JSON."""
    return await parse_json(await read_body(response, provider=provider, limit_bytes=limit_bytes), provider=provider)


async def parse_json(body: bytes, *, provider: str) -> Any:
    """`body` parsed as JSON (in a worker thread past `PARSE_OFF_LOOP_BYTES`); ProviderBadResponse if not JSON."""
    try:
        if len(body) > PARSE_OFF_LOOP_BYTES:
            return await asyncio.to_thread(jsonlib.loads, body)
        return jsonlib.loads(body)
    except (ValueError, RecursionError) as exc:  # also UnicodeDecodeError; RecursionError: nested too deep
        raise unreadable(provider, type(exc).__name__) from exc


class ReplyTooLarge(ProviderBadResponse):
    """A provider's reply (a body, an SSE line or event) went past the bot's size cap."""


def refuse_too_large(response: aiohttp.ClientResponse, provider: str, detail: str) -> ReplyTooLarge:
    """Close the response (nothing more is read) and say the reply was too large; `detail` goes to the log."""
    response.close()
    return too_large(provider, detail)


def too_large(provider: str, detail: str) -> ReplyTooLarge:
    """A reply past the bot's size cap, as members read it; `detail` is logged here and kept for the log."""
    log.warning("%s: reply refused as too large: %s", provider, detail)
    return ReplyTooLarge(
        f"{provider} sent a reply too large to read; send your message again, or ask for a shorter answer.",
        detail=f"too large: {detail}",
    )


def unreadable(provider: str, detail: str) -> ProviderBadResponse:
    return ProviderBadResponse(
        f"{provider} sent a reply the bot could not read; send your message again.", detail=f"unreadable body: {detail}"
    )


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
