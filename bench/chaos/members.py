"""Scripted members: each opens one thread with `/chat` and keeps talking in it, as a person would.

A member sends a message, watches the thread until the turn is answered or the bot says why (see
bench/chaos/outcomes.py), now and then presses Stop on a reply being written or Retry on a failure line,
thinks for a few seconds, and sends the next. Every message carries a canary word unique to it, so logs
can be searched for member text and provider calls matched to turns. A member does not send (or press)
while the bench has the bot process down (killed and not yet reconnected): Discord would deliver
nothing to a bot that is not connected, so a message then is not one the bot could answer.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field

from bench.chaos.outcomes import Turn, judge, public_bot_messages, says_why
from bench.chaos.script import ProviderScript
from tests.emulators.discord import DiscordEmulator, InteractionRecord

CANARY_LETTERS = "bcdfghjkmnpqrstvwxz"
THINK_S = (2.0, 6.0)
"""A member's pause between seeing an outcome and sending the next message."""
STOP_CHANCE = 0.08
RETRY_CHANCE = 0.5
MAX_RETRIES = 2
POLL_S = 0.5
QUIET_S = 60.0
"""A member stops waiting for a turn once the thread has not changed for this long."""
OPEN_S = 60.0
"""How long a `/chat` may take to open its thread."""
TOPICS = ("my salary", "a side job", "selling a flat", "a pension", "rental income", "a car bought for work")


@dataclass
class Crowd:
    """What every member shares: Discord, the provider script, whether the bot is up, and the turns so far."""

    discord: DiscordEmulator
    script: ProviderScript
    rng: random.Random
    bot_up: asyncio.Event = field(default_factory=asyncio.Event)
    turns: list[Turn] = field(default_factory=list)
    canaries: set[str] = field(default_factory=set)

    def canary(self) -> str:
        """A new word no log line should ever hold: `canary` and ten consonants."""
        while True:
            word = "canary" + "".join(self.rng.choice(CANARY_LETTERS) for _ in range(10))
            if word not in self.canaries:
                self.canaries.add(word)
                return word


class Member:
    """One member talking in one thread to one provider."""

    def __init__(self, crowd: Crowd, name: str, user_id: int, channel_id: int, provider: str, seed: int) -> None:
        self.crowd = crowd
        self.name = name
        self.user_id = user_id
        self.channel_id = channel_id
        self.provider = provider
        self.rng = random.Random(seed)
        self.thread_id: int | None = None
        self._previous: Turn | None = None
        self.stop_chance = STOP_CHANCE
        self.think_s = THINK_S
        self.retry_chance = RETRY_CHANCE

    def _text(self, canary: str, number: int) -> str:
        return f"Question {number} {canary}: how much tax will I pay on {self.rng.choice(TOPICS)}?"

    def _turn(self, canary: str) -> Turn:
        turn = Turn(
            number=len(self.crowd.turns) + 1,
            member=self.name,
            user_id=self.user_id,
            provider=self.provider,
            canary=canary,
            sent_at=time.monotonic(),
            thread_id=self.thread_id,
        )
        self.crowd.turns.append(turn)
        return turn

    async def run(self, talk_until: float, wait_until: float, turns: int | None = None) -> None:
        """Open the thread, then talk until `talk_until` (monotonic) or `turns` turns were taken; stop waiting for
        outcomes at `wait_until`."""
        await self.crowd.bot_up.wait()
        await self.open(wait_until)
        taken = 1
        while self.thread_id is not None and time.monotonic() < talk_until and (turns is None or taken < turns):
            await asyncio.sleep(self.rng.uniform(*self.think_s))
            await self.crowd.bot_up.wait()
            if time.monotonic() >= talk_until:
                break
            await self.say(wait_until)
            taken += 1

    async def say(self, wait_until: float) -> Turn:
        """Send the next message in the member's thread and watch it until it has an outcome (or `wait_until`)."""
        assert self.thread_id is not None
        canary = self.crowd.canary()
        turn = self._turn(canary)
        text = self._text(canary, sum(t.member == self.name for t in self.crowd.turns))
        message = await self.crowd.discord.send_user_message(self.thread_id, text, user_id=self.user_id)
        turn.message_id = turn.anchor = message.id
        if self._previous is not None:
            self._previous.until_id = message.id
        self._previous = turn
        await self._wait(turn, wait_until)
        return turn

    async def open(self, wait_until: float) -> Turn:
        """`/chat` with this member's provider; its reply is the first turn, watched until it has an outcome."""
        canary = self.crowd.canary()
        turn = self._turn(canary)
        discord = self.crowd.discord
        interaction = await discord.run_slash_command(
            "chat", {"provider": self.provider, "prompt": self._text(canary, 1)}, self.channel_id, self.user_id
        )
        turn.interaction = interaction
        deadline = min(wait_until, time.monotonic() + OPEN_S)
        while time.monotonic() < deadline:
            message = interaction.original_message
            thread = next((t for t in discord.threads if message and t.starter_message_id == message.id), None)
            if thread is not None:
                self.thread_id = turn.thread_id = thread.id
                self._previous = turn
                await self._wait(turn, wait_until)
                return turn
            if judge(discord, self.crowd.script, turn) is not None:
                return turn  # refused privately: this member has no thread to talk in
            await asyncio.sleep(POLL_S)
        turn.gave_up = True
        return turn

    async def _wait(self, turn: Turn, wait_until: float) -> None:
        """Watch the thread until the turn has an outcome, pressing Stop or Retry as the member decides."""
        assert turn.thread_id is not None
        discord = self.crowd.discord
        wants_stop = self.rng.random() < self.stop_chance
        stop_after = time.monotonic() + self.rng.uniform(0.5, 4.0)
        last_change, seen = time.monotonic(), self._state(turn.thread_id)
        decided: set[int] = set()
        while time.monotonic() < wait_until:
            if self.crowd.bot_up.is_set():
                if turn.retries < MAX_RETRIES and await self._maybe_retry(turn, decided):
                    turn.retries += 1
                elif wants_stop and time.monotonic() >= stop_after and await self._press(turn, "stop:"):
                    wants_stop = False
                    turn.stops += 1
            if judge(discord, self.crowd.script, turn) is not None:
                return
            state = self._state(turn.thread_id)
            if state != seen:
                last_change, seen = time.monotonic(), state
            elif time.monotonic() - last_change > QUIET_S:
                break
            await asyncio.sleep(POLL_S)
        turn.gave_up = True

    def _state(self, thread_id: int) -> tuple[int, float]:
        """How many messages the thread has and when its newest version was written: a change means progress."""
        messages = self.crowd.discord.messages(thread_id)
        newest = max((m.edits[-1][0] if m.edits else m.created_at for m in messages), default=0.0)
        return len(messages), newest

    async def _press(self, turn: Turn, prefix: str) -> bool:
        """Press the first button whose custom id starts with `prefix` on the bot's messages of this turn."""
        assert turn.thread_id is not None
        for message in public_bot_messages(self.crowd.discord, turn.thread_id):
            if message.id <= turn.anchor:
                continue
            for custom_id in message.custom_ids():
                if custom_id.startswith(prefix):
                    turn.clicks.append(await self._click(message.id, custom_id))
                    return True
        return False

    async def _maybe_retry(self, turn: Turn, decided: set[int]) -> bool:
        """On a failure line with Retry (after this turn's message), retry with RETRY_CHANCE, decided once per line;
        a retried line no longer counts as the turn's outcome (its anchor moves past it)."""
        assert turn.thread_id is not None
        for message in public_bot_messages(self.crowd.discord, turn.thread_id):
            if message.id <= turn.anchor or message.id in decided or not says_why(message.content.split("\n")[0]):
                continue
            retry = next((c for c in message.custom_ids() if c.startswith("retry:")), None)
            if retry is None:
                continue
            decided.add(message.id)
            if self.rng.random() < self.retry_chance:
                turn.anchor = message.id
                turn.clicks.append(await self._click(message.id, retry))
                return True
        return False

    async def _click(self, message_id: int, custom_id: str) -> InteractionRecord:
        return await self.crowd.discord.click_button(message_id, custom_id, self.user_id)
