"""The operator's cost controls from `.env`: default quotas, hard caps no server may raise, whether server
managers are exempt, and how long the usage ledger keeps detail.

A quota list is comma-separated `<who>.<period>.<measure>=<number>` items, for example
`member.day.turns=50,server.month.chars=2000000`: `who` is `member` (each member) or `server` (a whole server),
`period` is `day` or `month` (in the server's own timezone), `measure` is `turns` or `chars` (characters sent
and received).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, cast

from bot.config.errors import ConfigError
from bot.config.parsing import Getter, bounded_number, flag

Who = Literal["member", "server"]
Period = Literal["day", "month"]
Measure = Literal["turns", "chars"]
WHO: tuple[Who, ...] = ("member", "server")
PERIODS: tuple[Period, ...] = ("day", "month")
MEASURES: tuple[Measure, ...] = ("turns", "chars")
MAX_QUOTA = 10**12
"""Larger than any real quota, small enough for a BIGINT counter."""
DEFAULT_RETENTION_DAYS = 90
_ITEM = re.compile(r"^(member|server)\.(day|month)\.(turns|chars)=(\d{1,13})$")


@dataclass(frozen=True)
class Limit:
    """At most `turns` turns and `chars` characters in a period; None is no limit on that measure."""

    turns: int | None = None
    chars: int | None = None

    def __bool__(self) -> bool:
        return self.turns is not None or self.chars is not None


Quotas = Mapping[tuple[Who, Period], Limit]
"""A limit for each (who, period) named; absent pairs have none."""


@dataclass(frozen=True)
class UsageSettings:
    """QUOTA_DEFAULTS, QUOTA_HARD_CAPS, QUOTA_EXEMPT_MANAGERS and USAGE_RETENTION_DAYS."""

    defaults: Quotas = field(default_factory=dict)
    """What applies where a server set nothing of its own."""
    hard_caps: Quotas = field(default_factory=dict)
    """What no server's own quota (nor a role's) can go past, managers included."""
    exempt_managers: bool = True
    """Members who can manage the server skip member quotas (a server can change it with `/limits`)."""
    retention_days: int = DEFAULT_RETENTION_DAYS
    """Days of per-turn detail; older turns are kept only as daily totals."""


def parse_quotas(name: str, raw: str | None) -> dict[tuple[Who, Period], Limit]:
    """`raw` as a quota list (module docstring); {} when unset. Raises ConfigError naming `name` and the item."""
    found: dict[tuple[Who, Period], dict[Measure, int]] = {}
    for item in (raw or "").split(","):
        item = item.strip()
        if not item:
            continue
        match = _ITEM.match(item.replace(" ", ""))
        if match is None:
            raise ConfigError(
                f"{name}: {item[:40]!r} is not a quota; write who.period.measure=number, for example"
                " member.day.turns=50 (who: member or server; period: day or month; measure: turns or chars)."
            )
        who, period, measure = cast(tuple[Who, Period, Measure], match.groups()[:3])  # the pattern allows no other
        value = int(match.group(4))
        if not 0 < value <= MAX_QUOTA:
            raise ConfigError(f"{name}: {item[:40]!r} must be a whole number from 1 to {MAX_QUOTA:,}.")
        measures = found.setdefault((who, period), {})
        if measure in measures:
            raise ConfigError(f"{name}: {who}.{period}.{measure} is given twice.")
        measures[measure] = value
    return {key: Limit(turns=m.get("turns"), chars=m.get("chars")) for key, m in found.items()}


def usage_settings(get: Getter) -> UsageSettings:
    """The four settings, each checked; raises the first ConfigError."""
    return UsageSettings(
        defaults=parse_quotas("QUOTA_DEFAULTS", get("QUOTA_DEFAULTS")),
        hard_caps=parse_quotas("QUOTA_HARD_CAPS", get("QUOTA_HARD_CAPS")),
        exempt_managers=flag(get, "QUOTA_EXEMPT_MANAGERS", default=True),
        retention_days=int(bounded_number(get, "USAGE_RETENTION_DAYS", 1, 3650, whole=True))
        if get("USAGE_RETENTION_DAYS") is not None
        else DEFAULT_RETENTION_DAYS,
    )
