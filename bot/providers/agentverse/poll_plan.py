"""When to poll a waiting session, learnt from the engine's recent answer times (`AnswerTimes`, `plan_polls`).

Every answered wait tells how long the engine took (known to lie between the last empty poll and the poll
that saw the answer). From the last `SAMPLES_KEPT` of those delays a plan is computed, the offsets after the
start of a wait at which to poll, that minimises the expected time an answer sits unseen plus a price per
poll (`plan_polls`), with the price set so that, replayed over those delays, the plan makes at most
`budget_per_s` polls per second of waiting. After the plan's last offset the scheduler backs off (each
interval `BACKOFF_FACTOR` times the previous, up to `MAX_POLL_S`); the plan's replay counts those polls too.
The scheduler that uses the plan is bot/providers/agentverse/polling.py.
"""

from __future__ import annotations

import bisect
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Sequence

log = logging.getLogger(__name__)

# The scheduler's pace before a plan and its back-off after one (polling.py uses them): a plan's replay counts
# those polls too.
MAX_POLL_S = 10.0
"""Longest interval between two polls of a waiting session (reached after a long silence)."""
BACKOFF_FACTOR = 1.5
FAST_POLL_S = 0.25
"""Shortest interval of the back-off: past a plan's last poll the next comes 1.5x this later, then 1.5x more each."""
RATE_CAP_PER_S = 0.95
"""Polls per second per waiting turn, summed over every waiting turn (a token bucket), once a plan exists, and
the pace before one. The plan stays under it by itself; the cap catches the estimate's error (at 1.0, 100
sessions averaged 53 to 60 polls a minute per waiting session, against a goal of at most 60)."""

POLL_BUDGET_PER_S = 0.85
"""Polls per second of waiting a plan may make, replayed over the learnt answer times (the goal is at
most one; the rest is margin for the first waits, before anything was learnt, and the estimate's error)."""
LEARN_FROM = 8
"""Answered waits before the first plan; the next plans come at 16, 32 and 64 answers, then every
`REPLAN_EVERY` new ones (and at least `REPLAN_MIN_S` apart)."""
REPLAN_EVERY = 16
REPLAN_MIN_S = 1.0
SAMPLES_KEPT = 256
MIN_GAP_S = 0.1
"""Planned polls of one wait are at least this far apart."""
MAX_UNSEEN_S = 1.0
"""A plan leaves no learnt answer time more than this long unseen (1.5x that, or no cap, if the budget
requires), except in stretches holding at most `UNSEEN_SHARE` of the answers (the tail)."""
UNSEEN_SHARE = 0.02
PLAN_HORIZON_S = 30.0
"""Answer times beyond this are left to the back-off."""
OVERDUE_SHARE = 0.1
"""No plan is made while more than this share of the waits (answered, or open within the horizon) are still
open past the longest answer time learnt: after a burst of waits, the first answers are the quickest ones,
and a plan made from them alone would poll densely early and then back off from answers that are merely
slower (what is known is that they take longer, not how much)."""
POLL_PRICE_S = (0.01, 4.0)
"""Bounds of a poll's price, in seconds of expected answer latency. The top is high enough that a plan of one
poll just after the slowest answers is within reach (for an engine answering in 0.7-1.3 s, 0.5 s still bought a
second poll, and the plan went over the budget, so the rate cap held polls back and the last waits of a burst
waited for its tokens); with a budget that cannot be met at all (an engine answering in 0.2 s cannot be polled
once a second) the plan stops there."""
_GRID_S = 0.05
"""Answer times are rounded up to multiples of 50 ms below 1.25 s, and to steps of 4% above."""
_GRID_RATIO = 0.04


class AnswerTimes:
    """The engine's recent answer times (seconds from the start of a wait) and the poll plan they give.

    Each answered wait adds one time, drawn evenly (a golden-ratio sequence, no randomness) from the
    interval it is known to lie in, so a coarse schedule does not teach itself its own poll times.
    """

    def __init__(
        self,
        *,
        budget_per_s: float = POLL_BUDGET_PER_S,
        max_gap_s: float = MAX_POLL_S,
        on_learnt: Callable[[tuple[float, ...]], None] | None = None,
    ) -> None:
        """`on_learnt(samples)` is told the answer times kept after each one learnt (to keep them past a restart)."""
        self._on_learnt = on_learnt or (lambda _samples: None)
        self._budget_per_s = budget_per_s
        self._max_gap_s = max_gap_s
        self._times: deque[float] = deque(maxlen=SAMPLES_KEPT)
        self._new = 0
        self._planned_at = -math.inf
        self._spread = 0.0
        self.plan: tuple[float, ...] = ()
        """Offsets in seconds after a wait's start, increasing; empty until `LEARN_FROM` answers."""

    def __len__(self) -> int:
        return len(self._times)

    @property
    def samples(self) -> tuple[float, ...]:
        """The answer times kept (seconds into a wait), oldest first: at most `SAMPLES_KEPT`."""
        return tuple(self._times)

    def restore(self, samples: Sequence[float]) -> None:
        """Answer times learnt before (an earlier run's `samples`): kept as if just learnt, and planned from at
        once when there are at least `LEARN_FROM` (they were answered waits, so no burst is still open). Values
        that are not finite, non-negative seconds are ignored."""
        kept = [float(s) for s in samples if isinstance(s, int | float) and math.isfinite(s) and s >= 0.0]
        self._times.extend(kept[-SAMPLES_KEPT:])
        if len(self._times) >= LEARN_FROM:
            self.plan = plan_polls(list(self._times), budget_per_s=self._budget_per_s, max_gap_s=self._max_gap_s)
            self._new, self._planned_at = 0, time.monotonic()

    def add(
        self,
        after_s: float,
        by_s: float,
        *,
        at_s: float | None = None,
        open_past: Callable[[float], int] = lambda _s: 0,
    ) -> None:
        """One answer, known to have arrived after `after_s` and by `by_s` (seconds into the wait); `at_s`: when
        the engine says it made it (its timestamp), kept within those bounds, else a point drawn in them.

        `open_past(s)` counts the waits still open after `s` seconds: a plan is (re)made from points drawn between
        polls only while few of them outlast every answer learnt (`OVERDUE_SHARE`); an answer the engine stamped
        is its own time, so it may make a plan at once (a plan from a burst's quickest answers is remade as the
        slower ones come, and polling past a plan resumes quickly)."""
        low, high = max(after_s, 0.0), max(by_s, after_s, 0.0)
        if at_s is not None:
            self._times.append(min(max(at_s, low), high))
        else:
            self._spread = (self._spread + 0.6180339887498949) % 1.0
            self._times.append(low + (high - low) * self._spread)
        self._new += 1
        now = time.monotonic()
        kept = len(self._times)
        due = kept >= LEARN_FROM and (self._new >= REPLAN_EVERY or kept in (LEARN_FROM, 16, 32, 64) or not self.plan)
        if due and now - self._planned_at >= REPLAN_MIN_S and (at_s is not None or self._representative(open_past)):
            self.plan = plan_polls(list(self._times), budget_per_s=self._budget_per_s, max_gap_s=self._max_gap_s)
            self._new, self._planned_at = 0, now
            log.debug("poll plan from %d answers: %s", len(self._times), [round(t, 2) for t in self.plan])
        self._on_learnt(self.samples)

    def _representative(self, open_past: Callable[[float], int]) -> bool:
        """Few waits still open outlast every answer learnt, so the answers are a fair sample of the engine."""
        late = open_past(max(self._times))
        return late <= OVERDUE_SHARE * (len(self._times) + late)


def plan_polls(
    answer_times: Sequence[float],
    *,
    budget_per_s: float = POLL_BUDGET_PER_S,
    min_gap_s: float = MIN_GAP_S,
    max_gap_s: float = MAX_POLL_S,
    max_unseen_s: float = MAX_UNSEEN_S,
    horizon_s: float = PLAN_HORIZON_S,
) -> tuple[float, ...]:
    """When to poll, in seconds after a wait starts, for answers that take `answer_times` seconds.

    The plan minimises the expected time an answer waits unseen plus a price (in seconds) per poll,
    by dynamic programming over the answer times rounded up to a grid (50 ms, 4% above 1.25 s). The
    price is the lowest in `POLL_PRICE_S` whose plan, replayed over `answer_times` (with the back-off
    after its end), makes at most `budget_per_s` polls per second of waiting. No answer time waits
    more than `max_unseen_s` for the next poll (but in stretches holding at most `UNSEEN_SHARE` of them),
    or 1.5x that if the budget requires, or else without that cap. Offsets
    are increasing, at least `min_gap_s` apart, at most `max_gap_s` apart and within `horizon_s`.
    Empty without times.
    """
    if not answer_times:
        return ()
    points = _grid(answer_times, horizon_s)
    total = len(answer_times)

    def cheapest(price: float, unseen_s: float) -> tuple[float, ...]:
        return _cheapest(points, total, price, min_gap_s, max_gap_s, unseen_s)

    def within(plan: tuple[float, ...]) -> bool:
        return _rate(plan, answer_times, max_gap_s) <= budget_per_s

    low, high = (math.log(price) for price in POLL_PRICE_S)
    for unseen_s in (max_unseen_s, max_unseen_s * 1.5, math.inf):  # loosen the cap until the budget holds
        best = cheapest(math.exp(high), unseen_s)
        if within(best):
            break
    else:
        return best  # the budget cannot be met: poll at the highest price
    cheap = cheapest(math.exp(low), unseen_s)
    if within(cheap):
        return cheap
    for _ in range(8):
        middle = (low + high) / 2
        plan = cheapest(math.exp(middle), unseen_s)
        if within(plan):
            high, best = middle, plan
        else:
            low = middle
    return best


def _grid(answer_times: Sequence[float], horizon_s: float) -> list[tuple[float, int]]:
    """(grid time, how many answer times round up to it), increasing; times past the horizon are left out."""
    edge = _GRID_S / _GRID_RATIO
    counts: dict[float, int] = {}
    for seconds in answer_times:
        if seconds > horizon_s:
            continue
        if seconds <= edge:
            point = max(1, math.ceil(seconds / _GRID_S - 1e-9)) * _GRID_S
        else:
            point = edge * (1 + _GRID_RATIO) ** math.ceil(math.log(seconds / edge) / math.log1p(_GRID_RATIO) - 1e-9)
        key = round(point, 6)
        counts[key] = counts.get(key, 0) + 1
    return sorted(counts.items())


def _cheapest(
    points: list[tuple[float, int]], total: int, price: float, min_gap_s: float, max_gap_s: float, max_unseen_s: float
) -> tuple[float, ...]:
    """The plan minimising E[unseen time] + price x E[polls], polling only at grid points, and leaving no
    answer time unseen for more than `max_unseen_s` (where the grid allows).

    cost[k] is the expected cost still to come after a poll at point k (unnormalised: it counts the
    probability of still waiting); a poll at m after k costs `price` for each wait still open, and every
    answer arriving in between waits until m.
    """
    times = [0.0] + [t for t, _ in points]
    share = [0.0]
    weighted = [0.0]
    for t, count in points:
        share.append(share[-1] + count / total)
        weighted.append(weighted[-1] + count * t / total)
    last = len(times) - 1
    cost = [0.0] * (last + 1)
    following = [-1] * (last + 1)
    for k in range(last - 1, -1, -1):
        still = 1.0 - share[k]
        if still <= 1e-12:
            continue
        best, choice = math.inf, -1
        for m in range(k + 1, last + 1):
            gap = times[m] - times[k]
            if gap < min_gap_s and m < last:
                continue
            unseen = times[m] - times[k + 1] > max_unseen_s and share[m] - share[k] > UNSEEN_SHARE
            if (gap > max_gap_s or unseen) and choice >= 0:
                break
            value = price * still + times[m] * (share[m] - share[k]) - (weighted[m] - weighted[k]) + cost[m]
            if value < best:
                best, choice = value, m
        cost[k], following[k] = best, choice
    plan: list[float] = []
    k = 0
    while following[k] >= 0:
        k = following[k]
        plan.append(times[k])
    return _within_gaps(plan, max_gap_s)


def _within_gaps(plan: list[float], max_gap_s: float) -> tuple[float, ...]:
    out: list[float] = []
    for t in plan:
        previous = out[-1] if out else 0.0
        while t - previous > max_gap_s:
            previous += max_gap_s
            out.append(round(previous, 6))
        out.append(t)
    return tuple(out)


def _rate(plan: Sequence[float], answer_times: Sequence[float], max_gap_s: float) -> float:
    """Polls per second of waiting if each answer time met `plan`, then the scheduler's back-off after its end
    (from `FAST_POLL_S`, as polling.py polls past a plan: the answers a plan misses are mostly just past it)."""
    polls, waited = 0, 0.0
    if not plan:
        return math.inf
    gap = FAST_POLL_S
    extended = list(plan)
    latest = max(answer_times)
    while extended[-1] < latest:
        gap = min(gap * BACKOFF_FACTOR, max_gap_s)
        extended.append(extended[-1] + gap)
    for seconds in answer_times:
        index = bisect.bisect_left(extended, seconds)
        polls += index + 1
        waited += extended[index]
    return polls / waited if waited > 0 else math.inf
