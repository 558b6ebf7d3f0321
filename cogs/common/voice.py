"""A voice note or audio file, made ready for a provider that listens (Convai takes WAV mono 16-bit)."""

from __future__ import annotations

import logging

import discord

from bot.audio import MAX_AUDIO_BYTES, AudioRejected, prepare_voice_note, too_large_message
from bot.members.attachments import AttachmentReader, AttachmentTooLarge, DownloadFailed
from bot.providers.base import VoiceInput

log = logging.getLogger(__name__)

NOT_DOWNLOADED = "Discord would not hand me that file; try sending it again."


async def voice_input(audio: discord.Attachment, reader: AttachmentReader) -> VoiceInput:
    """Download and convert `audio`; raises AudioRejected (too large by its `size` or by the bytes the CDN
    serves, unreadable, or the download failed: `user_message` says so) and discord.HTTPException when Discord
    refuses the file."""
    if audio.size > MAX_AUDIO_BYTES:
        raise AudioRejected(too_large_message(audio.size), reason="too_big", detail=f"declared {audio.size} bytes")
    try:
        data = await reader.read(audio, limit_bytes=MAX_AUDIO_BYTES)
    except AttachmentTooLarge as exc:
        raise AudioRejected.because("too_big", detail=f"served {exc}") from exc
    except DownloadFailed as exc:
        log.warning("could not download audio attachment %d: %s", audio.id, exc)
        raise AudioRejected(NOT_DOWNLOADED, detail=str(exc)) from exc
    prepared = await prepare_voice_note(data, filename=audio.filename, expected_duration_s=audio.duration)
    return VoiceInput(wav=prepared.wav, sample_rate=prepared.sample_rate, duration_s=prepared.duration_s)


def voice_label(voice: VoiceInput) -> str:
    """What the transcript holds for a voice note until the provider says what it heard."""
    return f"🎙️ voice note ({voice.duration_s:.1f} s)"
