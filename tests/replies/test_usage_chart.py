"""The /usage chart: a valid PNG of Discord size for a few providers, for days without turns and for any input
within the bounds; many providers fold into "other"; pyplot and import-time matplotlib stay out."""

from __future__ import annotations

import asyncio
import struct
import subprocess
import sys
import zlib
from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.replies.usage_chart import (
    MAX_DAYS,
    MAX_PROVIDERS,
    OTHER,
    render_usage_chart,
    series_to_draw,
    usage_chart,
)

ROOT = Path(__file__).resolve().parents[2]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_PNG_BYTES = 200_000
TITLE = "Turns by provider, last 30 days"


def last_days(count: int, end: date = date(2024, 12, 31)) -> list[str]:
    return [(end - timedelta(days=count - 1 - i)).isoformat() for i in range(count)]


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) of a PNG after checking it whole: signature, every chunk's CRC, IHDR first, IEND last, and
    IDAT inflating to exactly the rows the header promises (8-bit RGB or RGBA, not interlaced)."""
    assert data[:8] == PNG_SIGNATURE
    chunks: list[tuple[bytes, bytes]] = []
    at = 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        (crc,) = struct.unpack(">I", data[at + 8 + length : at + 12 + length])
        assert zlib.crc32(kind + body) == crc, kind
        chunks.append((kind, body))
        at += 12 + length
    assert at == len(data)
    assert chunks[0][0] == b"IHDR" and chunks[-1] == (b"IEND", b"")
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (depth, interlace) == (8, 0) and colour in (2, 6)
    pixels = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    assert len(pixels) == height * (1 + width * (4 if colour == 6 else 3))
    return width, height


def assert_discord_sized_png(data: bytes) -> None:
    width, height = png_size(data)
    assert 900 <= width <= 1100 and 450 <= height <= 550, (width, height)
    assert len(data) < MAX_PNG_BYTES


def test_a_few_providers_over_thirty_days_draw_a_png_sized_for_discord() -> None:
    days = last_days(30)
    turns = {
        "ablt": [(i * 7) % 40 for i in range(30)],
        "magicai": [(i * 3) % 25 for i in range(30)],
        "convai": [0, 0, 3, 8] * 7 + [0, 1],
    }
    chart = usage_chart(days, turns, title=TITLE, labels={"ablt": "ABLT", "magicai": "Magic AI"})
    assert_discord_sized_png(chart)


def test_days_without_turns_still_draw_every_day() -> None:
    days = last_days(30)
    assert_discord_sized_png(usage_chart(days, {"ablt": [0] * 30, "convai": [0] * 30}, title=TITLE))
    assert_discord_sized_png(usage_chart(days, {}, title=TITLE))
    assert_discord_sized_png(usage_chart(days, {"ablt": [0] * 29 + [1]}, title=TITLE))


def test_emoji_dollar_signs_and_underscores_in_names_draw_without_a_warning() -> None:
    """pytest turns warnings into errors here: a glyph the font lacks (the bold title's face lacks U+1D5A0), or mathtext
    from `$...$`, would fail."""
    turns = {"_x": [1, 2, 3], "y": [0, 1, 0], "$\\frac$": [0, 0, 1]}
    chart = usage_chart(
        last_days(3),
        turns,
        title="My 🎉 \N{MATHEMATICAL SANS-SERIF CAPITAL A} server $5 \\frac a $month\nnew line",
        labels={"y": "中文"},
    )
    assert_discord_sized_png(chart)


def test_past_ten_providers_the_smallest_fold_into_other_and_the_rest_keep_their_order() -> None:
    turns = {f"p{i}": [i, 0] for i in range(1, 13)} | {"idle": [0, 0]}
    series = series_to_draw(turns, 2, {"p12": "Twelve"})
    assert len(series) == MAX_PROVIDERS
    assert [s.label for s in series] == ["p4", "p5", "p6", "p7", "p8", "p9", "p10", "p11", "Twelve", OTHER]
    assert series[-1].folded and series[-1].turns == [1 + 2 + 3, 0]
    assert not any(s.folded for s in series[:-1])
    assert [s.label for s in series_to_draw({"a": [1], "b": [0], "c": [2]}, 1)] == ["a", "c"]


@pytest.mark.parametrize(
    ("days", "turns"),
    [
        ([], {}),
        (last_days(MAX_DAYS + 1), {}),
        (["2024-12-01", "yesterday"], {}),
        (last_days(3), {"ablt": [1, 2]}),
        (last_days(3), {"ablt": [1, -2, 3]}),
    ],
)
def test_input_out_of_bounds_is_refused(days: list[str], turns: dict[str, list[int]]) -> None:
    with pytest.raises(ValueError):
        usage_chart(days, turns, title=TITLE)


async def test_render_usage_chart_draws_off_the_loop_under_a_limit() -> None:
    days, turns = last_days(30), {"ablt": list(range(30))}
    limit = asyncio.Semaphore(1)
    charts = await asyncio.gather(*(render_usage_chart(days, turns, title=TITLE, semaphore=limit) for _ in range(3)))
    assert charts[0] == usage_chart(days, turns, title=TITLE)
    assert len(set(charts)) == 1
    assert_discord_sized_png(await render_usage_chart(days, turns, title=TITLE))


def run_python(code: str) -> str:
    done = subprocess.run(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


def test_importing_the_chart_module_does_not_import_matplotlib() -> None:
    code = "import sys, bot.replies.usage_chart; print(sorted(m for m in sys.modules if m.startswith('matplotlib')))"
    assert run_python(code) == "[]"


def test_rendering_never_imports_pyplot() -> None:
    code = (
        "import sys; from bot.replies.usage_chart import usage_chart; "
        "chart = usage_chart(['2024-12-01', '2024-12-02'], {'ablt': [1, 2]}, title='t'); "
        "print(len(chart) > 0, 'matplotlib.figure' in sys.modules, 'matplotlib.pyplot' in sys.modules)"
    )
    assert run_python(code) == "True True False"


names = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)  # emoji, controls, surrogates
counts = st.one_of(st.integers(0, 50), st.integers(0, 10**7), st.just(0))


@st.composite
def chart_inputs(draw: st.DrawFn) -> tuple[list[str], dict[str, list[int]], dict[str, str]]:
    length = draw(st.integers(1, MAX_DAYS))
    end = draw(st.dates(date(2000, 1, 1), date(2100, 12, 31)))
    keys = draw(st.lists(names, max_size=MAX_PROVIDERS + 4, unique=True))
    turns = {key: draw(st.lists(counts, min_size=length, max_size=length)) for key in keys}
    labels = {key: draw(names) for key in keys if draw(st.booleans())}
    return last_days(length, end), turns, labels


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chart_inputs(), names)
def test_any_input_within_the_bounds_draws_a_valid_png(
    chart: tuple[list[str], dict[str, list[int]], dict[str, str]], title: str
) -> None:
    days, turns, labels = chart
    assert_discord_sized_png(usage_chart(days, turns, title=title, labels=labels))
