"""`python -m bot usage`: the usage ledger's totals for operators, by server and provider, as a table or CSV.

    python -m bot usage [--since YYYY-MM-DD] [--guild ID] [--format table|csv]

Reads the database in DATABASE_URL (from the environment or `.env`); needs no Discord token. Days are each server's
own (as recorded); `--since` counts from that day on. Prints no message text: the ledger holds none.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import datetime as dt
import io
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from bot.config.errors import ConfigError
from bot.config.scale import database_setting
from bot.config.settings import merged_values
from bot.store import Store, UsageRow

COLUMNS = (
    "guild_id", "provider", "turns", "chars_in", "chars_out", "audio_in_s", "audio_out_s", "files", "provider_s",
)  # fmt: skip


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot usage", description="The usage ledger's totals.")
    parser.add_argument("--since", type=_day, help="count from this day (YYYY-MM-DD) on; default: everything kept")
    parser.add_argument("--guild", type=int, help="one server's id; default: every server (0: direct messages)")
    parser.add_argument("--format", choices=("table", "csv"), default="table")
    return parser


def _day(text: str) -> str:
    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-12-01") from None


def run_usage_report(
    args: Sequence[str], environ: Mapping[str, str], env_file: Path | None, write: Callable[[str], None]
) -> int:
    """Parse `args`, read the ledger, print; 0 on success, 2 for bad arguments or settings."""
    try:
        options = _parser().parse_args(list(args))
    except SystemExit as exc:  # argparse printed why
        return int(exc.code or 0)
    values = merged_values(environ, env_file)

    def get(name: str) -> str | None:
        value = values.get(name)
        return value.strip() if value and value.strip() else None

    try:
        url = database_setting(get)
    except ConfigError as exc:
        write(f"Configuration error: {exc}")
        return 2
    rows = asyncio.run(_totals(url, options.guild, options.since))
    write(as_csv(rows) if options.format == "csv" else as_table(rows))
    return 0


async def _totals(url: str, guild_id: int | None, since: str | None) -> list[UsageRow]:
    store = await Store.open(url)
    try:
        return await store.usage.totals(guild_id=guild_id, since_day=since, group_by=("guild_id", "provider"))
    finally:
        await store.close()


def _cells(row: UsageRow) -> list[str]:
    values = {column: getattr(row, column) for column in COLUMNS}
    return [f"{v:.1f}" if isinstance(v, float) else str(v) for v in values.values()]


def as_csv(rows: Sequence[UsageRow]) -> str:
    """A header line and one line per (server, provider)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(_cells(row) for row in rows)
    return out.getvalue().rstrip("\n")


def _sum(rows: Sequence[UsageRow], column: str) -> str:
    total = sum(getattr(row, column) for row in rows)
    return f"{total:.1f}" if isinstance(total, float) else str(total)


def as_table(rows: Sequence[UsageRow]) -> str:
    """Aligned columns with a total line; "No turns recorded." when there are none."""
    if not rows:
        return "No turns recorded."
    body = [_cells(row) for row in rows]
    total = ["total", ""] + [_sum(rows, column) for column in COLUMNS[2:]]
    table = [list(COLUMNS), *body, total]
    widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(cell.rjust(w) for cell, w in zip(line, widths, strict=True)) for line in table)
