"""Loopback emulator of the aBLT chat API for the test suite and the benchmark.

It follows the vendor doc (``/work/shared/reference/ablt-chat.txt``) and what the official SDK
shows about the live FastAPI service (protocol-notes section 3): real SSE framing
``data: {...}\\n\\n`` ending with ``data: [DONE]\\n\\n``, Bearer auth, pydantic-v1 style 422
bodies, ``GET /v1/bots``, ``GET /health-check`` and an ``x-request-id`` header on every
response. Each chat call can be scripted with :class:`Reply` to reproduce the failures a client
has to survive (hangs, cut-offs, malformed or fragmented frames). It binds 127.0.0.1 on an
ephemeral port and never talks to anything else.

Typical use::

    async with AbltEmulator() as emu:
        emu.enqueue(Reply(tokens=["Hel", "lo"], token_interval_s=0.01))
        ...  # point the client at emu.base_url
        (req,) = await emu.wait_for_requests(1)
"""

from .script import DEFAULT_API_KEY, DEFAULT_BOTS, Bot, ChatRequest, Emission, Reply
from .server import AbltEmulator

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_BOTS",
    "AbltEmulator",
    "Bot",
    "ChatRequest",
    "Emission",
    "Reply",
]
