"""A voice note or audio file, made ready for a provider that listens (Convai takes WAV mono 16-bit)."""

from __future__ import annotations

import discord

from bot.audio import MAX_AUDIO_BYTES, AudioRejected, prepare_voice_note, too_large_message
from bot.providers.base import VoiceInput


async def voice_input(audio: discord.Attachment) -> VoiceInput:
    """Download and convert `audio`; raises AudioRejected (too large, unreadable: `user_message` says so) and
    discord.HTTPException when Discord will not hand the file over."""
    if audio.size > MAX_AUDIO_BYTES:
        raise AudioRejected(too_large_message(audio.size))
    prepared = await prepare_voice_note(await audio.read(), filename=audio.filename, expected_duration_s=audio.duration)
    return VoiceInput(wav=prepared.wav, sample_rate=prepared.sample_rate, duration_s=prepared.duration_s)


def voice_label(voice: VoiceInput) -> str:
    """What the transcript holds for a voice note until the provider says what it heard."""
    return f"🎙️ voice note ({voice.duration_s:.1f} s)"
