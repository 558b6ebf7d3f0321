"""Turn Convai's spoken answer (a WAV) into a Discord voice message: Ogg/Opus, mono, 48 kHz, plus its waveform."""

from __future__ import annotations

import io
import logging
import time
from array import array
from dataclasses import dataclass
from fractions import Fraction

import av
from av.audio.frame import AudioFrame

from bot.audio.budget import SAMPLE_BYTES, DecodeBudget
from bot.audio.common import MAX_AUDIO_BYTES, MAX_SPOKEN_SECONDS, AudioRejected
from bot.audio.decode import decode_mono_s16

log = logging.getLogger(__name__)

VOICE_SAMPLE_RATE_HZ = 48_000
"""Opus runs at 48 kHz, and it is what Discord's clients record."""
VOICE_BITRATE_BPS = 48_000
"""A notch above the clients' ~32 kbps: clean for synthetic speech at ~360 KB a minute."""
OPUS_FRAME_SAMPLES = 960
"""20 ms at 48 kHz, libopus's default frame."""
CPU_CHECK_FRAMES = 50
WAVEFORM_MAX_SAMPLES = 256
WAVEFORM_SAMPLES_PER_SECOND = 10
"""Discord allows at most one waveform sample per 100 ms."""
S16_FULL_SCALE = 32767
WAVEFORM_FULL_SCALE = 255


@dataclass(frozen=True)
class VoiceMessage:
    ogg: bytes
    """OGG container, Opus codec, mono, 48 kHz: what Discord's clients send as voice messages."""
    duration_s: float
    waveform: bytes
    """Up to 256 peak amplitudes 0..255, at most one per 100 ms (Discord's `waveform`, before base64)."""


def wav_to_voice_message(
    wav: bytes, *, max_seconds: float = MAX_SPOKEN_SECONDS, budget: DecodeBudget | None = None
) -> VoiceMessage:
    """Encode a reply WAV (Convai sends 22050 Hz mono s16, but any readable WAV works) as a voice message.

    Synchronous and CPU-bound: call it in a worker thread (see `make_voice_message`). The reply comes from the
    network, so it gets the members' bounds: AudioRejected past `max_seconds`, or past `budget`'s limits
    (default: one for `max_seconds` at 48 kHz, whose CPU budget covers the encoding too).
    """
    started = time.perf_counter()
    if budget is None:
        budget = DecodeBudget(max_seconds=max_seconds, out_rate_hz=VOICE_SAMPLE_RATE_HZ)
    decoded = decode_mono_s16(wav, rate_hz=VOICE_SAMPLE_RATE_HZ, max_seconds=max_seconds, budget=budget)
    if not decoded.samples:
        raise AudioRejected.because("empty", detail="reply WAV has no samples")
    ogg = encode_ogg_opus(decoded.pcm, budget)
    if len(ogg) > MAX_AUDIO_BYTES:
        raise AudioRejected.because("too_big", detail=f"voice message would be {len(ogg)} bytes")
    message = VoiceMessage(
        ogg=ogg, duration_s=decoded.duration_s, waveform=waveform(array("h", decoded.pcm), VOICE_SAMPLE_RATE_HZ)
    )
    log.debug(
        "voice message: %.2f s, %d bytes in %.0f ms",
        message.duration_s,
        len(ogg),
        (time.perf_counter() - started) * 1000,
    )
    return message


def encode_ogg_opus(pcm: bytes, budget: DecodeBudget | None = None) -> bytes:
    """Encode native mono s16 PCM at 48 kHz as Opus in Ogg; the Ogg pre-skip and end granule keep the length exact.

    With a `budget`, its CPU clock is checked every 50 frames (1 s of audio): AudioRejected once it runs out.
    """
    out = io.BytesIO()
    with av.open(out, mode="w", format="ogg") as container:
        stream = container.add_stream(
            "libopus", rate=VOICE_SAMPLE_RATE_HZ, options={"application": "voip"}, layout="mono"
        )
        stream.bit_rate = VOICE_BITRATE_BPS
        total = len(pcm) // SAMPLE_BYTES
        for index, start in enumerate(range(0, total, OPUS_FRAME_SAMPLES)):
            if budget is not None and index % CPU_CHECK_FRAMES == 0:
                budget.check_time()
            count = min(OPUS_FRAME_SAMPLES, total - start)
            frame = AudioFrame(format="s16", layout="mono", samples=count)
            frame.planes[0].update(pcm[start * SAMPLE_BYTES : (start + count) * SAMPLE_BYTES])
            frame.sample_rate = VOICE_SAMPLE_RATE_HZ
            frame.time_base = Fraction(1, VOICE_SAMPLE_RATE_HZ)
            frame.pts = start
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return out.getvalue()


def waveform(samples: array[int], rate_hz: int) -> bytes:
    """Discord's waveform: one byte per slice, the slice's peak scaled linearly so full scale is 255.

    Peak (not RMS) so speech bars stand tall against pauses; not normalised, so a quiet reply looks quiet.
    The count is one per 100 ms, at least 1 and at most 256 (3 s -> 30 samples, 60 s -> 256).
    """
    total = len(samples)
    count = max(1, min(WAVEFORM_MAX_SAMPLES, total * WAVEFORM_SAMPLES_PER_SECOND // rate_hz))
    levels = bytearray()
    for index in range(count):
        piece = samples[index * total // count : (index + 1) * total // count]
        top = max(max(piece), -min(piece)) if piece else 0
        levels.append(min(WAVEFORM_FULL_SCALE, top * WAVEFORM_FULL_SCALE // S16_FULL_SCALE))
    return bytes(levels)
