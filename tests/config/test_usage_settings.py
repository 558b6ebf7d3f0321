"""QUOTA_DEFAULTS, QUOTA_HARD_CAPS, QUOTA_EXEMPT_MANAGERS and USAGE_RETENTION_DAYS: read, or refused by name."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.config.errors import ConfigError
from bot.config.settings import load_settings
from bot.config.usage_settings import MAX_QUOTA, Limit, parse_quotas

BASE = {"DISCORD_TOKEN": "t", "ABLT_API_KEY": "k"}


def test_quota_lists_are_read_into_limits_per_who_and_period() -> None:
    settings = load_settings(
        {**BASE, "QUOTA_DEFAULTS": "member.day.turns=50, member.day.chars=20000,server.month.turns=5000",
         "QUOTA_HARD_CAPS": "member.day.turns=200", "QUOTA_EXEMPT_MANAGERS": "off", "USAGE_RETENTION_DAYS": "30"},
        None,
    )  # fmt: skip
    usage = settings.usage
    assert usage.defaults == {("member", "day"): Limit(50, 20000), ("server", "month"): Limit(5000, None)}
    assert usage.hard_caps == {("member", "day"): Limit(200, None)}
    assert (usage.exempt_managers, usage.retention_days) == (False, 30)


def test_unset_means_no_quota_managers_exempt_and_ninety_days() -> None:
    usage = load_settings(BASE, None).usage
    assert (usage.defaults, usage.hard_caps, usage.exempt_managers, usage.retention_days) == ({}, {}, True, 90)


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("member.week.turns=5", "is not a quota"),
        ("everyone.day.turns=5", "is not a quota"),
        ("member.day.turns=0", "from 1 to"),
        ("member.day.turns=-3", "is not a quota"),
        ("member.day.turns=5,member.day.turns=6", "given twice"),
        ("member.day.turns", "is not a quota"),
    ],
)
def test_a_bad_quota_list_is_refused_naming_the_variable_and_the_item(raw: str, says: str) -> None:
    with pytest.raises(ConfigError, match="QUOTA_DEFAULTS") as caught:
        load_settings({**BASE, "QUOTA_DEFAULTS": raw}, None)
    assert says in str(caught.value)


item = st.tuples(
    st.sampled_from(["member", "server"]),
    st.sampled_from(["day", "month"]),
    st.sampled_from(["turns", "chars"]),
    st.integers(1, MAX_QUOTA),
)


@given(st.lists(item, max_size=8, unique_by=lambda i: i[:3]))
def test_any_well_formed_list_reads_back_exactly(items: list[tuple[str, str, str, int]]) -> None:
    parsed = parse_quotas("QUOTA_DEFAULTS", ",".join(f"{w}.{p}.{m}={n}" for w, p, m, n in items))
    for who, period, measure, number in items:
        assert getattr(parsed[(who, period)], measure) == number  # type: ignore[index]
    assert len(parsed) == len({(w, p) for w, p, _, _ in items})


@given(st.text(max_size=60))
def test_any_text_is_read_or_refused_with_a_config_error(raw: str) -> None:
    try:
        parse_quotas("QUOTA_DEFAULTS", raw)
    except ConfigError as exc:
        assert "QUOTA_DEFAULTS" in str(exc)
