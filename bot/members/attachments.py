"""Members' attachments downloaded from Discord's CDN, bounded by the bytes actually read.

An attachment's `size` is metadata: "size of file in bytes" as Discord recorded it when the file was uploaded
(discord-api-docs, resources/message.mdx, Attachment Object); clients declare it before they upload (the
client's `POST /channels/{channel.id}/attachments` with `file_size`, then a PUT of the bytes to the returned
`upload_url`). The CDN then serves whatever bytes it holds, with or without a Content-Length, and nothing ties
that body to `size`. discord.py's `Attachment.read()` reads the whole body, however long; this module reads
through the bot's own HTTP session instead, counting bytes as they arrive and stopping one byte past the limit.
"""

from __future__ import annotations

import logging

import aiohttp
import discord

from bot.providers.bounded import OverLimit, read_at_most

log = logging.getLogger(__name__)

DOWNLOAD_TIMEOUT = aiohttp.ClientTimeout(total=60, sock_connect=10, sock_read=20)
"""A 10 MiB file arrives in well under a minute on any link a bot runs on; a CDN that stalls is given up on."""


class AttachmentTooLarge(Exception):
    """The CDN's body is longer than the limit (whatever `size` said); nothing past limit + 1 bytes was read."""

    def __init__(self, *, limit_bytes: int, read_bytes: int, served_bytes: int | None) -> None:
        super().__init__(f"over {limit_bytes} bytes (read {read_bytes}, Content-Length {served_bytes})")
        self.limit_bytes = limit_bytes
        self.read_bytes = read_bytes
        """Bytes taken from the response: limit + 1, or 0 when its Content-Length already said too much."""
        self.served_bytes = served_bytes
        """The response's Content-Length, if it sent one."""


class DownloadFailed(Exception):
    """The CDN could not be reached, or stalled past DOWNLOAD_TIMEOUT (what `Attachment.read()` lets escape as
    aiohttp's own errors)."""


class AttachmentReader:
    """Downloads attachments with the app's aiohttp session, never keeping more than the caller's limit."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self._session = session

    async def read(self, attachment: discord.Attachment, *, limit_bytes: int) -> bytes:
        """The attachment's bytes, at most `limit_bytes` of them.

        Raises AttachmentTooLarge past the limit, DownloadFailed on a network failure or timeout, and, like
        `Attachment.read()`, discord.NotFound (404), discord.Forbidden (403) or discord.HTTPException (other
        statuses).
        """
        try:
            return await read_limited(self._session, attachment.url, limit_bytes=limit_bytes)
        except AttachmentTooLarge as exc:
            log.info("attachment %d declared %d bytes but is %s", attachment.id, attachment.size, exc)
            raise


async def read_limited(session: aiohttp.ClientSession, url: str, *, limit_bytes: int) -> bytes:
    """GET `url` and return its body if it is at most `limit_bytes` long; see `AttachmentReader.read`.

    Reads at most limit + 1 bytes from the response (`bot.providers.bounded.read_at_most`), then closes the connection
    rather than draining a body of any length.
    """
    try:
        async with session.get(url, timeout=DOWNLOAD_TIMEOUT) as response:
            if response.status != 200:
                raise _status_error(response)
            declared = response.content_length
            if declared is not None and declared > limit_bytes:
                response.close()
                raise AttachmentTooLarge(limit_bytes=limit_bytes, read_bytes=0, served_bytes=declared)
            try:
                return await read_at_most(response.content, limit_bytes)
            except OverLimit as exc:
                response.close()
                raise AttachmentTooLarge(
                    limit_bytes=limit_bytes, read_bytes=exc.read_bytes, served_bytes=declared
                ) from exc
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise DownloadFailed(f"{type(exc).__name__}: {exc}") from exc


def _status_error(response: aiohttp.ClientResponse) -> discord.HTTPException:
    """What discord.py's `HTTPClient.get_from_cdn` raises for the same status."""
    if response.status == 404:
        return discord.NotFound(response, "asset not found")
    if response.status == 403:
        return discord.Forbidden(response, "cannot retrieve asset")
    return discord.HTTPException(response, "failed to get asset")
