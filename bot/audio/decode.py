"""Decode untrusted audio from memory with PyAV into mono 16-bit PCM, and check it before it goes to Convai."""

from __future__ import annotations

import io
import logging
import time
import wave
from array import array
from dataclasses import dataclass

import av
from av.audio.frame import AudioFrame

from bot.audio.budget import SAMPLE_BYTES, DecodeBudget
from bot.audio.common import (
    CONVAI_SAMPLE_RATE_HZ,
    MAX_AUDIO_BYTES,
    MAX_AUDIO_SECONDS,
    AudioRejected,
    RejectReason,
    too_large_message,
)
from bot.audio.headers import ogg_last_page_incomplete, read_wav_header, sniff_container

log = logging.getLogger(__name__)

ALLOWED_DEMUXERS = "wav,ogg,mp3,flac,matroska,mov,aac"
"""FFmpeg demuxers we let probe user files: every AUDIO_EXTENSIONS container and nothing that opens other
files or URLs (HLS playlists, concat lists, image sequences), which matters for untrusted uploads."""
MIN_AUDIO_SECONDS = 0.2
"""Shorter clips carry no speech worth transcribing."""
SILENCE_PEAK_DBFS = -50.0
SILENCE_PEAK = round(32768 * 10 ** (SILENCE_PEAK_DBFS / 20))
"""Peak sample value (s16) below which a clip counts as silent: about 104."""
SHORTFALL_RATIO = 0.9
SHORTFALL_MIN_S = 0.1
"""A decode shorter than 90% of the claimed length (header, or Discord's duration_secs) and by more than 0.1 s
is corrupt; the absolute floor keeps rounding on sub-second clips from tripping it."""
ALLOWED_CODECS = frozenset(
    {"opus", "vorbis", "mp3", "mp2", "aac", "flac", "alac", "speex", "amr_nb", "amr_wb", "gsm", "gsm_ms"}
    | {"adpcm_ms", "adpcm_ima_wav", "adpcm_g722"}
)
"""Codecs of the recordings members send (plus every `pcm_*`): voice messages (Opus), phones (AAC, AMR), browsers
(Opus, Vorbis), files (MP3, FLAC, ALAC, WAV's PCM and ADPCM). Anything else in a Matroska or MP4 box is refused
before decoding, which keeps FFmpeg's rarer decoders away from untrusted input."""


@dataclass(frozen=True)
class PreparedAudio:
    wav: bytes
    """RIFF/WAVE, PCM s16le, mono, 16 kHz."""
    sample_rate: int
    duration_s: float


@dataclass(frozen=True)
class Decoded:
    pcm: bytes
    """Mono s16 samples in native byte order (what PyAV gives and what `wave.writeframes` expects)."""
    rate_hz: int

    @property
    def samples(self) -> int:
        return len(self.pcm) // SAMPLE_BYTES

    @property
    def duration_s(self) -> float:
        return self.samples / self.rate_hz


def decode_mono_s16(data: bytes, *, rate_hz: int, max_seconds: float, budget: DecodeBudget | None = None) -> Decoded:
    """Decode any allowed container's first audio track to mono s16 at `rate_hz`.

    Raises AudioRejected for unreadable, trackless, corrupt or truncated input, and for input past any limit of
    `budget` (default: a fresh DecodeBudget for `max_seconds`): the length is counted in decoded source samples
    and checked before each frame is resampled, so the output never grows past `budget.max_output_bytes`
    whatever rate, channel count or packet layout the headers declare.
    """
    if budget is None:
        budget = DecodeBudget(max_seconds=max_seconds, out_rate_hz=rate_hz)
    budget.restart_clock()
    if (header := read_wav_header(data)) is not None:  # refused before FFmpeg reads a byte of samples
        budget.check_stream(rate_hz=header.rate_hz, channels=header.channels)
    try:
        container = av.open(io.BytesIO(data), mode="r", container_options={"format_whitelist": ALLOWED_DEMUXERS})
    except (av.FFmpegError, ValueError, OSError) as error:
        reason: RejectReason = "corrupt" if sniff_container(data) else "not_audio"
        raise AudioRejected.because(reason, detail=f"open: {error}") from error
    with container:
        stream = _audio_track(container, budget)
        pcm = bytearray()
        try:
            _decode_into(pcm, container, stream, rate_hz, budget)
        except (av.FFmpegError, ValueError) as error:
            raise AudioRejected.because("corrupt", detail=f"decode: {error}") from error
        claimed_s = _claimed_seconds(data, container, stream)
        fmt = container.format.name
    decoded_s = budget.source_seconds
    if fmt == "ogg" and ogg_last_page_incomplete(data):
        raise AudioRejected.because("corrupt", detail="last Ogg page cut short")
    if claimed_s is not None and clearly_short(decoded_s, claimed_s):
        raise AudioRejected.because("corrupt", detail=f"decoded {decoded_s:.2f} s of a declared {claimed_s:.2f} s")
    return Decoded(pcm=bytes(pcm), rate_hz=rate_hz)


def _audio_track(container: av.container.InputContainer, budget: DecodeBudget) -> av.AudioStream:
    """The first audio track, if its codec and declared shape are ones a recording of speech may have."""
    if not container.streams.audio:
        raise AudioRejected.because("no_audio_track", detail=f"{container.format.name} without audio")
    stream = container.streams.audio[0]
    context = stream.codec_context
    if context is None:  # PyAV's answer for a codec FFmpeg has no decoder for (a WAV format tag of 0, say)
        raise AudioRejected.because("unusable", detail="no decoder for the track")
    codec = context.codec.canonical_name
    if codec not in ALLOWED_CODECS and not codec.startswith("pcm_"):
        raise AudioRejected.because("unusable", detail=f"codec {codec}")
    budget.check_stream(rate_hz=context.sample_rate, channels=context.channels)
    return stream


def _decode_into(
    pcm: bytearray, container: av.container.InputContainer, stream: av.AudioStream, rate_hz: int, budget: DecodeBudget
) -> None:
    """Demux every stream (each packet counts) and decode `stream`'s packets, resampling frame by frame."""
    resampler: av.AudioResampler | None = None
    source: tuple[str, str, int] | None = None
    for packet in container.demux():
        budget.take_packet()
        if packet.stream_index != stream.index:
            continue
        for frame in stream.decode(packet):
            budget.take_frame(
                samples=frame.samples,
                rate_hz=frame.sample_rate,
                channels=frame.layout.nb_channels,
                sample_bytes=frame.format.bytes,
            )
            # A chained Ogg or odd MP3 can change rate or layout mid-stream; the resampler cannot.
            key = (frame.format.name, frame.layout.name, frame.sample_rate)
            if resampler is None or key != source:
                if resampler is not None:
                    _append(pcm, resampler.resample(None), budget)
                resampler = av.AudioResampler(format="s16", layout="mono", rate=rate_hz)
                source = key
            _append(pcm, resampler.resample(frame), budget)
    if resampler is not None:
        _append(pcm, resampler.resample(None), budget)


def clearly_short(decoded_s: float, claimed_s: float) -> bool:
    return decoded_s < SHORTFALL_RATIO * claimed_s and claimed_s - decoded_s > SHORTFALL_MIN_S


def _append(pcm: bytearray, frames: list[AudioFrame], budget: DecodeBudget) -> None:
    for frame in frames:
        size = frame.samples * SAMPLE_BYTES
        budget.take_output(size)
        pcm += memoryview(frame.planes[0]).cast("B")[:size]


def _claimed_seconds(data: bytes, container: av.container.InputContainer, stream: av.AudioStream) -> float | None:
    """The length the file says it has. FFmpeg clamps a WAV's to the bytes present, so read that header ourselves."""
    if (header := read_wav_header(data)) is not None:
        return header.declared_s
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    return None


def peak(pcm: bytes) -> int:
    """Largest sample magnitude (0..32768) of native s16 PCM; min/max over an array run in C, no numpy needed."""
    samples = array("h", pcm)
    return max(max(samples), -min(samples)) if samples else 0


def to_convai_wav(
    data: bytes,
    *,
    filename: str = "audio",
    expected_duration_s: float | None = None,
    max_seconds: float = MAX_AUDIO_SECONDS,
    budget: DecodeBudget | None = None,
) -> PreparedAudio:
    """Turn a member's voice note or audio file into the 16 kHz mono s16 WAV Convai transcribes best.

    Synchronous and CPU-bound: call it in a worker thread (see `prepare_voice_note`). Raises AudioRejected;
    `budget` (default: one for `max_seconds` at 16 kHz) bounds the work and records what it took.
    """
    started = time.perf_counter()
    try:
        if len(data) > MAX_AUDIO_BYTES:
            raise AudioRejected(too_large_message(len(data)), reason="too_big", detail=f"{len(data)} bytes")
        decoded = decode_mono_s16(data, rate_hz=CONVAI_SAMPLE_RATE_HZ, max_seconds=max_seconds, budget=budget)
        if expected_duration_s and clearly_short(decoded.duration_s, expected_duration_s):
            raise AudioRejected.because(
                "corrupt", detail=f"decoded {decoded.duration_s:.2f} s, Discord says {expected_duration_s:.2f} s"
            )
        if decoded.duration_s < MIN_AUDIO_SECONDS:
            raise AudioRejected.because("empty", detail=f"{decoded.duration_s:.3f} s")
        if peak(decoded.pcm) < SILENCE_PEAK:
            raise AudioRejected.because("silent", detail=f"peak below {SILENCE_PEAK_DBFS} dBFS")
    except AudioRejected as rejected:
        log.info("audio %r (%d bytes) rejected as %s: %s", filename, len(data), rejected.reason, rejected.detail)
        raise
    wav = pcm_to_wav(decoded.pcm, decoded.rate_hz)
    log.debug(
        "audio %r: %d bytes -> %.2f s WAV in %.0f ms",
        filename,
        len(data),
        decoded.duration_s,
        (time.perf_counter() - started) * 1000,
    )
    return PreparedAudio(wav=wav, sample_rate=decoded.rate_hz, duration_s=decoded.duration_s)


def pcm_to_wav(pcm: bytes, rate_hz: int) -> bytes:
    """Wrap native mono s16 samples in a RIFF/WAVE file (s16le on disk) with the standard library's `wave`."""
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(SAMPLE_BYTES)
        writer.setframerate(rate_hz)
        writer.writeframes(pcm)
    return out.getvalue()
