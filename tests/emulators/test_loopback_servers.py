"""What every JSON vendor emulator inherits from `LoopbackServer`: closing ends hangs and delays at once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from tests.emulators import magicai, soundverse
from tests.emulators.loopback import LoopbackServer


@dataclass(frozen=True)
class Vendor:
    emulator: Callable[[], LoopbackServer[Any, Any]]
    hang: Any
    delay: Any
    path: str
    body: dict[str, Any]
    api_key: str


VENDORS = {
    "magicai": Vendor(
        magicai.MagicAIEmulator,
        magicai.MagicReply(hang=True),
        magicai.MagicReply(delay_s=30),
        "/chat",
        {"projectId": magicai.DEFAULT_PROJECT_ID, "text": "hi", "sessionId": "s-1"},
        magicai.DEFAULT_API_KEY,
    ),
    "soundverse": Vendor(
        soundverse.SoundverseEmulator,
        soundverse.SoundverseReply(hang=True),
        soundverse.SoundverseReply(delay_s=30),
        "/assistant/chat",
        {"prompt": "a lo-fi beat", "action": "other"},
        soundverse.DEFAULT_API_KEY,
    ),
}


@pytest.mark.parametrize("vendor", VENDORS.values(), ids=VENDORS.keys())
async def test_close_ends_hangs_and_delays_promptly(vendor: Vendor) -> None:
    emu = vendor.emulator()
    await emu.start()
    emu.enqueue(vendor.hang, vendor.delay)
    headers = {"Authorization": f"Bearer {vendor.api_key}"}
    async with aiohttp.ClientSession(base_url=emu.base_url) as client:
        calls = [asyncio.create_task(client.post(vendor.path, json=vendor.body, headers=headers)) for _ in range(2)]
        await emu.wait_for_requests(2)
        await asyncio.sleep(0.05)
        started = time.monotonic()
        await emu.close()
        assert time.monotonic() - started < 1.0
        for call in calls:
            with pytest.raises(aiohttp.ServerDisconnectedError):
                await call
    assert [r.status for r in emu.requests] == [None, None]
    await emu.close()  # idempotent
