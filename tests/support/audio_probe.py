"""One audio conversion in a fresh process, under an address-space limit, and what it cost, printed as JSON.

    python -m tests.support.audio_probe PATH [--job convert|encode] [--limit-mib 1024]

Used by tests/audio/test_audio_bounds.py and bench/audio.py, so a file that would make the decoder ask for gigabytes
is measured in a process that cannot take them (`resource.setrlimit(RLIMIT_AS)`: allocations past the limit
fail instead of the machine running out of memory). Memory is Linux's /proc/self/status: VmHWM (the peak
resident set) after the call, and VmRSS just before it.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

from bot.audio import AudioRejected, to_convai_wav, wav_to_voice_message

KIB = 1024
MIB = 1024 * 1024


def status_bytes(field: str) -> int:
    """A `kB` line of /proc/self/status (VmRSS, VmHWM) in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * KIB
    raise LookupError(field)


def probe(data: bytes, job: str) -> dict[str, object]:
    """Run the job once; the outcome is "ok", a rejection reason, or the name of any other exception."""
    rss_before = status_bytes("VmRSS")
    started, cpu_started = time.perf_counter(), time.process_time()
    try:
        if job == "encode":
            wav_to_voice_message(data)
        else:
            to_convai_wav(data, filename="probe")
        outcome, detail = "ok", ""
    except AudioRejected as rejected:
        outcome, detail = rejected.reason, rejected.detail
    except Exception as error:  # noqa: BLE001 - reported to the parent, which asserts on it
        outcome, detail = type(error).__name__, str(error)[:200]
    return {
        "outcome": outcome,
        "detail": detail,
        "wall_s": time.perf_counter() - started,
        "cpu_s": time.process_time() - cpu_started,
        "rss_before": rss_before,
        "hwm": status_bytes("VmHWM"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("path")
    parser.add_argument("--job", choices=("convert", "encode"), default="convert")
    parser.add_argument("--limit-mib", type=int, default=1024)
    args = parser.parse_args()
    data = Path(args.path).read_bytes()
    limit = args.limit_mib * MIB
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    print(json.dumps(probe(data, args.job)))  # noqa: T201 - the parent reads this line


if __name__ == "__main__":
    main()
