"""Property: any sequence of reserves and finishes leaves the quota counters and answers a plain in-memory model
gives (a turn counts in every counter it names, once, only when all have room; its end adds its characters
once), on SQLite."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.store import CounterCheck, Store, TurnStart, TurnUsage, UsageFinish

ASYNC = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
SCOPES = ("member:7:1", "guild:7")
PERIODS = ("d:2025-05-01", "m:2025-05")
_examples = itertools.count()


limits = st.one_of(st.none(), st.integers(min_value=0, max_value=4))
checks = st.builds(
    CounterCheck, st.sampled_from(SCOPES), st.sampled_from(PERIODS), limits, st.one_of(st.none(), st.integers(0, 40))
)
reserve = st.tuples(st.just("reserve"), st.lists(checks, max_size=4), st.integers(0, 12))
finish = st.tuples(st.just("finish"), st.integers(0, 30), st.integers(0, 25))
operations = st.lists(st.one_of(reserve, finish), max_size=30)


@dataclass
class Model:
    """The quota semantics spelled out: counters per (scope, period), turns reserved and whether they ended."""

    counters: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)
    turns: list[tuple[int, tuple[CounterCheck, ...]]] = field(default_factory=list)
    ended: set[int] = field(default_factory=set)

    def reserve(self, wanted: list[CounterCheck], chars: int) -> CounterCheck | None:
        for check in wanted:
            turns, used = self.counters.get((check.scope, check.period), (0, 0))
            if (check.max_turns is not None and turns >= check.max_turns) or (
                check.max_chars is not None and used >= check.max_chars
            ):
                return check
        for key in {(c.scope, c.period) for c in wanted}:
            turns, used = self.counters.get(key, (0, 0))
            self.counters[key] = (turns + 1, used + chars)
        return None

    def finish(self, ledger_id: int, checks: tuple[CounterCheck, ...], chars: int) -> None:
        if ledger_id in self.ended:
            return
        self.ended.add(ledger_id)
        for key in {(c.scope, c.period) for c in checks}:
            turns, used = self.counters[key]
            self.counters[key] = (turns, used + chars)


def scoped(check: CounterCheck, example: int) -> CounterCheck:
    """The check in a namespace of its own example, so examples sharing the store never meet."""
    return CounterCheck(f"{check.scope}:x{example}", check.period, check.max_turns, check.max_chars)


@ASYNC
@given(operations)
async def test_reserves_and_finishes_agree_with_the_model(store: Store, ops: list[tuple[Any, ...]]) -> None:
    example = next(_examples)
    model = Model()
    for op in ops:
        if op[0] == "reserve":
            wanted = [scoped(c, example) for c in op[1]]
            start = TurnStart(1.0, "2025-05-01", 7, 10, 1, "ablt", "text", op[2], 0.0, 0)
            answer, refused = await store.usage.reserve(start, wanted), model.reserve(wanted, op[2])
            if refused is None:
                assert isinstance(answer, int)
                model.turns.append((answer, tuple(wanted)))
            else:
                assert answer == refused
        elif model.turns:
            ledger_id, wanted_checks = model.turns[op[1] % len(model.turns)]
            usage = TurnUsage(chars_out=op[2], audio_out_s=0.0, provider_s=0.0, outcome="complete")
            await store.usage.finish(UsageFinish(ledger_id, usage, wanted_checks))
            model.finish(ledger_id, wanted_checks, op[2])
    every = [CounterCheck(f"{s}:x{example}", p, None, None) for s in SCOPES for p in PERIODS]
    assert await store.usage.counters(every) == {
        (c.scope, c.period): model.counters.get((c.scope, c.period), (0, 0)) for c in every
    }
