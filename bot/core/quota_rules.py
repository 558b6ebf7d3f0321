"""Which limits a member's turn must fit in, and in which day and month it counts: pure decisions over a server's
quota rules, its members' roles and the operator's defaults and hard caps.

- A member quota comes from the member's roles when any of their roles has one (several: the most generous,
  measure by measure, no limit beating any number), else from the server's quota for every member, else from
  the operator's default. A server quota comes from the server, else the operator's default.
- A quota may name one provider; it then counts only that provider's turns (operator defaults name none).
- Managers skip member quotas when exempt (the server's choice, else the operator's). Hard caps bind everyone:
  no server, role or exemption goes past them.
- Days and months are the server's own (an IANA timezone it set with `/limits`, else UTC).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.config.usage_settings import PERIODS, Limit, Period, UsageSettings, Who
from bot.store import CounterCheck, QuotaRule

EVERY_MEMBER = "member"
WHOLE_SERVER = "server"
ROLE_PREFIX = "role:"


@dataclass(frozen=True)
class Asker:
    """Who a turn is for, as quotas need it: their server (0 in a DM), id, roles, and whether they manage it."""

    guild_id: int
    member_id: int
    role_ids: frozenset[int] = frozenset()
    manages_server: bool = False


@dataclass(frozen=True)
class Window:
    """The server-local day ("YYYY-MM-DD") and month ("YYYY-MM") a moment falls in, and when each ends
    (epoch seconds)."""

    day: str
    month: str
    day_ends_at: float
    month_ends_at: float

    def ends_at(self, period: Period) -> float:
        return self.day_ends_at if period == "day" else self.month_ends_at

    def key(self, period: Period) -> str:
        """The store's period key: "d:YYYY-MM-DD" or "m:YYYY-MM"."""
        return f"d:{self.day}" if period == "day" else f"m:{self.month}"


@dataclass(frozen=True)
class Counted:
    """One counter a turn counts in, with the limit it must fit (possibly none) and what it is, for members."""

    who: Who
    period: Period
    provider: str
    """"" for every provider."""
    limit: Limit
    check: CounterCheck


def zone(name: str | None) -> dt.tzinfo:
    """The timezone named (IANA, e.g. "Europe/Warsaw"); UTC when unset. Raises ValueError for an unknown name."""
    if not name:
        return dt.UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown timezone {name!r}") from exc


def window(now: float, tz: dt.tzinfo) -> Window:
    """The day and month `now` (epoch seconds) falls in, in `tz`, and their ends (local midnights)."""
    local = dt.datetime.fromtimestamp(now, tz)
    midnight = dt.datetime.combine(local.date() + dt.timedelta(days=1), dt.time(), tzinfo=tz)
    first_next = (local.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    month_end = dt.datetime.combine(first_next.date(), dt.time(), tzinfo=tz)
    return Window(local.strftime("%Y-%m-%d"), local.strftime("%Y-%m"), midnight.timestamp(), month_end.timestamp())


def most_generous(limits: Iterable[Limit]) -> Limit:
    """Per measure, the highest limit; no limit beats any number."""
    found = list(limits)
    turns = [limit.turns for limit in found]
    chars = [limit.chars for limit in found]
    return Limit(
        turns=None if None in turns else max(t for t in turns if t is not None),
        chars=None if None in chars else max(c for c in chars if c is not None),
    )


def capped(limit: Limit, cap: Limit | None) -> Limit:
    """`limit` no higher than `cap`, measure by measure."""
    if cap is None:
        return limit
    return Limit(turns=_lower(limit.turns, cap.turns), chars=_lower(limit.chars, cap.chars))


def _lower(value: int | None, cap: int | None) -> int | None:
    return cap if value is None else value if cap is None else min(value, cap)


def _rule_limit(rule: QuotaRule) -> Limit:
    return Limit(turns=rule.max_turns, chars=rule.max_chars)


def member_limit(
    asker: Asker, period: Period, provider: str, rules: Sequence[QuotaRule], settings: UsageSettings, *, exempt: bool
) -> Limit:
    """The member quota for `period` and `provider` ("" for all), before hard caps."""
    if exempt:
        return Limit()
    matching = [r for r in rules if r.period == period and r.provider == provider]
    own = [
        r for r in matching if r.target.startswith(ROLE_PREFIX) and int(r.target[len(ROLE_PREFIX) :]) in asker.role_ids
    ]
    if own:
        return most_generous(_rule_limit(r) for r in own)
    everyone = next((r for r in matching if r.target == EVERY_MEMBER), None)
    if everyone is not None:
        return _rule_limit(everyone)
    return settings.defaults.get(("member", period), Limit()) if not provider else Limit()


def server_limit(period: Period, provider: str, rules: Sequence[QuotaRule], settings: UsageSettings) -> Limit:
    """The whole server's quota for `period` and `provider`, before hard caps."""
    rule = next((r for r in rules if r.target == WHOLE_SERVER and r.period == period and r.provider == provider), None)
    if rule is not None:
        return _rule_limit(rule)
    return settings.defaults.get(("server", period), Limit()) if not provider else Limit()


def counted(
    asker: Asker,
    provider: str,
    rules: Sequence[QuotaRule],
    settings: UsageSettings,
    when: Window,
    *,
    exempt: bool,
) -> tuple[Counted, ...]:
    """Every counter a turn with `provider` counts in (a member's and, on a server, the server's; per day and
    month; in total and, unless `provider` is "", for the provider), each with its limit. Counters are kept whether
    limited or not, so a quota set mid-month already knows the month's use."""
    out: list[Counted] = []
    scopes: list[tuple[Who, str]] = [("member", f"member:{asker.guild_id}:{asker.member_id}")]
    if asker.guild_id:
        scopes.append(("server", f"guild:{asker.guild_id}"))
    for who, scope in scopes:
        for period in PERIODS:
            for key in dict.fromkeys(("", provider)):  # totals, then the provider's own (none when "")
                if who == "member":
                    limit = member_limit(asker, period, key, rules, settings, exempt=exempt)
                else:
                    limit = server_limit(period, key, rules, settings)
                limit = capped(limit, settings.hard_caps.get((who, period)) if not key else None)
                check = CounterCheck(
                    scope=f"{scope}:{key}" if key else scope,
                    period=when.key(period),
                    max_turns=limit.turns,
                    max_chars=limit.chars,
                )
                out.append(Counted(who, period, key, limit, check))
    return tuple(out)
