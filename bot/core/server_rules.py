"""Who may do what on a server: pure decisions over the allow-lists its managers set.

An ability's allow-list holds role and user IDs (never names: names change and repeat). An empty
list means the default: everyone may chat and use every provider; only managers bind channels or end
other members' conversations. Members who can manage the server always pass, so nobody can lock
the managers out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

CHAT = "chat"
BIND = "bind"
END_OTHERS = "end_others"
_PROVIDER_PREFIX = "use:"

GrantKind = Literal["role", "user"]


def use_provider(provider_key: str) -> str:
    """The ability to talk to one provider."""
    return _PROVIDER_PREFIX + provider_key


def provider_of(ability: str) -> str | None:
    return ability[len(_PROVIDER_PREFIX) :] if ability.startswith(_PROVIDER_PREFIX) else None


def abilities(provider_names: Mapping[str, str]) -> dict[str, str]:
    """Every ability with a label for members, in the order `/access` lists them."""
    return {
        CHAT: "Talk to the AI (start conversations, send messages)",
        **{use_provider(key): f"Use {name}" for key, name in provider_names.items()},
        BIND: "Bind channels to a provider",
        END_OTHERS: "End or reset other members' conversations",
    }


def open_to_everyone(ability: str) -> bool:
    """Whether an ability with an empty allow-list is everyone's (rather than managers' only)."""
    return ability == CHAT or provider_of(ability) is not None


@dataclass(frozen=True)
class Grant:
    target_id: int
    kind: GrantKind


@dataclass(frozen=True)
class Member:
    """What the rules need to know about a member: who they are, their roles, their Discord permissions."""

    id: int
    role_ids: frozenset[int] = frozenset()
    manages_server: bool = False
    manages_threads: bool = False


@dataclass(frozen=True)
class ServerRules:
    """One server's settings; a limit left None falls back to the bot-wide default."""

    guild_id: int
    default_provider: str | None = None
    cooldown_s: float | None = None
    max_conversations: int | None = None
    timezone: str | None = None
    quota_exempt_managers: bool | None = None
    grants: Mapping[str, tuple[Grant, ...]] = field(default_factory=dict)

    def allows(self, ability: str, member: Member) -> bool:
        if member.manages_server:
            return True
        if ability == END_OTHERS and member.manages_threads:  # Discord's own thread moderators
            return True
        granted = self.grants.get(ability, ())
        if not granted:
            return open_to_everyone(ability)
        ids = {grant.target_id for grant in granted}
        return member.id in ids or not ids.isdisjoint(member.role_ids)


def group_grants(rows: Iterable[tuple[str, Grant]]) -> dict[str, tuple[Grant, ...]]:
    grouped: dict[str, list[Grant]] = {}
    for ability, grant in rows:
        grouped.setdefault(ability, []).append(grant)
    return {ability: tuple(grants) for ability, grants in grouped.items()}
