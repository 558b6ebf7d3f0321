"""Agentverse benchmark: many concurrent sessions through the real bot and the loopback emulators.

    python -m bench.agentverse [--sessions 100] [--engine-delay 0.5-3] [--actions 4] [--runs 1]
                               [--seed 1] [--think 0.5-1.5] [--together] [--in-process] [--routes]
                               [--restarts] [--plans] [--slowest N]

Each session is one member working through the default travel flow, one action after another:
`/chat` (the engine answers with a task list), a click on a task (info and a subtask list, which the bot
picks itself, then a question), an answer (the question again, which the bot answers itself, then a
confirmation) and a click on Confirm (results, the completion notice, stop). `--actions` keeps the
first N of these four. The engine makes each answer available `--engine-delay` seconds after the submit
that caused it: a number, or a range `low-high` drawn uniformly per submit (seeded: the same session and
submit get the same delay in every run). Members wait `--think` seconds (a range, seeded) before their
next action; with `--together` every session's next action waits until all sessions saw their answer
and they all act at once (for example `--actions 2 --think 0 --together --in-process --engine-delay 2`).

By default the bot runs as `python -m bot` in a subprocess (SQLite in a temporary folder), so its CPU is
its own; both emulators run in this process, whose event-loop lag is measured to show they kept up.

Printed per run, over every engine message with a visible trace in Discord (all but `stop`):
- available at the engine -> visible in Discord (created, or edited into a message), median and p99,
  split into available -> the poll that first returned it (the poll side) and that poll -> visible
  (the bot's handling and its Discord writes: the write side), and by cause: answers to `/chat`, to a
  member's later actions, and to the submits the bot makes itself (the subtask pick, the repeated
  question's answer), which it makes while it still shows the messages before them;
- polls per minute per *waiting* session: all polls divided by the time sessions waited for the engine
  (per session, the union of [submit, first poll returning its answer]);
- Discord 429s, REST requests (and the busiest second), CPU seconds of the bot and of this process, and
  this process's event-loop lag; `--routes` also lists the Discord requests by route.
With `--runs N` a last column pools every run. With `--restarts` the runs share one database, so each run after
the first is the bot restarted, starting from the engine's answer times it kept (bot/core/answer_memory.py).
`--plans` prints the poll plans the bot made (the last three of a run); `--slowest N` prints each run's N slowest
engine messages, "unseen" for how long each waited at the engine before a poll returned it, with the times its
session was polled after the submit that caused it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.figures import percentile, table
from bot.config.settings import load_settings
from tests.emulators.ablt import AbltEmulator
from tests.emulators.agentverse import (
    BUILDING_CONTEXT,
    COMPLETED,
    QUESTION,
    TASK_LIST_TEXT,
    AgentverseEmulator,
    SessionRecord,
    submit_kind,
)
from tests.emulators.discord import DiscordEmulator, MessageRecord
from tests.support.harness import ABLT_KEY, BOT_TOKEN, BotProcess, bot_environment, stop_process

REPO = Path(__file__).resolve().parents[1]
START_S = 60.0
LEG_TIMEOUT_S = 120.0
CHECK_S = 0.05
"""How often a simulated member looks at its thread (it only decides when the member acts next)."""
LAG_TICK_S = 0.01

ENDED = "Send a new objective here to start again"
ACTIONS = 4
ANSWER = "London"


@dataclass(frozen=True)
class Options:
    sessions: int
    delay: tuple[float, float]
    actions: int
    think: tuple[float, float]
    together: bool
    in_process: bool
    seed: int
    plans: bool = False
    """Print the poll plans the bot made (it then logs at DEBUG)."""

    @property
    def delay_text(self) -> str:
        low, high = self.delay
        return f"{low:g} s" if low == high else f"{low:g}-{high:g} s (uniform)"


@dataclass(frozen=True)
class Timing:
    """One engine message: when it became available, was first polled, became visible (monotonic s)."""

    leg: int
    """1 for the answer to /chat, then one more per submit that the engine answered."""
    by_bot: bool
    """Caused by a submit the bot made on its own (the subtask pick, the repeated question's answer)."""
    available: float
    delivered: float
    visible: float


@dataclass
class Run:
    timings: list[Timing] = field(default_factory=list)
    plans: list[str] = field(default_factory=list)
    """The poll plans the bot made (with --plans), in order."""
    missing: int = 0
    """Engine messages that were delivered but never found in Discord."""
    polls: int = 0
    waiting_s: float = 0.0
    waits: int = 0
    rate_limited: int = 0
    requests: int = 0
    busiest_second: int = 0
    duration_s: float = 0.0
    bot_cpu_s: float | None = None
    bench_cpu_s: float = 0.0
    lag: list[float] = field(default_factory=list)
    routes: Counter[str] = field(default_factory=Counter)
    """Discord requests by route (with `--routes`)."""
    stories: list[tuple[float, str]] = field(default_factory=list)
    """(available -> first poll returning it, s; the wait's story) of every engine message (`--slowest`)."""


# -- the members ----------------------------------------------------------------------------------


def objective(index: int) -> str:
    return f"Objective {index:04d}: find me a flight"


def versions(message: MessageRecord) -> list[tuple[float, str]]:
    """Every content the message had, with when (created first)."""
    return message.edits or [(message.created_at, message.content)]


def offer_of(discord: DiscordEmulator, thread_id: int, label: str) -> tuple[int, str] | None:
    """(message id, custom id) of the enabled button labelled `label` in the thread, if shown."""
    for message in discord.bot_messages(thread_id):
        for row in message.components:
            for item in row.get("components", []):
                if item.get("label") == label and not item.get("disabled"):
                    return message.id, str(item["custom_id"])
    return None


def shows(discord: DiscordEmulator, thread_id: int, fragment: str) -> bool:
    return any(fragment in m.content for m in discord.bot_messages(thread_id))


async def until(check: Callable[[], Any], what: str, timeout_s: float = LEG_TIMEOUT_S) -> Any:
    deadline = time.monotonic() + timeout_s
    while not (found := check()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(CHECK_S)
    return found


class Members:
    """Drives every session's member through `actions` actions; remembers each session's thread."""

    def __init__(self, discord: DiscordEmulator, options: Options) -> None:
        self._discord = discord
        self._options = options
        self.threads: dict[str, int] = {}
        """objective -> thread id."""
        self._barriers = [asyncio.Barrier(options.sessions) for _ in range(ACTIONS)]

    async def run(self) -> None:
        await asyncio.gather(*(self._member(i) for i in range(self._options.sessions)))

    async def _think(self, index: int, action: int) -> None:
        low, high = self._options.think
        if high > 0:
            await asyncio.sleep(random.Random(f"{self._options.seed}:think:{index}:{action}").uniform(low, high))

    async def _member(self, index: int) -> None:
        discord, text = self._discord, objective(index)
        interaction = await discord.run_slash_command("chat", {"provider": "agentverse", "prompt": text})

        def thread() -> int | None:
            start = interaction.original_message
            found = next((t for t in discord.threads if start is not None and t.starter_message_id == start.id), None)
            return found.id if found is not None else None

        thread_id: int = await until(thread, f"the thread of {text!r}")
        self.threads[text] = thread_id
        for action in range(2, self._options.actions + 1):
            await self._seen(thread_id, action - 1)
            if self._options.together:
                await self._barriers[action - 2].wait()
            await self._think(index, action)
            if action == 2:
                message_id, custom_id = await until(lambda: offer_of(discord, thread_id, "Flights/Flights"), "tasks")
                await discord.click_button(message_id, custom_id)
            elif action == 3:
                await discord.send_user_message(thread_id, ANSWER)
            else:
                message_id, custom_id = await until(lambda: offer_of(discord, thread_id, "Confirm"), "Confirm")
                await discord.click_button(message_id, custom_id)
        await self._seen(thread_id, self._options.actions)

    async def _seen(self, thread_id: int, action: int) -> None:
        """Until the answer to the member's `action` (1 = /chat) shows in the thread."""
        discord = self._discord
        checks: dict[int, Callable[[], Any]] = {
            1: lambda: offer_of(discord, thread_id, "Flights/Flights"),
            2: lambda: shows(discord, thread_id, QUESTION),
            3: lambda: offer_of(discord, thread_id, "Confirm"),
            4: lambda: shows(discord, thread_id, ENDED),
        }
        await until(checks[action], f"the answer to action {action} in thread {thread_id}")


# -- measuring ------------------------------------------------------------------------------------


def fragments(session: SessionRecord) -> list[str | None]:
    """Per emitted message, a text only the bot's rendering of it shows in the thread (None: skip it)."""
    out: list[str | None] = []
    questions = 0
    for emitted in session.emitted:
        message = emitted.message
        kind = message["type"]
        if kind == "agent_info":
            text = str(message["agent_info"])
            out.append(
                "I start building the context"
                if text.startswith(BUILDING_CONTEXT[:20])
                else ("I have completed your task" if text.startswith(COMPLETED[:20]) else text[:20])
            )
        elif kind == "agent_message":
            questions += 1
            out.append(str(message["agent_message"]) if questions == 1 else "The agent asked again")
        elif kind == "agent_json":
            agent = message["agent_json"]
            if agent.get("type") == "task_list":
                out.append(TASK_LIST_TEXT[:30])
            elif agent.get("context_json"):
                out.append(str(agent.get("text"))[:30])
            else:
                out.append("Chose the subtask automatically")
        else:
            out.append(None)
    return out


def by_bot(payload: dict[str, Any], before: list[dict[str, Any]]) -> bool:
    """The bot's own submits: a subtask pick (options), or a question's answer repeated."""
    if submit_kind(payload) == "user_json:options":
        return True
    earlier = [p.get("user_message") for p in before if p["type"] == "user_message"]
    return payload["type"] == "user_message" and bool(earlier) and earlier[-1] == payload.get("user_message")


def first_visible(thread: Sequence[MessageRecord], fragment: str, since: float) -> float | None:
    times = [t for m in thread for t, content in versions(m) if t >= since and fragment in content]
    return min(times) if times else None


def waiting_time(session: SessionRecord) -> tuple[float, int]:
    """Seconds the client waited for the engine (union of [submit, first delivery]) and how many waits."""
    spans = sorted(
        (e.submitted_at, session.delivered_at[e.message["message_id"]])
        for e in session.emitted
        if e.submitted_at is not None and e.message["message_id"] in session.delivered_at
    )
    total, waits, end = 0.0, 0, float("-inf")
    for start, stop in spans:
        if start >= end:
            total, waits, end = total + stop - start, waits + 1, stop
        elif stop > end:
            total, end = total + stop - end, stop
    return total, waits


def measure(discord: DiscordEmulator, engine: AgentverseEmulator, threads: dict[str, int], run: Run) -> None:
    for session in engine.sessions.values():
        thread_id = threads.get(str(session.submits[0].get("objective"))) if session.submits else None
        if thread_id is None:
            continue
        thread = discord.bot_messages(thread_id)
        answered = [p for p in session.submits if p["type"] != "stop" and p not in session.unexpected]
        leg, last_submit = 0, None
        for emitted, fragment in zip(session.emitted, fragments(session), strict=True):
            if emitted.submitted_at != last_submit:
                leg, last_submit = leg + 1, emitted.submitted_at
            delivered = session.delivered_at.get(emitted.message["message_id"])
            if fragment is None or delivered is None:
                continue
            visible = first_visible(thread, fragment, emitted.available_at)
            if visible is None:
                run.missing += 1
                continue
            own = leg <= len(answered) and by_bot(answered[leg - 1], answered[: leg - 1])
            run.timings.append(Timing(leg, own, emitted.available_at, delivered, visible))
            run.stories.append((delivered - emitted.available_at, wait_story(session, emitted.submitted_at, emitted)))
        waited, waits = waiting_time(session)
        run.waiting_s += waited
        run.waits += waits
        run.polls += session.polls


def wait_story(session: SessionRecord, submitted_at: float | None, emitted: Any) -> str:
    """One message's wait, in seconds after the submit that caused it: when the engine made it available and when
    the session was polled until it was delivered."""
    start = submitted_at if submitted_at is not None else emitted.available_at
    delivered = session.delivered_at[emitted.message["message_id"]]
    polls = [t - start for t in session.poll_times if start <= t <= delivered]
    shown = ", ".join(f"{t:.2f}" for t in polls)
    return f"{session.session_id[:8]} leg {emitted.available_at - start:.2f} s available; polls at [{shown}]"


async def lag_probe(samples: list[float]) -> None:
    """How late this process's event loop wakes up (the emulators share it)."""
    while True:
        before = time.monotonic()
        await asyncio.sleep(LAG_TICK_S)
        samples.append(time.monotonic() - before - LAG_TICK_S)


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- one run --------------------------------------------------------------------------------------


class SubprocessBot:
    """`python -m bot` against the emulators, logging to a file in `workdir`."""

    def __init__(self, environment: dict[str, str], discord: DiscordEmulator, workdir: Path) -> None:
        self._environment = environment
        self._discord = discord
        self._log = workdir / "bot.log"
        self.process: asyncio.subprocess.Process | None = None
        self.log_level = "WARNING"

    async def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.isupper() or k in {"PATH", "HOME", "LANG"}}
        env |= self._environment | {"PYTHONPATH": str(REPO), "LOG_LEVEL": self.log_level}
        with self._log.open("a") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", cwd=self._log.parent, env=env, stdout=log, stderr=log
            )
        process, discord = self.process, self._discord
        try:
            await until(
                lambda: process.returncode is not None or (discord.ready_count > 0 and discord.core.command_syncs > 0),
                "the bot to connect",
                START_S,
            )
        except TimeoutError:
            raise RuntimeError(f"the bot did not connect; its log:\n{self.log()[-4000:]}") from None
        if process.returncode is not None:
            raise RuntimeError(f"the bot exited with {process.returncode}; its log:\n{self.log()[-4000:]}")

    def log(self) -> str:
        return self._log.read_text(errors="replace") if self._log.exists() else ""

    async def stop(self) -> None:
        if self.process is not None:
            await stop_process(self.process)


async def run_once(options: Options, workdir: Path) -> Run:
    discord = DiscordEmulator(token=BOT_TOKEN)
    ablt = AbltEmulator(api_key=ABLT_KEY)
    low, high = options.delay
    engine = AgentverseEmulator(
        delay_s=low, delay_range_s=None if low == high else options.delay, delay_seed=options.seed
    )
    for server in (discord, ablt, engine):
        await server.start()
    environment = bot_environment(discord, ablt, workdir / "bench.sqlite3", agentverse=engine)
    bot: BotProcess | SubprocessBot
    if options.in_process:
        bot = BotProcess(load_settings(environment, None), discord)
    else:
        bot = SubprocessBot(environment, discord, workdir)
        bot.log_level = "DEBUG" if options.plans else "WARNING"
    run = Run()
    members = Members(discord, options)
    probe = asyncio.create_task(lag_probe(run.lag))
    try:
        await bot.start()
        await asyncio.sleep(1.0)  # start-up work settles
        run.lag.clear()
        requests, limited = len(discord.requests), discord.rate_limit_hits
        pid = bot.process.pid if isinstance(bot, SubprocessBot) and bot.process is not None else None
        bot_cpu, bench_cpu = (cpu_seconds(pid) if pid else 0.0), time.process_time()
        started = time.monotonic()
        await members.run()
        run.duration_s = time.monotonic() - started
        run.bench_cpu_s = time.process_time() - bench_cpu
        run.bot_cpu_s = cpu_seconds(pid) - bot_cpu if pid else None
        run.rate_limited = discord.rate_limit_hits - limited
        made = [r.t for r in discord.requests[requests:]]
        run.requests = len(made)
        run.busiest_second = max(Counter(int(t - started) for t in made).values(), default=0)
        run.routes = Counter(str(r.route or r.path) for r in discord.requests[requests:])
    except BaseException:
        if isinstance(bot, SubprocessBot):
            print(bot.log()[-4000:], file=sys.stderr)
        raise
    finally:
        probe.cancel()
        await bot.stop()
        for server in (engine, ablt, discord):
            await server.close()
    measure(discord, engine, members.threads, run)
    if isinstance(bot, SubprocessBot):  # with --plans the bot logs each poll plan it makes (at DEBUG)
        run.plans = re.findall(r"poll plan from \d+ answers: .*", bot.log())
    return run


# -- the report -----------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def p50_p99(values: Sequence[float]) -> str:
    return f"{ms(percentile(values, 50))} / {ms(percentile(values, 99))}" if values else "-"


def rows_for(run: Run) -> list[str]:
    total = [t.visible - t.available for t in run.timings]
    polled = [t.delivered - t.available for t in run.timings]
    written = [t.visible - t.delivered for t in run.timings]
    first = [t.visible - t.available for t in run.timings if t.leg == 1]
    later = [t.visible - t.available for t in run.timings if t.leg > 1 and not t.by_bot]
    own = [t.visible - t.available for t in run.timings if t.by_bot]
    own_polled = [t.delivered - t.available for t in run.timings if t.by_bot]
    member_polled = [t.delivered - t.available for t in run.timings if not t.by_bot]
    first_written = [t.visible - t.delivered for t in run.timings if t.leg == 1]
    later_written = [t.visible - t.delivered for t in run.timings if t.leg > 1]
    share = sum(written) / sum(total) if total and sum(total) > 0 else float("nan")
    return [
        f"{len(run.timings)}" + (f" ({run.missing} not found)" if run.missing else ""),
        p50_p99(total),
        p50_p99(polled),
        p50_p99(written),
        f"{share:.0%}",
        p50_p99(first),
        p50_p99(later),
        p50_p99(own),
        p50_p99(member_polled),
        p50_p99(own_polled),
        p50_p99(first_written),
        p50_p99(later_written),
        f"{run.polls / (run.waiting_s / 60):.1f}" if run.waiting_s else "-",
        f"{run.polls} / {run.waits} / {run.waiting_s:.0f} s",
        str(run.rate_limited),
        f"{run.requests} / {run.busiest_second}",
        f"{run.duration_s:.1f} s",
        f"{run.bot_cpu_s:.1f} / {run.bench_cpu_s:.1f}" if run.bot_cpu_s is not None else f"- / {run.bench_cpu_s:.1f}",
        f"{ms(percentile(run.lag, 99))} / {ms(max(run.lag, default=0.0))}",
    ]


FIGURES = (
    "engine messages measured",
    "available -> visible, p50 / p99 (ms)",
    "  available -> first poll returning it (poll side)",
    "  that poll -> visible (bot + Discord writes)",
    "  write side's share of the summed latency",
    "  answers to /chat (task list)",
    "  answers to a member's later actions",
    "  answers to the bot's own submits (subtask, repeat)",
    "  poll side, answers to a member's action",
    "  poll side, answers to the bot's own submits",
    "  write side, answers to /chat (in the new thread)",
    "  write side, later answers (mostly followups)",
    "polls per minute per waiting session",
    "  polls / waits / time waited",
    "Discord 429s",
    "Discord REST requests / in the busiest second",
    "duration (first /chat -> last answer seen)",
    "CPU s: bot / this process (emulators)",
    "this process's loop lag p99 / max (ms)",
)


def report(options: Options, runs: list[Run]) -> str:
    columns = [rows_for(run) for run in runs]
    header = [f"run {i + 1}" for i in range(len(runs))]
    if len(runs) > 1:
        pooled = Run(
            timings=[t for r in runs for t in r.timings],
            missing=sum(r.missing for r in runs),
            polls=sum(r.polls for r in runs),
            waiting_s=sum(r.waiting_s for r in runs),
            waits=sum(r.waits for r in runs),
            rate_limited=sum(r.rate_limited for r in runs),
            requests=sum(r.requests for r in runs),
            busiest_second=max(r.busiest_second for r in runs),
            duration_s=statistics.median(r.duration_s for r in runs),
            bot_cpu_s=None if runs[0].bot_cpu_s is None else sum(r.bot_cpu_s or 0.0 for r in runs),
            bench_cpu_s=sum(r.bench_cpu_s for r in runs),
            lag=[x for r in runs for x in r.lag],
        )
        columns.append(rows_for(pooled))
        header.append("all runs")
    rows = [(figure, *(column[i] for column in columns)) for i, figure in enumerate(FIGURES)]
    where = "in-process" if options.in_process else "as a subprocess"
    think = f"{options.think[0]:g}-{options.think[1]:g} s" if options.think[1] > 0 else "none"
    title = (
        f"{options.sessions} concurrent Agentverse sessions, {options.actions} member action(s) each"
        f"{' (all sessions at once)' if options.together else ''}, engine answers {options.delay_text} after each"
        f" submit (seed {options.seed}), think time {think}, bot {where}"
    )
    return f"{title}\n{table(('figure', *header), rows)}"


def seconds_range(text: str) -> tuple[float, float]:
    """`2` -> (2, 2); `0.5-3` -> (0.5, 3)."""
    low, _, high = text.partition("-")
    pair = (float(low), float(high or low))
    if pair[0] < 0 or pair[1] < pair[0]:
        raise argparse.ArgumentTypeError(f"not a range of seconds: {text!r}")
    return pair


async def main(options: Options, runs: int, routes: bool, *, restarts: bool = False, slowest: int = 0) -> None:
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for index in range(runs):
            shared = Path(tmp) / "store"  # with --restarts every run is the same bot restarted, on one database
            workdir = shared if restarts else Path(tempfile.mkdtemp(prefix=f"run{index}-", dir=tmp))
            workdir.mkdir(exist_ok=True)
            results.append(await run_once(options, workdir))
            print(f"run {index + 1}/{runs} done", file=sys.stderr)
            if routes:
                for route, count in results[-1].routes.most_common():
                    print(f"  {count:6d}  {route}", file=sys.stderr)
            for plan in results[-1].plans[-3:] if slowest == 0 else results[-1].plans:
                print(f"  {plan}", file=sys.stderr)
            for late, story in sorted(results[-1].stories, reverse=True)[:slowest]:
                print(f"  unseen {late:.2f} s: {story}", file=sys.stderr)
    print(report(options, results))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--engine-delay", type=seconds_range, default=(0.5, 3.0), help="seconds, or low-high")
    parser.add_argument("--actions", type=int, choices=range(1, ACTIONS + 1), default=ACTIONS)
    parser.add_argument("--think", type=seconds_range, default=(0.5, 1.5), help="member's pause, low-high s")
    parser.add_argument("--together", action="store_true", help="every session acts at the same moment")
    parser.add_argument("--in-process", action="store_true", help="run the bot in this process")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--routes", action="store_true", help="print Discord requests by route after each run")
    parser.add_argument(
        "--restarts", action="store_true", help="every run after the first restarts the bot on the same database"
    )
    parser.add_argument("--plans", action="store_true", help="print the last poll plans the bot made in each run")
    parser.add_argument(
        "--slowest",
        type=int,
        default=0,
        help="print each run's N slowest waits: 'unseen' (available -> the poll that returned it) and when the"
        " session was polled, in seconds after the submit; with --plans every plan, not only the last three",
    )
    args = parser.parse_args()
    chosen = Options(
        sessions=args.sessions,
        delay=args.engine_delay,
        actions=args.actions,
        think=args.think,
        together=args.together,
        in_process=args.in_process,
        seed=args.seed,
        plans=args.plans,
    )
    asyncio.run(main(chosen, args.runs, args.routes, restarts=args.restarts, slowest=args.slowest))
