"""The door to the AI: a server's allow-lists, its per-member cooldown and its cap on conversations.

Every way a member reaches a provider (`/chat`, a message, a click) asks the gate first; a refusal is
a `Refused` whose message is safe to show. Cooldowns are kept in memory (a restart forgets them);
rules and the activity that the cap counts are in SQLite.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from bot.config import MAX_COOLDOWN_S, CommunitySettings
from bot.locks import KeyedLocks
from bot.server_rules import BIND, CHAT, END_OTHERS, Grant, Member, ServerRules, use_provider
from bot.server_rules_store import Setting
from bot.store import SessionRecord, Store

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
_FORGET_AFTER = 10_000
"""Cooldown entries kept before old ones are swept."""


class Refused(Exception):
    """The gate said no; `str(exc)` tells the member why, in a sentence."""


class Gate:
    def __init__(self, store: Store, defaults: CommunitySettings, provider_names: Mapping[str, str]) -> None:
        self._store = store
        self._defaults = defaults
        self._names = dict(provider_names)
        self._last_spoke: dict[tuple[int, int], float] = {}
        self._opening: Counter[int] = Counter()
        self._counting = KeyedLocks()
        self._rules: dict[int, ServerRules] = {}
        """Every server's rules, loaded once (`load`): asked on every message, changed only through this gate."""

    @property
    def allow_dms(self) -> bool:
        return self._defaults.allow_dms

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
    async def new_conversation(self, guild_id: int | None, member: Member, provider_key: str) -> AsyncIterator[None]:
        """Admit a new conversation and hold its place under the server's cap until the block ends.

        Open the session inside the block: once it exists the cap counts it from the database.
        """
        rules = await self._admit_talker(guild_id, member, provider_key)
        cap = self.max_conversations(rules) if rules else 0
        if rules is None or not cap:
            self._note_spoke(guild_id, member)
            yield
            return
        async with self._counting[rules.guild_id]:
            await self._refuse_if_full(rules.guild_id, cap)
            self._opening[rules.guild_id] += 1
        self._note_spoke(guild_id, member)
        try:
            yield
        finally:
            self._opening[rules.guild_id] -= 1
            if not self._opening[rules.guild_id]:
                del self._opening[rules.guild_id]

    async def admit_turn(self, member: Member, session: SessionRecord, *, cooldown: bool = True) -> None:
        """A member speaks in a conversation (a message, or with `cooldown=False` a click on a choice)."""
        guild_id = session.guild_id
        rules = await self._admit_talker(guild_id, member, session.provider, cooldown=cooldown)
        cap = self.max_conversations(rules) if rules else 0
        if rules is not None and cap and session.last_active_at < time.time() - self.idle_s:
            async with self._counting[rules.guild_id]:  # waking a quiet conversation takes a place again
                await self._refuse_if_full(rules.guild_id, cap)
                await self._store.touch_session(session.id)
        else:
            await self._store.touch_session(session.id)
        if cooldown:
            self._note_spoke(guild_id, member)

    async def _admit_talker(
        self, guild_id: int | None, member: Member, provider_key: str, *, cooldown: bool = True
    ) -> ServerRules | None:
        """The server's rules once the member may talk to this provider now; None in a DM."""
        if guild_id is None:
            if not self.allow_dms:
                raise Refused(DMS_OFF)
            rules = None
        else:
            rules = await self.rules(guild_id)
            if not rules.allows(CHAT, member):
                raise Refused(CHAT_REFUSED)
            if not rules.allows(use_provider(provider_key), member):
                name = self._names.get(provider_key, provider_key)
                raise Refused(
                    f"On this server **{name}** is for some members only, and you are not one of them."
                    " Pick another provider, or ask a server manager (`/access`)."
                )
        if cooldown and not member.manages_server:
            self._refuse_if_cooling(guild_id, member, self.cooldown_s(rules))
        return rules

    def _refuse_if_cooling(self, guild_id: int | None, member: Member, cooldown_s: float) -> None:
        if cooldown_s <= 0:
            return
        since = time.monotonic() - self._last_spoke.get((guild_id or 0, member.id), -math.inf)
        if since < cooldown_s:
            wait = max(1, math.ceil(cooldown_s - since))
            raise Refused(
                f"Slow down a little: here you can send the AI one message every {_duration(cooldown_s)}."
                f" Try again in {_duration(wait)}."
            )

    def _note_spoke(self, guild_id: int | None, member: Member) -> None:
        now = time.monotonic()
        if len(self._last_spoke) >= _FORGET_AFTER:
            self._last_spoke = {k: t for k, t in self._last_spoke.items() if now - t < MAX_COOLDOWN_S}
        self._last_spoke[(guild_id or 0, member.id)] = now

    async def _refuse_if_full(self, guild_id: int, cap: int) -> None:
        going = await self._store.count_going(guild_id, time.time() - self.idle_s) + self._opening[guild_id]
        if going >= cap:
            raise Refused(
                f"This server already has {cap} conversation{'s' if cap != 1 else ''} going, the most it allows."
                f" Try again when one ends (`/end`) or has been quiet for {_duration(self.idle_s)}."
            )

    # ---- administration ------------------------------------------------------------------------

    async def check_bind(self, guild_id: int, member: Member) -> None:
        if not (await self.rules(guild_id)).allows(BIND, member):
            raise Refused(BIND_REFUSED)

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
