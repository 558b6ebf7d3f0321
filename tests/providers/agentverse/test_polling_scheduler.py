"""The poll scheduler through real parts: the bot's Agentverse client (aiohttp) against the loopback engine.

Nothing here asserts how fast anything is: only what happened and in which order (a hung poll did not
keep another session's answer back), and counts (polls within the plan, the back-off and the rate cap).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest

from bot.config.provider_settings import AgentverseSettings
from bot.config.secret import Secret
from bot.providers.agentverse.poll_plan import (
    LEARN_FROM,
    MIN_GAP_S,
    POLL_BUDGET_PER_S,
    RATE_CAP_PER_S,
    AnswerTimes,
    plan_polls,
)
from bot.providers.agentverse.polling import MAX_CONCURRENT_POLLS, IdleTimeout, PollScheduler
from bot.providers.agentverse.wire import AgentMessage, AgentverseClient
from bot.providers.auth import RefreshingBearer, TokenPair
from tests.emulators.agentverse import DEFAULT_ACCESS_TOKEN, DEFAULT_REFRESH_TOKEN, AgentverseEmulator, Step

CLIENT_TIMEOUT_S = 45.0
"""Longer than any test here waits, so a hung poll stays hung until the test ends."""
ANSWER_WITHIN_S = 20.0
"""Liveness bound only: an answer that a hung poll kept back would wait for the client timeout."""


@pytest.fixture
def engine(agentverse: AgentverseEmulator) -> AgentverseEmulator:
    """The loopback engine (conftest's `agentverse`), under the name these tests give it."""
    return agentverse


@contextlib.asynccontextmanager
async def wire_for(engine: AgentverseEmulator) -> AsyncIterator[AgentverseClient]:
    """The bot's Agentverse client (its own aiohttp session) pointed at `engine`."""
    settings = AgentverseSettings(
        api_key=Secret(DEFAULT_ACCESS_TOKEN),
        email="member@example.com",
        refresh_token=Secret(DEFAULT_REFRESH_TOKEN),
        base_url=engine.base_url,
        auth_url=engine.auth_url,
    )
    async with aiohttp.ClientSession() as session:
        wire: AgentverseClient | None = None

        async def refresher(token: str) -> TokenPair:
            assert wire is not None
            return await wire.refresh(token)

        async def keep(_: TokenPair) -> None:
            return None

        bearer = RefreshingBearer(TokenPair(DEFAULT_ACCESS_TOKEN, DEFAULT_REFRESH_TOKEN), refresher, keep)
        wire = AgentverseClient(settings, session, bearer, CLIENT_TIMEOUT_S)
        yield wire


@pytest.fixture
async def client(engine: AgentverseEmulator) -> AsyncIterator[AgentverseClient]:
    async with wire_for(engine) as wire:
        yield wire


@dataclass
class Polls:
    """Fetch functions for sessions, counting the ones running now."""

    client: AgentverseClient
    running: set[str] = field(default_factory=set)

    def fetch(self, session_id: str) -> Callable[[], Awaitable[list[AgentMessage]]]:
        async def fetch() -> list[AgentMessage]:
            self.running.add(session_id)
            try:
                return await self.client.messages(session_id, None)
            finally:
                self.running.discard(session_id)

        return fetch


async def objective(client: AgentverseClient, text: str = "Find a flight") -> str:
    """A new engine session that was given an objective (the engine answers `delay_s` later)."""
    session_id = await client.create_session()
    await client.submit(session_id, {"type": "start", "objective": text})
    return session_id


async def stuck_polls(
    scheduler: PollScheduler, engine: AgentverseEmulator, polls: Polls, count: int
) -> list[asyncio.Task[list[Any]]]:
    """`count` sessions whose first poll hangs (the engine never answers it), each already sent."""
    engine.hang_polls = count
    sessions = [await objective(polls.client, f"Stuck {i}") for i in range(count)]
    waits = [
        asyncio.create_task(scheduler.wait(polls.fetch(sid), idle_limit_s=300, first_delay_s=0)) for sid in sessions
    ]
    await engine.wait_for_requests(count, timeout=ANSWER_WITHIN_S, path_suffix="/new-messages")
    assert engine.hang_polls == 0 and polls.running == set(sessions)
    return waits


async def test_a_hung_poll_gives_its_slot_back(engine: AgentverseEmulator, client: AgentverseClient) -> None:
    """With one slot, a poll that hangs stops counting after `slow_poll_s`: another session still gets
    its answer, while the hung poll is still running."""
    scheduler = PollScheduler(max_concurrent=1, slow_poll_s=0.2)
    polls = Polls(client)
    try:
        stuck = await stuck_polls(scheduler, engine, polls, 1)
        answered = await objective(client, "Answered")
        async with asyncio.timeout(ANSWER_WITHIN_S):
            batch = await scheduler.wait(polls.fetch(answered), idle_limit_s=300, first_delay_s=0)
        assert [m.type for m in batch] == ["agent_json"]
        assert not stuck[0].done() and len(polls.running) == 1  # the hung poll was still hanging
    finally:
        await scheduler.close()


async def test_more_hung_polls_than_slots_do_not_hold_back_other_sessions(
    engine: AgentverseEmulator, client: AgentverseClient
) -> None:
    """Hung polls filling every slot (and more) do not keep other sessions' answers from being delivered."""
    scheduler = PollScheduler()
    polls = Polls(client)
    hung = MAX_CONCURRENT_POLLS + 8
    try:
        stuck = await stuck_polls(scheduler, engine, polls, hung)
        others = [await objective(client, f"Answered {i}") for i in range(3)]
        async with asyncio.timeout(ANSWER_WITHIN_S):
            batches = await asyncio.gather(
                *(scheduler.wait(polls.fetch(sid), idle_limit_s=300, first_delay_s=0) for sid in others)
            )
        assert all([m.type for m in batch] == ["agent_json"] for batch in batches)
        assert not any(task.done() for task in stuck) and len(polls.running) == hung
    finally:
        await scheduler.close()


async def learn(scheduler: PollScheduler, client: AgentverseClient, engine: AgentverseEmulator, waits: int) -> None:
    """`waits` sessions answered `engine.delay_s` after their objective, waited for at once."""
    polls = Polls(client)
    sessions = [await objective(client, f"Learn {i}") for i in range(waits)]
    await asyncio.gather(*(scheduler.wait(polls.fetch(sid), idle_limit_s=60) for sid in sessions))


async def test_after_learning_a_quiet_engine_is_polled_less_and_less_then_given_up_on(
    engine: AgentverseEmulator, client: AgentverseClient
) -> None:
    """The learnt plan is followed, then the back-off to `max_s`, then IdleTimeout at the idle limit."""
    max_s, idle_s = 0.8, 4.0
    scheduler = PollScheduler(max_s=max_s)
    try:
        engine.delay_s = 0.3
        await learn(scheduler, client, engine, LEARN_FROM)
        plan = scheduler.plan
        assert plan and list(plan) == sorted(plan) and plan[-1] < idle_s
        engine.script([Step(on="start", emit=[])])  # the engine works and never says anything
        quiet = await objective(client, "Quiet")
        with pytest.raises(IdleTimeout):
            await scheduler.wait(Polls(client).fetch(quiet), idle_limit_s=idle_s)
        polls = engine.poll_count(quiet)
        # The plan's polls (some may be skipped under the rate cap), then intervals growing 1.5x from the
        # plan's last one up to max_s: at most idle_s / max_s more plus the few growing ones. Polling every
        # MIN_GAP_S would be 40.
        assert 2 <= polls <= len(plan) + int(idle_s / max_s) + 4 < idle_s / MIN_GAP_S
    finally:
        await scheduler.close()


async def test_without_anything_learnt_the_back_off_still_applies_and_the_wait_gives_up(
    engine: AgentverseEmulator, client: AgentverseClient
) -> None:
    scheduler = PollScheduler(fast_s=0.1, max_s=0.5)
    try:
        engine.script([Step(on="start", emit=[])])
        quiet = await objective(client, "Quiet")
        with pytest.raises(IdleTimeout):
            await scheduler.wait(Polls(client).fetch(quiet), idle_limit_s=3.0)
        # 0.15, 0.225, 0.34, 0.5, 0.5... after the first 0.1: at most 3 / 0.5 + 5 polls, not 30.
        assert scheduler.plan == () and 2 <= engine.poll_count(quiet) <= 11
    finally:
        await scheduler.close()


async def test_polls_stay_within_the_cap_per_waiting_session(
    engine: AgentverseEmulator, client: AgentverseClient
) -> None:
    """Sessions waiting at once, answered 0.2-1.2 s after each objective: over every wait, the polls sent
    stay within RATE_CAP_PER_S per second of waiting (before anything is learnt, at that pace by themselves:
    once a second from 1 s), with a poll of slack per session of a wave."""
    scheduler = PollScheduler()
    engine.delay_range_s, engine.delay_seed = (0.2, 1.2), 7
    polls = Polls(client)
    waited = 0.0

    async def one(index: int) -> None:
        nonlocal waited
        session_id = await objective(client, f"Session {index}")
        began = asyncio.get_running_loop().time()
        await scheduler.wait(polls.fetch(session_id), idle_limit_s=60)
        waited += asyncio.get_running_loop().time() - began

    try:
        for wave in range(3):
            await asyncio.gather(*(one(wave * 16 + i) for i in range(16)))
        assert scheduler.plan  # learnt on the way
        sent = sum(engine.poll_count(sid) for sid in engine.sessions)
        assert sent == scheduler.polls
        assert sent <= RATE_CAP_PER_S * waited + 16 + 1
    finally:
        await scheduler.close()


async def test_a_failing_fetch_still_settles_the_wait(engine: AgentverseEmulator, client: AgentverseClient) -> None:
    """An unexpected error in `fetch` fails that wait (it never hangs), and the scheduler keeps serving others."""
    scheduler = PollScheduler()

    async def broken() -> list[Any]:
        raise RuntimeError("bug")

    try:
        with pytest.raises(RuntimeError, match="bug"):
            await scheduler.wait(broken, idle_limit_s=60, first_delay_s=0)
        answered = await objective(client)
        batch = await scheduler.wait(Polls(client).fetch(answered), idle_limit_s=60, first_delay_s=0)
        assert [m.type for m in batch] == ["agent_json"]
    finally:
        await scheduler.close()


# -- the plan itself (a pure function) ------------------------------------------------------------


def replay(plan: tuple[float, ...], times: list[float]) -> tuple[float, float]:
    """(polls per second of waiting, mean unseen seconds) if each answer time met the plan."""
    polls = waited = unseen = 0.0
    for t in times:
        index = next(i for i, offset in enumerate(plan) if offset >= t)
        polls += index + 1
        waited += plan[index]
        unseen += plan[index] - t
    return polls / waited, unseen / len(times)


def test_a_fixed_answer_time_gets_one_poll_just_after_it() -> None:
    plan = plan_polls([2.0] * 50)
    assert len(plan) == 1 and 2.0 <= plan[0] <= 2.05


def test_spread_answer_times_get_a_plan_within_the_budget() -> None:
    draw = random.Random(3)
    times = [draw.uniform(0.5, 3.0) for _ in range(256)]
    plan = plan_polls(times)
    gaps = [b - a for a, b in itertools.pairwise(plan)]
    assert plan[0] > 0.5 and plan[-1] >= max(times)  # nothing before any answer; every answer caught
    assert all(gap >= MIN_GAP_S - 1e-9 for gap in gaps)
    rate, unseen = replay(plan, times)
    assert rate <= POLL_BUDGET_PER_S
    assert unseen < replay((max(times),), times)[1]  # better than one poll at the end


@pytest.mark.parametrize(("low", "high"), [(0.7, 1.3), (0.5, 3.0), (1.5, 2.5)])
def test_answers_in_a_narrow_window_get_a_plan_within_the_budget_too(low: float, high: float) -> None:
    """Answers 0.7-1.3 s after a submit: two polls in that window already cost more than the budget, so the plan is
    one poll after the slowest answer (a price cap of 0.5 s per poll once kept a second poll and went over the
    budget, and the rate cap then held the last waits of a burst back)."""
    for seed in range(5):
        draw = random.Random(seed)
        times = [draw.uniform(low, high) for _ in range(256)]
        plan = plan_polls(times)
        assert plan[-1] >= max(times) and replay(plan, times)[0] <= POLL_BUDGET_PER_S, (seed, plan)


def test_a_looser_budget_buys_more_polls_and_less_unseen_time() -> None:
    draw = random.Random(5)
    times = [draw.uniform(0.5, 3.0) for _ in range(256)]
    tight, loose = plan_polls(times, budget_per_s=0.6), plan_polls(times, budget_per_s=1.5)
    assert len(loose) > len(tight)
    assert replay(loose, times)[1] < replay(tight, times)[1]


def test_an_engine_too_fast_for_the_budget_still_gets_a_plan() -> None:
    """Answers in 0.1-0.4 s cannot be polled once a second: the plan polls once, after them."""
    draw = random.Random(9)
    times = [draw.uniform(0.1, 0.4) for _ in range(100)]
    assert plan_polls(times) == (pytest.approx(0.4, abs=0.05),)


def test_gaps_never_exceed_the_maximum_and_far_answers_are_left_to_the_back_off() -> None:
    assert plan_polls([]) == ()
    assert plan_polls([100.0, 200.0]) == ()  # beyond the horizon
    plan = plan_polls([0.5] * 10 + [25.0] * 10, max_gap_s=10.0)
    assert plan[0] == pytest.approx(0.5) and plan[-1] == pytest.approx(25.0, rel=0.05)
    assert all(b - a <= 10.0 + 1e-9 for a, b in itertools.pairwise(plan))


# -- the emulator's random answer delays (used above and by bench/agentverse.py) --------------------


async def test_the_engine_draws_each_answer_delay_from_its_range_the_same_way_every_time(
    client: AgentverseClient, engine: AgentverseEmulator
) -> None:
    async def delays(emulator: AgentverseEmulator, wire: AgentverseClient) -> list[float]:
        emulator.delay_range_s, emulator.delay_seed = (0.5, 3.0), 11
        sessions = [await objective(wire, f"Session {i}") for i in range(5)]
        emitted = [e for sid in sessions for e in emulator.sessions[sid].emitted]
        assert all(e.submitted_at is not None for e in emitted)
        return [e.available_at - (e.submitted_at or 0.0) for e in emitted]

    first = await delays(engine, client)
    assert all(0.5 <= d <= 3.0 for d in first) and len({round(d, 6) for d in first}) == len(first)
    async with AgentverseEmulator() as again, wire_for(again) as other:
        assert await delays(again, other) == pytest.approx(first)  # the same seed, sessions and submits


def test_no_plan_from_a_bursts_quickest_answers_while_most_of_its_waits_are_still_open() -> None:
    """100 waits start at once; the first answers learnt are the quickest (0.4-0.5 s) while 92 waits are still
    open past them. A plan from those alone would poll densely before 0.5 s and then only back off: none is
    made until the slower answers came in too, and then it reaches them."""
    times = AnswerTimes()
    for _ in range(LEARN_FROM):
        times.add(0.4, 0.5, open_past=lambda _s: 92)
    assert times.plan == ()
    for _ in range(LEARN_FROM):
        times.add(2.0, 2.5, open_past=lambda _s: 0)
    assert times.plan and times.plan[0] <= 0.5 and times.plan[-1] >= 2.0


async def test_the_engines_own_timestamp_teaches_the_answer_time_whatever_the_polls(
    engine: AgentverseEmulator, client: AgentverseClient
) -> None:
    """The engine stamps a message when it makes it (the emulator when it becomes available): a wait polled once
    a second learns the answer time itself, not a point somewhere between two polls a second apart."""
    engine.delay_s = 0.6
    scheduler = PollScheduler()
    polls = Polls(client)
    try:
        for n in range(3):
            session_id = await objective(client, f"Trip {n}")
            await scheduler.wait(polls.fetch(session_id), idle_limit_s=30, made_at=lambda items: items[0].made_at)
    finally:
        await scheduler.close()
    learnt = scheduler.answer_times.samples
    assert len(learnt) == 3 and all(0.45 <= s <= 0.75 for s in learnt), learnt  # polled at about 1.05 s


def test_a_timestamp_outside_what_the_polls_bound_is_kept_within_them() -> None:
    times = AnswerTimes()
    times.add(1.0, 2.0, at_s=1.4)  # believable: kept as it is
    times.add(1.0, 2.0, at_s=0.8)  # a clock a little ahead: clamped to what the polls bound
    times.add(1.0, 2.0, at_s=2.3)
    assert times.samples == (1.4, 1.0, 2.0)


async def test_waits_still_open_when_the_first_plan_forms_move_to_it(
    engine: AgentverseEmulator, client: AgentverseClient
) -> None:
    """A burst of 16 waits on the cold schedule (here one poll each 2 s); the engine answers 0.3-2.6 s after each
    objective and stamps its messages, so the answers the first polls see make a plan at once. The waits those
    polls found empty move to the plan: each is polled again well before the cold schedule's second poll at 4 s
    (a schedule, not a speed: the cold pace would poll them at 4 s however fast the machine)."""
    scheduler = PollScheduler(rate_cap_per_s=0.5)
    engine.delay_range_s, engine.delay_seed = (0.3, 2.6), 3
    sent_at: dict[str, list[float]] = {}
    loop = asyncio.get_running_loop()

    def fetch(session_id: str) -> Callable[[], Awaitable[list[AgentMessage]]]:
        async def polled() -> list[AgentMessage]:
            sent_at.setdefault(session_id, []).append(loop.time())
            return await client.messages(session_id, None)

        return polled

    async def one(index: int) -> tuple[str, float]:
        session_id = await objective(client, f"Burst {index}")
        began = loop.time()
        await scheduler.wait(fetch(session_id), idle_limit_s=30, made_at=lambda items: items[0].made_at)
        return session_id, began

    try:
        waits = await asyncio.gather(*(one(i) for i in range(16)))
    finally:
        await scheduler.close()
    assert scheduler.plan  # made from the answers the first polls saw
    later = [(sid, began) for sid, began in waits if len(sent_at[sid]) > 1]
    assert later, "every answer came before the first poll: nothing to move"
    assert all(sent_at[sid][1] - began < 3.5 for sid, began in later), [sent_at[sid][1] - b for sid, b in later]
