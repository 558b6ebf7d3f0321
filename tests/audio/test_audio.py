"""Audio in (voice notes -> Convai WAV) and out (Convai WAV -> Discord voice message), on real generated files."""

from __future__ import annotations

import asyncio
import io
import itertools
import struct
import threading
import time
import wave
from array import array
from collections.abc import Callable

import av
import pytest

import bot.audio.jobs
from bot.audio import (
    MAX_AUDIO_BYTES,
    AudioRejected,
    PreparedAudio,
    looks_like_audio,
    make_voice_message,
    prepare_voice_note,
    to_convai_wav,
    too_large_message,
    wav_duration_s,
    wav_to_voice_message,
)
from tests.support.audio_samples import (
    decoded_seconds,
    flac,
    m4a_aac,
    mp3_stereo,
    not_audio,
    silent_wav,
    truncated,
    voice_note_ogg,
    wav_info,
    wav_pcm,
    webm_opus,
)

TOLERANCE_S = 0.05
INPUTS: dict[str, tuple[Callable[[], bytes], float]] = {
    "voice-message.ogg": (lambda: voice_note_ogg(3.0), 3.0),
    "stereo-44k.mp3": (lambda: mp3_stereo(2.0), 2.0),
    "stereo-44k.wav": (lambda: wav_pcm(2.0), 2.0),
    "phone.m4a": (lambda: m4a_aac(2.0), 2.0),
    "browser.webm": (lambda: webm_opus(2.0), 2.0),
    "lossless.flac": (lambda: flac(2.0), 2.0),
}


def rejection(data: bytes, **kwargs: float) -> AudioRejected:
    with pytest.raises(AudioRejected) as caught:
        to_convai_wav(data, filename="clip", **kwargs)
    message = caught.value.user_message
    assert message == str(caught.value) and message.endswith(".") and "rrno" not in message and "(" not in message
    return caught.value


def peak(wav: bytes) -> int:
    with wave.open(io.BytesIO(wav), "rb") as reader:
        samples = array("h", reader.readframes(reader.getnframes()))
    return max(max(samples), -min(samples))


def video_only_mkv() -> bytes:
    out = io.BytesIO()
    with av.open(out, mode="w", format="matroska") as container:
        stream = container.add_stream("ffv1", rate=1, width=16, height=16, pix_fmt="yuv420p")
        frame = av.VideoFrame(16, 16, "yuv420p")
        for plane in frame.planes:
            plane.update(bytes(plane.buffer_size))
        frame.pts = 0
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return out.getvalue()


# --- to_convai_wav: accepted inputs ---------------------------------------------------------------------------------


@pytest.mark.parametrize("filename", INPUTS)
def test_every_format_becomes_16_khz_mono_s16_pcm_wav_of_the_same_length(filename: str) -> None:
    make, seconds = INPUTS[filename]
    prepared = to_convai_wav(make(), filename=filename)

    assert prepared.wav[:4] == b"RIFF" and prepared.wav[8:12] == b"WAVE"
    assert struct.unpack_from("<H", prepared.wav, 20) == (1,)  # WAVE_FORMAT_PCM
    channels, width, rate, frames = wav_info(prepared.wav)
    assert (channels, width, rate, prepared.sample_rate) == (1, 2, 16_000, 16_000)
    assert abs(frames / rate - seconds) <= TOLERANCE_S
    assert prepared.duration_s == frames / rate
    assert peak(prepared.wav) > 32768 // 4  # the sound survived downmixing and resampling


def test_a_voice_note_of_the_length_discord_reports_is_accepted() -> None:
    prepared = to_convai_wav(voice_note_ogg(3.0), filename="voice-message.ogg", expected_duration_s=3.2)
    assert abs(prepared.duration_s - 3.0) <= TOLERANCE_S


@pytest.mark.parametrize(("rate", "channels", "width"), [(8_000, 1, 1), (48_000, 2, 3), (22_050, 1, 4)])
def test_unusual_wav_rates_and_sample_widths_are_converted(rate: int, channels: int, width: int) -> None:
    prepared = to_convai_wav(wav_pcm(1.0, rate=rate, channels=channels, sample_width=width))
    assert wav_info(prepared.wav)[:3] == (1, 2, 16_000)
    assert abs(prepared.duration_s - 1.0) <= TOLERANCE_S


def test_a_full_minute_voice_note_is_accepted() -> None:
    prepared = to_convai_wav(voice_note_ogg(60.0), filename="voice-message.ogg", expected_duration_s=60.0)
    assert abs(prepared.duration_s - 60.0) <= TOLERANCE_S


# --- to_convai_wav: rejections --------------------------------------------------------------------------------------


def test_over_ten_mib_is_refused_before_decoding() -> None:
    data = silent_wav(125.0)  # would decode as "silent" or "too long": the size check must come first
    assert len(data) > MAX_AUDIO_BYTES
    rejected = rejection(data)
    assert rejected.reason == "too_big" and "10 MB" in rejected.user_message


def test_a_size_refusal_can_be_raised_before_downloading() -> None:
    message = too_large_message(25 * 1024 * 1024)
    assert message == "That file is 25.0 MB, over the 10 MB I can take; please send a shorter recording."
    rejected = AudioRejected(message)
    assert rejected.user_message == str(rejected) == message and rejected.reason == "other"


@pytest.mark.parametrize(
    "data",
    [
        not_audio(),
        b"Just some notes, not a recording.\n" * 20,
        b"",
        # An HLS playlist would make FFmpeg open other files or URLs: its demuxer is not allowed.
        b"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n",
    ],
    ids=["png", "text", "nothing", "hls-playlist"],
)
def test_files_that_are_not_audio_are_refused(data: bytes) -> None:
    assert rejection(data).reason == "not_audio"


def test_a_video_without_sound_is_refused() -> None:
    assert rejection(video_only_mkv()).reason == "no_audio_track"


@pytest.mark.parametrize("filename", INPUTS)
def test_a_truncated_file_is_corrupt(filename: str) -> None:
    make, _seconds = INPUTS[filename]
    assert rejection(truncated(make(), keep=0.5)).reason == "corrupt"


def test_a_voice_note_much_shorter_than_discord_says_is_corrupt() -> None:
    assert rejection(voice_note_ogg(3.0), expected_duration_s=6.0).reason == "corrupt"


def test_empty_and_too_short_recordings_are_refused() -> None:
    assert rejection(wav_pcm(0.0, channels=1)).reason == "empty"
    assert rejection(wav_pcm(0.1, channels=1)).reason == "empty"


def test_silence_is_refused() -> None:
    assert rejection(silent_wav(2.0)).reason == "silent"


def test_longer_than_the_limit_is_refused_with_the_limit_in_the_message() -> None:
    rejected = rejection(voice_note_ogg(3.0), max_seconds=2.0)
    assert rejected.reason == "too_long" and "2 seconds" in rejected.user_message


def test_a_61_second_voice_note_is_refused() -> None:
    rejected = rejection(voice_note_ogg(61.0))
    assert rejected.reason == "too_long" and "60 seconds" in rejected.user_message


def test_decoding_stops_once_the_limit_is_passed() -> None:
    data = voice_note_ogg(61.0)

    def best_time(max_seconds: float) -> float:
        times = []
        for _ in range(3):
            started = time.perf_counter()
            with pytest.raises(AudioRejected):
                to_convai_wav(data, max_seconds=max_seconds)
            times.append(time.perf_counter() - started)
        return min(times)

    assert best_time(1.0) < best_time(60.0) / 4


# --- looks_like_audio -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "content_type", "expected"),
    [
        ("voice-message.ogg", "audio/ogg", True),
        ("recording", "audio/mpeg", True),
        ("clip.opus", "AUDIO/OGG; codecs=opus", True),
        ("browser.webm", "video/webm", True),
        ("stream.ogg", "application/ogg", True),
        ("song.MP3", None, True),
        ("memo.m4a", "application/octet-stream", True),
        ("take.flac", None, True),
        ("sound.oga", None, True),
        ("sound.aac", None, True),
        ("sound.wav", "", True),
        ("photo.png", "image/png", False),
        ("notes.txt", "text/plain", False),
        ("movie.mp4", "video/mp4", False),
        ("wav", None, False),
        ("archive.wav.zip", "application/zip", False),
    ],
)
def test_looks_like_audio(filename: str, content_type: str | None, expected: bool) -> None:
    assert looks_like_audio(filename, content_type) is expected


# --- voice messages out ---------------------------------------------------------------------------------------------


def test_a_convai_wav_becomes_an_ogg_opus_mono_48_khz_voice_message() -> None:
    message = wav_to_voice_message(wav_pcm(3.0, rate=22_050, channels=1))

    assert message.ogg[:4] == b"OggS" and b"OpusHead" in message.ogg[:100]
    seconds, container, codec, channels, rate = decoded_seconds(message.ogg)
    assert (container, codec, channels, rate) == ("ogg", "opus", 1, 48_000)
    assert abs(seconds - 3.0) <= TOLERANCE_S and abs(message.duration_s - 3.0) <= TOLERANCE_S
    assert len(message.waveform) == 30
    assert all(0 <= level <= 255 for level in message.waveform) and any(message.waveform)


def test_a_minute_long_reply_has_the_full_256_sample_waveform() -> None:
    message = wav_to_voice_message(wav_pcm(60.0, rate=22_050, channels=1))
    assert len(message.waveform) == 256 and any(message.waveform)
    assert abs(decoded_seconds(message.ogg)[0] - 60.0) <= TOLERANCE_S


def test_the_waveform_follows_loudness() -> None:
    with wave.open(io.BytesIO(wav_pcm(1.0, rate=22_050, channels=1)), "rb") as reader:
        speech = reader.readframes(reader.getnframes())
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(22_050)
        writer.writeframes(b"\0" * len(speech) + speech)
    levels = wav_to_voice_message(out.getvalue()).waveform
    assert len(levels) == 20
    assert max(levels[:9]) == 0 and min(levels[11:]) > 64


@pytest.mark.parametrize(("rate", "channels", "width"), [(16_000, 1, 2), (44_100, 2, 2), (24_000, 1, 3)])
def test_other_wavs_also_become_voice_messages(rate: int, channels: int, width: int) -> None:
    message = wav_to_voice_message(wav_pcm(2.0, rate=rate, channels=channels, sample_width=width))
    assert decoded_seconds(message.ogg)[1:] == ("ogg", "opus", 1, 48_000)
    assert abs(message.duration_s - 2.0) <= TOLERANCE_S and len(message.waveform) == 20


def test_an_unreadable_or_empty_reply_is_rejected() -> None:
    with pytest.raises(AudioRejected) as caught:
        wav_to_voice_message(b"RIFF\0\0\0\0WAVEjunk")
    assert caught.value.reason == "corrupt"
    with pytest.raises(AudioRejected) as caught:
        wav_to_voice_message(not_audio())
    assert caught.value.reason == "not_audio"
    with pytest.raises(AudioRejected) as caught:
        wav_to_voice_message(wav_pcm(0.0, rate=22_050, channels=1))
    assert caught.value.reason == "empty"


def test_wav_duration_comes_from_the_header() -> None:
    wav = wav_pcm(3.0, rate=22_050, channels=1)
    assert wav_duration_s(wav) == 3.0
    size_at = wav.index(b"data") + 4
    streaming = wav[:size_at] + b"\xff\xff\xff\xff" + wav[size_at + 4 :]  # a streaming writer's unknown size
    assert wav_duration_s(streaming) == 3.0
    assert wav_duration_s(truncated(wav, 0.5)) == pytest.approx(1.5, abs=0.01)
    with pytest.raises(AudioRejected):
        wav_duration_s(voice_note_ogg(3.0))


# --- async wrappers -------------------------------------------------------------------------------------------------


async def test_prepare_voice_note_keeps_the_event_loop_running() -> None:
    data = voice_note_ogg(30.0)
    ticks: list[float] = []

    async def ticker() -> None:
        while True:
            ticks.append(time.perf_counter())
            await asyncio.sleep(0.001)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0.01)
    started = time.perf_counter()
    prepared = await prepare_voice_note(data, filename="voice-message.ogg", expected_duration_s=30.0)
    ended = time.perf_counter()
    task.cancel()

    assert isinstance(prepared, PreparedAudio) and abs(prepared.duration_s - 30.0) <= TOLERANCE_S
    moments = [started, *(t for t in ticks if started < t < ended), ended]
    longest_gap = max(later - earlier for earlier, later in itertools.pairwise(moments))
    assert len(moments) >= 7, "the loop hardly ran while converting"
    assert longest_gap < (ended - started) / 2, "the conversion blocked the loop"


async def test_prepare_voice_note_raises_the_same_rejections() -> None:
    with pytest.raises(AudioRejected) as caught:
        await prepare_voice_note(silent_wav(1.0), filename="quiet.wav")
    assert caught.value.reason == "silent"


async def test_make_voice_message_encodes_off_the_loop() -> None:
    message = await make_voice_message(wav_pcm(3.0, rate=22_050, channels=1))
    assert decoded_seconds(message.ogg)[1:] == ("ogg", "opus", 1, 48_000) and len(message.waveform) == 30


class SlowConversion:
    """Stands in for `to_convai_wav` in a worker thread and records how many run at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0
        self.finished = 0

    def __call__(self, data: bytes, **_kwargs: object) -> PreparedAudio:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        time.sleep(0.05)
        with self.lock:
            self.running -= 1
            self.finished += 1
        return PreparedAudio(wav=data, sample_rate=16_000, duration_s=1.0)


async def test_no_more_than_two_conversions_run_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    slow = SlowConversion()
    monkeypatch.setattr(bot.audio.jobs, "to_convai_wav", slow)
    results = await asyncio.gather(*(prepare_voice_note(b"x", filename="a.ogg") for _ in range(6)))
    assert len(results) == 6 and slow.most == 2


async def test_a_cancelled_caller_keeps_its_slot_until_its_thread_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    slow = SlowConversion()
    monkeypatch.setattr(bot.audio.jobs, "to_convai_wav", slow)
    cancelled = [asyncio.create_task(prepare_voice_note(b"x", filename="a.ogg")) for _ in range(2)]
    await asyncio.sleep(0.01)
    for task in cancelled:
        task.cancel()
    later = await asyncio.gather(*(prepare_voice_note(b"y", filename="b.ogg") for _ in range(2)))
    assert all(task.cancelled() for task in cancelled)
    assert len(later) == 2 and slow.most == 2 and slow.finished == 4
