"""Facade part: the app installed to users' own accounts, and the places only such an install reaches.

A typical test::

    emu.support_user_installs()            # before the bot syncs commands with integration_types [0, 1]
    emu.install_app(bob)                   # bob adds the app to his account
    server = emu.add_outside_guild("Elsewhere")   # a server the bot is not in
    emu.join_guild(bob, server)
    inter = await emu.run_slash_command("chat", {...}, channel_id=emu.general_channel(server), user_id=bob)
    gdm = emu.open_group_dm(bob, [alice, carol])  # or emu.open_user_dm(bob, alice)

Sources: see :mod:`.installs`, :mod:`.outside`, :mod:`.interaction_context` and :mod:`.external_apps`.
"""

from __future__ import annotations

from .core import Core
from .outside import add_outside_guild, add_private_channel


class UserInstalls:
    core: Core

    def support_user_installs(self, enabled: bool = True) -> None:
        """Turn the app's *User Install* context on (or off), as on its Installation page: GET
        /applications/@me then lists ``"1"`` in ``integration_types_config`` and commands may be registered
        with ``integration_types`` containing 1. Commands registered without ``integration_types`` from
        then on default to both contexts ("Defaults to your app's configured contexts")."""
        world = self.core.world
        if enabled:
            world.installs.supported.add(1)
        else:
            world.installs.supported.discard(1)
        self.core.notifier.notify()

    def install_app(self, user_id: int | None = None) -> None:
        """``user_id`` (default alice) adds the app to their account ("Add App" → "Try it now"): from now
        on the client offers them its user-installable commands everywhere (application.mdx "User
        Context"). ``ValueError`` unless the app supports user installs."""
        world = self.core.world
        if not world.installs.user_installable:
            raise ValueError("the app supports guild installs only; call emu.support_user_installs() first")
        uid = user_id or world.owner_id
        world.require_user(uid)
        world.installs.users.add(uid)
        self.core.notifier.notify()

    def uninstall_app(self, user_id: int | None = None) -> None:
        """``user_id`` (default alice) removes the app from their account."""
        self.core.world.installs.users.discard(user_id or self.core.world.owner_id)
        self.core.notifier.notify()

    def add_user(self, name: str) -> int:
        """A Discord user who shares no guild with the bot (they can still install the app to their account)."""
        uid = self.core.world.add_user(name)
        self.core.notifier.notify()
        return uid

    def add_outside_guild(self, name: str | None = None) -> int:
        """A guild the bot is not in (alice owns it; ``emu.join_guild(user, id)`` adds members and
        ``emu.general_channel(id)`` is its ``#general``). The bot gets no gateway event about it and its REST
        requests there answer 403 50001; a user-installed app is used there through interactions alone.
        Roles, overwrites and ``set_everyone_permissions(..., guild_id=id)`` work as in the bot's guilds."""
        world = self.core.world
        guild = add_outside_guild(world, name or f"Outside {len(world.outside_guilds) + 1}")
        self.core.notifier.notify()
        return guild.id

    @property
    def outside_guild_ids(self) -> list[int]:
        return list(self.core.world.outside_guilds)

    def open_user_dm(self, user_id: int, other_id: int) -> int:
        """The DM between two users (not with the bot): interactions there have context 2 (PRIVATE_CHANNEL)."""
        channel = add_private_channel(self.core.world, [user_id, other_id], group=False)
        self.core.notifier.notify()
        return channel.id

    def open_group_dm(self, owner_id: int, member_ids: list[int], name: str | None = None) -> int:
        """A group DM of ``owner_id`` and ``member_ids`` (not the bot): interactions there have context 2."""
        channel = add_private_channel(
            self.core.world, [owner_id, *member_ids], group=True, owner_id=owner_id, name=name
        )
        self.core.notifier.notify()
        return channel.id
