"""The conversation core: one session per channel, turns in order, provider events to a reply sink.

`Conversations` (_conversations.py) opens, ends and resets sessions and holds the parts: `turns`
(_channel_turns.py: each channel's turns in order, leases, Stop, shutdown), `replays` (_replays.py: Retry
and Regenerate) and `choices` (_choices.py: the choices a provider offered).
"""

from bot.core.conversations._channel_turns import REPLY_ENDED, ChannelTurns, NoActiveSession, Speaker
from bot.core.conversations._choices import AlreadyHandled, Choices, UnusablePick
from bot.core.conversations._conversations import Conversations, JustChanged, SessionInfo, UnusableOptions
from bot.core.conversations._replays import (
    ALREADY_RETRIED,
    MOVED_ON,
    NO_REGENERATE,
    CannotReplay,
    Replay,
    Replays,
)
from bot.core.reply_sink import Undeliverable
from bot.store import SessionExists

__all__ = [
    "ALREADY_RETRIED",
    "MOVED_ON",
    "NO_REGENERATE",
    "REPLY_ENDED",
    "AlreadyHandled",
    "CannotReplay",
    "ChannelTurns",
    "Choices",
    "Conversations",
    "JustChanged",
    "NoActiveSession",
    "Replay",
    "Replays",
    "SessionExists",
    "SessionInfo",
    "Speaker",
    "Undeliverable",
    "UnusableOptions",
    "UnusablePick",
]
