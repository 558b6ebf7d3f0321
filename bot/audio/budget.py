"""What one audio conversion may cost, whatever the file's headers claim, and what it has cost so far.

A file's headers are the uploader's word: a Matroska track may declare 4 Hz (each second then resamples to
4,000 output samples), 200 channels, or a million one-sample packets. So every decode counts what it really
does (packets demuxed, seconds and bytes decoded, bytes produced, CPU time) and stops, with an AudioRejected,
the moment one count passes its limit, before the work that would pass it. The limits follow from what the
bot accepts (60 s for Convai, MAX_SPOKEN_SECONDS for replies), so a hostile file costs no more than a
legitimate one of the longest accepted length. At most two conversions run at once (bot/audio/jobs.py).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from bot.audio.common import MIN_SAMPLE_RATE_HZ, AudioRejected, unlike_speech

log = logging.getLogger(__name__)

MIB = 1024 * 1024
LENGTH_GRACE_S = 0.25
"""Codec padding allowed past `max_seconds`, so a full-length 60 s voice note is not refused."""
OUTPUT_SLACK_S = 0.1
"""What a resampler may add at the end (its filter delay flushed out), on top of the accepted length."""
MAX_PACKETS = 30_000
"""Packets demuxed from all streams of one file. Opus's shortest frame, 2.5 ms, makes 24,000 a minute; every
other speech codec packs 20 ms or more (MP3 26 ms, AAC 21 ms at 48 kHz), and FFmpeg reads PCM in 4 KiB packets
(2,900 for a minute of 48 kHz stereo). A file of tiny packets is refused after this many, whatever they hold."""
MAX_DECODED_SOURCE_BYTES = 96 * MIB
"""Decoded samples (before mixing and resampling), all frames together: 60 s of 192 kHz stereo or of 48 kHz
7.1 as 32-bit floats is 92 MB. Only one frame is held at a time; this caps the work, not the memory."""
MAX_CONVERSION_CPU_S = 10.0
"""CPU seconds one conversion may use, counted on its own thread (`time.thread_time`), so a busy machine does
not refuse a fair file: decoding a 60 s voice note takes 0.13 s here, encoding a 120 s spoken answer about 1.5 s.
Checked between packets and frames; a single packet is bounded by the 10 MiB input."""
CPU_CHECK_EVERY = 16
"""Read the CPU clock (a system call) on every 16th packet or frame only."""
SAMPLE_BYTES = 2


@dataclass
class DecodeBudget:
    """The limits of one conversion and its running counts; each `take_*` raises AudioRejected past a limit.

    Create it on the thread that decodes (the CPU clock is per thread), or call `restart_clock()` there.
    Tests and the benchmark read the counts afterwards: `output_bytes` never exceeds `max_output_bytes`.
    """

    max_seconds: float
    """Longest accepted source length, in seconds of decoded samples (before any resampling)."""
    out_rate_hz: int
    """Rate of the mono s16 output: sets `max_output_bytes`."""
    max_packets: int = MAX_PACKETS
    max_source_bytes: int = MAX_DECODED_SOURCE_BYTES
    cpu_budget_s: float = MAX_CONVERSION_CPU_S
    packets: int = 0
    frames: int = 0
    """Frames accepted (each then resampled)."""
    source_seconds: float = 0.0
    source_bytes: int = 0
    output_bytes: int = 0
    largest_frame_bytes: int = 0
    _cpu_started_s: float = field(default_factory=time.thread_time, repr=False)

    @property
    def max_output_bytes(self) -> int:
        """Mono s16 bytes the accepted length (plus grace and resampler slack) can produce at `out_rate_hz`."""
        seconds = self.max_seconds + LENGTH_GRACE_S + OUTPUT_SLACK_S
        return round(seconds * self.out_rate_hz) * SAMPLE_BYTES

    @property
    def cpu_used_s(self) -> float:
        return time.thread_time() - self._cpu_started_s

    def restart_clock(self) -> None:
        self._cpu_started_s = time.thread_time()

    def check_stream(self, *, rate_hz: int, channels: int) -> None:
        """The track's declared shape, before anything is decoded (0 means "not declared": frames are checked)."""
        if why := unlike_speech(rate_hz or MIN_SAMPLE_RATE_HZ, channels or 1):
            raise AudioRejected.because("unusable", detail=f"track declares {why}")

    def take_packet(self) -> None:
        """One more packet demuxed (of any stream)."""
        self.packets += 1
        if self.packets > self.max_packets:
            raise AudioRejected.because("unusable", detail=f"over {self.max_packets} packets")
        if self.packets % CPU_CHECK_EVERY == 0:
            self.check_time()

    def take_frame(self, *, samples: int, rate_hz: int, channels: int, sample_bytes: int) -> None:
        """One decoded frame, checked before it is resampled: its rate and channels, and the running length
        and bytes with it included, so a frame that would pass a limit is never converted."""
        if why := unlike_speech(rate_hz, channels):
            raise AudioRejected.because("unusable", detail=f"frame of {why}")
        seconds = self.source_seconds + samples / rate_hz
        if seconds > self.max_seconds + LENGTH_GRACE_S:
            raise AudioRejected.because("too_long", detail=f"over {self.max_seconds:g} s", max_seconds=self.max_seconds)
        frame_bytes = samples * channels * sample_bytes
        if self.source_bytes + frame_bytes > self.max_source_bytes:
            raise AudioRejected.because("unusable", detail=f"over {self.max_source_bytes} decoded bytes")
        self.frames += 1
        self.source_seconds = seconds
        self.source_bytes += frame_bytes
        self.largest_frame_bytes = max(self.largest_frame_bytes, frame_bytes)
        if self.frames % CPU_CHECK_EVERY == 0:
            self.check_time()

    def take_output(self, size_bytes: int) -> None:
        """Resampled bytes about to be kept; refused if the total would pass `max_output_bytes`."""
        if self.output_bytes + size_bytes > self.max_output_bytes:
            raise AudioRejected.because(
                "too_long", detail=f"output over {self.max_output_bytes} bytes", max_seconds=self.max_seconds
            )
        self.output_bytes += size_bytes

    def check_time(self) -> None:
        """Refuse once this conversion has used more than its CPU budget."""
        used = self.cpu_used_s
        if used > self.cpu_budget_s:
            raise AudioRejected.because("unusable", detail=f"{used:.1f} s of CPU, over {self.cpu_budget_s:g} s")
