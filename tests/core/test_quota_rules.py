"""Which limits a turn must fit: roles (most generous), the server, the operator's defaults and hard caps,
managers' exemption, per-provider quotas, and the server's own day and month (bot/core/quota_rules.py)."""

from __future__ import annotations

import datetime as dt

from bot.config.usage_settings import Limit, UsageSettings
from bot.core.quota_rules import Asker, counted, most_generous, window, zone
from bot.store import QuotaRule

GUILD, MEMBER = 10, 20
SUPPORTERS, MODS = 31, 32


def limits(asker: Asker, rules: list[QuotaRule], settings: UsageSettings, *, exempt: bool = False) -> dict[str, Limit]:
    when = window(dt.datetime(2026, 12, 6, 12, tzinfo=dt.UTC).timestamp(), zone(None))
    return {
        f"{c.who}.{c.period}{'.' + c.provider if c.provider else ''}": c.limit
        for c in counted(asker, "ablt", rules, settings, when, exempt=exempt)
    }


def rule(
    target: str, period: str = "day", turns: int | None = None, chars: int | None = None, provider: str = ""
) -> QuotaRule:
    return QuotaRule(GUILD, target, provider, period, turns, chars)


def test_the_most_generous_of_a_members_roles_applies_measure_by_measure() -> None:
    rules = [
        rule("member", turns=10),
        rule(f"role:{SUPPORTERS}", turns=100, chars=5000),
        rule(f"role:{MODS}", turns=50),
    ]
    asker = Asker(GUILD, MEMBER, frozenset({SUPPORTERS, MODS}))
    assert limits(asker, rules, UsageSettings())["member.day"] == Limit(100, None)  # MODS sets no character limit
    assert limits(Asker(GUILD, MEMBER), rules, UsageSettings())["member.day"] == Limit(10, None)
    assert most_generous([Limit(5, 7), Limit(None, 3)]) == Limit(None, 7)


def test_operator_defaults_fill_in_and_hard_caps_bind_servers_roles_and_exempt_managers() -> None:
    settings = UsageSettings(
        defaults={("member", "day"): Limit(20), ("server", "month"): Limit(chars=1_000_000)},
        hard_caps={("member", "day"): Limit(60), ("server", "month"): Limit(turns=3000)},
    )
    found = limits(Asker(GUILD, MEMBER, frozenset({SUPPORTERS})), [rule(f"role:{SUPPORTERS}", turns=500)], settings)
    assert found["member.day"] == Limit(60)  # the role asked for 500; the operator caps at 60
    assert found["server.month"] == Limit(3000, 1_000_000)
    assert found["member.month"] == Limit()
    manager = Asker(GUILD, MEMBER, manages_server=True)
    assert limits(manager, [rule("member", turns=5)], settings, exempt=True)["member.day"] == Limit(60)


def test_a_provider_quota_counts_only_that_provider_and_defaults_name_none() -> None:
    settings = UsageSettings(defaults={("member", "day"): Limit(20)})
    found = limits(Asker(GUILD, MEMBER), [rule("member", turns=3, provider="ablt")], settings)
    assert found["member.day.ablt"] == Limit(3) and found["member.day"] == Limit(20)


def test_in_a_dm_only_the_members_own_counters_count() -> None:
    found = limits(Asker(0, MEMBER), [], UsageSettings(defaults={("server", "day"): Limit(1)}))
    assert not any(key.startswith("server") for key in found)


def test_days_and_months_are_the_servers_own_and_end_at_its_midnights() -> None:
    warsaw = zone("Europe/Warsaw")
    late = dt.datetime(2026, 12, 31, 23, 30, tzinfo=dt.UTC).timestamp()  # already 2027 in Warsaw
    assert (window(late, zone(None)).day, window(late, warsaw).day) == ("2026-12-31", "2027-01-01")
    assert window(late, warsaw).month == "2027-01"
    ends = window(late, zone(None))
    assert ends.day_ends_at == ends.month_ends_at == dt.datetime(2027, 1, 1, tzinfo=dt.UTC).timestamp()
    assert window(late, warsaw).day_ends_at == dt.datetime(2027, 1, 1, 23, tzinfo=dt.UTC).timestamp()
