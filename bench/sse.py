"""SSE decoder benchmark: event-loop time for one long line, and throughput for token streams; prints figures.

    python -m bench.sse [--original-ref 8f97757] [--runs 3] [--skip-original-2mb]

Both decoders run in this process: today's `bot.providers.sse` and the one at `--original-ref` (read with
`git show`, the decoder before issue 18). Each input is fed in 4 KB chunks, as the network hands aiohttp's
`iter_any()` a long line. "loop time" is the total time spent in `feed` (the event loop can do nothing else
meanwhile), "longest" the longest single `feed`. Throughput feeds an aBLT-like stream of small `data:` frames
(`data: {"content":" word"}` and a blank line) and reports MB/s and events/s, the median of `--runs`.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.providers import sse

ORIGINAL_REF = "8f97757"
"""The last commit with the decoder that rescanned its buffer on every chunk (issue 18, sample 4)."""
CHUNK_BYTES = 4096
LINES_BYTES = (600_000, 2_000_000)
TOKEN_STREAM_BYTES = 4_000_000

Decoder = Callable[[], Any]


def original_decoder(ref: str) -> Decoder:
    """The SSEDecoder class as it was at `ref` (raises CalledProcessError if git cannot show it)."""
    root = Path(__file__).resolve().parent.parent
    command = ["git", "show", f"{ref}:bot/providers/sse.py"]
    source = subprocess.run(command, cwd=root, check=True, capture_output=True, text=True).stdout  # noqa: S603
    module = types.ModuleType("original_sse")
    sys.modules[module.__name__] = module  # dataclasses look their module up
    exec(compile(source, f"{ref}:bot/providers/sse.py", "exec"), module.__dict__)  # noqa: S102 - our own file
    return module.__dict__["SSEDecoder"]  # type: ignore[no-any-return]


def chunks_of(data: bytes, size: int = CHUNK_BYTES) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def loop_time(decoder: Decoder, chunks: list[bytes]) -> tuple[float, float, int]:
    """(total seconds in feed, longest feed in seconds, events) for one pass over `chunks`."""
    instance = decoder()
    total = longest = 0.0
    events = 0
    for chunk in chunks:
        start = time.perf_counter()
        events += len(instance.feed(chunk))
        spent = time.perf_counter() - start
        total += spent
        longest = max(longest, spent)
    events += len(instance.close())
    return total, longest, events


def token_stream() -> bytes:
    frames = []
    size = 0
    index = 0
    while size < TOKEN_STREAM_BYTES:
        frame = f'data: {{"content":" word{index}"}}\n\n'.encode()
        frames.append(frame)
        size += len(frame)
        index += 1
    return b"".join(frames)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--original-ref", default=ORIGINAL_REF, help="git ref holding the original decoder")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-original-2mb", action="store_true", help="the original needs ~20 s for it")
    args = parser.parse_args()
    decoders: dict[str, Decoder] = {"original": original_decoder(args.original_ref), "now": sse.SSEDecoder}

    print(f"One long `data:` line fed in {CHUNK_BYTES} B chunks (loop time = total time inside feed):")
    print(f"{'line':>10} {'decoder':>9} {'loop time':>11} {'longest feed':>13}")
    for size in LINES_BYTES:
        chunks = chunks_of(b"data: " + b"A" * size + b"\n\n")
        for name, decoder in decoders.items():
            if name == "original" and size > 1_000_000 and args.skip_original_2mb:
                print(f"{size:>10,} {name:>9} {'skipped':>11}")
                continue
            total, longest, events = loop_time(decoder, chunks)
            assert events == 1
            print(f"{size:>10,} {name:>9} {total * 1000:>9.1f}ms {longest * 1000:>11.2f}ms")

    stream = token_stream()
    chunks = chunks_of(stream)
    print(
        f"\nToken stream: {len(stream) / 1e6:.1f} MB of small frames in {CHUNK_BYTES} B chunks, median of {args.runs}:"
    )
    print(f"{'decoder':>9} {'MB/s':>8} {'events/s':>12}")
    for name, decoder in decoders.items():
        times = []
        for _ in range(args.runs):
            total, _longest, events = loop_time(decoder, chunks)
            times.append(total)
        median = statistics.median(times)
        print(f"{name:>9} {len(stream) / 1e6 / median:>8.1f} {events / median:>12,.0f}")


if __name__ == "__main__":
    main()
