"""WAV building and the strict upload checks, in pure Python (``wave``, ``struct``, ``array``).

Convai documents only "WAV, mono, bit depth of at least 16 bits" for the ``file`` upload, and its UE
SDK refuses payloads of 44 bytes or less. :func:`parse_wav` reads the RIFF structure itself (the
``wave`` module of Python 3.11 rejects non-PCM files before telling what they are), so the emulator
can say precisely which rule a bot's upload broke.
"""

from __future__ import annotations

import array
import io
import math
import struct
import sys
import wave
from dataclasses import dataclass

WAVE_FORMAT_PCM = 0x0001
WAVE_FORMAT_IEEE_FLOAT = 0x0003
WAVE_FORMAT_EXTENSIBLE = 0xFFFE
HEADER_ONLY_SIZE = 44
"""A canonical WAV header with no samples; uploads this short (or shorter) are refused."""

NOT_WAV = "Invalid audio file: expected a WAV file (RIFF/WAVE header)"
NO_AUDIO = "Invalid audio file: the WAV file contains no audio data"
NO_FMT = "Invalid audio file: the WAV file has no fmt chunk"
NO_DATA = "Invalid audio file: the WAV file has no data chunk"
BAD_FMT = "Invalid audio file: the WAV fmt chunk is inconsistent"
NOT_PCM = "Unsupported audio encoding: only PCM WAV is accepted (got format 0x{tag:04X})"
NOT_MONO = "Audio must be mono (1 channel); got {channels} channels"
TOO_SHALLOW = "Audio bit depth must be at least 16 bits; got {bits} bits"
BAD_RATE_FIELD = "sample_rate must be a whole number of Hz; got {value!r}"
RATE_MISMATCH = "sample_rate {given} does not match the WAV file's sample rate of {actual} Hz"


class WavError(ValueError):
    """The upload is not a usable WAV file; ``str(exc)`` is the emulator's ``ERROR`` message."""


@dataclass(frozen=True, kw_only=True)
class WavInfo:
    """What the header of an uploaded (or generated) WAV file says."""

    format_tag: int
    """1 for PCM, 3 for IEEE float; for WAVE_FORMAT_EXTENSIBLE, the sub-format's tag."""
    channels: int
    sample_width: int
    """Bytes per sample of one channel (``block_align // channels``)."""
    bits_per_sample: int
    sample_rate: int
    frames: int
    """Whole frames present in the data chunk (clamped to the bytes actually received)."""

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0


def parse_wav(data: bytes) -> WavInfo:
    """Read the RIFF/WAVE structure of ``data``; raise :class:`WavError` when it has none.

    Only structure is checked here (RIFF magic, ``fmt `` and ``data`` chunks, a minimum size);
    :func:`upload_problem` applies Convai's rules (PCM, mono, 16-bit, matching ``sample_rate``).
    """
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise WavError(NOT_WAV)
    if len(data) <= HEADER_ONLY_SIZE:
        raise WavError(NO_AUDIO)
    fmt: tuple[int, int, int, int, int] | None = None  # tag, channels, rate, block_align, bits
    data_size: int | None = None
    pos = 12
    while pos + 8 <= len(data):
        chunk_id, size = data[pos : pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        body = data[pos + 8 : pos + 8 + size]  # a streamed WAV may claim more than was sent
        if chunk_id == b"fmt ":
            if len(body) < 16:
                raise WavError(BAD_FMT)
            tag, channels, rate, _byte_rate, block_align, bits = struct.unpack_from("<HHIIHH", body)
            if tag == WAVE_FORMAT_EXTENSIBLE and len(body) >= 26:
                tag = struct.unpack_from("<H", body, 24)[0]  # first two bytes of the sub-format GUID
            fmt = (tag, channels, rate, block_align, bits)
        elif chunk_id == b"data" and data_size is None:
            data_size = len(body)
        pos += 8 + size + (size & 1)
    if fmt is None:
        raise WavError(NO_FMT)
    if data_size is None:
        raise WavError(NO_DATA)
    tag, channels, rate, block_align, bits = fmt
    if channels < 1 or rate < 1 or bits < 1 or block_align != channels * math.ceil(bits / 8):
        raise WavError(BAD_FMT)
    return WavInfo(
        format_tag=tag,
        channels=channels,
        sample_width=block_align // channels,
        bits_per_sample=bits,
        sample_rate=rate,
        frames=data_size // block_align,
    )


def upload_problem(info: WavInfo, sample_rate_field: str | None) -> str | None:
    """The first Convai rule a parsed upload breaks (as an ``ERROR`` message), or ``None``."""
    if info.format_tag != WAVE_FORMAT_PCM:
        return NOT_PCM.format(tag=info.format_tag)
    if info.channels != 1:
        return NOT_MONO.format(channels=info.channels)
    if info.bits_per_sample < 16:
        return TOO_SHALLOW.format(bits=info.bits_per_sample)
    if info.frames == 0:
        return NO_AUDIO
    if sample_rate_field is not None:
        try:
            given = int(sample_rate_field.strip())
        except ValueError:
            return BAD_RATE_FIELD.format(value=sample_rate_field)
        if given != info.sample_rate:
            return RATE_MISMATCH.format(given=given, actual=info.sample_rate)
    return None


def raw_wav(pcm: bytes, *, rate: int, channels: int = 1, bits_per_sample: int = 16, format_tag: int = 1) -> bytes:
    """A canonical 44-byte-header WAV around ``pcm``, for any format tag (tests craft float files with it)."""
    block_align = channels * math.ceil(bits_per_sample / 8)
    fmt = struct.pack("<HHIIHH", format_tag, channels, rate, rate * block_align, block_align, bits_per_sample)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(pcm)) + pcm
    return b"RIFF" + struct.pack("<I", len(body) + (len(pcm) & 1)) + body + b"\0" * (len(pcm) & 1)


def make_wav(
    seconds: float, rate: int = 22050, channels: int = 1, sample_width: int = 2, freq_hz: float = 440.0
) -> bytes:
    """A complete PCM WAV file holding a sine tone (same in every channel), written with ``wave``.

    ``sample_width`` is in bytes: 1 (unsigned 8-bit), 2, 3 or 4 (signed little-endian).
    """
    if sample_width not in (1, 2, 3, 4):
        raise ValueError("sample_width must be 1, 2, 3 or 4 bytes")
    frames = max(0, round(seconds * rate))
    peak = 0.3 * (2 ** (8 * sample_width - 1) - 1)
    step = 2 * math.pi * freq_hz / rate
    levels = [round(peak * math.sin(step * i)) for i in range(frames)]
    if channels > 1:
        levels = [level for level in levels for _ in range(channels)]
    if sample_width == 1:
        pcm = bytes(level + 128 for level in levels)
    elif sample_width == 3:
        pcm = b"".join(level.to_bytes(3, "little", signed=True) for level in levels)
    else:
        samples = array.array("h" if sample_width == 2 else "i", levels)
        if sys.byteorder == "big":
            samples.byteswap()
        pcm = samples.tobytes()
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(channels)
        writer.setsampwidth(sample_width)
        writer.setframerate(rate)
        writer.writeframes(pcm)
    return out.getvalue()
