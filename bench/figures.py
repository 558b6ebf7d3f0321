"""Small helpers the benchmarks share: percentiles and aligned tables of figures."""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def percentile(values: Sequence[float], p: int) -> float:
    """The p-th percentile (1-99) the way bench/stream.py takes it (`statistics.quantiles`, n=100)."""
    if not values:
        return float("nan")
    if len(values) == 1:
        return float(values[0])
    return statistics.quantiles(values, n=100)[p - 1]


def p50_p99_ms(seconds: Sequence[float]) -> str:
    """`12.3 / 45.6` (milliseconds) for a list of durations in seconds."""
    return f"{percentile(seconds, 50) * 1000:.1f} / {percentile(seconds, 99) * 1000:.1f}"


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A markdown table, columns padded so it also reads well in a terminal."""
    cells = [[str(c) for c in header], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]

    def line(row: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(cells[0]), rule, *(line(row) for row in cells[1:])])


def histogram_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float:
    """The `q`-quantile (0 < q < 1) of a Prometheus histogram, estimated as PromQL's `histogram_quantile` does.

    `buckets` are the cumulative `(le, count)` pairs in ascending `le` (seconds, say), `+Inf` last; counts may
    be deltas between two scrapes. Within the bucket holding the quantile the value is interpolated linearly
    (the first bucket starts at 0); a quantile in the `+Inf` bucket is the largest finite bound. NaN when empty.
    """
    if not buckets or buckets[-1][1] <= 0:
        return float("nan")
    rank = q * buckets[-1][1]
    lower_le, lower_count = 0.0, 0.0
    for le, count in buckets:
        if count >= rank:
            if le == float("inf"):
                return lower_le
            if count == lower_count:
                return le
            return lower_le + (le - lower_le) * (rank - lower_count) / (count - lower_count)
        lower_le, lower_count = le, count
    return lower_le
