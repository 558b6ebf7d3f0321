"""The guild as discord.py reads it: ``GET /guilds/{id}``, the GUILD_CREATE dispatch that fills its
cache, the application and guild stickers."""

from __future__ import annotations

from typing import Any

from .payloads import (
    bot_self_payload,
    channel_payload,
    member_payload,
    role_payload,
    thread_payload,
    user_payload,
)
from .world import World
from .world_types import INTENT_GUILD_MEMBERS, StickerInfo


def sticker_payload(world: World, sticker: StickerInfo) -> dict[str, Any]:
    """A guild sticker (resources/sticker.mdx "Sticker Object"; type 2 GUILD)."""
    return {
        "id": str(sticker.id),
        "name": sticker.name,
        "tags": sticker.tags,
        "type": 2,
        "format_type": sticker.format_type,
        "description": sticker.description,
        "available": True,
        "guild_id": str(sticker.guild_id),
    }


def guild_payload(world: World, guild_id: int | None = None) -> dict[str, Any]:
    """``GET /guilds/{id}``: the guild (default: the default guild) without the gateway-only lists."""
    guild = world.guild(world.guild_id if guild_id is None else guild_id)
    stickers = [s for s in world.stickers.values() if s.guild_id == guild.id]
    return {
        "id": str(guild.id),
        "name": guild.name,
        "icon": None,
        "icon_hash": None,
        "splash": None,
        "discovery_splash": None,
        "banner": None,
        "description": None,
        "owner_id": str(guild.owner_id),
        "region": "deprecated",
        "afk_channel_id": None,
        "afk_timeout": 300,
        "widget_enabled": False,
        "widget_channel_id": None,
        "verification_level": 0,
        "default_message_notifications": 1,
        "explicit_content_filter": 0,
        "roles": [role_payload(r) for r in guild.roles.values()],
        "emojis": [],
        "stickers": [sticker_payload(world, s) for s in stickers],
        "features": [],
        "mfa_level": 0,
        "application_id": None,
        "system_channel_id": str(guild.default_channel_id) if guild.default_channel_id in world.channels else None,
        "system_channel_flags": 0,
        "rules_channel_id": None,
        "public_updates_channel_id": None,
        "safety_alerts_channel_id": None,
        "max_presences": None,
        "max_members": 500000,
        "max_video_channel_users": 25,
        "max_stage_video_channel_users": 50,
        "vanity_url_code": None,
        "premium_tier": 0,
        "premium_subscription_count": 0,
        "premium_progress_bar_enabled": False,
        "preferred_locale": "en-US",
        "nsfw_level": 0,
        "nsfw": False,
        "incidents_data": None,
    }


def guild_create_payload(
    world: World, intents: int, guild_id: int | None = None, *, joined: bool = False
) -> dict[str, Any]:
    """The full GUILD_CREATE dispatch that fills discord.py's cache for one guild.

    Like Discord, ``members`` lists everyone only with the GUILD_MEMBERS intent; otherwise just the bot.
    ``unavailable`` ("true if this guild is unavailable due to an outage", gateway-events.mdx "Guild
    Create") is ``false`` when a guild of READY becomes available and absent when the bot ``joined``
    a new guild (inferred from discord.py's state.py ``parse_guild_create``, which tells a join by
    the missing key and dispatches ``guild_join``, else ``guild_available``).
    """
    guild = world.guild(world.guild_id if guild_id is None else guild_id)
    out = guild_payload(world, guild.id)
    members = [m for m in guild.members.values() if intents & INTENT_GUILD_MEMBERS or m.user_id == world.bot_user_id]
    threads = world.guild_threads(guild.id)
    active_threads = [t for t in threads if not t.archived and world.bot_can_view(t.id)]
    if not joined:
        out["unavailable"] = False
    out.update(
        {
            "joined_at": guild.members[world.bot_user_id].joined_at,
            "large": False,
            "lazy": True,
            "member_count": len(guild.members),
            "voice_states": [],
            "members": [member_payload(world, m) for m in members],
            "channels": [channel_payload(world, c) for c in world.guild_channels(guild.id)],
            "threads": [thread_payload(world, t, member_for=world.bot_user_id) for t in active_threads],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "embedded_activities": [],
            "activity_instances": [],
            "application_command_counts": {},
            "hub_type": None,
        }
    )
    return out


def ready_payload(
    world: World, session_id: str, guild_ids: list[int], shard: tuple[int, int] | None, resume_url: str
) -> dict[str, Any]:
    """READY (gateway-events.mdx "Ready"): ``guilds`` as Unavailable Guild objects, only those routed
    to the session's shard ("Sharding"); ``shard`` only "if sent when identifying"."""
    out: dict[str, Any] = {
        "v": 10,
        "user": bot_self_payload(world),
        "user_settings": {},
        "guilds": [{"id": str(gid), "unavailable": True} for gid in guild_ids],
        "session_id": session_id,
        "session_type": "normal",
        "resume_gateway_url": resume_url,
        "application": {"id": str(world.application_id), "flags": 1 << 19 | 1 << 23},
        "private_channels": [],
        "relationships": [],
        "presences": [],
        "guild_join_requests": [],
        "geo_ordered_rtc_regions": ["emulator"],
        "auth": {},
        "_trace": ["emulator"],
    }
    if shard is not None:
        out["shard"] = list(shard)
    return out


def members_chunk_payload(world: World, data: dict[str, Any]) -> dict[str, Any]:
    """GUILD_MEMBERS_CHUNK answering Request Guild Members (op 8) for the guild it names (the default
    guild when it names none the bot is in), in a single chunk."""
    raw = str(data.get("guild_id") or "")
    guild = (world.guilds.get(int(raw)) if raw.isdigit() else None) or world.default_guild
    members = list(guild.members.values())
    user_ids = data.get("user_ids")
    if user_ids:
        wanted = {int(u) for u in (user_ids if isinstance(user_ids, list) else [user_ids])}
        members = [m for m in members if m.user_id in wanted]
    query = data.get("query")
    if query:
        members = [m for m in members if world.users[m.user_id].username.lower().startswith(str(query).lower())]
    limit = data.get("limit") or 0
    if limit:
        members = members[:limit]
    chunk: dict[str, Any] = {
        "guild_id": str(guild.id),
        "members": [member_payload(world, m) for m in members],
        "chunk_index": 0,
        "chunk_count": 1,
        "not_found": [],
    }
    if data.get("nonce") is not None:
        chunk["nonce"] = data["nonce"]
    return chunk


def application_payload(world: World) -> dict[str, Any]:
    """``GET /oauth2/applications/@me`` and ``GET /applications/@me`` (resources/application.mdx "Application
    Object"): ``integration_types_config`` names the installation contexts the app supports (see
    :mod:`.installs`)."""
    owner = world.users[world.owner_id]
    return {
        "id": str(world.application_id),
        "name": "EmulatorBot",
        "icon": None,
        "description": "Loopback Discord emulator application",
        "summary": "",
        "type": None,
        "hook": True,
        "bot_public": False,
        "bot_require_code_grant": False,
        "verify_key": "0" * 64,
        "flags": 1 << 19 | 1 << 23,  # GATEWAY_MESSAGE_CONTENT_LIMITED, APPLICATION_COMMAND_BADGE
        "owner": user_payload(owner),
        "team": None,
        "bot": user_payload(world.users[world.bot_user_id]),
        "rpc_origins": [],
        "tags": [],
        "redirect_uris": [],
        "interactions_endpoint_url": None,
        "role_connections_verification_url": None,
        "approximate_guild_count": len(world.guilds),
        "approximate_user_install_count": len(world.installs.users),
        "integration_types_config": world.installs.integration_types_config(),
    }
