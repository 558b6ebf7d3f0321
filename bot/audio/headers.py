"""Byte-level looks at container headers: what FFmpeg does not tell us about truncation, and cheap WAV lengths."""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass

from bot.audio.common import AudioRejected

log = logging.getLogger(__name__)

UNKNOWN_WAV_SIZES = (0, 0xFFFFFFFF)
"""`data` chunk sizes that streaming writers (and RF64) put in place of the real length."""
OGG_PAGE_HEADER_BYTES = 27


@dataclass(frozen=True)
class WavHeader:
    channels: int
    rate_hz: int
    bytes_per_second: int
    declared_data_bytes: int | None
    """The `data` chunk size the header claims, or None when it is a streaming placeholder."""
    available_data_bytes: int
    """How many bytes of sample data the file really holds (up to the claimed size)."""

    @property
    def declared_s(self) -> float | None:
        if self.declared_data_bytes is None:
            return None
        return self.declared_data_bytes / self.bytes_per_second

    @property
    def duration_s(self) -> float:
        return self.available_data_bytes / self.bytes_per_second


def sniff_container(data: bytes) -> str | None:
    """Name the container from its magic bytes, so a file FFmpeg cannot open is called damaged, not "not audio"."""
    head = data[:12]
    if head.startswith(b"OggS"):
        return "ogg"
    if head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE":
        return "wav"
    if head.startswith(b"ID3"):
        return "mp3"
    if head.startswith(b"fLaC"):
        return "flac"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "matroska"
    if head[4:8] == b"ftyp":
        return "mov"
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        return "aac" if head[1] & 0xF6 == 0xF0 else "mp3"
    return None


def read_wav_header(data: bytes) -> WavHeader | None:
    """Walk the RIFF chunks up to `data`; None if this is not a WAV with a usable `fmt ` chunk."""
    if sniff_container(data) != "wav":
        return None
    pos, fmt = 12, None
    while pos + 8 <= len(data):
        chunk_id = data[pos : pos + 4]
        (size,) = struct.unpack_from("<I", data, pos + 4)
        body = pos + 8
        if chunk_id == b"fmt " and size >= 16 and body + 16 <= len(data):
            _tag, channels, rate, byte_rate, block_align, _bits = struct.unpack_from("<HHIIHH", data, body)
            fmt = (channels, rate, block_align * rate or byte_rate)
        elif chunk_id == b"data":
            if fmt is None or fmt[2] <= 0:
                return None
            available = len(data) - body
            declared = None if size in UNKNOWN_WAV_SIZES else size
            return WavHeader(
                channels=fmt[0],
                rate_hz=fmt[1],
                bytes_per_second=fmt[2],
                declared_data_bytes=declared,
                available_data_bytes=available if declared is None else min(declared, available),
            )
        pos = body + size + (size & 1)
    return None


def wav_duration_s(wav: bytes) -> float:
    """Seconds of sound in a WAV, from its header and length alone (no decoding), e.g. for `duration_secs`."""
    header = read_wav_header(wav)
    if header is None:
        raise AudioRejected.because("not_audio", detail="no RIFF/WAVE fmt and data chunks")
    return header.duration_s


def ogg_last_page_incomplete(data: bytes) -> bool:
    """True if the final Ogg page is cut short: FFmpeg then quietly reports the cut length as the duration.

    Walks page headers from the start (cheap: one header per ~1 s of audio). Junk instead of a page header
    means we cannot judge, so it answers False and leaves the decoder to decide.
    """
    pos, size = 0, len(data)
    while pos + OGG_PAGE_HEADER_BYTES <= size:
        if data[pos : pos + 4] != b"OggS":
            return False
        segments = data[pos + OGG_PAGE_HEADER_BYTES - 1]
        table_end = pos + OGG_PAGE_HEADER_BYTES + segments
        if table_end > size:
            return True
        pos = table_end + sum(data[pos + OGG_PAGE_HEADER_BYTES : table_end])
    return pos > size or (pos < size and b"OggS".startswith(data[pos : pos + 4]))
