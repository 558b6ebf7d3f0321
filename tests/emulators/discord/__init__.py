"""A loopback Discord emulator (REST v10 + gateway) for testing an unmodified discord.py bot.

Usage::

    emu = DiscordEmulator(token="emulator-token", message_bucket_window_s=1.0)
    other = emu.add_guild("Second", shard=1, shard_count=2)  # optional: more guilds, on chosen shards
    await emu.start()
    discord.http.Route.BASE = emu.api_base_url
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(emu.gateway_url)
    await bot.login(emu.token)
    task = asyncio.create_task(bot.connect())
    await emu.wait_until_ready()
    await emu.wait_for_commands()
    inter = await emu.run_slash_command("chat", {"provider": "ablt", "prompt": "hi"})
    await inter.wait_for_response()
    await emu.wait_for(lambda: bool(inter.followups))
    ...
    await bot.close(); await task; await emu.close()

User installs: ``emu.support_user_installs()`` (before the bot syncs), ``emu.install_app(user)``, then
``run_slash_command(..., channel_id=..., user_id=user)`` in a guild the bot is not in
(``emu.add_outside_guild()``), a DM between users (``emu.open_user_dm(a, b)``) or a group DM
(``emu.open_group_dm(owner, [others])``); records show ``context`` and ``authorizing_integration_owners``.

Sharded bots: each ``discord.AutoShardedClient(shard_count=n, shard_ids=[k])`` identifies with
``shard: [k, n]``, gets only the guilds ``(guild_id >> 22) % n == k`` and their events (DMs: shard 0);
``emu.sessions_by_shard``, ``emu.identifies`` and ``emu.invalid_sessions`` show what happened.
IDENTIFYs are admitted one per ``identify_interval_s`` (5 s, as on Discord) per ``max_concurrency``
bucket; earlier ones get op 9, after which discord.py waits and identifies again.

Module map:

* facade: ``emulator`` (``DiscordEmulator``: lifecycle, gateway control, records) combining
  ``facade_guilds`` (guilds, channels, roles, members; sharding records), ``facade_users``
  (simulated members, other bots, webhooks, forwards, redelivery), ``facade_moderation`` (role
  permissions, channel overwrites, deleting/archiving/locking, faults) and ``facade_installs`` (the
  app installed to users, guilds without the bot, DMs between users, group DMs);
* state and shapes: ``world`` (state: guilds, channels, messages...) + ``world_types`` (its records),
  ``installs`` (installation contexts, users who installed the app), ``outside`` (places the bot is not in),
  ``records`` (what tests read), ``payloads`` + ``guild_payloads`` (JSON shapes, READY), ``snowflakes``;
* transport: ``server`` (middleware: injected faults, auth, rate limits, channel access, errors,
  recording), ``faults`` (``Fault``: proxy errors, 5xx, shared 429s, delays, lost responses,
  dropped connections), ``routes_*`` (REST), ``gateway`` + ``compression`` (websocket),
  ``sharding`` (shard routing, IDENTIFY buckets, session start limit), ``ratelimit``, ``http_utils``;
* behaviour: ``messaging`` (+ ``attachments``, ``forwards``), ``threads``, ``moderation``,
  ``interactions`` + ``interaction_context`` (guild, bot-DM or private-channel shape, which commands
  each installation offers where, owners and permissions carried) + ``external_apps`` (user installs'
  forced ephemeral answers, 5 followups) + ``modals``, ``commands``, ``members``;
* Discord's rules: ``permissions`` (bits, overwrites, thread inheritance, implicit denials),
  ``access`` (the checks and the errors they raise), ``slowmode`` (members' sends and thread
  creation per ``rate_limit_per_user``), ``validation`` (+ ``components`` for action rows, buttons,
  selects, ``components_v2`` for IS_COMPONENTS_V2 layouts), ``mentions``, ``errors``.
"""

from .core import EmulatorConfig
from .emulator import DiscordEmulator
from .errors import ApiError
from .faults import ENVOY_RESET_BODY, Fault
from .permissions import (
    ADMINISTRATOR,
    ATTACH_FILES,
    BYPASS_SLOWMODE,
    CREATE_PRIVATE_THREADS,
    CREATE_PUBLIC_THREADS,
    GENEROUS_PERMISSIONS,
    MANAGE_MESSAGES,
    MANAGE_THREADS,
    READ_MESSAGE_HISTORY,
    SEND_MESSAGES,
    SEND_MESSAGES_IN_THREADS,
    USE_EXTERNAL_APPS,
    VIEW_CHANNEL,
    PermissionOverwrite,
)
from .records import (
    COMPONENTS_V2_FLAG,
    EPHEMERAL_FLAG,
    HAS_SNAPSHOT_FLAG,
    LOADING_FLAG,
    SUPPRESS_NOTIFICATIONS_FLAG,
    VOICE_MESSAGE_FLAG,
    AttachmentRecord,
    AttachmentSpec,
    CallbackRecord,
    GatewayEventRecord,
    InteractionRecord,
    MessageRecord,
    Pings,
    RequestRecord,
    ThreadRecord,
)
from .sharding import IdentifyRecord
from .slowmode import SLOWMODE_CODE

__all__ = [
    "ADMINISTRATOR",
    "ATTACH_FILES",
    "BYPASS_SLOWMODE",
    "COMPONENTS_V2_FLAG",
    "CREATE_PRIVATE_THREADS",
    "CREATE_PUBLIC_THREADS",
    "ENVOY_RESET_BODY",
    "EPHEMERAL_FLAG",
    "GENEROUS_PERMISSIONS",
    "HAS_SNAPSHOT_FLAG",
    "LOADING_FLAG",
    "MANAGE_MESSAGES",
    "MANAGE_THREADS",
    "READ_MESSAGE_HISTORY",
    "SEND_MESSAGES",
    "SEND_MESSAGES_IN_THREADS",
    "SLOWMODE_CODE",
    "SUPPRESS_NOTIFICATIONS_FLAG",
    "USE_EXTERNAL_APPS",
    "VIEW_CHANNEL",
    "VOICE_MESSAGE_FLAG",
    "ApiError",
    "AttachmentRecord",
    "AttachmentSpec",
    "CallbackRecord",
    "DiscordEmulator",
    "EmulatorConfig",
    "Fault",
    "GatewayEventRecord",
    "IdentifyRecord",
    "InteractionRecord",
    "MessageRecord",
    "PermissionOverwrite",
    "Pings",
    "RequestRecord",
    "ThreadRecord",
]
