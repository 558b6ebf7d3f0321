"""Quotas kept: each turn is let through (and entered in the usage ledger) only if it fits every limit, checked
atomically across processes by the store before the provider hears of it; a member over a limit reads which
one and when it resets. Decisions in bot/core/quota_rules.py; counting in bot/store/usage.py."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from bot.config.usage_settings import Limit, UsageSettings
from bot.core.gate import Gate
from bot.core.quota_rules import Asker, Counted, Window, counted, window, zone
from bot.core.recording import STORE_ERRORS
from bot.store import CounterCheck, OpenedTurn, QuotaRule, SaidEntry, Store, TurnStart, TurnUsage, UsageFinish

log = logging.getLogger(__name__)

RULES_FRESH_S = 30.0
"""How long a server's quota rules are reused before they are read again (a change made in this process is seen
at once; one made in another process within this)."""
PERIOD_WORDS = {"day": "daily", "month": "monthly"}
ROLL_UP_EVERY_S = 3600.0
"""How often each process folds old ledger detail into daily totals and drops counters of periods gone by."""
COUNTERS_KEPT_DAYS = 2
"""Day counters are kept this long: a server's day may run up to 14 hours behind or ahead of UTC's."""


class OverQuota(Exception):
    """A turn does not fit a quota; the message (for the member, privately) says which and when it resets."""


@dataclass
class Admission:
    """A turn let through: its ledger row, the counters it counts in, and what the member sent. `recorded` once
    the reply's final write carries its usage; a turn that never ran is released (`Quotas.release`)."""

    ledger_id: int
    checks: tuple[CounterCheck, ...]
    provider: str
    chars_in: int
    audio_in_s: float
    said: OpenedTurn | None = None
    """The transcript entries the admission's words' step added (bot/store/said.py), if it carried words."""
    recorded: bool = False

    def finish(self, usage: TurnUsage) -> UsageFinish:
        """What the reply's final write records in the ledger (bot/store/transcript.py `finish_entry`)."""
        self.recorded = True
        return UsageFinish(ledger_id=self.ledger_id, usage=usage, checks=self.checks)


@dataclass(frozen=True)
class Standing:
    """One counter as `/usage` shows it: what it is, used so far, its limit and when it resets (epoch s)."""

    who: str
    period: str
    provider: str
    turns: int
    chars: int
    limit: Limit
    resets_at: float


class Quotas:
    """Admits turns against quotas and keeps each server's quota rules (cached for `RULES_FRESH_S`)."""

    def __init__(
        self,
        store: Store,
        gate: Gate,
        settings: UsageSettings,
        provider_names: Mapping[str, str],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`clock`: epoch seconds now (tests move it to cross midnight without waiting)."""
        self._store = store
        self._gate = gate
        self.settings = settings
        self._names = provider_names
        self.clock = clock
        self._rules: dict[int, tuple[float, list[QuotaRule]]] = {}
        self.refused: Callable[[str], None] = lambda limit: None
        """Told each refusal's limit ("member_day", "server_month", ...) for the metrics; never who."""

    async def rules(self, guild_id: int) -> list[QuotaRule]:
        """The server's own quota rules (none in a DM)."""
        if not guild_id:
            return []
        cached = self._rules.get(guild_id)
        if cached is not None and time.monotonic() - cached[0] < RULES_FRESH_S:
            return cached[1]
        rules = await self._store.quota_rules.load(guild_id)
        self._rules[guild_id] = (time.monotonic(), rules)
        return rules

    async def set_rule(self, rule: QuotaRule, *, by: int) -> None:
        await self._store.quota_rules.set(rule, by=by)
        self._rules.pop(rule.guild_id, None)

    async def clear_rule(self, guild_id: int, target: str, provider: str, period: str) -> bool:
        cleared = await self._store.quota_rules.clear(guild_id, target, provider, period)
        self._rules.pop(guild_id, None)
        return cleared

    async def _where(self, asker: Asker, now: float) -> tuple[Window, bool]:
        """The server-local day and month `now` falls in, and whether `asker` skips member quotas."""
        server = await self._gate.rules(asker.guild_id) if asker.guild_id else None
        exempt_setting = server.quota_exempt_managers if server is not None else None
        exempt = asker.manages_server and (self.settings.exempt_managers if exempt_setting is None else exempt_setting)
        try:
            tz = zone(server.timezone if server is not None else None)
        except ValueError:
            log.warning("server %d: its timezone is unknown here; counting in UTC", asker.guild_id)
            tz = zone(None)
        return window(now, tz), exempt

    async def today(self, guild_id: int) -> Window:
        """The server's own day and month now (UTC in a DM)."""
        when, _ = await self._where(Asker(guild_id, 0), self.clock())
        return when

    async def _counted(self, asker: Asker, provider: str, now: float) -> tuple[tuple[Counted, ...], Window]:
        when, exempt = await self._where(asker, now)
        rules = await self.rules(asker.guild_id)
        return counted(asker, provider, rules, self.settings, when, exempt=exempt), when

    async def admit(
        self,
        asker: Asker,
        provider: str,
        kind: str,
        *,
        channel_id: int,
        chars_in: int,
        audio_in_s: float,
        files: int,
        said: SaidEntry | None = None,
    ) -> Admission:
        """Let one turn through and enter it in the ledger, or raise OverQuota (nothing recorded, nothing sent).
        With `said`, the member's words enter the transcript in the same step (`Admission.said`), and a
        message already taken raises DuplicateTurn with nothing counted (bot/store/transcript.py `reserve_turn`)."""
        now = self.clock()
        found, when = await self._counted(asker, provider, now)
        start = TurnStart(
            at=now,
            day=when.day,
            guild_id=asker.guild_id,
            channel_id=channel_id,
            member_id=asker.member_id,
            provider=provider,
            kind=kind,
            chars_in=chars_in,
            audio_in_s=audio_in_s,
            files=files,
        )
        checks = tuple(c.check for c in found)
        result = (
            await self._store.usage.reserve(start, checks)
            if said is None
            else await self._store.reserve_turn(start, checks, said)
        )
        if isinstance(result, int):
            return Admission(result, checks, provider, chars_in, audio_in_s)
        if isinstance(result, tuple):
            return Admission(result[0], checks, provider, chars_in, audio_in_s, said=result[1])
        full = next(c for c in found if c.check == result)
        used = (await self._store.usage.counters([result])).get((result.scope, result.period), (0, 0))
        self.refused(f"{full.who}_{full.period}")
        log.info("turn refused: a %s %s quota is used up (%s)", full.who, full.period, full.provider or "all providers")
        raise OverQuota(self._refusal(full, used, when.ends_at(full.period)))

    def _refusal(self, full: Counted, used: tuple[int, int], resets_at: float) -> str:
        turns_used = used[0]
        over_turns = full.limit.turns is not None and turns_used >= full.limit.turns
        amount = f"{full.limit.turns:,} turns" if over_turns else f"{full.limit.chars or 0:,} characters"
        scope = "your" if full.who == "member" else "this server's"
        name = self._names.get(full.provider, full.provider)
        what = f"{scope} {PERIOD_WORDS[full.period]} limit" + (f" for {name}" if full.provider else "")
        stamp = int(resets_at)
        return (
            f"⏳ That would go past {what}: {amount}. Nothing was sent to the AI."
            f" It resets <t:{stamp}:R> (<t:{stamp}:f>); `/usage` shows what is left."
        )

    async def used_up(self, asker: Asker, provider: str) -> str | None:
        """What a member would read were a turn with `provider` refused now (looked at, not spent: `/chat` asks
        before it opens a thread; the turn itself is still admitted atomically); None when there is room."""
        now = self.clock()
        found, when = await self._counted(asker, provider, now)
        limited = [c for c in found if c.limit]
        used = await self._store.usage.counters([c.check for c in limited])
        for c in limited:
            turns, chars = _used(used, c.check)
            if (c.limit.turns is not None and turns >= c.limit.turns) or (
                c.limit.chars is not None and chars >= c.limit.chars
            ):
                return self._refusal(c, (turns, chars), when.ends_at(c.period))
        return None

    async def release(self, admission: Admission) -> None:
        """Give back a turn let through that never reached the provider (already answered, no provider, a lease
        held elsewhere): its ledger row goes and its counters are as before. Logged, never raised, on store trouble."""
        if admission.recorded:
            return
        admission.recorded = True
        try:
            await self._store.usage.release(admission.ledger_id, admission.checks, admission.chars_in)
        except STORE_ERRORS as exc:
            log.warning("usage %d: a turn that did not run was not given back (%s)", admission.ledger_id, exc)

    async def keep_ledger(self) -> None:
        """Forever, every `ROLL_UP_EVERY_S`: detail older than the retention folded into daily totals, and
        counters of periods gone by dropped. Store trouble skips a round (logged)."""
        while True:
            today = dt.datetime.fromtimestamp(self.clock(), dt.UTC).date()
            try:
                folded = await self._store.usage.roll_up(str(today - dt.timedelta(days=self.settings.retention_days)))
                await self._store.usage.forget_counters(str(today - dt.timedelta(days=COUNTERS_KEPT_DAYS)))
            except STORE_ERRORS as exc:
                log.warning("usage ledger upkeep skipped: %s", exc)
            else:
                if folded:
                    log.info(
                        "usage ledger: %d turns past %d days kept as daily totals", folded, self.settings.retention_days
                    )
            await asyncio.sleep(ROLL_UP_EVERY_S)

    async def standing(self, asker: Asker, provider: str = "") -> list[Standing]:
        """The member's (and their server's) counters now, for `/usage`: totals, and `provider`'s if named."""
        now = self.clock()
        wanted, when = await self._counted(asker, provider, now)
        used = await self._store.usage.counters([c.check for c in wanted])
        return [
            Standing(c.who, c.period, c.provider, *_used(used, c.check), c.limit, when.ends_at(c.period))
            for c in wanted
        ]


def _used(used: Mapping[tuple[str, str], tuple[int, int]], check: CounterCheck) -> tuple[int, int]:
    return used.get((check.scope, check.period), (0, 0))
