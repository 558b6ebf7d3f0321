"""Guild membership changes (joining, role changes) and the GUILD_MEMBER_* events they cause.

GUILD_MEMBER_ADD and GUILD_MEMBER_UPDATE need the privileged GUILD_MEMBERS intent, except that
updates of the bot's own member are sent regardless (gateway.mdx, "Caveats").
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from . import payloads
from .gateway import DataFor, Gateway, GatewaySession
from .notifier import Notifier
from .world import INTENT_GUILD_MEMBERS, MemberInfo, World


class MemberService:
    def __init__(self, world: World, gateway: Gateway, notifier: Notifier) -> None:
        self.world = world
        self.gateway = gateway
        self.notifier = notifier

    def add(self, name: str, roles: Iterable[int] = (), *, bot: bool = False) -> int:
        """A user (or another bot) joins the guild (with ``roles``, as if an onboarding bot assigned them)."""
        role_ids = self._assignable(roles)
        uid = self.world.add_member(name, roles=role_ids, bot=bot)
        self.gateway.dispatch("GUILD_MEMBER_ADD", self._event(self.world.members[uid]))
        self.notifier.notify()
        return uid

    def set_roles(self, user_id: int, roles: Iterable[int]) -> MemberInfo:
        """Replace a member's roles; managed roles (integrations, bots) they hold cannot be taken away."""
        member = self.world.members.get(user_id)
        if member is None:
            raise ValueError(f"user {user_id} is not a guild member")
        kept = [r for r in member.roles if r in self.world.roles and self.world.roles[r].managed]
        member.roles = kept + [r for r in self._assignable(roles) if r not in kept]
        self.gateway.dispatch("GUILD_MEMBER_UPDATE", self._event(member))
        self.notifier.notify()
        return member

    def _assignable(self, roles: Iterable[int]) -> list[int]:
        out: list[int] = []
        for rid in roles:
            role = self.world.roles.get(rid)
            if role is None or rid == self.world.guild_id:
                raise ValueError(f"role {rid} does not exist or is @everyone (which every member has implicitly)")
            if role.managed:
                raise ValueError(f"role {role.name!r} is managed by an integration and cannot be assigned")
            if rid not in out:
                out.append(rid)
        return out

    def _event(self, member: MemberInfo) -> DataFor:
        body = {**payloads.member_payload(self.world, member), "guild_id": str(self.world.guild_id)}
        is_bot = member.user_id == self.world.bot_user_id

        def for_session(session: GatewaySession) -> dict[str, Any] | None:
            return body if is_bot or session.intents & INTENT_GUILD_MEMBERS else None

        return for_session
