"""Audio for Convai: members' voice notes in as 16 kHz mono WAV, Convai's spoken answers out as voice messages.

Decoding and encoding use PyAV (FFmpeg) from memory; nothing here touches Discord objects.
"""

from __future__ import annotations

import logging

from bot.audio.budget import DecodeBudget
from bot.audio.common import (
    AUDIO_EXTENSIONS,
    CONVAI_SAMPLE_RATE_HZ,
    MAX_AUDIO_BYTES,
    MAX_AUDIO_SECONDS,
    MAX_SPOKEN_AUDIO_BYTES,
    MAX_SPOKEN_SECONDS,
    AudioRejected,
    RejectReason,
    looks_like_audio,
    too_large_message,
)
from bot.audio.decode import PreparedAudio, to_convai_wav
from bot.audio.headers import wav_duration_s
from bot.audio.jobs import make_voice_message, prepare_voice_note
from bot.audio.voice import VoiceMessage, wav_to_voice_message

log = logging.getLogger(__name__)

__all__ = [
    "AUDIO_EXTENSIONS",
    "CONVAI_SAMPLE_RATE_HZ",
    "MAX_AUDIO_BYTES",
    "MAX_AUDIO_SECONDS",
    "MAX_SPOKEN_AUDIO_BYTES",
    "MAX_SPOKEN_SECONDS",
    "AudioRejected",
    "DecodeBudget",
    "PreparedAudio",
    "RejectReason",
    "VoiceMessage",
    "looks_like_audio",
    "make_voice_message",
    "prepare_voice_note",
    "to_convai_wav",
    "too_large_message",
    "wav_duration_s",
    "wav_to_voice_message",
]
