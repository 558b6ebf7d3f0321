"""Where an interaction happens decides its shape and which commands the client offers there.

In a guild an interaction carries ``member``, ``guild_id``/``guild`` and ``context: 0``; in the
bot's DM it carries ``user`` instead, no guild, the DM channel and ``context: 1`` (BOT_DM), and
``authorizing_integration_owners`` maps GUILD_INSTALL to ``"0"`` (receiving-and-responding.mdx).
The emulated application is installed to the guild only (``integration_types_config {"0": {}}``).

In a guild, ``app_permissions`` ("Bitwise set of permissions the app has in the source location"),
``member.permissions`` and the partial ``channel.permissions`` / ``channel.app_permissions`` are
computed for that channel or thread with its overwrites, without implicit permissions
(resources/channel.mdx, Channel Structure: "This does not include implicit permissions").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import errors, payloads
from .permissions import computed_permissions
from .world import World

GUILD_CONTEXT, BOT_DM_CONTEXT = 0, 1
GUILD_INSTALL = 0
EMBED_LINKS, ATTACH_FILES, MENTION_EVERYONE, USE_EXTERNAL_EMOJIS, SEND_POLLS = (
    1 << 14,
    1 << 15,
    1 << 17,
    1 << 18,
    1 << 49,
)
# Docs: "app_permissions includes ATTACH_FILES | EMBED_LINKS | MENTION_EVERYONE for (G)DMs with other
# users, and additionally USE_EXTERNAL_EMOJIS for DMs with the app's bot user". Captured DM payloads
# (2025) also carry SEND_POLLS, so the bot DM value is 562949953863680.
BOT_DM_APP_PERMISSIONS = EMBED_LINKS | ATTACH_FILES | MENTION_EVERYONE | USE_EXTERNAL_EMOJIS | SEND_POLLS


@dataclass(frozen=True)
class Location:
    """The context-dependent part of an INTERACTION_CREATE body."""

    context: int
    guild_id: int | None
    fields: dict[str, Any]


def locate(world: World, channel_id: int, user_id: int) -> Location:
    """The keys Discord sends for an interaction by ``user_id`` in ``channel_id``.

    Raises ``ValueError`` when the user could not be there (someone else's DM). In a guild channel the
    interaction carries that channel's guild, the member's roles there and permissions computed there.
    """
    dm = world.dm_channels.get(channel_id)
    if dm is not None:
        world.require_member(user_id)  # someone who shares a guild with the bot
        if dm.recipient_id != user_id:
            raise ValueError(f"user {user_id} is not the recipient of DM {channel_id}")
        fields: dict[str, Any] = {
            "channel": payloads.dm_channel_payload(world, dm),
            "user": payloads.user_payload(world.users[user_id]),
            "app_permissions": str(BOT_DM_APP_PERMISSIONS),
            "authorizing_integration_owners": {str(GUILD_INSTALL): "0"},
            "context": BOT_DM_CONTEXT,
        }
        return Location(BOT_DM_CONTEXT, None, fields)
    try:
        found = world.channel_or_thread(channel_id)
    except errors.ApiError as exc:
        raise ValueError(f"channel {channel_id} does not exist (deleted?); nobody can interact there") from exc
    guild_id = world.guild_for_channel(channel_id).id
    world.require_member(user_id, guild_id)
    app_permissions = str(computed_permissions(world, world.bot_user_id, channel_id))
    channel = payloads.any_channel_payload(world, found)
    channel["permissions"] = str(computed_permissions(world, user_id, channel_id))
    channel["app_permissions"] = app_permissions
    fields = {
        "guild_id": str(guild_id),
        "guild": {"id": str(guild_id), "locale": "en-US", "features": []},
        "channel": channel,
        "member": payloads.interaction_member_payload(world, user_id, channel_id),
        "app_permissions": app_permissions,
        "guild_locale": "en-US",
        "authorizing_integration_owners": {str(GUILD_INSTALL): str(guild_id)},
        "context": GUILD_CONTEXT,
    }
    return Location(GUILD_CONTEXT, guild_id, fields)


def find_offered_command(
    world: World, name: str, ctype: int, context: int, guild_id: int | None = None
) -> dict[str, Any]:
    """The command the client would offer for ``name`` in ``context`` (in guild ``guild_id``), else
    ``ValueError``.

    Guild commands exist only in their guild; ``contexts`` (or, when it is null, the deprecated
    ``dm_permission``) limits where a global command appears; ``integration_types`` must include
    GUILD_INSTALL because the emulated app is not installed to users.
    """
    in_dm = context == BOT_DM_CONTEXT
    command = world.find_command(name, ctype, guild_id, in_dm=in_dm)
    if command is None:
        if in_dm and any(name == c["name"] and ctype == c["type"] for c in world.all_commands()):
            raise ValueError(
                f"/{name} is a guild command; in the bot's DM (context 1) the client offers only global ones"
            )
        known = sorted(c["name"] for c in world.all_commands())
        raise ValueError(f"/{name} is not registered (registered: {known})")
    contexts = command.get("contexts")
    where = "the bot's DM" if in_dm else "the guild"
    if isinstance(contexts, list):
        if context not in contexts:
            raise ValueError(f"/{name} has contexts {contexts}; the client does not offer it in {where}")
    elif in_dm and command.get("dm_permission") is False:
        raise ValueError(f"/{name} has no contexts and dm_permission false; the client does not offer it in a DM")
    if "guild_id" not in command and GUILD_INSTALL not in (command.get("integration_types") or [GUILD_INSTALL]):
        raise ValueError(f"/{name} has integration_types without 0; the emulated app is installed to the guild only")
    return command
