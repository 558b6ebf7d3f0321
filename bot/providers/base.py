"""The provider contract: a turn goes in, a stream of small events comes out.

Five vendors differ wildly on the wire (SSE tokens, one JSON reply, polled agent messages, audio);
the conversation core and renderer only ever see these events. Later providers add event types
(source documents, option lists, audio) beside the ones here.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

Role = Literal["user", "assistant"]


@dataclass(frozen=True)
class HistoryEntry:
    """One earlier turn of the conversation, oldest first."""

    role: Role
    content: str


@dataclass(frozen=True)
class VoiceInput:
    """A voice note ready for a provider: WAV, PCM s16le, mono, at `sample_rate`."""

    wav: bytes
    sample_rate: int
    duration_s: float


@dataclass(frozen=True)
class Turn:
    """What the user said now, plus what the provider needs to answer in context."""

    text: str
    history: tuple[HistoryEntry, ...]
    state: Mapping[str, Any]
    user_id: int
    user_name: str
    voice: VoiceInput | None = None
    """Set for a voice note (then `text` only describes it); only providers that accept audio get one."""
    pick: Pick | None = None
    """Set when the member chose from an Offer (then `text` is the label, or the reason they gave)."""
    resume: bool = False
    """No new input: pick up following the provider where a restart interrupted it."""


@dataclass(frozen=True)
class Choice:
    """An autocomplete suggestion for a provider option (`name` shown, `value` sent back)."""

    name: str
    value: str


@dataclass(frozen=True)
class ChatOption:
    """An optional `/chat` parameter a provider reads in `start_state`."""

    name: str
    description: str
    choices: Mapping[str, str] = field(default_factory=dict)
    """value -> label; empty means free text."""
    autocomplete: bool = False
    """Values come from `suggest(name, typed)`."""


# Events ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TextDelta:
    """More reply text arrived; append it to what is shown."""

    text: str


@dataclass(frozen=True)
class Notice:
    """A short line about the conversation itself (not the reply), such as a provider caveat."""

    text: str


@dataclass(frozen=True)
class StateSaved:
    """The provider's session state changed (a session id, say); the core persists it."""

    state: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Source:
    """A document the answer drew on; `url` is empty when the vendor gives none."""

    title: str
    url: str = ""


@dataclass(frozen=True)
class Sources:
    """Where an answer came from, shown under it so a reader can check."""

    items: tuple[Source, ...]


@dataclass(frozen=True)
class Heard:
    """What the provider understood from a voice note, shown before its answer."""

    text: str


@dataclass(frozen=True)
class SpokenReply:
    """The answer as audio: a complete WAV file."""

    wav: bytes


@dataclass(frozen=True)
class Offer:
    """Choices shown as buttons (select menus when there are many); a pick becomes the next turn.

    The provider also saves the offer under `state["offer"]` (`token`, `labels`, anything it needs to
    act on a pick) with a StateSaved event, so a click is understood even after a restart.
    """

    token: str
    prompt: str
    labels: tuple[str, ...]
    reason_for: tuple[int, ...] = ()
    """Choices that first ask the member why (a Reject, say); the reason becomes the turn's text."""


@dataclass(frozen=True)
class Said:
    """A complete message from the provider, posted on its own (agents speak in separate messages)."""

    text: str


@dataclass(frozen=True)
class SessionEnded:
    """The provider's session is over (completed, stopped, failed); the thread says why.

    The conversation itself stays: the member's next message starts a new provider session.
    """

    reason: str


Event = TextDelta | Notice | StateSaved | Sources | Heard | SpokenReply | Offer | Said | SessionEnded


@dataclass(frozen=True)
class Pick:
    """A member's choice from an Offer, handed to the provider in the next Turn."""

    token: str
    index: int
    label: str
    reason: str | None = None


class Provider(ABC):
    """One vendor's chat API. Capabilities are class attributes, read by the core and the cogs."""

    key: ClassVar[str]
    """Stable identifier stored with sessions (`ablt`)."""
    display_name: ClassVar[str]
    """What members see (`aBLT`)."""
    streams: ClassVar[bool] = False
    """Text arrives as many deltas rather than one reply."""
    needs_history: ClassVar[bool] = False
    """The vendor keeps no context: the core passes the stored transcript every turn."""
    chat_options: ClassVar[tuple[ChatOption, ...]] = ()
    """Extra `/chat` parameters this provider understands."""
    accepts_audio: ClassVar[bool] = False
    """Voice notes and audio files are sent to it (as `Turn.voice`)."""
    works_in_background: ClassVar[bool] = False
    """Answers take a while to appear (polled): the thread shows the typing indicator meanwhile."""

    def usual_wait_s(self) -> float | None:
        """Seconds by which an answer has nearly always come (learnt from recent answers), or None if unknown.

        The *working* notice is not posted before then: it would only be replaced by the answer moments later."""
        return None

    @abstractmethod
    def start_state(self, options: Mapping[str, str | None]) -> dict[str, Any]:
        """The session state for a new conversation, from `/chat`'s options; raise ValueError if unusable."""

    @abstractmethod
    def reply(self, turn: Turn) -> AsyncIterator[Event]:
        """Answer one turn. Raises a ProviderError for anything the user should hear about."""

    def reset_state(self, state: Mapping[str, Any]) -> dict[str, Any]:
        """The state for a fresh provider session in the same thread, keeping the thread's settings."""
        return dict(state)

    async def close_session(self, state: Mapping[str, Any]) -> None:  # noqa: B027 - optional hook
        """Tell the vendor a conversation ended (`/end`); most keep no session worth closing."""

    def state_after_stop(self, state: Mapping[str, Any]) -> dict[str, Any]:
        """State changes once a member stopped a reply midway (a provider followed in the background is let go);
        empty when nothing needs to change."""
        return {}

    def change_setting(self, state: Mapping[str, Any], name: str, value: str) -> dict[str, Any]:
        """The state with one conversation setting changed (`/action`); ValueError if it has none such."""
        raise ValueError(f"{self.display_name} conversations have no {name} setting.")

    def details(self, state: Mapping[str, Any]) -> list[tuple[str, str]]:
        """(label, value) pairs `/session` shows: settings and the vendor's session id, where there is one."""
        return []

    def opening_notice(self, state: Mapping[str, Any]) -> str | None:
        """A caveat members should read once, when the conversation opens."""
        return None

    async def suggest(self, option: str, typed: str) -> list[Choice]:
        """Autocomplete values for one of this provider's `/chat` options."""
        return []

    def describe(self, state: Mapping[str, Any]) -> str:
        """A few words naming what this session talks to, for the thread's opening line."""
        return self.display_name
