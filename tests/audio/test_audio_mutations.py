"""Property: any mutation of a valid audio file (bit flips, cuts, spliced bytes, header fields such as the sample
rate, channel count or length rewritten) converts to a valid 16 kHz mono WAV within the length limit, or is
refused with one of the known reasons, never another exception, and always within the decoder's byte bounds."""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import get_args

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.audio import (
    CONVAI_SAMPLE_RATE_HZ,
    MAX_AUDIO_SECONDS,
    MAX_SPOKEN_SECONDS,
    AudioRejected,
    DecodeBudget,
    PreparedAudio,
    RejectReason,
    to_convai_wav,
    wav_to_voice_message,
)
from bot.audio.budget import LENGTH_GRACE_S, MAX_PACKETS
from bot.audio.voice import VOICE_SAMPLE_RATE_HZ
from tests.support.audio_samples import flac, m4a_aac, mp3_stereo, voice_note_ogg, wav_info, wav_pcm, webm_opus
from tests.support.hostile_audio import matroska_pcm

KNOWN_REASONS = set(get_args(RejectReason))
SEEDS: dict[str, Callable[[], bytes]] = {
    "ogg": lambda: voice_note_ogg(1.0),
    "wav": lambda: wav_pcm(1.0, rate=16_000, channels=1),
    "mp3": lambda: mp3_stereo(1.0),
    "flac": lambda: flac(1.0),
    "m4a": lambda: m4a_aac(1.0),
    "webm": lambda: webm_opus(1.0),
    "mkv": lambda: matroska_pcm(16_000, payload_bytes=32_000, frame_samples=1_024),
}
EXTREMES = (0, 1, 2, 4, 8, 255, 256, 65_535, 2**31 - 1, 2**32 - 1, 2**63)


def header_fields(data: bytes) -> list[tuple[int, int]]:
    """(offset, size) of fields that say how to read the rest: rates, channel counts, lengths."""
    fields = [(0, 4), (4, 4)]
    if data.startswith(b"RIFF"):
        fields += [(20, 2), (22, 2), (24, 4), (28, 4), (32, 2), (34, 2), (data.find(b"data") + 4, 4)]
    if (head := data.find(b"OpusHead")) >= 0:
        fields += [(head + 9, 1), (head + 10, 2), (head + 12, 4), (head + 18, 1)]
    if data.startswith(b"fLaC"):
        fields += [(8, 4), (18, 4), (22, 4)]
    for marker, size in ((b"\xb5\x88", 8), (b"\x9f\x81", 1), (b"\xb5\x84", 4)):  # Matroska rate, channels
        if (at := data.find(marker)) >= 0:
            fields.append((at + 2, size))
    for box in (b"mdhd", b"stsd", b"stsz", b"stts"):  # MP4: time scale, sample entries, sizes, durations
        if (at := data.find(box)) >= 0:
            fields += [(at + 16, 4), (at + 20, 4)]
    return [(offset, size) for offset, size in fields if offset + size <= len(data)]


class Mutant:
    """A mutated file, shown by how it was made (its bytes would make an unreadable example)."""

    def __init__(self, seed: str, data: bytes, steps: list[str]) -> None:
        self.seed, self.data, self.steps = seed, data, steps

    def __repr__(self) -> str:
        return f"Mutant({self.seed}: {'; '.join(self.steps)}; {len(self.data)} bytes)"


@st.composite
def mutated(draw: st.DrawFn, seeds: tuple[str, ...] = tuple(SEEDS)) -> Mutant:
    seed = draw(st.sampled_from(seeds))
    data = bytearray(SEEDS[seed]())
    steps: list[str] = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(("flip", "cut", "splice", "field")))
        if kind == "flip":
            positions = draw(st.lists(st.integers(0, len(data) * 8 - 1), min_size=1, max_size=8))
            for position in positions:
                data[position // 8] ^= 1 << (position % 8)
            steps.append(f"flip bits {positions}")
        elif kind == "cut":
            start = draw(st.integers(0, len(data)))
            end = draw(st.integers(start, len(data)))
            del data[start:end]
            steps.append(f"cut [{start}:{end}]")
        elif kind == "splice":
            at = draw(st.integers(0, len(data)))
            start = draw(st.integers(0, len(data)))
            piece = draw(st.one_of(st.binary(max_size=64), st.just(bytes(data[start : start + 4096]))))
            data[at:at] = piece
            steps.append(f"insert {len(piece)} bytes at {at}")
        elif fields := header_fields(bytes(data)):
            offset, size = draw(st.sampled_from(fields))
            value = draw(st.one_of(st.sampled_from(EXTREMES), st.integers(0, 2 ** (8 * size) - 1)))
            data[offset : offset + size] = (value % 2 ** (8 * size)).to_bytes(size, "little")
            steps.append(f"field at {offset} ({size} bytes) = {value}")
        if not data:
            break
    return Mutant(seed, bytes(data), steps)


def within_bounds(budget: DecodeBudget) -> None:
    assert budget.packets <= MAX_PACKETS + 1
    assert budget.output_bytes <= budget.max_output_bytes
    assert budget.source_bytes <= budget.max_source_bytes
    assert budget.source_seconds <= budget.max_seconds + LENGTH_GRACE_S


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutant=mutated())
def test_a_mutated_file_converts_to_a_valid_wav_or_is_refused_for_a_known_reason(mutant: Mutant) -> None:
    budget = DecodeBudget(max_seconds=MAX_AUDIO_SECONDS, out_rate_hz=CONVAI_SAMPLE_RATE_HZ)
    try:
        prepared = to_convai_wav(mutant.data, filename="mutant", budget=budget)
    except AudioRejected as rejected:
        assert rejected.reason in KNOWN_REASONS and rejected.user_message.endswith(".")
    else:
        assert isinstance(prepared, PreparedAudio)
        channels, width, rate, frames = wav_info(prepared.wav)
        assert (channels, width, rate, prepared.sample_rate) == (1, 2, 16_000, 16_000)
        assert prepared.duration_s == frames / rate <= MAX_AUDIO_SECONDS + LENGTH_GRACE_S + 0.1
        assert struct.unpack_from("<H", prepared.wav, 20) == (1,)  # PCM
    within_bounds(budget)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutant=mutated(seeds=("wav", "mkv")))
def test_a_mutated_spoken_answer_becomes_a_voice_message_or_is_refused_for_a_known_reason(mutant: Mutant) -> None:
    budget = DecodeBudget(max_seconds=MAX_SPOKEN_SECONDS, out_rate_hz=VOICE_SAMPLE_RATE_HZ)
    try:
        message = wav_to_voice_message(mutant.data, budget=budget)
    except AudioRejected as rejected:
        assert rejected.reason in KNOWN_REASONS
    else:
        assert message.ogg.startswith(b"OggS") and 0 < message.duration_s <= MAX_SPOKEN_SECONDS + LENGTH_GRACE_S
    within_bounds(budget)
