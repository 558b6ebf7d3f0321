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
