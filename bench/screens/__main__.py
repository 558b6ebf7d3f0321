"""`python -m bench.screens`: play the scenes, render them, shoot them; write the architecture diagram."""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
from pathlib import Path

from . import architecture
from .chromium import shoot
from .render import page
from .scenes import SCENES, record

REPO = Path(__file__).resolve().parents[2]
ARCHITECTURE = "architecture"


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.screens", description=__doc__)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "images", help="where the pictures go")
    parser.add_argument("--html", type=Path, default=None, help="keep the rendered pages in this folder")
    parser.add_argument("--only", nargs="+", choices=[*SCENES, ARCHITECTURE], default=None, help="pictures to make")
    return parser.parse_args()


def main() -> None:
    args = arguments()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("bench.screens").setLevel(logging.INFO)
    logging.getLogger("discord.client").setLevel(logging.ERROR)  # no voice support warnings: no voice here
    wanted = args.only or [*SCENES, ARCHITECTURE]
    if ARCHITECTURE in wanted:
        architecture.write(args.out / "architecture.svg")
        print(f"wrote {args.out / 'architecture.svg'}")
    names = [name for name in wanted if name in SCENES]
    if not names:
        return
    with tempfile.TemporaryDirectory(prefix="screens-") as folder:
        pages = args.html or Path(folder) / "pages"
        pages.mkdir(parents=True, exist_ok=True)
        scenes = asyncio.run(record(names, Path(folder)))
        for name, scene in scenes.items():
            html = pages / f"{name}.html"
            html.write_text(page(scene), encoding="utf-8")
            shoot(html, args.out / f"{name}.png")
            print(f"wrote {args.out / (name + '.png')}")


if __name__ == "__main__":
    main()
