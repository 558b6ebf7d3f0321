"""Shoot an HTML page to a PNG with headless Chromium (Debian's `chromium`), as tall as the page, offline."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

WIDTH_PX = 900
TIMEOUT_S = 90.0
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)
"""No sandbox (root in a container), no GPU, and nothing that would try to reach the network."""
MEASURE = "<script>document.title = 'height:' + Math.ceil(document.body.getBoundingClientRect().height);</script>"
"""Added to a copy of the page only: the rendered height, read back through `--dump-dom`."""
MEASURED = re.compile(r"<title>height:(\d+)</title>")


class ChromiumError(RuntimeError):
    """Chromium is missing, failed, or did not say how tall the page is."""


def browser() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        raise ChromiumError("no chromium on PATH: apt-get install -y chromium")
    return found


def run(*args: str) -> str:
    """Chromium with FLAGS, a fresh profile and `args`; returns its standard output."""
    with tempfile.TemporaryDirectory(prefix="screens-chromium-") as profile:
        command = [browser(), *FLAGS, f"--user-data-dir={profile}", *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)  # noqa: S603
    if done.returncode != 0:
        raise ChromiumError(f"chromium exited with {done.returncode}: {done.stderr[-2000:]}")
    return done.stdout


def height(page: Path, width: int = WIDTH_PX) -> int:
    """The page's rendered height in px at `width`."""
    probe = page.with_name(page.stem + ".measure.html")
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", MEASURE + "</body>"), encoding="utf-8")
    try:
        found = MEASURED.search(run(f"--window-size={width},100", "--dump-dom", probe.resolve().as_uri()))
    finally:
        probe.unlink()
    if found is None:
        raise ChromiumError(f"no height measured for {page}")
    return int(found.group(1))


def shoot(page: Path, png: Path, width: int = WIDTH_PX) -> None:
    """Write `png`: the whole of `page` at `width` px wide."""
    tall = height(page, width)
    png.parent.mkdir(parents=True, exist_ok=True)
    run(f"--window-size={width},{tall}", f"--screenshot={png.resolve()}", page.resolve().as_uri())
    if not png.is_file():
        raise ChromiumError(f"chromium wrote no {png}")
