"""Run one benchmark on an earlier commit and on the working tree, in one go, and print their figures side by side.

    python -m bench.compare REV BENCH [ARGS...]      e.g. python -m bench.compare HEAD~3 stream --runs 2

REV is checked out into a temporary git worktree (removed afterwards) and `python -m bench.BENCH ARGS` runs there
first, then here, each as its own process with its own directory first on the import path, so each runs its own
code (the installed packages are the same). Every figure both print is matched by its name (the first cell of a
Markdown table row, or the first word of an indented `name value` line) and printed in one table: the earlier
commit's values beside the working tree's (one per run, joined by " ; "). Each run's whole output is printed
too, for what does not match up. With `--bench-from-here` the earlier commit runs the working tree's bench/ (its
bot, cogs and tests stay its own): for a figure the earlier bench did not print, as long as the bench still
fits the earlier code.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_bench(where: Path, bench: str, args: list[str]) -> str:
    """`python -m bench.<bench> <args>` with `where` as the working directory (its code first on sys.path)."""
    done = subprocess.run(  # noqa: S603 - our own interpreter and benchmark, arguments from our command line
        [sys.executable, "-m", f"bench.{bench}", *args], cwd=where, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"bench.{bench} failed in {where} ({done.returncode}):\n{done.stderr[-3000:]}")
    return done.stdout


def figures(output: str) -> dict[str, str]:
    """Figure name -> the rest of its line, from Markdown table rows and indented `name value` lines; a figure
    printed several times (once per run) keeps every value, joined by " ; "."""
    found: dict[str, list[str]] = {}
    for line in output.splitlines():
        stripped = line.strip()
        if stripped.startswith("|") and not set(stripped) <= set("|-: "):
            cells = [cell.strip() for cell in stripped.strip("|").split("|")]
            if len(cells) > 1:
                found.setdefault(cells[0], []).append(" | ".join(cells[1:]))
        elif line.startswith("  ") and len(stripped.split()) >= 2:
            name, value = stripped.split(maxsplit=1)
            found.setdefault(name, []).append(value)
    return {name: " ; ".join(values) for name, values in found.items()}


def side_by_side(base: str, head: str, label: str) -> str:
    """A Markdown table of every figure both outputs print: `label` (the earlier commit) beside the working tree."""
    before, after = figures(base), figures(head)
    rows = [(name, before[name], after[name]) for name in after if name in before]
    width = max([len(name) for name, _, _ in rows] + [6])
    lines = [f"| {'figure':<{width}} | {label} | working tree |", f"|{'-' * (width + 2)}|---|---|"]
    lines += [f"| {name:<{width}} | {old} | {new} |" for name, old, new in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("rev", help="the earlier commit (anything git rev-parse takes)")
    parser.add_argument("bench", help="the benchmark module under bench/, e.g. stream, agentverse, store")
    parser.add_argument(
        "--bench-from-here",
        action="store_true",
        help="run the working tree's bench/ on the earlier commit's code too (for figures the earlier bench lacks)",
    )
    parser.add_argument("args", nargs=argparse.REMAINDER, help="the benchmark's own arguments")
    options = parser.parse_args()
    commit = subprocess.run(  # noqa: S603 - git, on this repository
        ["git", "rev-parse", "--short", options.rev],  # noqa: S607
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "base"
        subprocess.run(["git", "worktree", "add", "-q", "--detach", str(tree), commit], cwd=REPO, check=True)  # noqa: S603, S607
        try:
            if options.bench_from_here:
                shutil.rmtree(tree / "bench")
                shutil.copytree(REPO / "bench", tree / "bench", ignore=shutil.ignore_patterns("__pycache__"))
            base = run_bench(tree, options.bench, options.args)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=REPO, check=False)  # noqa: S603, S607
    head = run_bench(REPO, options.bench, options.args)
    print(f"## {commit}\n{base}\n## working tree\n{head}")
    print(f"## side by side: bench.{options.bench} {' '.join(options.args)}")
    print(side_by_side(base, head, commit))


if __name__ == "__main__":
    main()
