"""Timing and connection plumbing: scripted delays and hangs, SSE writing, deliberate drops.

Every wait here ends early when the emulator closes (``closing`` is set), and a client
disconnect cancels the handler (``handler_cancellation=True``), so nothing outlives a test.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aiohttp import web

from tests.emulators.ablt.validation import Dropped

from .script import BROKEN_EVENT


def sse_event(data: str) -> bytes:
    """One ``data:`` event; a multi-line value becomes several ``data:`` lines, as SSE requires."""
    return "".join(f"data: {line}\n" for line in data.split("\n")).encode() + b"\n"


async def closed_within(closing: asyncio.Event, delay: float) -> bool:
    """Sleep ``delay`` seconds; True (early) if the emulator is closing meanwhile."""
    if delay <= 0:
        return closing.is_set()
    try:
        async with asyncio.timeout(delay):
            await closing.wait()
    except TimeoutError:
        return False
    return True


def drop(request: web.Request, response: web.StreamResponse | None = None) -> web.StreamResponse:
    """Close the socket (after flushing what was written) so the client sees a truncation."""
    if request.transport is not None:
        request.transport.close()
    return response if response is not None else Dropped()


async def stall(request: web.Request, closing: asyncio.Event, delay_s: float, hang: bool) -> web.StreamResponse | None:
    """Apply a scripted delay or hang (before headers); the dropped response if the emulator closed."""
    if await closed_within(closing, delay_s):
        return drop(request)
    if hang:
        await closing.wait()  # a client disconnect cancels this instead
        return drop(request)
    return None


async def write_events(
    request: web.Request,
    closing: asyncio.Event,
    events: Sequence[str],
    interval_s: float = 0.0,
    broken_at: int | None = None,
    *,
    write_bytes: int | None = None,
    hang_at: int | None = None,
) -> web.StreamResponse:
    """An SSE response of ``data: <event>`` frames; its end is the connection closing (no terminator).

    ``interval_s`` is paused before each event; :data:`BROKEN_EVENT` goes out after ``broken_at``
    good events (at the end if there are fewer); ``write_bytes`` writes each event in pieces of at most
    that many bytes, with a loop turn between them; after ``hang_at`` events nothing more is sent until the
    client disconnects or the emulator closes.
    """
    response = web.StreamResponse(status=200, headers={"Cache-Control": "no-cache"})
    response.content_type = "text/event-stream"
    response.charset = "utf-8"
    response.force_close()
    if broken_at is not None:
        broken_at = min(broken_at, len(events))
    try:
        await response.prepare(request)
        for i in range(len(events) + 1):
            if i == broken_at:
                await response.write(BROKEN_EVENT)
            if i == hang_at:
                await closing.wait()  # a client disconnect cancels this instead
                return drop(request, response)
            if i == len(events):
                break
            if await closed_within(closing, interval_s):
                return drop(request, response)
            frame = sse_event(events[i])
            step = write_bytes or len(frame)
            for start in range(0, len(frame), step):
                await response.write(frame[start : start + step])
                if write_bytes:
                    await asyncio.sleep(0)
        await response.write_eof()
    except ConnectionError:
        pass  # the client went away mid-stream
    return response
