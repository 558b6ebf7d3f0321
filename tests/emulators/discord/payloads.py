"""JSON payloads (users, members, roles, channels, threads, DMs, messages) in Discord's v10 shapes,
with every key discord.py reads when it parses them. The guild itself: :mod:`.guild_payloads`."""

from __future__ import annotations

import datetime as dt
from typing import Any

from .permissions import computed_permissions, timed_out
from .records import AttachmentRecord, MessageRecord, ThreadRecord
from .snowflakes import iso_timestamp, snowflake_iso
from .world import World
from .world_types import (
    DM_CHANNEL,
    GROUP_DM_CHANNEL,
    ChannelInfo,
    DMChannelInfo,
    MemberInfo,
    PrivateChannelInfo,
    RoleInfo,
    UserInfo,
    WebhookInfo,
)


def user_payload(user: UserInfo) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": str(user.id),
        "username": user.username,
        "discriminator": "0",
        "global_name": user.global_name,
        "avatar": None,
        "avatar_decoration_data": None,
        "banner": None,
        "accent_color": None,
        "public_flags": 0,
        "flags": 0,
        "primary_guild": None,
        "collectibles": None,
    }
    if user.bot:
        out["bot"] = True
    return out


def bot_self_payload(world: World) -> dict[str, Any]:
    """``GET /users/@me`` and READY's ``user``: the bot's own user with private fields."""
    out = user_payload(world.users[world.bot_user_id])
    out.update({"verified": True, "mfa_enabled": False, "email": None, "locale": "en-US", "bio": ""})
    return out


def timed_out_until(member: MemberInfo) -> str | None:
    """``communication_disabled_until``: "when the user's timeout will expire ... null or a time in the past if
    the user is not timed out" (resources/guild.mdx, Guild Member Object)."""
    if not timed_out(member) or member.timed_out_until is None:
        return None
    return iso_timestamp(dt.datetime.fromtimestamp(member.timed_out_until, tz=dt.UTC))


def member_payload(world: World, member: MemberInfo, *, with_user: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {
        "nick": member.nick,
        "avatar": None,
        "banner": None,
        "roles": [str(r) for r in member.roles],
        "joined_at": member.joined_at,
        "premium_since": None,
        "deaf": False,
        "mute": False,
        "flags": 0,
        "pending": False,
        "communication_disabled_until": timed_out_until(member),
    }
    if with_user:
        out["user"] = user_payload(world.users[member.user_id])
    return out


def interaction_member_payload(world: World, user_id: int, channel_id: int) -> dict[str, Any]:
    """Interactions carry the invoking member plus "total permissions of the member in the channel,
    including overwrites" (resources/guild.mdx, Guild Member Object ``permissions``)."""
    out = member_payload(world, world.require_member(user_id, world.guild_for_channel(channel_id).id))
    out["permissions"] = str(computed_permissions(world, user_id, channel_id))
    return out


def webhook_author_payload(hook: WebhookInfo, username: str | None) -> dict[str, Any]:
    """A webhook message's ``author``: "the author object corresponds to the webhook's id, username,
    and avatar" (resources/message.mdx, Message Structure note [1]). The "0000" discriminator and
    ``bot: true`` are what Discord sends for webhook authors (github.com/Rapptz/discord.py/issues/2009,
    github.com/DSharpPlus/DSharpPlus/pull/645); such messages have no ``member``
    (github.com/discord/discord-api-docs/pull/3064)."""
    return {
        "id": str(hook.id),
        "username": username or hook.name,
        "avatar": None,
        "discriminator": "0000",
        "global_name": None,
        "public_flags": 0,
        "flags": 0,
        "bot": True,
    }


def sticker_items(world: World, ids: list[str]) -> list[dict[str, Any]]:
    """Sticker item objects: "id, name, format_type" (sticker.mdx "Sticker Item Object")."""
    out = []
    for sid in ids:
        sticker = world.stickers.get(int(sid))
        if sticker is not None:
            out.append({"id": str(sticker.id), "name": sticker.name, "format_type": sticker.format_type})
    return out


def role_payload(role: RoleInfo) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": str(role.id),
        "name": role.name,
        "color": 0,
        "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
        "hoist": False,
        "icon": None,
        "unicode_emoji": None,
        "position": role.position,
        "permissions": str(role.permissions),
        "managed": role.managed,
        "mentionable": role.mentionable,
        "flags": 0,
    }
    if role.tags is not None:
        out["tags"] = role.tags
    return out


def channel_payload(world: World, channel: ChannelInfo) -> dict[str, Any]:
    last = world.last_message_id(channel.id)
    return {
        "id": str(channel.id),
        "type": channel.type,
        "guild_id": str(channel.guild_id),
        "name": channel.name,
        "position": channel.position,
        "permission_overwrites": [o.payload() for o in channel.permission_overwrites],
        "parent_id": None,
        "topic": channel.topic,
        "nsfw": channel.nsfw,
        "last_message_id": str(last) if last else None,
        "rate_limit_per_user": channel.rate_limit_per_user,
        "default_auto_archive_duration": 1440,
        "default_thread_rate_limit_per_user": 0,
        "flags": 0,
    }


def thread_member_payload(thread: ThreadRecord, user_id: int) -> dict[str, Any]:
    return {
        "id": str(thread.id),
        "user_id": str(user_id),
        "join_timestamp": thread.create_timestamp,
        "flags": 1,
    }


def thread_payload(world: World, thread: ThreadRecord, *, member_for: int | None = None) -> dict[str, Any]:
    last = world.last_message_id(thread.id)
    out: dict[str, Any] = {
        "id": str(thread.id),
        "guild_id": str(thread.guild_id),
        "parent_id": str(thread.parent_id),
        "owner_id": str(thread.owner_id),
        "name": thread.name,
        "type": thread.type,
        "last_message_id": str(last) if last else None,
        "message_count": thread.message_count,
        "member_count": min(len(thread.member_ids), 50),
        "total_message_sent": thread.total_message_sent,
        "rate_limit_per_user": thread.rate_limit_per_user,
        "flags": 0,
        "thread_metadata": {
            "archived": thread.archived,
            "auto_archive_duration": thread.auto_archive_duration,
            "archive_timestamp": thread.archive_timestamp,
            "locked": thread.locked,
            "invitable": thread.invitable,
            "create_timestamp": thread.create_timestamp,
        },
    }
    if member_for is not None and member_for in thread.member_ids:
        out["member"] = thread_member_payload(thread, member_for)
    return out


def dm_channel_payload(world: World, dm: DMChannelInfo) -> dict[str, Any]:
    """A DM channel as the bot sees it: ``recipients`` lists the other user only, and there is no
    ``guild_id``, ``name`` or ``permissions``."""
    last = world.last_message_id(dm.id)
    return {
        "id": str(dm.id),
        "type": DM_CHANNEL,
        "last_message_id": str(last) if last else None,
        "recipients": [user_payload(world.users[dm.recipient_id])],
        "flags": dm.flags,
        "recipient_flags": 0,
    }


def private_channel_payload(world: World, channel: PrivateChannelInfo) -> dict[str, Any]:
    """A DM between users or a group DM, as an interaction there carries it (see :mod:`.outside`).

    A group DM as captured from Discord (github.com/disgoorg/disgo/pull/360, a PRIVATE_CHANNEL interaction):
    ``id``, ``type`` 3, ``name``, ``icon``, ``owner_id``, ``last_message_id``, ``flags`` and no
    ``recipients``. A DM between two users lists both of them (inferred: discord.js#11443 keeps every known
    recipient because such a DM can be "between two non-client users").
    """
    last = world.last_message_id(channel.id)
    out: dict[str, Any] = {
        "id": str(channel.id),
        "type": channel.type,
        "last_message_id": str(last) if last else None,
        "flags": channel.flags,
    }
    if channel.type == GROUP_DM_CHANNEL:
        out.update(name=channel.name, icon=None, owner_id=str(channel.owner_id) if channel.owner_id else None)
    else:
        out["recipients"] = [user_payload(world.users[uid]) for uid in channel.recipient_ids]
    return out


def any_channel_payload(
    world: World, obj: ChannelInfo | ThreadRecord | DMChannelInfo | PrivateChannelInfo
) -> dict[str, Any]:
    if isinstance(obj, ThreadRecord):
        return thread_payload(world, obj, member_for=world.bot_user_id)
    if isinstance(obj, DMChannelInfo):
        return dm_channel_payload(world, obj)
    if isinstance(obj, PrivateChannelInfo):
        return private_channel_payload(world, obj)
    return channel_payload(world, obj)


def attachment_payload(att: AttachmentRecord) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": str(att.id),
        "filename": att.filename,
        "size": att.size,
        "url": att.url,
        "proxy_url": att.url,
        "content_type": att.content_type,
        "flags": att.flags,
    }
    for key in ("description", "duration_secs", "waveform", "title"):
        value = getattr(att, key)
        if value is not None:
            out[key] = value
    return out


def _mentioned_user(world: World, user_id: int, guild_id: int | None) -> dict[str, Any]:
    out = user_payload(world.users[user_id])
    member = world.member(user_id, guild_id) if guild_id is not None else None
    if member is not None:
        out["member"] = member_payload(world, member, with_user=False)
    return out


def _integration_owners(world: World, interaction_id: int, guild_id: int | None) -> dict[str, str]:
    """The owners the interaction was authorized by: ``{"0": guild id}``, or ``{"0": "0"}`` in a bot DM."""
    rec = world.interactions.get(interaction_id)
    owners = rec.payload.get("authorizing_integration_owners") if rec is not None else None
    return dict(owners) if isinstance(owners, dict) else {"0": str(guild_id or 0)}


def message_payload(world: World, msg: MessageRecord, *, gateway: bool = False) -> dict[str, Any]:
    """A message object; ``gateway=True`` adds ``guild_id``/``member`` as MESSAGE_CREATE does
    (never in a DM, where a message belongs to no guild)."""
    in_guild = msg.guild_id is not None
    hook = world.webhooks.get(msg.author_id)
    author = webhook_author_payload(hook, msg.webhook_username) if hook else user_payload(world.users[msg.author_id])
    out: dict[str, Any] = {
        "id": str(msg.id),
        "channel_id": str(msg.channel_id),
        "type": msg.type,
        "content": msg.content,
        "author": author,
        "attachments": [attachment_payload(a) for a in msg.attachments],
        "embeds": msg.embeds,
        "mentions": [_mentioned_user(world, u, msg.guild_id) for u in sorted(msg.mentions.users)],
        "mention_roles": [str(r) for r in sorted(msg.mentions.roles)],
        "mention_everyone": msg.mentions.everyone,
        "pinned": False,
        "tts": msg.tts,
        "timestamp": snowflake_iso(msg.id),
        "edited_timestamp": msg.edited_timestamp,
        "flags": msg.flags,
        "components": msg.components,
    }
    if msg.webhook_id is not None:
        out["webhook_id"] = str(msg.webhook_id)
    if msg.application_id is not None:
        out["application_id"] = str(msg.application_id)
    if msg.nonce is not None:
        out["nonce"] = msg.nonce
    if msg.poll is not None:
        out["poll"] = msg.poll
    if msg.sticker_ids:
        out["sticker_items"] = sticker_items(world, msg.sticker_ids)
    if msg.message_snapshots:
        out["message_snapshots"] = msg.message_snapshots
    if msg.message_reference is not None:
        out["message_reference"] = msg.message_reference
        ref_id = msg.message_reference.get("message_id")
        ref = world.messages.get(int(ref_id)) if ref_id else None
        if ref is not None and msg.type == 19:
            out["referenced_message"] = None if ref.deleted else message_payload(world, ref)
    if msg.interaction_id is not None and msg.interaction_user_id is not None:
        user = user_payload(world.users[msg.interaction_user_id])
        out["interaction_metadata"] = {
            "id": str(msg.interaction_id),
            "type": msg.interaction_type,
            "user": user,
            "authorizing_integration_owners": _integration_owners(world, msg.interaction_id, msg.guild_id),
        }
        if msg.command_name is not None:
            out["interaction_metadata"]["name"] = msg.command_name
            out["interaction"] = {
                "id": str(msg.interaction_id),
                "type": msg.interaction_type,
                "name": msg.command_name,
                "user": user,
            }
    if msg.thread_id is not None and msg.thread_id in world.threads:
        out["thread"] = thread_payload(world, world.threads[msg.thread_id], member_for=world.bot_user_id)
    if msg.reactions:
        counts: dict[str, int] = {}
        for emoji in msg.reactions:
            counts[emoji] = counts.get(emoji, 0) + 1
        out["reactions"] = [
            {
                "emoji": {"id": None, "name": e},
                "count": c,
                "me": True,
                "count_details": {"burst": 0, "normal": c},
                "burst_colors": [],
                "me_burst": False,
                "burst_me": False,
                "burst_count": 0,
                "normal_count": c,
            }
            for e, c in counts.items()
        ]
    if gateway and in_guild:
        out["guild_id"] = str(msg.guild_id)
        member = world.member(msg.author_id, msg.guild_id)
        if member is not None and msg.webhook_id is None:
            out["member"] = member_payload(world, member, with_user=False)
    return out
