"""Limits, the rejection error and the cheap "is this attachment audio?" check shared by the audio modules."""

from __future__ import annotations

import logging
from typing import Literal

log = logging.getLogger(__name__)

MAX_AUDIO_BYTES = 10 * 1024 * 1024
"""Discord's default upload limit per file; bigger inputs are refused before any decoding."""
MAX_AUDIO_SECONDS = 60.0
"""Documented maximum voice-note length."""
CONVAI_SAMPLE_RATE_HZ = 16_000
"""Convai's speech-to-text rate; uploads are mono 16-bit PCM WAV at this rate."""
MIN_SAMPLE_RATE_HZ = 8_000
MAX_SAMPLE_RATE_HZ = 192_000
"""Sample rates a recording of speech may have. 8 kHz is the lowest any speech codec or phone line uses
(G.711, AMR-NB); below it the telephone band (300-3,400 Hz) no longer fits under the Nyquist limit, so a lower
rate is a damaged or hostile header: at 4 Hz each decoded sample would become 4,000 samples at 16 kHz. 192 kHz
is the highest rate recorders offer; speech needs none of it, but a member's field recorder may use it. Within
this range one decoded sample becomes at most 6 output samples (8 kHz to 48 kHz), so output follows input."""
MAX_CHANNELS = 8
"""7.1 surround, the most any consumer recording carries; voice notes are mono, phones stereo."""


def unlike_speech(rate_hz: int, channels: int) -> str | None:
    """What makes this shape one no recording of speech has (a rate outside 8-192 kHz, more than 8 channels or
    none), in a few words for the log; None when it is fine."""
    if not MIN_SAMPLE_RATE_HZ <= rate_hz <= MAX_SAMPLE_RATE_HZ:
        return f"{rate_hz} Hz"
    if not 1 <= channels <= MAX_CHANNELS:
        return f"{channels} channels"
    return None


MAX_SPOKEN_SECONDS = 120.0
"""Longest spoken answer the bot takes from a provider: about 300 words, far past Convai's few-sentence replies.
As 48 kHz PCM for the voice message that is 11 MiB in memory."""
MAX_SPOKEN_AUDIO_BYTES = MAX_AUDIO_BYTES
"""Most audio (decoded from base64, all chunks together) the bot keeps from one provider answer: without
the voice-message permission the WAV is uploaded as a file, and Discord's default upload limit is 10 MiB."""
AUDIO_EXTENSIONS = (".wav", ".mp3", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".webm", ".flac")
NON_AUDIO_TYPES_WITH_AUDIO = ("video/webm", "application/ogg")
"""Content types outside audio/* that browsers and Discord give to audio-only files."""

RejectReason = Literal[
    "too_big", "not_audio", "no_audio_track", "corrupt", "unusable", "empty", "silent", "too_long", "other"
]
MIB = 1024 * 1024

_MESSAGES: dict[RejectReason, str] = {
    "too_big": "That file is over {max_mb} MB, which is more than I can take; please send a shorter recording.",
    "not_audio": "I couldn't read that as audio; please send a voice message or an MP3, OGG, M4A, WAV or FLAC file.",
    "no_audio_track": "That file has no sound track in it; please send a voice message or an audio file.",
    "corrupt": "That audio seems to be damaged or cut off, so I couldn't use it; please record it again.",
    "unusable": (
        "That audio is in a form I can't use, such as an odd sample rate or too many channels;"
        " please send an ordinary voice message or recording."
    ),
    "empty": "That recording is empty or too short to understand; please record a little more.",
    "silent": "That recording sounds silent to me; please check your microphone and try again.",
    "too_long": (
        "That recording is over {max_seconds:g} seconds long; please keep it to {max_seconds:g} seconds or less."
    ),
    "other": "I couldn't use that audio.",
}


class AudioRejected(Exception):
    """The file cannot be sent; `user_message` says why in one friendly sentence (safe to show).

    `reason` is a stable code for callers and tests; `detail` is for the log only (it may hold decoder text).
    """

    reason: RejectReason
    user_message: str
    detail: str

    def __init__(self, user_message: str, *, reason: RejectReason = "other", detail: str = "") -> None:
        super().__init__(user_message)
        self.user_message = user_message
        self.reason = reason
        self.detail = detail

    @classmethod
    def because(
        cls, reason: RejectReason, *, detail: str = "", max_seconds: float = MAX_AUDIO_SECONDS
    ) -> AudioRejected:
        """The rejection with this reason's standard message."""
        message = _MESSAGES[reason].format(max_mb=MAX_AUDIO_BYTES // MIB, max_seconds=max_seconds)
        return cls(message, reason=reason, detail=detail)


def too_large_message(size_bytes: int) -> str:
    """The refusal for a file whose size alone rules it out, e.g. from Discord's attachment size before download."""
    return (
        f"That file is {size_bytes / MIB:.1f} MB, over the {MAX_AUDIO_BYTES // MIB} MB I can take;"
        " please send a shorter recording."
    )


def looks_like_audio(filename: str, content_type: str | None) -> bool:
    """Whether an attachment is worth downloading and decoding, judged by content type or file extension."""
    if content_type:
        mime = content_type.split(";", 1)[0].strip().lower()
        if mime.startswith("audio/") or mime in NON_AUDIO_TYPES_WITH_AUDIO:
            return True
    return filename.lower().endswith(AUDIO_EXTENSIONS)
