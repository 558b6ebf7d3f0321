"""Posts a spoken answer: a real Discord voice message where allowed, else a playable WAV attachment.

discord.py 2.7 cannot send voice messages (it cannot set flag 8192 or the attachment's duration
and waveform), so the request is built by hand: multipart with `payload_json` and `files[0]`.
"""

from __future__ import annotations

import base64
import io
import json
import logging
from typing import Any

import discord
from discord.http import Route

from bot.audio import AudioRejected, make_voice_message

log = logging.getLogger(__name__)

IS_VOICE_MESSAGE = 1 << 13
VOICE_FILENAME = "voice-message.ogg"
FALLBACK_FILENAME = "reply.wav"


async def post_spoken_reply(channel: discord.abc.Messageable, http: discord.http.HTTPClient, wav: bytes) -> None:
    """Never raises for Discord or audio trouble: a failed voice message falls back to the WAV file."""
    if _may_send_voice_messages(channel):
        try:
            await _send_voice_message(channel, http, wav)
            return
        except (AudioRejected, discord.HTTPException) as exc:
            log.warning("voice message not sent (%s); attaching the WAV instead", exc)
    try:
        await channel.send(
            file=discord.File(io.BytesIO(wav), FALLBACK_FILENAME), allowed_mentions=discord.AllowedMentions.none()
        )
    except discord.HTTPException as exc:
        log.warning("could not post the spoken reply: %s", exc)


def _may_send_voice_messages(channel: discord.abc.Messageable) -> bool:
    if not isinstance(channel, discord.Thread | discord.TextChannel):
        return False
    return channel.permissions_for(channel.guild.me).send_voice_messages


async def _send_voice_message(channel: discord.abc.Messageable, http: discord.http.HTTPClient, wav: bytes) -> None:
    voice = await make_voice_message(wav)
    channel_id = getattr(channel, "id", None)
    payload = {
        "flags": IS_VOICE_MESSAGE,
        "allowed_mentions": {"parse": []},
        "attachments": [
            {
                "id": "0",
                "filename": VOICE_FILENAME,
                "duration_secs": round(voice.duration_s, 2),
                "waveform": base64.b64encode(voice.waveform).decode(),
            }
        ],
    }
    form: list[dict[str, Any]] = [
        {"name": "payload_json", "value": json.dumps(payload)},
        {"name": "files[0]", "value": voice.ogg, "filename": VOICE_FILENAME, "content_type": "audio/ogg"},
    ]
    await http.request(Route("POST", "/channels/{channel_id}/messages", channel_id=channel_id), form=form, files=[])
