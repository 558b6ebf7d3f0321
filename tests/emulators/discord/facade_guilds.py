"""Facade part: building the world (guilds, channels, roles, members) and the gateway's sharding.

The first guild is the default one (``emu.guild_id``, ``emu.channel_id`` its ``#general``, ``alice``
its owner); every ``guild_id=None`` below means it. :meth:`Guilds.add_guild` adds more guilds, each
set up the same way, optionally on a chosen gateway shard. Each change dispatches what Discord sends
for it, routed to the sessions whose shard holds the guild (events/gateway.mdx "Sharding").
"""

from __future__ import annotations

from typing import Any

from . import guild_payloads, payloads
from .core import Core
from .gateway import GatewaySession
from .permissions import GENEROUS_PERMISSIONS
from .sharding import IdentifyRecord, Shard, shard_of
from .world_types import INTENT_GUILDS


class Guilds:
    core: Core

    # ---- guilds ----------------------------------------------------------------------------------
    def add_guild(self, name: str | None = None, *, shard: int | None = None, shard_count: int | None = None) -> int:
        """Add a guild the bot is in, with its own @everyone role, the bot's managed role, ``#general``,
        the bot as member and ``alice`` as owner and member; returns its id.

        With ``shard``/``shard_count`` the id is chosen so that ``(guild_id >> 22) % shard_count ==
        shard`` (gateway.mdx "Sharding Formula"). Connected sessions on that shard get GUILD_CREATE
        ("When the current user joins a new Guild", gateway-events.mdx "Guild Create").
        """
        world = self.core.world
        if (shard is None) != (shard_count is None):
            raise ValueError("give both shard and shard_count, or neither")
        gid = None if shard is None or shard_count is None else world.ids.next_on_shard(shard, shard_count)
        guild = world.add_guild(name or f"Guild {len(world.guilds) + 1}", guild_id=gid)

        def joined(session: GatewaySession) -> dict[str, Any] | None:
            if not session.intents & INTENT_GUILDS:
                return None
            return guild_payloads.guild_create_payload(world, session.intents, guild.id, joined=True)

        self.core.gateway.dispatch("GUILD_CREATE", joined, guild_id=guild.id)
        self.core.notifier.notify()
        return guild.id

    @property
    def guild_ids(self) -> list[int]:
        """Every guild, the default one first."""
        return list(self.core.world.guilds)

    def general_channel(self, guild_id: int) -> int:
        """The ``#general`` text channel of ``guild_id``."""
        return self.core.world.guild(guild_id).default_channel_id

    def guild_ids_on_shard(self, shard_id: int, num_shards: int) -> list[int]:
        """The guilds whose events go to ``shard_id`` of ``num_shards``."""
        return [g for g in self.core.world.guilds if shard_of(g, num_shards) == shard_id]

    # ---- members, channels, roles ----------------------------------------------------------------
    @property
    def sticker_id(self) -> int:
        """The default guild's sticker ("wave", PNG), listed in its GUILD_CREATE ``stickers``."""
        return self.core.world.default_sticker_id

    def add_member(
        self, name: str, *, roles: list[int] | None = None, bot: bool = False, guild_id: int | None = None
    ) -> int:
        """Add a new user as a member of a guild (optionally with roles; ``bot=True`` for another bot
        account, whose messages have ``author.bot``); bots with GUILD_MEMBERS get GUILD_MEMBER_ADD."""
        return self.core.members.add(name, roles or [], bot=bot, guild_id=guild_id)

    def join_guild(self, user_id: int, guild_id: int, *, roles: list[int] | None = None) -> None:
        """An existing user (e.g. ``emu.add_member``'s) joins another guild: GUILD_MEMBER_ADD there.
        A user may be a member of several guilds, with separate roles in each."""
        self.core.members.join(user_id, guild_id, roles or [])

    def set_member_roles(self, user_id: int, role_ids: list[int], *, guild_id: int | None = None) -> None:
        """Replace a member's roles in a guild, as a moderator would; GUILD_MEMBER_UPDATE goes to bots
        with GUILD_MEMBERS (always, when the member is the bot). Interactions and messages from then on
        carry the new roles and the permissions they grant."""
        self.core.members.set_roles(user_id, role_ids, guild_id)

    def time_out_member(self, user_id: int, seconds: float, *, guild_id: int | None = None) -> None:
        """A moderator times a member out for ``seconds`` (0 lifts it): only View Channel and Read
        Message History count for them meanwhile (their messages get 403 50013); interactions carry
        ``communication_disabled_until`` but unmasked ``permissions`` (see :mod:`.permissions`)."""
        self.core.members.time_out(user_id, seconds, guild_id)

    def add_text_channel(self, name: str, topic: str | None = None, *, guild_id: int | None = None) -> int:
        """Add a text channel to a guild (CHANNEL_CREATE is dispatched to connected bots)."""
        world = self.core.world
        cid = world.add_text_channel(name, topic=topic, guild_id=guild_id)
        body = payloads.channel_payload(world, world.channels[cid])
        self.core.gateway.dispatch("CHANNEL_CREATE", lambda s: body if s.intents & INTENT_GUILDS else None)
        return cid

    def add_role(
        self, name: str, *, mentionable: bool = True, permissions: int | None = None, guild_id: int | None = None
    ) -> int:
        """Add a role to a guild (GUILD_ROLE_CREATE is dispatched to connected bots); ``permissions``
        defaults to every bit but Administrator."""
        world = self.core.world
        gid = world.guild(world.guild_id if guild_id is None else guild_id).id
        granted = GENEROUS_PERMISSIONS if permissions is None else permissions
        rid = world.add_role(name, mentionable=mentionable, permissions=granted, guild_id=gid)
        body = {"guild_id": str(gid), "role": payloads.role_payload(world.guilds[gid].roles[rid])}
        self.core.gateway.dispatch("GUILD_ROLE_CREATE", lambda s: body if s.intents & INTENT_GUILDS else None)
        return rid

    # ---- gateway sharding ------------------------------------------------------------------------
    @property
    def sessions_by_shard(self) -> dict[Shard | None, list[str]]:
        """Live gateway sessions by the ``(shard_id, num_shards)`` they identified with (None:
        unsharded), each a list of session ids."""
        return self.core.gateway.sessions_by_shard

    @property
    def identifies(self) -> list[IdentifyRecord]:
        """Every IDENTIFY received: monotonic ``t``, ``shard``, ``outcome`` ("ready",
        "invalid_session" or "closed" with ``close_code``), ``accepted``, ``bucket``."""
        return list(self.core.gateway.identifies)

    @property
    def invalid_sessions(self) -> int:
        """How many op 9 Invalid Session were sent (IDENTIFYs over the concurrency limit, failed RESUMEs)."""
        return self.core.gateway.invalid_sessions

    @property
    def session_start_limit(self) -> dict[str, int]:
        """What GET /gateway/bot reports now: ``total``, ``remaining``, ``reset_after``, ``max_concurrency``."""
        return self.core.gateway.limiter.session_start_limit()
