"""Audio benchmark: voice-note conversion for Convai and voice-message encoding; prints figures, asserts nothing.

    python -m bench.audio [--runs 5] [--section all|normal|hostile] [--limit-mib 3072]

Time: the median (and best) of `--runs` conversions in this process after one warm-up, as total ms and as ms
per second of audio. Memory: each case runs in a fresh subprocess (after imports and reading the input), which
reports how far the resident-set high-water mark rose during one call, counting FFmpeg's C buffers too:
  - cold: the first call (includes FFmpeg's one-off codec set-up), VmHWM after minus VmRSS before;
  - warm: a second call, after resetting the high-water mark (`echo 5 > /proc/self/clear_refs`);
  - py: tracemalloc's peak of Python allocations during a third call (bytes, arrays; not FFmpeg's).
Linux's /proc/self/status VmHWM is used rather than `getrusage(RUSAGE_SELF).ru_maxrss` because a spawned
child's ru_maxrss starts at the parent's resident size (here ~70 MiB after making the inputs), which hides
the conversion's own peak; VmHWM belongs to the child's own address space.

Hostile inputs (tests/support/hostile_audio.py: the issue's 4 Hz and 1 Hz Matroska files, 255 channels, a million tiny
packets, a WAV declaring 4 GiB, one 9 MB frame, a spoken answer declaring 4 Hz) run once each in a fresh
process under an address-space limit (`--limit-mib`, RLIMIT_AS, via tests/support/audio_probe.py), next to normal files
measured the same way: the outcome, wall and CPU time, and the peak resident-set rise. A decoder that asks for
more than the limit gets a failed allocation (shown as its outcome) instead of the machine's memory.
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
from tests.support.audio_samples import mp3_stereo, tone_pcm, voice_note_ogg, wav_file, wav_pcm
from tests.support.hostile_audio import many_channels_wav, matroska_pcm, tiny_packets, wav_declaring

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


def probe(label: str, job_name: str, data: bytes, workdir: Path, limit_mib: int) -> None:
    """One conversion in a fresh process under RLIMIT_AS (tests/support/audio_probe.py); one line of figures."""
    path = workdir / "probe.bin"
    path.write_bytes(data)
    probe = "tests.support.audio_probe"
    command = [sys.executable, "-m", probe, str(path), "--job", job_name, "--limit-mib", str(limit_mib)]
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=600)  # noqa: S603
    if done.returncode != 0:
        print(f"{label:<46} input {len(data) / KIB:7.0f} KiB | child exited {done.returncode}: {done.stderr[-200:]}")
        return
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    rise = (figures["hwm"] - figures["rss_before"]) / MIB
    print(
        f"{label:<46} input {len(data) / KIB:7.0f} KiB | {figures['outcome']:<12}"
        f" | wall {figures['wall_s'] * 1000:8.1f} ms | CPU {figures['cpu_s'] * 1000:8.1f} ms"
        f" | peak RSS rise {rise:7.1f} MiB | {figures['detail'][:60]}"
    )


def hostile(workdir: Path, limit_mib: int) -> None:
    print(f"\nhostile inputs next to normal ones: one fresh process each, address space limited to {limit_mib} MiB")
    cases: list[tuple[str, str, Callable[[], bytes]]] = [
        ("normal: 60 s voice note Ogg/Opus 48k", "convert", lambda: voice_note_ogg(60.0)),
        ("normal: 60 s MP3 stereo 44.1k", "convert", lambda: mp3_stereo(60.0)),
        ("normal: 10 s reply WAV 22.05k -> voice msg", "encode", lambda: wav_pcm(10.0, rate=22_050, channels=1)),
        ("issue: Matroska PCM 400 KB at 4 Hz", "convert", lambda: matroska_pcm(4)),
        ("issue: Matroska PCM 400 KB at 1 Hz", "convert", lambda: matroska_pcm(1)),
        ("255-channel WAV 8 kHz 2.3 s", "convert", lambda: many_channels_wav(255, seconds=2.3)),
        ("1.25 M one-sample packets (Matroska 8 kHz)", "convert", lambda: tiny_packets(1_250_000)),
        ("WAV declaring 2^32-2 data bytes (1 s held)", "convert", lambda: wav_declaring(2**32 - 2)),
        ("one 9 MB frame, 8 kHz (590 s)", "convert", lambda: matroska_pcm(8_000, payload_bytes=9_000_000)),
        ("spoken answer WAV declaring 4 Hz (800 KB)", "encode", lambda: wav_file(tone_pcm(25.0, 16_000, 1), rate=4)),
    ]
    for label, job_name, make in cases:
        probe(label, job_name, make(), workdir, limit_mib)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--section", choices=("all", "normal", "hostile"), default="all")
    parser.add_argument("--limit-mib", type=int, default=3072, help="address space of each hostile-input process")
    parser.add_argument("--child", nargs=2, metavar=("JOB", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        if args.section in ("all", "normal"):
            print(f"audio benchmark: {args.runs} timed runs each (median), memory from one fresh subprocess per case")
            ogg, mp3 = voice_note_ogg(60.0), mp3_stereo(60.0)
            report("to_convai_wav  60 s voice note Ogg/Opus 48k", "convert", ogg, 60.0, args.runs, workdir)
            report("to_convai_wav  60 s MP3 stereo 44.1k 128k", "convert", mp3, 60.0, args.runs, workdir)
            reply = wav_pcm(10.0, rate=22_050, channels=1)
            report("wav_to_voice_message 10 s WAV 22.05k mono", "encode", reply, 10.0, args.runs, workdir)
        if args.section in ("all", "hostile"):
            hostile(workdir, args.limit_mib)


if __name__ == "__main__":
    main()
