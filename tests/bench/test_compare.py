"""bench/compare's reading of benchmark output: figures matched by name across two outputs, every run's value
kept, separators and prose left out."""

from __future__ import annotations

from bench.compare import figures, side_by_side

STREAM = "run 1 (13.5 s)\n  staleness_p50_ms    704.7\n  messages   3\nrun 2 (13.4 s)\n  staleness_p50_ms    702.6\n"
TABLE = "prose\n| figure | SQLite | PostgreSQL |\n|---|---|---|\n| statements per turn | 8.5 | 11.6 |\n"


def test_indented_figures_keep_each_runs_value_and_tables_keep_their_columns() -> None:
    assert figures(STREAM) == {"staleness_p50_ms": "704.7 ; 702.6", "messages": "3"}
    assert figures(TABLE) == {"figure": "SQLite | PostgreSQL", "statements per turn": "8.5 | 11.6"}


def test_only_figures_both_print_are_set_side_by_side() -> None:
    after = "run 1\n  staleness_p50_ms   600.0\n  new_figure 1\n"
    table = side_by_side(STREAM, after, "4cf6f72")
    assert "| staleness_p50_ms | 704.7 ; 702.6 | 600.0 |" in table and "new_figure" not in table
    assert table.splitlines()[0].startswith("| figure")
