"""The guild as discord.py reads it: ``GET /guilds/{id}``, the GUILD_CREATE dispatch that fills its
cache, the application and guild stickers."""

from __future__ import annotations

from typing import Any

from .payloads import channel_payload, member_payload, role_payload, thread_payload, user_payload
from .world import INTENT_GUILD_MEMBERS, StickerInfo, World


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
        "guild_id": str(world.guild_id),
    }


def guild_payload(world: World) -> dict[str, Any]:
    """``GET /guilds/{id}``: the guild without the gateway-only lists."""
    return {
        "id": str(world.guild_id),
        "name": world.guild_name,
        "icon": None,
        "icon_hash": None,
        "splash": None,
        "discovery_splash": None,
        "banner": None,
        "description": None,
        "owner_id": str(world.owner_id),
        "region": "deprecated",
        "afk_channel_id": None,
        "afk_timeout": 300,
        "widget_enabled": False,
        "widget_channel_id": None,
        "verification_level": 0,
        "default_message_notifications": 1,
        "explicit_content_filter": 0,
        "roles": [role_payload(r) for r in world.roles.values()],
        "emojis": [],
        "stickers": [sticker_payload(world, s) for s in world.stickers.values()],
        "features": [],
        "mfa_level": 0,
        "application_id": None,
        "system_channel_id": str(world.default_channel_id) if world.default_channel_id in world.channels else None,
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


def guild_create_payload(world: World, intents: int) -> dict[str, Any]:
    """The full GUILD_CREATE dispatch that fills discord.py's cache.

    Like Discord, ``members`` lists everyone only with the GUILD_MEMBERS intent; otherwise just the bot.
    """
    out = guild_payload(world)
    members = [m for m in world.members.values() if intents & INTENT_GUILD_MEMBERS or m.user_id == world.bot_user_id]
    active_threads = [t for t in world.threads.values() if not t.archived and world.bot_can_view(t.id)]
    out.update(
        {
            "unavailable": False,
            "joined_at": world.members[world.bot_user_id].joined_at,
            "large": False,
            "lazy": True,
            "member_count": len(world.members),
            "voice_states": [],
            "members": [member_payload(world, m) for m in members],
            "channels": [channel_payload(world, c) for c in world.channels.values()],
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


def application_payload(world: World) -> dict[str, Any]:
    """``GET /oauth2/applications/@me``."""
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
        "approximate_guild_count": 1,
        "integration_types_config": {"0": {}},
    }
