"""Where an interaction happens decides its shape, which commands the client offers there and which of the
app's installations authorize it.

Sources: receiving-and-responding.mdx "Interaction Structure", "Interaction Context Types" (0 GUILD, 1 BOT_DM,
2 PRIVATE_CHANNEL: "Group DMs and DMs other than the app's bot user") and "Authorizing Integration Owners
Object"; application-commands.mdx "Contexts".

* In a guild an interaction carries ``member``, ``guild_id``/``guild`` and ``context: 0``; in the bot's DM
  ``user``, no guild, the DM channel and ``context: 1``; in a DM between users or a group DM ``user``, the
  partial private channel and ``context: 2``.
* ``authorizing_integration_owners`` has a key per installation that authorizes the interaction:
  ``"0"`` (GUILD_INSTALL) with the guild's id, or ``"0"`` in the bot's DM, where the bot is; ``"1"``
  (USER_INSTALL) with the user's id when they installed the app to their account. "A key will only be
  present if" the app is installed that way, the interaction's context is supported for that installation
  and, for commands, the command's ``integration_types`` include it.
* ``app_permissions``: in a guild the bot is in, "the permissions the app has" in that channel or thread with
  its overwrites and without implicit permissions (resources/channel.mdx, Channel Structure); in the bot's
  DM ``ATTACH_FILES | EMBED_LINKS | MENTION_EVERYONE | USE_EXTERNAL_EMOJIS`` (captured payloads also carry
  SEND_POLLS, so 562949953863680); in other DMs and group DMs ``ATTACH_FILES | EMBED_LINKS | MENTION_EVERYONE``
  (180224, also what github.com/disgoorg/disgo/pull/360 captured); in a guild the bot is not in, the
  invoking member's own permissions there (observed: discord-api-docs#7251, "app_permissions Includes
  Initiating Member's Permissions").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import errors, payloads
from .installs import GUILD_INSTALL, USER_INSTALL
from .permissions import computed_permissions
from .world import World

GUILD_CONTEXT, BOT_DM_CONTEXT, PRIVATE_CHANNEL_CONTEXT = 0, 1, 2
ALL_CONTEXTS = [GUILD_CONTEXT, BOT_DM_CONTEXT, PRIVATE_CHANNEL_CONTEXT]  # Bulk Overwrite: "defaults to all"
EMBED_LINKS, ATTACH_FILES, MENTION_EVERYONE, USE_EXTERNAL_EMOJIS, SEND_POLLS = (
    1 << 14,
    1 << 15,
    1 << 17,
    1 << 18,
    1 << 49,
)
PRIVATE_APP_PERMISSIONS = EMBED_LINKS | ATTACH_FILES | MENTION_EVERYONE
BOT_DM_APP_PERMISSIONS = PRIVATE_APP_PERMISSIONS | USE_EXTERNAL_EMOJIS | SEND_POLLS
WHERE = {GUILD_CONTEXT: "the guild", BOT_DM_CONTEXT: "the bot's DM", PRIVATE_CHANNEL_CONTEXT: "a DM or group DM"}


@dataclass(frozen=True)
class Location:
    """The context-dependent part of an INTERACTION_CREATE body (owners come with the command)."""

    context: int
    guild_id: int | None
    fields: dict[str, Any]
    guild_owner: str | None = None  # the GUILD_INSTALL owner value where the bot is: the guild id, or "0"
    member_permissions: int | None = None  # the invoking member's, in a guild channel

    @property
    def bot_present(self) -> bool:
        """Whether the app is installed where this happens (a guild the bot is in, or the bot's DM)."""
        return self.guild_owner is not None


def locate(world: World, channel_id: int, user_id: int) -> Location:
    """The keys Discord sends for an interaction by ``user_id`` in ``channel_id``.

    Raises ``ValueError`` when the user could not be there (someone else's DM or group DM). In a guild
    channel the interaction carries that channel's guild, the member's roles there and permissions
    computed there.
    """
    dm = world.dm_channels.get(channel_id)
    if dm is not None:
        world.require_dm_party(user_id)  # someone who shares a guild with the bot or installed the app
        if dm.recipient_id != user_id:
            raise ValueError(f"user {user_id} is not the recipient of DM {channel_id}")
        fields = _user_fields(world, payloads.dm_channel_payload(world, dm), user_id, BOT_DM_APP_PERMISSIONS)
        return Location(BOT_DM_CONTEXT, None, {**fields, "context": BOT_DM_CONTEXT}, guild_owner="0")
    private = world.private_channels.get(channel_id)
    if private is not None:
        if user_id not in private.recipient_ids:
            raise ValueError(f"user {user_id} is not a recipient of {channel_id}, a DM or group DM without the bot")
        channel = payloads.private_channel_payload(world, private)
        fields = _user_fields(world, channel, user_id, PRIVATE_APP_PERMISSIONS)
        return Location(PRIVATE_CHANNEL_CONTEXT, None, {**fields, "context": PRIVATE_CHANNEL_CONTEXT})
    try:
        found = world.channel_or_thread(channel_id)
    except errors.ApiError as exc:
        raise ValueError(f"channel {channel_id} does not exist (deleted?); nobody can interact there") from exc
    guild_id = world.guild_for_channel(channel_id).id
    world.require_member(user_id, guild_id)
    member_permissions = computed_permissions(world, user_id, channel_id)
    bot_in_guild = guild_id in world.guilds
    app = computed_permissions(world, world.bot_user_id, channel_id) if bot_in_guild else member_permissions
    channel = payloads.any_channel_payload(world, found)
    channel["permissions"] = str(member_permissions)
    channel["app_permissions"] = str(app)
    fields = {
        "guild_id": str(guild_id),
        "guild": {"id": str(guild_id), "locale": "en-US", "features": []},
        "channel": channel,
        "member": payloads.interaction_member_payload(world, user_id, channel_id),
        "app_permissions": str(app),
        "guild_locale": "en-US",
        "context": GUILD_CONTEXT,
    }
    owner = str(guild_id) if bot_in_guild else None
    return Location(GUILD_CONTEXT, guild_id, fields, guild_owner=owner, member_permissions=member_permissions)


def _user_fields(world: World, channel: dict[str, Any], user_id: int, app_permissions: int) -> dict[str, Any]:
    return {
        "channel": channel,
        "user": payloads.user_payload(world.users[user_id]),
        "app_permissions": str(app_permissions),
    }


def owners_where(world: World, location: Location, user_id: int) -> dict[str, str]:
    """``authorizing_integration_owners`` of an interaction that is not a command (a component or modal on
    a message the app did not send in answer to an interaction): the installations present there."""
    owners = {str(GUILD_INSTALL): location.guild_owner} if location.guild_owner is not None else {}
    if world.installs.installed_for(user_id):
        owners[str(USER_INSTALL)] = str(user_id)
    return owners


def find_offered_command(
    world: World, name: str, ctype: int, location: Location, user_id: int
) -> tuple[dict[str, Any], dict[str, str]]:
    """The command the client would offer ``user_id`` for ``name`` at ``location``, with the
    ``authorizing_integration_owners`` it runs under; ``ValueError`` when no installation offers it.

    Through the guild installation (where the bot is): guild commands exist only in their guild;
    ``contexts`` (or, when it is null, the deprecated ``dm_permission``) limits where a global command
    appears and ``integration_types`` must include GUILD_INSTALL. Through the user's installation (anywhere,
    once they installed the app): global commands whose ``integration_types`` include USER_INSTALL and whose
    ``contexts`` (all three when null) include this one.
    """
    context = location.context
    global_only = context != GUILD_CONTEXT or not location.bot_present
    command = world.find_command(name, ctype, location.guild_id, in_dm=global_only)
    where = WHERE[context]
    if command is None:
        if global_only and any(name == c["name"] and ctype == c["type"] for c in world.all_commands()):
            raise ValueError(
                f"/{name} is a guild command; in {where} (context {context}) the client offers only global ones"
            )
        known = sorted(c["name"] for c in world.all_commands())
        raise ValueError(f"/{name} is not registered (registered: {known})")
    owners: dict[str, str] = {}
    guild_reason = _guild_install_refusal(command, location)
    if guild_reason is None and location.guild_owner is not None:
        owners[str(GUILD_INSTALL)] = location.guild_owner
    user_reason = _user_install_refusal(world, command, location, user_id)
    if user_reason is None:
        owners[str(USER_INSTALL)] = str(user_id)
    if not owners:
        reasons = [r for r in (guild_reason, user_reason) if r is not None]
        raise ValueError("; ".join(reasons))
    return command, owners


def _guild_install_refusal(command: dict[str, Any], location: Location) -> str | None:
    """Why the guild installation does not offer ``command`` here (None: it does)."""
    name, context = command["name"], location.context
    where = WHERE[context]
    if not location.bot_present:
        return f"the bot is not in {where}, so the guild installation does not offer /{name} there"
    if "guild_id" in command:
        return None
    contexts = command.get("contexts")
    if isinstance(contexts, list):
        if context not in contexts:
            return f"/{name} has contexts {contexts}; the client does not offer it in {where}"
    elif context == BOT_DM_CONTEXT and command.get("dm_permission") is False:
        return f"/{name} has no contexts and dm_permission false; the client does not offer it in a DM"
    if GUILD_INSTALL not in (command.get("integration_types") or [GUILD_INSTALL]):
        return f"/{name} has integration_types without 0 (GUILD_INSTALL); the guild installation does not offer it"
    return None


def _user_install_refusal(world: World, command: dict[str, Any], location: Location, user_id: int) -> str | None:
    """Why ``user_id``'s own installation does not offer ``command`` here (None: it does)."""
    name = command["name"]
    if not world.installs.user_installable:
        return "the app supports guild installs only (emu.support_user_installs() adds the user context)"
    if not world.installs.installed_for(user_id):
        return f"user {user_id} has not installed the app to their account (emu.install_app)"
    if "guild_id" in command or USER_INSTALL not in (command.get("integration_types") or []):
        return f"/{name} is not offered to user installs (integration_types {command.get('integration_types')})"
    contexts = command.get("contexts")
    allowed = contexts if isinstance(contexts, list) else ALL_CONTEXTS
    if location.context not in allowed:
        return f"/{name} has contexts {contexts}; the client does not offer it in {WHERE[location.context]}"
    return None
