"""What the providers answer during a chaos run: each call gets a tagged reply or a fault, drawn at random.

Every provider call is scripted from its request (the emulators' `script_with`): most get a good answer
whose text starts with a tag unique to that call (`[A0042]` for aBLT's 42nd), the rest one of the faults
below. The tag, the member's canary word found in the request and the full text are kept, so what members
see can be matched to the call that made it: a reply is *answered* when its whole text is shown, and a tag
shown at the start of two replies is a duplicate.

Faults (per provider, relative weights in `FAULTS`): error statuses (500, 503, 429, and Convai's 404
generation failure), stalls (silent past the bot's PROVIDER_TIMEOUT_S before or in the middle of a
stream), a stream cut off, malformed frames or bodies, replies far over ten Discord messages, and for aBLT
one SSE line a few hundred kilobytes long. Agentverse answers through a flow (`agentverse_flow`) whose
messages are tagged the same way; its faults are agent errors here and failed, hung or broken polls and
expired tokens in bench/chaos/injectors.py.
"""

from __future__ import annotations

import random
import re
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tests.emulators.ablt import Reply
from tests.emulators.ablt.script import ChatRequest
from tests.emulators.agentverse.flows import Flow, Step, Turn
from tests.emulators.agentverse.messages import AgentMessage, agent_error, agent_message
from tests.emulators.convai.script import ConvaiReply, ConvaiRequest
from tests.emulators.magicai import MagicReply, MagicRequest
from tests.emulators.soundverse import SoundverseReply, SoundverseRequest

CANARY = re.compile(r"canary[a-z]{10}")
"""A member's unique word (see bench/chaos/members.py); found in requests to know whose turn a call is."""
TAG = re.compile(r"\[[AMSCV]\d{5}\]")
HUGE_REPLY_CHARS = 40_000
"""Twenty Discord messages: far over the ten a reply cap would allow (issue 18)."""
LONG_LINE_CHARS = 200_000
"""One SSE line this long (issue 18 sample 4: 600 KB blocked the loop 1.9 s with the quadratic decoder)."""
SLOW_S = 2.5
"""A whole answer this late is still within a 3 s PROVIDER_TIMEOUT_S: members see the working notice first."""

PROSE = (
    "the answer depends on how much you earn and where you live so let us go through it step by step first check "
    "which income counts then subtract the allowances you can claim and keep every receipt because the office may "
    "ask for proof later most people pay less than they expect once deductions are counted"
)
WORDS = tuple(PROSE.split(" "))

FAULTS: dict[str, dict[str, int]] = {
    "aBLT": {
        "ok": 64,
        "500": 3,
        "503": 3,
        "429": 3,
        "stall mid-stream": 5,
        "stall before headers": 2,
        "cut off": 3,
        "malformed frame": 3,
        "slow tokens": 8,
        "huge reply": 2,
        "long SSE line": 1,
    },
    "Magic AI": {
        "ok": 70,
        "500": 4,
        "503": 3,
        "429": 3,
        "stall": 4,
        "slow": 8,
        "malformed": 3,
        "no text": 2,
        "huge reply": 3,
    },
    "Soundverse": {
        "ok": 68,
        "500": 4,
        "503": 3,
        "429": 3,
        "stall": 4,
        "slow": 8,
        "malformed": 3,
        "no aiReply": 2,
        "empty reply": 2,
        "huge reply": 3,
    },
    "Convai": {
        "ok": 68,
        "500": 3,
        "429": 3,
        "404": 3,
        "stall before headers": 3,
        "stall mid-stream": 4,
        "broken event": 3,
        "slow chunks": 8,
        "huge reply": 3,
    },
    "Agentverse": {"ok": 90, "agent error": 10},
}
LETTERS = {"aBLT": "A", "Magic AI": "M", "Soundverse": "S", "Convai": "C", "Agentverse": "V"}


@dataclass(frozen=True)
class Scripted:
    """One provider call: its tag, the member's canary in it (None if the request carried none), the full text
    it answers with ('' for an error) and the fault drawn ('ok' for none)."""

    tag: str
    provider: str
    canary: str | None
    text: str
    fault: str


def canary_in(text: object) -> str | None:
    """The last canary word in `text` (a member's newest turn comes last), or None."""
    found = CANARY.findall(text) if isinstance(text, str) else []
    return found[-1] if found else None


class ProviderScript:
    """Draws every provider call's answer (seeded) and remembers what each call was given."""

    def __init__(self, rng: random.Random, timeout_s: float, faults: Mapping[str, Mapping[str, int]] = FAULTS) -> None:
        """`faults`: per provider, the relative weight of each answer kind ('ok' and the fault names above)."""
        self._rng = rng
        self._timeout_s = timeout_s
        self.weights = faults
        self.token_interval_s = (0.01, 0.06)
        """The pause before each streamed token or chunk of a plain answer, drawn per call (seconds)."""
        self._numbers: Counter[str] = Counter()
        self.by_tag: dict[str, Scripted] = {}
        self.by_canary: defaultdict[str, list[Scripted]] = defaultdict(list)
        self.faults: Counter[str] = Counter()
        """'<provider> <fault>' -> calls answered with it."""

    # -- drawing -------------------------------------------------------------------------------------------

    def _draw(self, provider: str, canary: str | None) -> tuple[str, str]:
        kinds = self.weights[provider]
        fault = self._rng.choices(list(kinds), weights=list(kinds.values()))[0]
        self._numbers[provider] += 1
        tag = f"[{LETTERS[provider]}{self._numbers[provider]:05d}]"
        if fault != "ok":
            self.faults[f"{provider} {fault}"] += 1
        return tag, fault

    def _keep(self, provider: str, tag: str, canary: str | None, text: str, fault: str) -> None:
        scripted = Scripted(tag, provider, canary, text, fault)
        self.by_tag[tag] = scripted
        if canary is not None:
            self.by_canary[canary].append(scripted)

    def _words(self, count: int) -> list[str]:
        return [f" {self._rng.choice(WORDS)}" for _ in range(count)]

    def _prose(self, tag: str, chars: int | None = None) -> list[str]:
        """The tag, then word tokens: 15-120 of them, or about `chars` characters."""
        if chars is None:
            return [tag, *self._words(self._rng.randint(15, 120))]
        tokens = [tag]
        length = len(tag)
        while length < chars:
            word = self._words(1)[0]
            tokens.append(word if len(tokens) % 80 else f"\n\n{word.strip().capitalize()}")
            length += len(tokens[-1])
        return tokens

    def _stall_s(self) -> float:
        return self._timeout_s + 30.0

    # -- per provider --------------------------------------------------------------------------------------

    def ablt(self, request: ChatRequest) -> Reply:
        """aBLT (streamed SSE): the next call's reply."""
        body = request.body if isinstance(request.body, dict) else {}
        messages = body.get("messages") or [{}]
        canary = canary_in(messages[-1].get("content") if isinstance(messages[-1], dict) else None)
        canary = canary or canary_in(body.get("prompt"))
        tag, fault = self._draw("aBLT", canary)
        interval = self._rng.uniform(*self.token_interval_s)
        tokens = self._prose(tag)
        if fault == "huge reply":
            tokens = self._prose(tag, HUGE_REPLY_CHARS)
            interval = 0.0
        elif fault == "long SSE line":
            tokens = [tag, "".join(self._prose("", LONG_LINE_CHARS))]
        elif fault == "slow tokens":  # long enough to be stopped, each gap within the timeout
            tokens, interval = self._prose(tag, 1500), self._rng.uniform(0.05, 0.15)
        text = "".join(tokens)
        half = self._rng.randint(1, max(1, len(tokens) - 1))
        reply = {
            "500": Reply(status=500),
            "503": Reply(status=503),
            "429": Reply(status=429),
            "stall mid-stream": Reply(tokens=tokens, token_interval_s=interval, hang_after_tokens=half),
            "stall before headers": Reply(tokens=tokens, hang_before_headers=True),
            "cut off": Reply(tokens=tokens, token_interval_s=interval, cut_off_after_tokens=half),
            "malformed frame": Reply(
                tokens=tokens, token_interval_s=interval, malformed_frame_after_tokens=half, cut_off_after_tokens=half
            ),
        }.get(fault, Reply(tokens=tokens, token_interval_s=interval))
        self._keep("aBLT", tag, canary, "" if reply.status != 200 else text, fault)
        return reply

    def magicai(self, request: MagicRequest) -> MagicReply:
        """Magic AI (whole answers)."""
        canary = canary_in(request.body.get("text") if isinstance(request.body, dict) else None)
        tag, fault = self._draw("Magic AI", canary)
        text = "".join(self._prose(tag, HUGE_REPLY_CHARS if fault == "huge reply" else None))
        reply = {
            "500": MagicReply(status=500),
            "503": MagicReply(status=503),
            "429": MagicReply(status=429),
            "stall": MagicReply(delay_s=self._stall_s()),
            "slow": MagicReply(text=text, delay_s=SLOW_S),
            "malformed": MagicReply(malformed=True),
            "no text": MagicReply(missing_text=True),
        }.get(fault, MagicReply(text=text))
        self._keep("Magic AI", tag, canary, text if reply.text is not None else "", fault)
        return reply

    def soundverse(self, request: SoundverseRequest) -> SoundverseReply:
        """Soundverse (whole answers, no session)."""
        canary = canary_in(request.body.get("prompt") if isinstance(request.body, dict) else None)
        tag, fault = self._draw("Soundverse", canary)
        text = "".join(self._prose(tag, HUGE_REPLY_CHARS if fault == "huge reply" else None))
        reply = {
            "500": SoundverseReply(status=500),
            "503": SoundverseReply(status=503),
            "429": SoundverseReply(status=429),
            "stall": SoundverseReply(delay_s=self._stall_s()),
            "slow": SoundverseReply(text=text, delay_s=SLOW_S),
            "malformed": SoundverseReply(malformed=True),
            "no aiReply": SoundverseReply(missing_reply=True),
            "empty reply": SoundverseReply(empty_reply=True),
        }.get(fault, SoundverseReply(text=text))
        self._keep("Soundverse", tag, canary, text if reply.text is not None else "", fault)
        return reply

    def convai(self, request: ConvaiRequest) -> ConvaiReply:
        """Convai (streamed SSE text; voice replies are off in the run)."""
        canary = canary_in(request.fields.get("userText"))
        tag, fault = self._draw("Convai", canary)
        chunks = self._prose(tag, HUGE_REPLY_CHARS if fault == "huge reply" else None)
        interval = self._rng.uniform(0.1, 0.4) if fault == "slow chunks" else self._rng.uniform(*self.token_interval_s)
        text = "".join(chunks)
        half = self._rng.randint(1, max(1, len(chunks) - 1))
        reply = {
            "500": ConvaiReply(status=500),
            "429": ConvaiReply(status=429),
            "404": ConvaiReply(status=404),
            "stall before headers": ConvaiReply(delay_s=self._stall_s()),
            "stall mid-stream": ConvaiReply(chunks=chunks, chunk_interval_s=interval, hang_after_chunks=half),
            "broken event": ConvaiReply(chunks=chunks, chunk_interval_s=interval, broken_stream_after=half),
        }.get(fault, ConvaiReply(chunks=chunks, chunk_interval_s=interval))
        self._keep("Convai", tag, canary, text if reply.status == 200 else "", fault)
        return reply

    def agentverse_flow(self) -> Flow:
        """An engine that answers every objective and every member message with one tagged question (or, now
        and then, an agent error, after which the bot ends the session and the next message starts anew)."""

        def answer(turn: Turn) -> Sequence[AgentMessage]:
            canary = canary_in(turn.text) or canary_in(turn.payload.get("objective"))
            tag, fault = self._draw("Agentverse", canary)
            text = "".join(self._prose(tag))
            if fault == "agent error":
                self._keep("Agentverse", tag, canary, "", fault)
                return [agent_error(f"{tag} The agent did not respond in time.")]
            self._keep("Agentverse", tag, canary, text, fault)
            return [agent_message(text)]

        steps = [Step(on=kind, emit=answer) for kind in ("start", "user_message")]
        return Flow(name="chaos", states={"talk": steps}, initial="talk")

    def scripted_for(self, canary: str) -> list[Scripted]:
        """Every call made for one member turn (the bot's own retries and the member's Retry included)."""
        return list(self.by_canary.get(canary, ()))


def describe(scripted: Sequence[Scripted]) -> str:
    """`[A0042] stall mid-stream, [A0043] ok` for a turn's calls."""
    return ", ".join(f"{s.tag} {s.fault}" for s in scripted) or "no provider call"


def tag_at_start(content: str) -> str | None:
    """The reply tag a message starts with, if any."""
    found = TAG.match(content)
    return found.group(0) if found else None
