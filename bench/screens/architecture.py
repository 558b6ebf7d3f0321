"""docs/images/architecture.svg: the bot's layers and which way they import, laid out by hand, 900 px wide.

The picture is data (boxes with their place, arrows between them) written out as SVG by `svg()`: the same
source always gives the same file, and nothing outside Python's standard library is needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .markdown import escape

WIDTH_PX, HEIGHT_PX = 900, 862
FONT = "Helvetica, Arial, 'Liberation Sans', sans-serif"
BLURPLE = "#5865f2"
INK, GREY, LINE = "#1e1f22", "#4e5058", "#80848e"
FILLS = {
    "discord": (BLURPLE, BLURPLE, "#ffffff"),  # fill, stroke, text
    "tinted": ("#dfe2fd", LINE, INK),  # imports discord.py
    "plain": ("#f2f3f5", LINE, INK),
    "outside": ("#ffffff", BLURPLE, INK),
}


@dataclass(frozen=True)
class Box:
    """A rounded box: a bold title and smaller lines under it; `kind` picks its colours (FILLS)."""

    x: float
    y: float
    w: float
    h: float
    title: str
    lines: tuple[str, ...] = ()
    kind: str = "plain"


@dataclass(frozen=True)
class Group:
    """A dashed frame around boxes of one layer, its label at the top left."""

    x: float
    y: float
    w: float
    h: float
    label: str
    note: str = ""


@dataclass(frozen=True)
class Arrow:
    """A straight arrow from (x1, y1) to (x2, y2); `net` draws network traffic (both ways), `dashed` a load."""

    x1: float
    y1: float
    x2: float
    y2: float
    label: str = ""
    net: bool = False
    dashed: bool = False


LEFT, RIGHT = 40.0, 620.0
GROUPS = (
    Group(28, 192, 604, 110, "cogs/", "extensions only: thin adapters"),
    Group(28, 336, 604, 110, "Discord side", "what members see and send"),
    Group(650, 112, 232, 334, "shared", "no discord.py"),
    Group(28, 686, 500, 74, "vendor APIs", "HTTPS"),
)
BOXES = (
    Box(180, 16, 300, 52, "Discord", ("gateway (WebSocket) + REST v10",), "discord"),
    Box(LEFT, 112, 580, 52, "the process · bot/", ("__main__ · app · runner · sharding · command_tree",), "tinted"),
    Box(
        LEFT,
        220,
        350,
        68,
        "extensions",
        (
            "chat · ask · messages · session · export · controls · offers",
            "bindings · server_admin · limits · usage · deletions · recovery",
        ),
        "tinted",
    ),
    Box(410, 220, 210, 68, "cogs/common", ("their helpers: opening · turns", "input · voice · catch_up ..."), "tinted"),
    Box(
        LEFT,
        364,
        350,
        68,
        "bot/replies · output",
        (
            "streaming · text_stream · notice · writes · pacing",
            "delivery · followups · widgets · splitting · usage_chart",
        ),
        "tinted",
    ),
    Box(410, 364, 210, 68, "bot/members · input", ("member permissions", "attachments"), "tinted"),
    Box(
        LEFT,
        480,
        842,
        68,
        "bot/core · Discord-free",
        (
            "conversations/ · turns · reply_sink · gate · server_rules · quotas · quota_rules",
            "leases · locks · presence · recording · reply_cap · export · token_vault · background",
        ),
    ),
    Box(
        LEFT,
        582,
        476,
        68,
        "bot/providers",
        (
            "ablt · magicai · soundverse · convai/ · agentverse/",
            "base · registry · errors · http · sse · auth · bounded",
        ),
    ),
    Box(
        560,
        582,
        322,
        68,
        "bot/store",
        ("SQLAlchemy: schema · store · transcript · usage", "server_rules · quota_rules · coordination"),
    ),
    Box(662, 140, 208, 68, "bot/config", ("settings · scale · providers", "usage · parsing · check")),
    Box(662, 242, 208, 68, "bot/ops", ("health · metrics · monitoring", "loop_lag · logs · usage_report")),
    Box(662, 344, 208, 68, "bot/audio", ("decode · voice (Ogg/Opus)", "budget · jobs · headers")),
    Box(40, 710, 84, 36, "aBLT", (), "outside"),
    Box(136, 710, 90, 36, "Magic AI", (), "outside"),
    Box(238, 710, 94, 36, "Soundverse", (), "outside"),
    Box(344, 710, 76, 36, "Convai", (), "outside"),
    Box(432, 710, 88, 36, "Agentverse", (), "outside"),
    Box(611, 700, 220, 50, "database", ("SQLite file or PostgreSQL",), "outside"),
)
ARROWS = (
    Arrow(330, 68, 330, 112, "discord.py", net=True),
    Arrow(330, 164, 330, 192, "loads the extensions by name", dashed=True),
    Arrow(390, 254, 410, 254),
    Arrow(330, 302, 330, 336),
    Arrow(330, 446, 330, 480),
    Arrow(278, 548, 278, 582),
    Arrow(721, 548, 721, 582),
    Arrow(278, 650, 278, 686, net=True),
    Arrow(721, 650, 721, 700, net=True),
)
BYPASS = "M 34 302 L 34 318 L 16 318 L 16 514 L 40 514"
"""The cogs also call the core directly (the cogs frame's bottom left, round the Discord side, into the core)."""
CAPTION = (
    "Arrows point from the importer to what it imports. Only the tinted layers import discord.py; nothing in bot/",
    "imports cogs/ (the process loads them by name); providers import neither the core nor the store;",
    "bot/config, bot/ops and bot/audio are imported where needed and import no Discord-side module.",
)


def svg() -> str:
    """The whole SVG document."""
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH_PX}" height="{HEIGHT_PX}" '
        f'viewBox="0 0 {WIDTH_PX} {HEIGHT_PX}" font-family="{FONT}">',
        "<title>Architecture: layers and import direction</title>",
        _markers(),
        f'<rect width="{WIDTH_PX}" height="{HEIGHT_PX}" fill="#ffffff"/>',
    ]
    parts += [_group(g) for g in GROUPS]
    parts += [_box(b) for b in BOXES]
    parts += [_arrow(a) for a in ARROWS]
    parts.append(f'<path d="{BYPASS}" fill="none" stroke="{GREY}" stroke-width="1.5" marker-end="url(#imports)"/>')
    parts += [_legend(), _caption(), "</svg>"]
    return "\n".join(parts) + "\n"


def _markers() -> str:
    def marker(name: str, colour: str) -> str:
        return (
            f'<marker id="{name}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="9" markerHeight="9" '
            'markerUnits="userSpaceOnUse" '
            f'orient="auto-start-reverse"><path d="M0 0 L10 5 L0 10 z" fill="{colour}"/></marker>'
        )

    return f"<defs>{marker('imports', GREY)}{marker('network', BLURPLE)}</defs>"


def _group(group: Group) -> str:
    note = (
        f'<tspan font-weight="400" fill="{GREY}" font-size="11"> · {escape(group.note)}</tspan>' if group.note else ""
    )
    return (
        f'<rect x="{group.x}" y="{group.y}" width="{group.w}" height="{group.h}" rx="10" fill="none" '
        f'stroke="#b5bac1" stroke-dasharray="5 4"/>'
        f'<text x="{group.x + 10}" y="{group.y + 18}" font-size="12" font-weight="700" fill="{INK}">'
        f"{escape(group.label)}{note}</text>"
    )


def _box(box: Box) -> str:
    fill, stroke, ink = FILLS[box.kind]
    centre = box.x + box.w / 2
    lines_h = 15 * len(box.lines)
    top = box.y + (box.h - 17 - lines_h) / 2 + 13
    shape = f'<rect x="{box.x}" y="{box.y}" width="{box.w}" height="{box.h}" rx="8" fill="{fill}" stroke="{stroke}"/>'
    texts = [
        f'<text x="{centre}" y="{top:.1f}" text-anchor="middle" font-size="14" font-weight="700" fill="{ink}">'
        f"{escape(box.title)}</text>"
    ]
    for index, line in enumerate(box.lines):
        y = top + 17 + 15 * index
        colour = ink if box.kind == "discord" else GREY
        texts.append(
            f'<text x="{centre}" y="{y:.1f}" text-anchor="middle" font-size="12" fill="{colour}">{escape(line)}</text>'
        )
    return shape + "".join(texts)


def _arrow(arrow: Arrow) -> str:
    colour, marker = (BLURPLE, "network") if arrow.net else (GREY, "imports")
    start = f' marker-start="url(#{marker})"' if arrow.net else ""
    dash = ' stroke-dasharray="5 4"' if arrow.dashed else ""
    width = 2.5 if arrow.net else 1.5
    line = (
        f'<line x1="{arrow.x1}" y1="{arrow.y1}" x2="{arrow.x2}" y2="{arrow.y2}" stroke="{colour}" '
        f'stroke-width="{width}"{dash}{start} marker-end="url(#{marker})"/>'
    )
    if not arrow.label:
        return line
    x, y = max(arrow.x1, arrow.x2) + 8, (arrow.y1 + arrow.y2) / 2 + 4
    return line + f'<text x="{x}" y="{y}" font-size="11" fill="{colour}">{escape(arrow.label)}</text>'


def _legend() -> str:
    y = 796
    items = [
        f'<rect x="40" y="{y - 11}" width="22" height="14" rx="3" fill="#dfe2fd" stroke="{LINE}"/>'
        f'<text x="70" y="{y}" font-size="12" fill="{INK}">imports discord.py</text>',
        f'<rect x="210" y="{y - 11}" width="22" height="14" rx="3" fill="#f2f3f5" stroke="{LINE}"/>'
        f'<text x="240" y="{y}" font-size="12" fill="{INK}">never imports discord.py</text>',
        f'<line x1="420" y1="{y - 4}" x2="456" y2="{y - 4}" stroke="{GREY}" stroke-width="1.5" '
        f'marker-end="url(#imports)"/><text x="464" y="{y}" font-size="12" fill="{INK}">imports</text>',
        f'<line x1="540" y1="{y - 4}" x2="576" y2="{y - 4}" stroke="{BLURPLE}" stroke-width="2.5" '
        f'marker-start="url(#network)" marker-end="url(#network)"/>'
        f'<text x="584" y="{y}" font-size="12" fill="{INK}">network traffic</text>',
    ]
    return "".join(items)


def _caption() -> str:
    return "".join(
        f'<text x="40" y="{822 + 15 * i}" font-size="11.5" fill="{GREY}">{escape(line)}</text>'
        for i, line in enumerate(CAPTION)
    )


def write(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(svg(), encoding="utf-8")
