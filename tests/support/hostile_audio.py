"""Hostile audio files built at test time: headers that lie about rate, channels or length, and packet layouts
that cost a decoder far more than their size suggests. Shared by the tests and `python -m bench.audio`.

Each is small (at most a few MB) and valid enough for FFmpeg to open: the danger is in what decoding it
naively would do (issue 18, sample 1: a 400 KB Matroska file of PCM declared at 4 Hz took 1,571 MiB).
"""

from __future__ import annotations

import functools
import io
import random
import struct
from fractions import Fraction

import av
from av.audio.frame import AudioFrame

from tests.support.audio_samples import tone_pcm, wav_file

SAMPLE_PAYLOAD_BYTES = 400_000
"""The issue's file: 400 KB of s16 PCM, muxed as one Matroska block."""


@functools.cache
def matroska_pcm(rate_hz: int, *, payload_bytes: int = SAMPLE_PAYLOAD_BYTES, frame_samples: int = 0) -> bytes:
    """Mono s16 PCM in Matroska whose track declares `rate_hz`, in frames of `frame_samples` (0: one frame).

    At 4 Hz the default file holds 200,000 samples, i.e. 50,000 s: resampled to 16 kHz that is 1.6 GB.
    """
    pcm = tone_pcm(payload_bytes / 2 / 16_000, 16_000, 1)
    total = len(pcm) // 2
    step = frame_samples or total
    out = io.BytesIO()
    with av.open(out, mode="w", format="matroska") as container:
        stream = container.add_stream("pcm_s16le", rate=rate_hz, layout="mono")
        for start in range(0, total, step):
            count = min(step, total - start)
            frame = AudioFrame(format="s16", layout="mono", samples=count)
            frame.planes[0].update(pcm[start * 2 : (start + count) * 2])
            frame.sample_rate = rate_hz
            frame.time_base = Fraction(1, rate_hz)
            frame.pts = start
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return out.getvalue()


@functools.cache
def tiny_packets(packets: int, *, rate_hz: int = 8_000) -> bytes:
    """Matroska PCM at a fair rate, one sample per block (8 bytes each on disk): a 10 MB file holds 1.3 million
    packets, each a trip through demuxer, decoder and resampler, for 0.125 ms of sound apiece."""
    out = io.BytesIO()
    with av.open(out, mode="w", format="matroska") as container:
        stream = container.add_stream("pcm_s16le", rate=rate_hz, layout="mono")
        for index in range(packets):
            packet = av.Packet(struct.pack("<h", 8_000 if index % 16 < 8 else -8_000))
            packet.stream = stream
            packet.pts = packet.dts = index
            packet.duration = 1
            packet.time_base = Fraction(1, rate_hz)
            container.mux(packet)
    return out.getvalue()


@functools.cache
def many_channels_wav(channels: int = 255, *, seconds: float = 1.0, rate_hz: int = 8_000) -> bytes:
    """A PCM WAV of `channels` channels (the `wave` module writes any count; FFmpeg opens up to 255 or so)."""
    frame = struct.pack(f"<{channels}h", *(((i * 2_000) % 16_000) - 8_000 for i in range(channels)))
    return wav_file(frame * round(seconds * rate_hz), rate=rate_hz, channels=channels)


def wav_declaring(data_bytes: int, *, seconds: float = 1.0, rate_hz: int = 16_000) -> bytes:
    """A short mono WAV whose RIFF and `data` sizes claim `data_bytes` (e.g. 2**32 - 2, just under 4 GiB)."""
    wav = bytearray(wav_file(tone_pcm(seconds, rate_hz, 1), rate=rate_hz))
    struct.pack_into("<I", wav, 4, min(data_bytes + 36, 0xFFFFFFFF))
    struct.pack_into("<I", wav, wav.index(b"data") + 4, data_bytes)
    return bytes(wav)


def random_bytes(size: int, *, seed: int = 18) -> bytes:
    """Noise that starts with no container's magic bytes (a fixed seed, checked by the tests that use it)."""
    return random.Random(seed).randbytes(size)


TEXT_NOT_AUDIO = b"Meeting notes: bring the slides, book the room, send the invite.\n" * 40
