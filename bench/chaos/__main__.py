"""`python -m bench.chaos`: run the bot under random faults while members talk, print the invariants.

Exits 1 when an invariant is violated (lost turns, duplicates, entries left streaming, secrets or member
text in the logs), 2 when the run itself could not be made; the logs stay in `--out` either way.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import tempfile
from pathlib import Path

from bench.chaos import __doc__ as DESCRIPTION
from bench.chaos.invariants import examples
from bench.chaos.run import Options, Outcome, run
from bench.figures import table


def _ms(seconds: float) -> str:
    return "n/a" if math.isnan(seconds) else f"{seconds * 1000:,.0f}"


def invariants_table(outcome: Outcome) -> str:
    f = outcome.findings
    sent = len(f.turns)
    told = sum(f.told.values())
    lag_p99, lag_samples, lag_worst = outcome.bot.lag_p99_s()
    told_detail = ", ".join(f"{kind} {n}" for kind, n in f.told.most_common())

    def check(found: list[str]) -> str:
        return "ok" if not found else "VIOLATED"

    rows = [
        ("member turns sent", sent, "", f"{f.stops} Stop and {f.retries} Retry presses"),
        ("answered (the full reply shown)", f.answered, "", ""),
        ("told why", told, "", told_detail),
        ("LOST = sent - answered - told why", len(f.lost), check(f.lost), examples(f.lost)),
        ("duplicates posted", len(f.duplicates), check(f.duplicates), examples(f.duplicates)),
        ("entries left `streaming` after the final stop", len(f.stranded), check(f.stranded), examples(f.stranded)),
        (
            f"secrets in logs ({outcome.secrets_searched} searched, {len(outcome.bot.logs)} logs)",
            len(f.secrets),
            check(f.secrets),
            examples(f.secrets),
        ),
        ("member canary words in logs", len(f.canaries), check(f.canaries), examples(f.canaries)),
        ("provider reply text in logs (by tag)", len(f.replies), check(f.replies), examples(f.replies)),
        (
            f"peak RSS, MiB (VmHWM, max over {len(outcome.bot.logs)} processes)",
            f"{outcome.bot.peak_rss_mib():.0f}",
            "",
            ", ".join(f"{p:.0f}" for p in outcome.bot.peaks_mib),
        ),
        ("event-loop lag p99, ms (/metrics)", _ms(lag_p99), "", f"{lag_samples} samples; worst ≤ {_ms(lag_worst)} ms"),
    ]
    return table(("invariant", "value", "check", "details (first examples)"), rows)


def faults_table(outcome: Outcome) -> str:
    hits = outcome.timeline.hits()
    rows = [
        (kind, n, hits.get(kind, ""))
        for kind, n in sorted(outcome.timeline.counts.items(), key=lambda item: (-item[1], item[0]))
    ]
    rows += [(f"provider: {kind}", n, n) for kind, n in sorted(outcome.provider_faults.items(), key=lambda i: -i[1])]
    return table(("fault injected", "times", "requests hit"), rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=5.0, help="how long members talk (default 5)")
    parser.add_argument("--seed", type=int, default=1, help="seeds every random choice (default 1)")
    parser.add_argument("--database", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--threads", type=int, default=24, help="members, each in a thread of their own")
    parser.add_argument("--kills", type=int, default=None, help="kill -9s (default: 1 under 2 minutes, else 1-2)")
    parser.add_argument("--log-level", choices=("DEBUG", "INFO"), default="DEBUG", help="the bot's LOG_LEVEL")
    parser.add_argument("--out", type=Path, default=None, help="where logs go (default: a new temporary folder)")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="bench-chaos-"))
    options = Options(args.minutes, args.seed, args.database, args.threads, args.kills, args.log_level, out)
    print(
        f"chaos: {args.threads} members for {args.minutes:g} min, seed {args.seed}, database {args.database},"
        f" LOG_LEVEL={args.log_level}; logs in {out}",
        flush=True,
    )
    try:
        outcome = asyncio.run(run(options))
    except RuntimeError as exc:
        print(f"the run could not be made: {exc}\nlogs: {out}", file=sys.stderr)
        return 2
    print(
        f"\n{outcome.duration_s:.0f} s including the drain; {len(outcome.bot.logs)} bot process(es),"
        f" {outcome.bot.kills} kill -9; final stop exit code {outcome.exit_code}"
        + (f"; DISCORD EMULATOR ERRORS {len(outcome.emulator_errors)}" if outcome.emulator_errors else "")
    )
    print()
    print(invariants_table(outcome))
    print()
    print(faults_table(outcome))
    findings = outcome.findings
    named = (
        ("LOST", findings.lost),
        ("DUPLICATES", findings.duplicates),
        ("LEFT STREAMING", findings.stranded),
        ("SECRETS IN LOGS", findings.secrets),
        ("MEMBER TEXT IN LOGS", findings.canaries),
        ("REPLY TEXT IN LOGS", findings.replies),
    )
    for name, found in named:
        if found:
            print(f"\n{name} (all {len(found)}):")
            for line in found:
                print(f"  - {line}")
    violated = findings.violations
    print(f"\nlogs: {out} ({', '.join(p.name for p in outcome.bot.logs)}; threads.txt: what members saw)")
    print("invariants: " + ("all hold" if not violated else "VIOLATED: " + ", ".join(violated)))
    return 1 if violated else 0


if __name__ == "__main__":
    sys.exit(main())
