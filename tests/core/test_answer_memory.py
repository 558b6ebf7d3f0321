"""The Agentverse engine's answer times survive a restart (bot/core/answer_memory.py): a new process starts from
the poll plan the last one learnt, on SQLite and on PostgreSQL, and bad or missing data only means a cold start."""

from __future__ import annotations

import pytest

from bot.config.provider_settings import AgentverseSettings
from bot.config.secret import Secret
from bot.core.answer_memory import AnswerMemory, engine_key
from bot.providers.agentverse.poll_plan import LEARN_FROM, AnswerTimes, plan_polls
from bot.store import Store

BOTH_STORES = True
SETTINGS = AgentverseSettings(api_key=Secret("k"), email="member@example.com", base_url="http://127.0.0.1:9/v1/")


def learn(times: AnswerTimes, count: int) -> None:
    """`count` answered waits of an engine answering 0.7 to 1.3 s after each action, last empty poll 0.5 s."""
    for n in range(count):
        times.add(0.5, 0.7 + 0.6 * ((n * 7) % 13) / 12)


async def test_a_restarted_process_starts_from_the_plan_learnt_before(store: Store) -> None:
    memory = AnswerMemory(store, engine_key(SETTINGS))
    before = AnswerTimes(on_learnt=memory.remember)
    learn(before, 40)
    assert before.plan
    await memory.close()  # the bot stops: what is pending is saved

    after = AnswerTimes()
    after.restore(await AnswerMemory(store, engine_key(SETTINGS)).load())
    assert after.samples == tuple(round(s, 3) for s in before.samples)
    assert after.plan == plan_polls(list(after.samples))  # planned at once from what was learnt before


async def test_each_engine_and_model_has_its_own_times(store: Store) -> None:
    memory = AnswerMemory(store, engine_key(SETTINGS))
    memory.remember([1.0] * LEARN_FROM)
    await memory.close()
    other = AgentverseSettings(api_key=Secret("k"), email="e", base_url=SETTINGS.base_url, model="next-gen")
    assert await AnswerMemory(store, engine_key(other)).load() == ()
    assert engine_key(SETTINGS) == "agentverse_answer_times:127.0.0.1/v1|talkative-01"


@pytest.mark.parametrize("stored", ["{not json", '{"a": 1}', '["x", 1.5, null, -2, "NaN"]', "[]"])
async def test_bad_stored_times_mean_a_cold_start_not_a_crash(store: Store, stored: str) -> None:
    await store.set_meta(engine_key(SETTINGS), stored)
    times = AnswerTimes()
    times.restore(await AnswerMemory(store, engine_key(SETTINGS)).load())
    assert times.plan == () and all(s >= 0 for s in times.samples)


async def test_fewer_answers_than_a_plan_needs_are_kept_without_a_plan(store: Store) -> None:
    times = AnswerTimes()
    times.restore([0.9] * (LEARN_FROM - 1))
    assert times.plan == () and len(times) == LEARN_FROM - 1
    times.add(0.5, 1.0)
    assert times.plan  # the next answer completes what a plan needs
