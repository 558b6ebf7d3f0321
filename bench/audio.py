"""Audio benchmark: voice-note conversion for Convai and voice-message encoding; prints figures, asserts nothing.

    python -m bench.audio [--runs 5]

Time: the median (and best) of `--runs` conversions in this process after one warm-up, as total ms and as ms
per second of audio. Memory: each case runs in a fresh subprocess (after imports and reading the input), which
reports how far the resident-set high-water mark rose during one call, counting FFmpeg's C buffers too:
  - cold: the first call (includes FFmpeg's one-off codec set-up), VmHWM after minus VmRSS before;
  - warm: a second call, after resetting the high-water mark (`echo 5 > /proc/self/clear_refs`);
  - py: tracemalloc's peak of Python allocations during a third call (bytes, arrays; not FFmpeg's).
Linux's /proc/self/status VmHWM is used rather than `getrusage(RUSAGE_SELF).ru_maxrss` because a spawned
child's ru_maxrss starts at the parent's resident size (here ~70 MiB after making the inputs), which hides
the conversion's own peak; VmHWM belongs to the child's own address space.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from bot.audio import to_convai_wav, wav_to_voice_message
from tests.audio_samples import mp3_stereo, voice_note_ogg, wav_pcm

KIB = 1024
MIB = 1024 * 1024


def convert(data: bytes) -> object:
    return to_convai_wav(data, filename="bench")


def encode(data: bytes) -> object:
    return wav_to_voice_message(data)


JOBS: dict[str, Callable[[bytes], object]] = {"convert": convert, "encode": encode}


def timed(job: Callable[[bytes], object], data: bytes, runs: int) -> tuple[float, float]:
    """(median, best) wall time in seconds, after one warm-up call."""
    job(data)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        job(data)
        times.append(time.perf_counter() - started)
    return statistics.median(times), min(times)


def proc_status_bytes(field: str) -> int:
    """A `kB` line of /proc/self/status (VmRSS, VmHWM) in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * KIB
    raise LookupError(field)


def child(job_name: str, path: str) -> None:
    """Runs in a fresh interpreter: memory figures for one job, printed as JSON."""
    data = Path(path).read_bytes()
    job = JOBS[job_name]
    gc.collect()
    rss_before = proc_status_bytes("VmRSS")
    job(data)
    cold = proc_status_bytes("VmHWM") - rss_before
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current VmRSS
    rss_warm = proc_status_bytes("VmRSS")
    job(data)
    warm = proc_status_bytes("VmHWM") - rss_warm
    gc.collect()
    tracemalloc.start()
    job(data)
    _current, py_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(json.dumps({"rss_before": rss_before, "cold": cold, "warm": warm, "py": py_peak}))


def memory(job_name: str, data: bytes, workdir: Path) -> dict[str, int]:
    path = workdir / f"{job_name}.bin"
    path.write_bytes(data)
    command = [sys.executable, "-m", "bench.audio", "--child", job_name, str(path)]
    done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=300)  # noqa: S603
    figures: dict[str, int] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def report(label: str, job_name: str, data: bytes, seconds: float, runs: int, workdir: Path) -> None:
    median_s, best_s = timed(JOBS[job_name], data, runs)
    mem = memory(job_name, data, workdir)
    print(
        f"{label:<44} input {len(data) / KIB:7.0f} KiB"
        f" | {median_s * 1000 / seconds:6.2f} ms/s"
        f" | total {median_s * 1000:7.1f} ms (best {best_s * 1000:7.1f})"
        f" | peak RSS rise cold {mem['cold'] / MIB:5.1f} MiB, warm {mem['warm'] / MIB:5.1f} MiB"
        f" (RSS before {mem['rss_before'] / MIB:5.1f}) | py peak {mem['py'] / MIB:5.1f} MiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--child", nargs=2, metavar=("JOB", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    print(f"audio benchmark: {args.runs} timed runs each (median), memory from one fresh subprocess per case")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        report("to_convai_wav  60 s voice note Ogg/Opus 48k", "convert", voice_note_ogg(60.0), 60.0, args.runs, workdir)
        report("to_convai_wav  60 s MP3 stereo 44.1k 128k", "convert", mp3_stereo(60.0), 60.0, args.runs, workdir)
        reply = wav_pcm(10.0, rate=22_050, channels=1)
        report("wav_to_voice_message 10 s WAV 22.05k mono", "encode", reply, 10.0, args.runs, workdir)


if __name__ == "__main__":
    main()
