"""The bot under test: `python -m bot` subprocesses, one after another (a `kill -9` ends one, the next starts).

Each process logs to its own file (`bot-1.log`, `bot-2.log`...) and serves /metrics on a free port
(HEALTH_PORT=0, the port read from its log). Before a process ends (killed or stopped) its peak RSS
(VmHWM) and event-loop lag histogram are read, so the run's figures cover every process.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sys
import time
from pathlib import Path

import aiohttp

from bench.figures import histogram_quantile
from bench.load import Buckets, lag_buckets, memory_mib
from tests.emulators.discord import DiscordEmulator
from tests.support.harness import stop_process

REPO = Path(__file__).resolve().parents[2]
START_S = 90.0
STOP_GRACE_S = 30.0
SCRAPE_TIMEOUT_S = 5.0
HEALTH_LINE = re.compile(r"http://127\.0\.0\.1:(\d+)/healthz")


class BotProcesses:
    """Starts, kills and stops the bot; keeps every process's log, peak RSS and last lag histogram."""

    def __init__(self, discord: DiscordEmulator, env: dict[str, str], workdir: Path) -> None:
        self._discord = discord
        self._env = env
        self._workdir = workdir
        self.process: asyncio.subprocess.Process | None = None
        self.logs: list[Path] = []
        self.peaks_mib: list[float] = []
        self.lags: list[Buckets] = []
        """The last lag histogram read from each process (cumulative since it started)."""
        self.kills = 0
        self._metrics_url = ""

    @property
    def log(self) -> Path:
        return self.logs[-1]

    async def start(self) -> None:
        """Launch a process and wait until it is connected (READY, commands, its log says so, /metrics up)."""
        log = self._workdir / f"bot-{len(self.logs) + 1}.log"
        self.logs.append(log)
        readies = self._discord.ready_count
        with log.open("w") as out:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", cwd=self._workdir, env=self._env, stdout=out, stderr=out
            )
        self.peaks_mib.append(0.0)
        self.lags.append([])
        deadline = time.monotonic() + START_S
        while True:
            text = log.read_text(errors="replace")
            port = HEALTH_LINE.search(text)
            if port and self._discord.ready_count > readies and "connected to Discord as" in text:
                self._metrics_url = f"http://127.0.0.1:{port.group(1)}/metrics"
                return
            if self.process.returncode is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the bot did not connect; the end of {log}:\n{text[-3000:]}")
            await asyncio.sleep(0.2)

    async def sample(self) -> None:
        """Read the running process's peak RSS and lag histogram (kept if the read works)."""
        process = self.process
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(FileNotFoundError, ProcessLookupError, KeyError):
            self.peaks_mib[-1] = max(self.peaks_mib[-1], memory_mib(process.pid, "VmHWM"))
        timeout = aiohttp.ClientTimeout(total=SCRAPE_TIMEOUT_S)
        try:
            async with aiohttp.ClientSession(timeout=timeout) as http, http.get(self._metrics_url) as response:
                response.raise_for_status()
                self.lags[-1] = lag_buckets(await response.text())
        except (aiohttp.ClientError, TimeoutError, KeyError):
            pass  # a busy or dying process: the previous sample stands

    async def kill(self) -> None:
        """`kill -9`: no shutdown at all."""
        assert self.process is not None
        await self.sample()
        self.process.kill()
        await self.process.wait()
        self.kills += 1

    async def stop(self) -> int | None:
        """SIGTERM (the bot's clean shutdown; SIGKILL after a grace); the exit code."""
        if self.process is None:
            return None
        await self.sample()
        await stop_process(self.process, grace_s=STOP_GRACE_S)
        return self.process.returncode

    def exited(self) -> bool:
        """The current process ended by itself (not killed or stopped by the bench)."""
        return self.process is not None and self.process.returncode is not None

    def peak_rss_mib(self) -> float:
        return max(self.peaks_mib, default=float("nan"))

    def lag_p99_s(self) -> tuple[float, int, float]:
        """The 99th percentile of every process's event-loop lag samples together, the sample count, and the upper
        bound of the highest bucket any sample fell in (the worst lag, to within a bucket; seconds)."""
        merged: list[tuple[float, float]] = []
        for buckets in (b for b in self.lags if b):
            if not merged:
                merged = list(buckets)
            else:
                merged = [(le, count + more) for (le, count), (_, more) in zip(merged, buckets, strict=True)]
        if not merged:
            return float("nan"), 0, float("nan")
        below = [0.0, *(count for _, count in merged[:-1])]
        worst = max((le for (le, count), under in zip(merged, below, strict=True) if count > under), default=0.0)
        return histogram_quantile(0.99, merged), int(merged[-1][1]), worst
