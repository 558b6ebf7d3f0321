"""Loopback emulator of Convai's character Interaction API for the test suite.

It follows the vendor doc (``/work/shared/reference/convai-interaction-api.md``) and protocol-notes
section 5: ``POST /character/getResponse`` takes form data (multipart or urlencoded) with
``charID``, ``sessionID`` (``"-1"`` starts a session), ``voiceResponse`` and exactly one of
``userText`` or a WAV ``file`` (checked strictly: PCM, mono, at least 16-bit, not header-only,
``sample_rate`` matching the header), and answers JSON with a base64 WAV voice, or SSE events
when ``stream="True"``. ``POST /character/generate-starter-conversation`` (``charId`` and
``sessionId``) streams plain-string suggestions. Errors use ``{"ERROR": ...}``; a JSON 404 means
a generation failure. Streams have no terminator: the connection closing ends them. Binds
127.0.0.1 on an ephemeral port and never talks to anything else.

Typical use::

    async with ConvaiEmulator() as emu:
        emu.enqueue(ConvaiReply(chunks=["Hel", "lo"], chunk_interval_s=0.01))
        ...  # point the client at emu.base_url
        (req,) = await emu.wait_for_requests(1)
"""

from .answers import NOT_FOUND_HTML
from .script import (
    BROKEN_EVENT,
    DEFAULT_API_KEY,
    DEFAULT_CHARACTERS,
    DEFAULT_FAILURE,
    DEFAULT_SAMPLE_RATE,
    DEFAULT_STARTERS,
    GET_RESPONSE_PATH,
    INVALID_API_KEY,
    INVALID_CHARACTER,
    MALFORMED_FORM,
    MAX_AUDIO_SECONDS,
    ONE_INPUT_ONLY,
    RATE_LIMITED,
    SECONDS_PER_CHARACTER,
    STARTERS_PATH,
    ConvaiReply,
    ConvaiRequest,
    StarterScript,
)
from .server import ConvaiEmulator
from .wav import WavError, WavInfo, make_wav, parse_wav, raw_wav

__all__ = [
    "BROKEN_EVENT",
    "DEFAULT_API_KEY",
    "DEFAULT_CHARACTERS",
    "DEFAULT_FAILURE",
    "DEFAULT_SAMPLE_RATE",
    "DEFAULT_STARTERS",
    "GET_RESPONSE_PATH",
    "INVALID_API_KEY",
    "INVALID_CHARACTER",
    "MALFORMED_FORM",
    "MAX_AUDIO_SECONDS",
    "NOT_FOUND_HTML",
    "ONE_INPUT_ONLY",
    "RATE_LIMITED",
    "SECONDS_PER_CHARACTER",
    "STARTERS_PATH",
    "ConvaiEmulator",
    "ConvaiReply",
    "ConvaiRequest",
    "StarterScript",
    "WavError",
    "WavInfo",
    "make_wav",
    "parse_wav",
    "raw_wav",
]
