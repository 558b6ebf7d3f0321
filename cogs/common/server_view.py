"""How `/settings` and `/access` describe a server's rules to its managers."""

from __future__ import annotations

from collections.abc import Mapping

from bot.core.gate import Gate
from bot.core.server_rules import END_OTHERS, Grant, ServerRules, open_to_everyone

_DEFAULTS = {END_OTHERS: "server managers and thread moderators"}
SHOWN_PER_LIST = 40
"""Mentions listed per ability, so one ability always fits in a message (about 1,000 characters)."""


def describe_rules(rules: ServerRules, gate: Gate, names: Mapping[str, str], abilities: Mapping[str, str]) -> str:
    default = names.get(rules.default_provider or "")
    cooldown = gate.cooldown_s(rules)
    cap = gate.max_conversations(rules)
    lines = [
        "**AI settings for this server**",
        f"Default provider: {default or 'none (a bound channel, or the only provider, or the member picks)'}",
        "Cooldown: "
        + (f"{cooldown:g} s between a member's messages to the AI (managers exempt)" if cooldown else "none")
        + _origin(rules.cooldown_s),
        "Conversations at once: "
        + (f"at most {cap} (one quiet for {gate.idle_s / 60:g} min stops counting)" if cap else "no limit")
        + _origin(rules.max_conversations),
        "",
        "**Who may** (change with `/access`)",
        *(describe_ability(ability, label, rules) for ability, label in abilities.items()),
    ]
    return "\n".join(lines)


def describe_ability(ability: str, label: str, rules: ServerRules) -> str:
    grants = rules.grants.get(ability, ())
    if not grants:
        who = "everyone" if open_to_everyone(ability) else _DEFAULTS.get(ability, "server managers")
        return f"{label}: {who} (default)"
    listed = ", ".join(_mention(grant, rules.guild_id) for grant in grants[:SHOWN_PER_LIST])
    more = f" and {len(grants) - SHOWN_PER_LIST} more" if len(grants) > SHOWN_PER_LIST else ""
    return f"{label}: {_DEFAULTS.get(ability, 'server managers')}, and {listed}{more}"


def _mention(grant: Grant, guild_id: int) -> str:
    if grant.kind == "role":
        return "@everyone" if grant.target_id == guild_id else f"<@&{grant.target_id}>"
    return f"<@{grant.target_id}>"


def _origin(value: object) -> str:
    return " (bot default)" if value is None else ""
