"""Reading a body whose length the sender controls, within a limit: the one loop every such read shares."""

from __future__ import annotations

import aiohttp

READ_CHUNK_BYTES = 64 * 1024


class OverLimit(Exception):
    """The body went past the limit; `read_bytes` (limit + 1) were taken from it and nothing more."""

    def __init__(self, limit_bytes: int, read_bytes: int) -> None:
        super().__init__(f"over {limit_bytes} bytes")
        self.limit_bytes = limit_bytes
        self.read_bytes = read_bytes


async def read_at_most(content: aiohttp.StreamReader, limit_bytes: int) -> bytes:
    """The whole of `content` if it holds at most `limit_bytes`; else OverLimit, having read limit + 1 bytes
    (aiohttp's own buffer may hold up to its read-ahead more). Whatever Content-Length claims, the bytes that
    arrive are what count. The caller closes the response after OverLimit rather than draining it."""
    body = bytearray()
    while chunk := await content.read(min(READ_CHUNK_BYTES, limit_bytes + 1 - len(body))):
        body += chunk
        if len(body) > limit_bytes:
            raise OverLimit(limit_bytes, len(body))
    return bytes(body)
