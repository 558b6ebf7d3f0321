"""How quotas and usage read in Discord: `/limits` lists a server's quotas, `/usage` what a member (or the server)
used and has left, with reset times as Discord timestamps."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bot.config.usage_settings import Limit, UsageSettings
from bot.core.quota_rules import EVERY_MEMBER, ROLE_PREFIX, WHOLE_SERVER
from bot.core.quotas import Standing
from bot.core.server_rules import ServerRules
from bot.store import QuotaRule, UsageRow

PER = {"day": "a day", "month": "a month"}


def amount(limit: Limit) -> str:
    """ "50 turns and 100,000 characters", or "no limit"."""
    parts = []
    if limit.turns is not None:
        parts.append(f"{limit.turns:,} turns")
    if limit.chars is not None:
        parts.append(f"{limit.chars:,} characters")
    return " and ".join(parts) or "no limit"


def _whom(target: str) -> str:
    if target == EVERY_MEMBER:
        return "Each member"
    if target == WHOLE_SERVER:
        return "The whole server"
    return f"Each member with <@&{target.removeprefix(ROLE_PREFIX)}>"


def describe_limits(
    rules: Sequence[QuotaRule], server: ServerRules, settings: UsageSettings, names: Mapping[str, str]
) -> str:
    """The server's quotas, then the operator's defaults and caps, the timezone and the managers' exemption."""
    lines = ["**Quotas on this server**"]
    for rule in sorted(rules, key=lambda r: (r.target != EVERY_MEMBER, r.target, r.provider, r.period)):
        only = f" ({names.get(rule.provider, rule.provider)} only)" if rule.provider else ""
        lines.append(
            f"- {_whom(rule.target)}: {amount(Limit(rule.max_turns, rule.max_chars))} {PER[rule.period]}{only}"
        )
    if not rules:
        lines.append("- None of its own.")
    for title, quotas in (("The bot's defaults where none is set", settings.defaults), ("Caps", settings.hard_caps)):
        if quotas:
            lines.append(f"**{title}** (set by the bot's operator)")
            for (who, period), limit in sorted(quotas.items()):
                lines.append(
                    f"- {'Each member' if who == 'member' else 'The whole server'}: {amount(limit)} {PER[period]}"
                )
    exempt = settings.exempt_managers if server.quota_exempt_managers is None else server.quota_exempt_managers
    lines.append(f"Days and months count in **{server.timezone or 'UTC'}**.")
    lines.append("Server managers " + ("skip member quotas." if exempt else "count like every member."))
    return "\n".join(lines)


def describe_standing(standing: Sequence[Standing], names: Mapping[str, str]) -> str:
    """What a member used today and this month, on their own and the server as a whole, and what is left."""
    lines = []
    for who, title in (("member", "**Your use**"), ("server", "**This server**")):
        rows = [s for s in standing if s.who == who]
        if not rows:
            continue
        lines.append(title)
        for s in rows:
            only = f" on {names.get(s.provider, s.provider)}" if s.provider else ""
            when = "Today" if s.period == "day" else "This month"
            line = f"- {when}{only}: {s.turns:,} turns, {s.chars:,} characters"
            left = _left(s)
            if left:
                line += f"; {left} left, resets <t:{int(s.resets_at)}:R>"
            lines.append(line)
    return "\n".join(lines)


def _left(s: Standing) -> str:
    parts = []
    if s.limit.turns is not None:
        parts.append(f"{max(0, s.limit.turns - s.turns):,} of {s.limit.turns:,} turns")
    if s.limit.chars is not None:
        parts.append(f"{max(0, s.limit.chars - s.chars):,} of {s.limit.chars:,} characters")
    return " and ".join(parts)


def describe_server_usage(by_provider: Sequence[UsageRow], top: Sequence[UsageRow], names: Mapping[str, str]) -> str:
    """A manager's view: this month's totals by provider and the members who used most."""
    lines = ["**This server this month**"]
    for row in by_provider:
        provider = names.get(row.provider or "", row.provider or "?")
        lines.append(
            f"- {provider}: {row.turns:,} turns, {row.chars_in + row.chars_out:,} characters"
            + (f", {row.audio_in_s + row.audio_out_s:,.0f} s of voice" if row.audio_in_s + row.audio_out_s else "")
        )
    if not by_provider:
        lines.append("- No turns yet.")
    if top:
        lines.append("**Who used most this month**")
        lines.extend(f"{n}. <@{row.member_id}>: {row.turns:,} turns" for n, row in enumerate(top, 1))
    return "\n".join(lines)
