"""Audio decoding costs what the bot accepts, whatever a file's headers claim (issue 18, sample 1 and its kind).

The bounds are shown by what the decoder counts (`DecodeBudget`: packets, decoded source bytes, output bytes)
and, for the issue's file, by the peak memory of a fresh process that converts it under an address-space limit.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.audio import (
    CONVAI_SAMPLE_RATE_HZ,
    MAX_AUDIO_SECONDS,
    AudioRejected,
    DecodeBudget,
    to_convai_wav,
    wav_to_voice_message,
)
from bot.audio.budget import LENGTH_GRACE_S, MAX_PACKETS
from bot.audio.headers import sniff_container
from tests.support.audio_samples import tone_pcm, voice_note_ogg, wav_file, wav_info, wav_pcm
from tests.support.harness import REPO
from tests.support.hostile_audio import (
    TEXT_NOT_AUDIO,
    many_channels_wav,
    matroska_pcm,
    random_bytes,
    tiny_packets,
    wav_declaring,
)

PROBE_LIMIT_MIB = 2048
"""Address space for the probe process: Python, PyAV and FFmpeg take ~150 MiB of it; the unbounded decoder of
the issue peaked at 1.6 GB (4 Hz, which fits) and asked for 6.4 GB (1 Hz, which this limit turns into a failed
allocation rather than a machine out of memory)."""
PEAK_RSS_BOUND_MIB = 200


def convai_budget() -> DecodeBudget:
    return DecodeBudget(max_seconds=MAX_AUDIO_SECONDS, out_rate_hz=CONVAI_SAMPLE_RATE_HZ)


def refused(data: bytes, budget: DecodeBudget) -> AudioRejected:
    with pytest.raises(AudioRejected) as caught:
        to_convai_wav(data, filename="voice.ogg", budget=budget)
    return caught.value


def probe(tmp_path: Path, data: bytes, job: str = "convert") -> dict[str, object]:
    """Convert `data` in a fresh interpreter limited to PROBE_LIMIT_MIB of address space (support/audio_probe.py)."""
    path = tmp_path / "input.bin"
    path.write_bytes(data)
    command = [
        sys.executable,
        "-m",
        "tests.support.audio_probe",
        str(path),
        "--job",
        job,
        "--limit-mib",
        str(PROBE_LIMIT_MIB),
    ]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120, check=False)  # noqa: S603
    assert done.returncode == 0, done.stderr[-2000:]
    figures: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


# --- the issue's file -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rate_hz", [4, 1])
def test_the_issue_file_declaring_4_or_1_hz_is_refused_before_a_byte_is_decoded(rate_hz: int) -> None:
    data = matroska_pcm(rate_hz)
    assert 400_000 < len(data) < 401_000 and sniff_container(data) == "matroska"
    budget = convai_budget()
    rejected = refused(data, budget)
    assert rejected.reason == "unusable" and "sample rate" in rejected.user_message
    assert (budget.source_bytes, budget.output_bytes, budget.frames) == (0, 0, 0)


@pytest.mark.parametrize("rate_hz", [4, 1])
def test_converting_the_issue_file_peaks_under_200_mib_in_a_fresh_process(tmp_path: Path, rate_hz: int) -> None:
    figures = probe(tmp_path, matroska_pcm(rate_hz))
    assert figures["outcome"] == "unusable", figures
    assert int(str(figures["hwm"])) < PEAK_RSS_BOUND_MIB * 1024 * 1024, figures


# --- the kind: any header, any packet layout ------------------------------------------------------------------------


def test_length_is_counted_in_source_samples_before_anything_is_resampled() -> None:
    """One 8 kHz frame of 125 s: refused as too long with no output made (it used to be resampled first)."""
    data = matroska_pcm(8_000, payload_bytes=2_000_000)
    budget = convai_budget()
    rejected = refused(data, budget)
    assert rejected.reason == "too_long" and "60 seconds" in rejected.user_message
    assert budget.output_bytes == 0 and budget.source_seconds == 0.0


def test_frames_past_the_limit_stop_the_decode_and_output_stays_within_its_bound() -> None:
    data = matroska_pcm(8_000, payload_bytes=2_000_000, frame_samples=8_000)  # 125 one-second frames
    budget = convai_budget()
    assert refused(data, budget).reason == "too_long"
    assert budget.frames == 60 and budget.source_seconds == 60.0
    assert budget.output_bytes <= budget.max_output_bytes
    assert budget.output_bytes <= (MAX_AUDIO_SECONDS + LENGTH_GRACE_S) * CONVAI_SAMPLE_RATE_HZ * 2


def test_a_file_of_tiny_packets_is_refused_after_the_packet_cap() -> None:
    data = tiny_packets(MAX_PACKETS + 5_000)  # 35,000 one-sample packets, 4.4 s of sound, 280 KB
    budget = convai_budget()
    assert refused(data, budget).reason == "unusable"
    assert budget.packets == MAX_PACKETS + 1 and budget.output_bytes <= MAX_PACKETS * 2 * 2


@pytest.mark.parametrize("channels", [9, 64, 255])
def test_more_than_eight_channels_are_refused_before_decoding(channels: int) -> None:
    budget = convai_budget()
    rejected = refused(many_channels_wav(channels, seconds=0.5), budget)
    assert rejected.reason == "unusable" and "channels" in rejected.user_message
    assert budget.source_bytes == 0


@pytest.mark.parametrize(("rate_hz", "accepted"), [(7_999, False), (8_000, True), (192_000, True), (192_001, False)])
def test_sample_rates_from_8_to_192_khz_are_accepted(rate_hz: int, accepted: bool) -> None:
    data = wav_pcm(0.5, rate=rate_hz, channels=1)
    if accepted:
        prepared = to_convai_wav(data)
        assert wav_info(prepared.wav)[:3] == (1, 2, 16_000) and abs(prepared.duration_s - 0.5) <= 0.01
    else:
        assert refused(data, convai_budget()).reason == "unusable"


def test_a_wav_declaring_4_gib_decodes_what_it_holds_and_is_called_damaged() -> None:
    budget = convai_budget()
    assert refused(wav_declaring(2**32 - 2), budget).reason == "corrupt"
    assert budget.output_bytes <= 1.1 * CONVAI_SAMPLE_RATE_HZ * 2  # the one second it really holds


def test_the_cpu_budget_stops_a_conversion_between_packets() -> None:
    budget = DecodeBudget(max_seconds=MAX_AUDIO_SECONDS, out_rate_hz=CONVAI_SAMPLE_RATE_HZ, cpu_budget_s=0.0)
    rejected = refused(voice_note_ogg(60.0), budget)
    assert rejected.reason == "unusable" and "CPU" in rejected.detail
    assert budget.packets <= 16 and budget.output_bytes < 16_000


@pytest.mark.parametrize(
    "data", [TEXT_NOT_AUDIO, random_bytes(50_000), random_bytes(1_000, seed=7)], ids=["text", "noise", "short-noise"]
)
def test_bytes_that_are_not_audio_are_not_audio_whatever_the_name(data: bytes) -> None:
    assert sniff_container(data) is None
    assert refused(data, convai_budget()).reason == "not_audio"


def test_a_full_minute_stays_within_the_output_bound() -> None:
    budget = convai_budget()
    prepared = to_convai_wav(voice_note_ogg(60.0), budget=budget)
    assert len(prepared.wav) - 44 == budget.output_bytes <= budget.max_output_bytes
    assert budget.packets < 3_100 and budget.source_seconds == pytest.approx(60.0, abs=0.05)


# --- the spoken-answer path -----------------------------------------------------------------------------------------


def test_a_spoken_answer_over_two_minutes_is_refused_without_resampling_it() -> None:
    reply = wav_pcm(121.0, rate=8_000, channels=1)
    budget = DecodeBudget(max_seconds=120.0, out_rate_hz=48_000)
    with pytest.raises(AudioRejected) as caught:
        wav_to_voice_message(reply, budget=budget)
    assert caught.value.reason == "too_long"
    assert budget.output_bytes <= budget.max_output_bytes and budget.source_seconds <= 120.25


def test_a_spoken_answer_declaring_4_hz_is_refused_in_a_fresh_process_within_200_mib(tmp_path: Path) -> None:
    reply = wav_file(tone_pcm(25.0, 16_000, 1), rate=4)  # 800 KB: 200,000 s at 4 Hz, 19 GB at 48 kHz
    budget = DecodeBudget(max_seconds=120.0, out_rate_hz=48_000)
    with pytest.raises(AudioRejected) as caught:
        wav_to_voice_message(reply, budget=budget)
    assert caught.value.reason == "unusable" and budget.output_bytes == 0
    figures = probe(tmp_path, reply, job="encode")
    assert figures["outcome"] == "unusable", figures
    assert int(str(figures["hwm"])) < PEAK_RSS_BOUND_MIB * 1024 * 1024
