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
AUDIO_EXTENSIONS = (".wav", ".mp3", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".webm", ".flac")
NON_AUDIO_TYPES_WITH_AUDIO = ("video/webm", "application/ogg")
"""Content types outside audio/* that browsers and Discord give to audio-only files."""

RejectReason = Literal["too_big", "not_audio", "no_audio_track", "corrupt", "empty", "silent", "too_long", "other"]
MIB = 1024 * 1024

_MESSAGES: dict[RejectReason, str] = {
    "too_big": "That file is over {max_mb} MB, which is more than I can take; please send a shorter recording.",
    "not_audio": "I couldn't read that as audio; please send a voice message or an MP3, OGG, M4A, WAV or FLAC file.",
    "no_audio_track": "That file has no sound track in it; please send a voice message or an audio file.",
    "corrupt": "That audio seems to be damaged or cut off, so I couldn't use it; please record it again.",
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
