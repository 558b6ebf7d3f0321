"""Guild membership changes (joining, role changes) and the GUILD_MEMBER_* events they cause.

GUILD_MEMBER_ADD and GUILD_MEMBER_UPDATE need the privileged GUILD_MEMBERS intent, except that
updates of the bot's own member are sent regardless (gateway.mdx, "Caveats").
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from . import payloads
from .gateway import DataFor, Gateway, GatewaySession
from .notifier import Notifier
from .world import World
from .world_types import INTENT_GUILD_MEMBERS, GuildInfo, MemberInfo


class MemberService:
    def __init__(self, world: World, gateway: Gateway, notifier: Notifier) -> None:
        self.world = world
        self.gateway = gateway
        self.notifier = notifier

    def add(self, name: str, roles: Iterable[int] = (), *, bot: bool = False, guild_id: int | None = None) -> int:
        """A new user (or another bot) joins ``guild_id`` (default: the default guild), with ``roles``
        as if an onboarding bot assigned them."""
        guild = self.world.guild(self.world.guild_id if guild_id is None else guild_id)
        role_ids = self._assignable(guild, roles)
        uid = self.world.add_member(name, roles=role_ids, bot=bot, guild_id=guild.id)
        self.gateway.dispatch("GUILD_MEMBER_ADD", self._event(guild, guild.members[uid]))
        self.notifier.notify()
        return uid

    def join(self, user_id: int, guild_id: int, roles: Iterable[int] = ()) -> MemberInfo:
        """An existing user joins another guild (GUILD_MEMBER_ADD carries that guild's id)."""
        self.world.require_user(user_id)
        guild = self.world.guild(guild_id)
        if user_id in guild.members:
            raise ValueError(f"user {user_id} is already a member of guild {guild_id}")
        member = self.world.join_guild(user_id, guild.id, self._assignable(guild, roles))
        self.gateway.dispatch("GUILD_MEMBER_ADD", self._event(guild, member))
        self.notifier.notify()
        return member

    def set_roles(self, user_id: int, roles: Iterable[int], guild_id: int | None = None) -> MemberInfo:
        """Replace a member's roles in ``guild_id`` (default: the default guild); managed roles
        (integrations, bots) they hold cannot be taken away."""
        guild = self.world.guild(self.world.guild_id if guild_id is None else guild_id)
        member = guild.members.get(user_id)
        if member is None:
            raise ValueError(f"user {user_id} is not a member of guild {guild.id}")
        kept = [r for r in member.roles if r in guild.roles and guild.roles[r].managed]
        member.roles = kept + [r for r in self._assignable(guild, roles) if r not in kept]
        self.gateway.dispatch("GUILD_MEMBER_UPDATE", self._event(guild, member))
        self.notifier.notify()
        return member

    def time_out(self, user_id: int, seconds: float, guild_id: int | None = None) -> MemberInfo:
        """A moderator times a member out for ``seconds`` (0 lifts it): GUILD_MEMBER_UPDATE with
        ``communication_disabled_until``. "The owner of a guild cannot be timed out" (inferred from the
        permission docs: owners are exempt); so ``ValueError`` for the owner."""
        guild = self.world.guild(self.world.guild_id if guild_id is None else guild_id)
        member = guild.members.get(user_id)
        if member is None:
            raise ValueError(f"user {user_id} is not a member of guild {guild.id}")
        if user_id == guild.owner_id:
            raise ValueError("the guild's owner cannot be timed out")
        member.timed_out_until = time.time() + seconds if seconds > 0 else None
        self.gateway.dispatch("GUILD_MEMBER_UPDATE", self._event(guild, member))
        self.notifier.notify()
        return member

    def _assignable(self, guild: GuildInfo, roles: Iterable[int]) -> list[int]:
        out: list[int] = []
        for rid in roles:
            role = guild.roles.get(rid)
            if role is None or rid == guild.id:
                raise ValueError(
                    f"role {rid} does not exist in guild {guild.id} or is @everyone (which every member has implicitly)"
                )
            if role.managed:
                raise ValueError(f"role {role.name!r} is managed by an integration and cannot be assigned")
            if rid not in out:
                out.append(rid)
        return out

    def _event(self, guild: GuildInfo, member: MemberInfo) -> DataFor:
        body = {**payloads.member_payload(self.world, member), "guild_id": str(guild.id)}
        is_bot = member.user_id == self.world.bot_user_id

        def for_session(session: GatewaySession) -> dict[str, Any] | None:
            return body if is_bot or session.intents & INTENT_GUILD_MEMBERS else None

        return for_session
