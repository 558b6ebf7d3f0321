"""Gateway transport compression, one stream per connection as Discord does it.

* ``zlib-stream``: one ``zlib.compressobj`` per connection; each payload is flushed with
  ``Z_SYNC_FLUSH`` so every frame ends in ``00 00 ff ff`` (discord.py buffers until it sees that).
* ``zstd-stream``: one zstandard compression stream per connection, block-flushed per payload so
  discord.py's single ``decompressobj`` decodes each binary frame completely.
* no compression: text frames.
"""

from __future__ import annotations

import zlib
from typing import Protocol


class TransportEncoder(Protocol):
    binary: bool

    def encode(self, text: str) -> bytes | str: ...


class PlainEncoder:
    binary = False

    def encode(self, text: str) -> bytes | str:
        return text


class ZlibStreamEncoder:
    binary = True

    def __init__(self) -> None:
        self._compressor = zlib.compressobj()

    def encode(self, text: str) -> bytes | str:
        return self._compressor.compress(text.encode()) + self._compressor.flush(zlib.Z_SYNC_FLUSH)


class ZstdStreamEncoder:
    binary = True

    def __init__(self) -> None:
        import zstandard  # optional dependency; only needed when a client asks for zstd-stream

        self._flush_mode = zstandard.COMPRESSOBJ_FLUSH_BLOCK
        self._compressor = zstandard.ZstdCompressor().compressobj()

    def encode(self, text: str) -> bytes | str:
        return self._compressor.compress(text.encode()) + self._compressor.flush(self._flush_mode)


def zstd_available() -> bool:
    try:
        import zstandard  # noqa: F401
    except ImportError:
        return False
    return True


def encoder_for(compress: str | None) -> TransportEncoder | None:
    """The encoder for a ``compress=`` query value, or ``None`` if unsupported."""
    if not compress:
        return PlainEncoder()
    if compress == "zlib-stream":
        return ZlibStreamEncoder()
    if compress == "zstd-stream" and zstd_available():
        return ZstdStreamEncoder()
    return None
