"""The door to the AI: a server's allow-lists, its per-member cooldown and its cap on conversations.

Every way a member reaches a provider (`/chat`, a message, a click) asks the gate first; a refusal is
a `Refused` whose message is safe to show. Cooldowns, the activity the cap counts and the places being
opened live in the shared store and change atomically, so several shard processes (and restarts) agree.
Each server's rules are read once and kept in memory by the process that serves it (a server's commands
reach only that process).
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from bot.config.settings import CommunitySettings
from bot.core.places import is_place
from bot.core.server_rules import BIND, CHAT, END_OTHERS, Grant, Member, ServerRules, use_provider
from bot.store import SessionRecord, Store
from bot.store.server_rules import Setting

DMS_OFF = "I only chat in servers. Use `/chat` in a server we share."
CHAT_REFUSED = (
    "On this server only some members may talk to the AI, and you are not one of them."
    " A server manager can change that with `/access`."
)
BIND_REFUSED = "Only server managers, or members they allow with `/access`, may bind channels here."
MANAGE_REFUSED = (
    "Only the member who started this conversation, or someone allowed to end other members'"
    " conversations, can do that."
)
USER_INSTALLS_OFF = "This bot isn't offered through members' own accounts. Use it in a server it is in."
NOT_IN_PLACES = (
    "**{name}** can't be used here through your own account: pick another provider, or use it in a server the bot"
    " is in."
)
OPENING_TTL_S = 120.0
"""A place held for a conversation being opened frees itself after this, should its process die meanwhile."""


class Refused(Exception):
    """The gate said no; `str(exc)` tells the member why, in a sentence."""


class Gate:
    def __init__(self, store: Store, defaults: CommunitySettings, provider_names: Mapping[str, str]) -> None:
        self._store = store
        self._defaults = defaults
        self._names = dict(provider_names)
        self._rules: dict[int, ServerRules] = {}
        """Every server's rules, loaded once (`load`): asked on every message, changed only through this gate."""

    @property
    def allow_dms(self) -> bool:
        return self._defaults.allow_dms

    @property
    def user_installs(self) -> bool:
        """Members may use the app through their own installation (bot/core/places.py)."""
        return self._defaults.user_installs

    def offered_in_places(self, provider_key: str) -> bool:
        """Whether members may use `provider_key` through their own installation."""
        offered = self._defaults.user_install_providers
        return self.user_installs and (not offered or provider_key in offered)

    async def load(self) -> None:
        """Read every server's rules once at start-up; servers without any follow the defaults."""
        self._rules = await self._store.server_rules.load_all()

    async def rules(self, guild_id: int) -> ServerRules:
        return self._rules.get(guild_id) or ServerRules(guild_id)

    async def change_setting(self, guild_id: int, setting: Setting, value: str | float | None) -> ServerRules:
        """Set one of the server's settings (None: back to the bot-wide default)."""
        await self._store.server_rules.set(guild_id, setting, value)
        return await self._reload(guild_id)

    async def grant(self, guild_id: int, ability: str, grant: Grant, *, by: int) -> bool:
        """Add to an ability's allow-list; False if already there."""
        added = await self._store.server_rules.grant(guild_id, ability, grant, by=by)
        await self._reload(guild_id)
        return added

    async def revoke(self, guild_id: int, ability: str, target_id: int) -> bool:
        removed = await self._store.server_rules.revoke(guild_id, ability, target_id)
        await self._reload(guild_id)
        return removed

    async def clear(self, guild_id: int, ability: str) -> int:
        removed = await self._store.server_rules.clear(guild_id, ability)
        await self._reload(guild_id)
        return removed

    async def _reload(self, guild_id: int) -> ServerRules:
        rules = self._rules[guild_id] = await self._store.server_rules.load(guild_id)
        return rules

    def cooldown_s(self, rules: ServerRules | None) -> float:
        return self._defaults.cooldown_s if rules is None or rules.cooldown_s is None else rules.cooldown_s

    def max_conversations(self, rules: ServerRules) -> int:
        cap = rules.max_conversations
        return self._defaults.max_conversations if cap is None else cap

    @property
    def idle_s(self) -> float:
        return self._defaults.conversation_idle_s

    # ---- conversations -------------------------------------------------------------------------

    @asynccontextmanager
    async def new_conversation(
        self, guild_id: int | None, member: Member, provider_key: str, *, in_place: bool = False
    ) -> AsyncIterator[None]:
        """Admit a new conversation and hold its place under the server's cap until the block ends.

        Open the session inside the block: once it exists the cap counts it from the database. The place is
        held in the shared store, so two processes racing for a server's last place give one conversation.
        `in_place`: reached through the member's own install (bot/core/places.py), where the operator's rules
        apply, not a server's.
        """
        rules = await self._admit_talker(None if in_place else guild_id, member, provider_key, in_place=in_place)
        cap = self.max_conversations(rules) if rules else 0
        place = None
        if rules is not None and cap:
            since = time.time() - self.idle_s
            place = await self._store.coordination.hold_place(rules.guild_id, cap, since, OPENING_TTL_S)
            if place is None:
                raise Refused(self._full(cap))
        try:
            await self._cool_down(guild_id, member, rules)
            yield
        finally:
            if place is not None:
                await self._store.coordination.release_place(place)

    async def admit_turn(
        self, member: Member, session: SessionRecord, *, cooldown: bool = True, touch: bool = True
    ) -> None:
        """A member speaks in a conversation (a message, or with `cooldown=False` a click on a choice). The session
        counts as going from now; `touch=False` leaves marking it so to the turn's words step, which does it in the
        same write as the words (bot/store/said.py). Raises Refused."""
        guild_id = session.guild_id
        rules = await self._admit_talker(guild_id, member, session.provider, in_place=is_place(session.channel_id))
        cap = self.max_conversations(rules) if rules else 0
        since = time.time() - self.idle_s
        if rules is not None and cap and session.last_active_at < since:  # waking a quiet one takes a place again
            if not await self._store.coordination.wake_session(session.id, rules.guild_id, cap, since):
                raise Refused(self._full(cap))
        elif touch:
            await self._store.touch_session(session.id)
        if cooldown:
            await self._cool_down(guild_id, member, rules)

    async def _admit_talker(
        self, guild_id: int | None, member: Member, provider_key: str, *, in_place: bool = False
    ) -> ServerRules | None:
        """The server's rules once its allow-lists let the member talk to this provider; None in a DM and in a
        place reached through the member's own install (the operator's choice of providers applies there)."""
        if in_place:
            if not self.user_installs:
                raise Refused(USER_INSTALLS_OFF)
            if not self.offered_in_places(provider_key):
                raise Refused(NOT_IN_PLACES.format(name=self._names.get(provider_key, provider_key)))
            return None
        if guild_id is None:
            if not self.allow_dms:
                raise Refused(DMS_OFF)
            return None
        rules = await self.rules(guild_id)
        if not rules.allows(CHAT, member):
            raise Refused(CHAT_REFUSED)
        if not rules.allows(use_provider(provider_key), member):
            name = self._names.get(provider_key, provider_key)
            raise Refused(
                f"On this server **{name}** is for some members only, and you are not one of them."
                " Pick another provider, or ask a server manager (`/access`)."
            )
        return rules

    async def _cool_down(self, guild_id: int | None, member: Member, rules: ServerRules | None) -> None:
        """Let the member speak if their cooldown passed (and start the next one); managers are exempt."""
        cooldown_s = self.cooldown_s(rules)
        if cooldown_s <= 0 or member.manages_server:
            return
        wait = await self._store.coordination.cooldown(guild_id, member.id, cooldown_s)
        if wait > 0:
            raise Refused(
                f"Slow down a little: here you can send the AI one message every {_duration(cooldown_s)}."
                f" Try again in {_duration(max(1, math.ceil(wait)))}."
            )

    def _full(self, cap: int) -> str:
        return (
            f"This server already has {cap} conversation{'s' if cap != 1 else ''} going, the most it allows."
            f" Try again when one ends (`/end`) or has been quiet for {_duration(self.idle_s)}."
        )

    # ---- administration ------------------------------------------------------------------------

    async def check_bind(self, guild_id: int, member: Member) -> None:
        if not (await self.rules(guild_id)).allows(BIND, member):
            raise Refused(BIND_REFUSED)

    async def check_talk(self, member: Member, session: SessionRecord) -> None:
        """Whether the allow-lists let the member talk to this conversation's provider (`/export` asks);
        raises Refused. Nothing is spent: no cooldown starts and the cap is not consulted."""
        await self._admit_talker(session.guild_id, member, session.provider, in_place=is_place(session.channel_id))

    async def check_manage(self, member: Member, session: SessionRecord) -> None:
        """`/end`, `/reset`, `/action`: the conversation's starter, or whoever may end others' conversations."""
        if member.id == session.started_by or session.guild_id is None:
            return
        if not (await self.rules(session.guild_id)).allows(END_OTHERS, member):
            raise Refused(MANAGE_REFUSED)


def _duration(seconds: float) -> str:
    """`45 s`, `2 min`, `1 h 30 min`: short and readable."""
    total = math.ceil(seconds)
    if total < 60:
        return f"{total} s"
    hours, minutes = divmod(math.ceil(total / 60), 60)
    if not hours:
        return f"{minutes} min"
    return f"{hours} h" + (f" {minutes} min" if minutes else "")
