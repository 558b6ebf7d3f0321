"""Run the CPU-bound conversions in worker threads, at most two at a time, so the event loop never stalls."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from typing import TypeVar

from bot.audio.decode import PreparedAudio, to_convai_wav
from bot.audio.voice import VoiceMessage, wav_to_voice_message

log = logging.getLogger(__name__)

MAX_CONCURRENT_CONVERSIONS = 2
"""The machines have two cores; more parallel decodes would only queue inside the OS and grow memory. Each is
bounded by its DecodeBudget (bot/audio/budget.py), so two together cost at most twice one."""

T = TypeVar("T")

_limit: tuple[asyncio.AbstractEventLoop, asyncio.Semaphore] | None = None


def _semaphore() -> asyncio.Semaphore:
    """The shared limit, made on first use: no loop work at import, and a fresh one if the loop changes (tests)."""
    global _limit
    loop = asyncio.get_running_loop()
    if _limit is None or _limit[0] is not loop:
        _limit = (loop, asyncio.Semaphore(MAX_CONCURRENT_CONVERSIONS))
    return _limit[1]


async def _in_worker(work: Callable[[], T]) -> T:
    """Run `work` in a thread under the limit. A thread cannot be stopped, so a cancelled caller still holds its
    slot until the thread ends: otherwise cancellations could pile up more than two running conversions."""
    async with _semaphore():
        job = asyncio.ensure_future(asyncio.to_thread(work))
        try:
            return await asyncio.shield(job)
        except asyncio.CancelledError:
            await asyncio.wait({job})
            if not job.cancelled():
                job.exception()  # retrieved, so asyncio does not log it as never retrieved
            raise


async def prepare_voice_note(data: bytes, *, filename: str, expected_duration_s: float | None = None) -> PreparedAudio:
    """`to_convai_wav` off the event loop; raises AudioRejected the same way."""
    return await _in_worker(
        functools.partial(to_convai_wav, data, filename=filename, expected_duration_s=expected_duration_s)
    )


async def make_voice_message(wav: bytes) -> VoiceMessage:
    """`wav_to_voice_message` off the event loop; raises AudioRejected the same way."""
    return await _in_worker(functools.partial(wav_to_voice_message, wav))
