"""Draw a server's turns by provider and by day as a PNG stacked bar chart for `/usage`, off the event loop.

`usage_chart` is pure: numbers in, PNG bytes out. It draws with matplotlib's Agg backend through its own
`Figure` and `FigureCanvasAgg` (never pyplot: no global figure state, so renders in worker threads do not
share anything) and changes no rcParams. matplotlib is imported inside the function, so importing this
module costs nothing and the bot starts as fast as before; the first render pays the import (~1 s).

The image is about 1000x500 px with a transparent background. Text, axes and gridlines are a mid grey
(TEXT_COLOUR) that contrasts about 3.5:1 with both of Discord's themes (dark #313338, light #ffffff); bars
use the Okabe-Ito colour-blind-safe palette, and the series past its seven colours are also hatched.
"""

from __future__ import annotations

import asyncio
import functools
import io
import logging
from collections.abc import Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.patches import Patch
    from matplotlib.text import Text

log = logging.getLogger(__name__)

MAX_DAYS = 31
MAX_PROVIDERS = 10
"""Series drawn at most, "other" included: past this the providers with the fewest turns fold into "other"."""
OTHER = "other"
MAX_LABEL_CHARS = 24
MAX_TITLE_CHARS = 120
"""Longer titles are cut before they are measured: `_fit` then cuts to what fits across the image."""
MAX_CONCURRENT_RENDERS = 2
"""The machines have two cores; a render is ~0.2-0.4 s of CPU, so more at once would only queue."""
WIDTH_IN, HEIGHT_IN, DPI, MARGIN_IN = 10.0, 5.0, 100, 0.12
"""1000x500 px: wide enough for 31 bars, the shape Discord shows whole in an embed or attachment."""
LABEL_EVERY_DAYS = 5
TEXT_COLOUR = "#868b94"
"""Contrast 3.7:1 on Discord's dark theme and 3.4:1 on its light one (WCAG asks 3:1 for graphics)."""
GRID_ALPHA = 0.35
PALETTE = ("#E69F00", "#56B4E9", "#009E73", "#CC79A7", "#0072B2", "#D55E00", "#F0E442", "#999933", "#CC6677")
"""Okabe-Ito without black (unreadable on the dark theme), then two of Paul Tol's muted colours."""
HATCHED_FROM = 7
"""Series from this index on (past Okabe-Ito's seven) are hatched too, so they differ by more than hue."""
OTHER_COLOUR = "#7e8590"
HATCH_COLOUR = "#ffffff80"
BAR_WIDTH = 0.78
TITLE_WEIGHT = "bold"
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

_limit: tuple[asyncio.AbstractEventLoop, asyncio.Semaphore] | None = None


def usage_chart(
    days: Sequence[str],
    turns_by_provider: Mapping[str, Sequence[int]],
    *,
    title: str,
    labels: Mapping[str, str] | None = None,
) -> bytes:
    """A stacked bar chart as PNG bytes: one bar per day of `days` ("YYYY-MM-DD", oldest first, 1 to MAX_DAYS,
    days without turns included), one colour per provider of `turns_by_provider` (provider -> turns on each of
    `days`), stacked in the mapping's order so a caller passing providers in a fixed order keeps their colours.
    The legend shows `labels[provider]` (default the key). Providers with no turns are left out; past
    MAX_PROVIDERS the smallest fold into "other". Raises ValueError on a malformed `days`, a series of another
    length, or a negative count. CPU-bound (~0.2-0.4 s): call `render_usage_chart` from async code."""
    when = _parse_days(days)
    series = series_to_draw(turns_by_provider, len(days), labels)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.layout_engine import ConstrainedLayoutEngine

    layout = ConstrainedLayoutEngine(w_pad=MARGIN_IN, h_pad=MARGIN_IN)
    figure = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI, layout=layout)
    FigureCanvasAgg(figure)
    figure.patch.set_alpha(0.0)
    axes = figure.add_subplot()
    swatches = _draw_bars(axes, series, len(days))
    _style_axes(axes, when)
    heading = figure.suptitle("", x=0.01, ha="left", color=TEXT_COLOUR, fontsize=16, fontweight=TITLE_WEIGHT,
                              parse_math=False)  # fmt: skip
    _fit(heading, _printable(title, MAX_TITLE_CHARS, TITLE_WEIGHT), WIDTH_IN * DPI * 0.98)
    if series:
        legend = axes.legend(
            handles=swatches[::-1],
            labels=[s.label for s in series][::-1],
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            frameon=False,
            fontsize=13,
            labelcolor=TEXT_COLOUR,
            handlelength=1.2,
        )
        for text in legend.get_texts():
            text.set_parse_math(False)
    else:
        axes.text(0.5, 0.5, "No turns in these days", transform=axes.transAxes, ha="center", va="center",
                  fontsize=15, color=TEXT_COLOUR, parse_math=False)  # fmt: skip
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", transparent=True, metadata={"Software": None})
    return buffer.getvalue()


async def render_usage_chart(
    days: Sequence[str],
    turns_by_provider: Mapping[str, Sequence[int]],
    *,
    title: str,
    labels: Mapping[str, str] | None = None,
    semaphore: asyncio.Semaphore | None = None,
) -> bytes:
    """`usage_chart` in a worker thread, at most MAX_CONCURRENT_RENDERS at a time (or under `semaphore` if
    given). A thread cannot be stopped, so a cancelled caller keeps its slot until the render ends. Raises
    ValueError as `usage_chart` does."""
    work = functools.partial(usage_chart, days, turns_by_provider, title=title, labels=labels)
    async with semaphore or _semaphore():
        job = asyncio.ensure_future(asyncio.to_thread(work))
        try:
            return await asyncio.shield(job)
        except asyncio.CancelledError:
            await asyncio.wait({job})
            if not job.cancelled():
                job.exception()  # retrieved, so asyncio does not log it as never retrieved
            raise


def _semaphore() -> asyncio.Semaphore:
    """The shared limit, made on first use: no loop work at import, and a fresh one if the loop changes (tests)."""
    global _limit
    loop = asyncio.get_running_loop()
    if _limit is None or _limit[0] is not loop:
        _limit = (loop, asyncio.Semaphore(MAX_CONCURRENT_RENDERS))
    return _limit[1]


def _parse_days(days: Sequence[str]) -> list[date]:
    if not 1 <= len(days) <= MAX_DAYS:
        raise ValueError(f"a usage chart shows 1 to {MAX_DAYS} days, not {len(days)}")
    try:
        return [date.fromisoformat(day) for day in days]
    except (TypeError, ValueError) as error:
        raise ValueError(f"days must be YYYY-MM-DD dates: {error}") from None


class Series(NamedTuple):
    """One provider's bars: its legend label and turns per day; `folded` for the "other" of many providers."""

    label: str
    turns: list[int]
    folded: bool = False


def series_to_draw(
    turns_by_provider: Mapping[str, Sequence[int]], length: int, labels: Mapping[str, str] | None = None
) -> list[Series]:
    """The series `usage_chart` draws for `turns_by_provider` (see there), in the mapping's order: providers with
    turns, at most MAX_PROVIDERS, the smallest folded into a last "other" past that. Raises ValueError on a series
    that is not `length` counts of zero or more."""
    series: list[Series] = []
    for provider, turns in turns_by_provider.items():
        counts = [int(n) for n in turns]
        if len(counts) != length or any(n < 0 for n in counts):
            raise ValueError(f"{provider!r}: expected {length} counts of zero or more, got {list(turns)!r}")
        if sum(counts):
            label = (labels or {}).get(provider, provider)
            series.append(Series(_printable(label, MAX_LABEL_CHARS) or "(unnamed)", counts))
    if len(series) <= MAX_PROVIDERS:
        return series
    ranked = sorted(range(len(series)), key=lambda i: -sum(series[i].turns))  # stable: ties keep the mapping's order
    kept = sorted(ranked[: MAX_PROVIDERS - 1])
    folded = [series[i].turns for i in ranked[MAX_PROVIDERS - 1 :]]
    return [series[i] for i in kept] + [Series(OTHER, [sum(day) for day in zip(*folded, strict=True)], folded=True)]


def _draw_bars(axes: Axes, series: list[Series], length: int) -> list[Patch]:
    """One collection of rectangles per series (far cheaper to lay out and draw than a patch per bar); returns
    the legend's swatches, bottom series first."""
    from matplotlib.collections import PolyCollection
    from matplotlib.patches import Patch

    swatches: list[Patch] = []
    bottoms = [0] * length
    for index, (_, counts, folded) in enumerate(series):
        colour = OTHER_COLOUR if folded else PALETTE[index % len(PALETTE)]
        hatch = "//" if index >= HATCHED_FROM and not folded else None
        left = [(day - BAR_WIDTH / 2, bottoms[day], counts[day]) for day in range(length) if counts[day]]
        boxes = [[(x, y), (x + BAR_WIDTH, y), (x + BAR_WIDTH, y + h), (x, y + h)] for x, y, h in left]
        bars = PolyCollection(boxes, facecolors=colour, hatch=hatch, edgecolors=HATCH_COLOUR, linewidths=0)
        axes.add_collection(bars, autolim=False)
        swatches.append(Patch(facecolor=colour, hatch=hatch, edgecolor=HATCH_COLOUR, linewidth=0))
        bottoms = [b + n for b, n in zip(bottoms, counts, strict=True)]
    axes.set_ylim(0, max(max(bottoms) * 1.08, 5))
    return swatches


def _style_axes(axes: Axes, when: list[date]) -> None:
    from matplotlib.ticker import MaxNLocator, StrMethodFormatter

    axes.set_facecolor("none")
    axes.set_axisbelow(True)
    axes.grid(axis="y", color=TEXT_COLOUR, alpha=GRID_ALPHA, linewidth=0.8)
    axes.set_xlim(-0.6, len(when) - 0.4)
    shown = [i for i in range(len(when)) if (len(when) - 1 - i) % LABEL_EVERY_DAYS == 0]  # the last day always
    axes.set_xticks(shown, [f"{MONTHS[when[i].month - 1]} {when[i].day}" for i in shown])
    axes.set_xticks(range(len(when)), minor=True)
    axes.yaxis.set_major_locator(MaxNLocator(nbins=6, integer=True))
    axes.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    axes.tick_params(colors=TEXT_COLOUR, labelsize=13, length=5)
    axes.tick_params(which="minor", colors=TEXT_COLOUR, length=3)
    axes.set_ylabel("turns", color=TEXT_COLOUR, fontsize=14)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        axes.spines[side].set_color(TEXT_COLOUR)


def _fit(heading: Text, text: str, width_px: float) -> None:
    """Set `heading` to `text`, cut with an ellipsis to the longest start that fits in `width_px`."""
    heading.set_text(text)
    if heading.get_window_extent().width <= width_px:
        return
    fits, too_long = 0, len(text)
    while too_long - fits > 1:
        middle = (fits + too_long) // 2
        heading.set_text(text[:middle].rstrip() + "…")
        fits, too_long = (middle, too_long) if heading.get_window_extent().width <= width_px else (fits, middle)
    heading.set_text(text[:fits].rstrip() + "…")


def _printable(text: str, limit: int, weight: str = "normal") -> str:
    """`text` on one line, cut to `limit` characters, without characters the font of that weight cannot draw
    (matplotlib would warn for each and draw a box): a server or provider name may hold emoji or any script."""
    drawable = _font_characters(weight)
    line = "".join(c if c.isprintable() and c in drawable else (" " if c.isspace() else "") for c in text)
    line = " ".join(line.split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


@functools.cache
def _font_characters(weight: str) -> frozenset[str]:
    """The characters matplotlib's default font (DejaVu Sans, bundled with it) can draw in `weight` (the bold
    face lacks some of the regular one's)."""
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    font = FT2Font(font_manager.findfont(font_manager.FontProperties(weight=weight)))
    return frozenset(chr(code) for code in font.get_charmap())
