"""The gateway websocket: HELLO/IDENTIFY/READY/GUILD_CREATE, heartbeats, RESUME, dispatches.

Each identified client gets a :class:`GatewaySession` that numbers dispatches and keeps them
so a reconnecting client can RESUME and have missed events replayed, as on real Discord.
Sends go through a per-connection queue so event order is preserved without awaiting.

Sharding (:mod:`.sharding`): an IDENTIFY may carry ``shard: [shard_id, num_shards]``; READY then lists
only that shard's guilds, one GUILD_CREATE follows per guild, and every dispatch is routed by the
guild it names (events without a guild reach shard 0 only). IDENTIFYs are admitted per
``max_concurrency`` bucket; one too early gets op 9 Invalid Session ``d: false`` and no session.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from . import guild_payloads
from .compression import TransportEncoder, encoder_for
from .notifier import Notifier
from .records import GatewayEventRecord
from .sharding import (
    MAX_GUILDS_PER_SESSION,
    IdentifyLimiter,
    IdentifyRecord,
    InvalidShard,
    Shard,
    parse_shard,
    receives,
)
from .world import World

OP_DISPATCH, OP_HEARTBEAT, OP_IDENTIFY, OP_PRESENCE, OP_VOICE = 0, 1, 2, 3, 4
OP_RESUME, OP_RECONNECT, OP_REQUEST_MEMBERS, OP_INVALID_SESSION, OP_HELLO, OP_ACK = 6, 7, 8, 9, 10, 11
PRIVILEGED_INTENTS = (1 << 1) | (1 << 8) | (1 << 15)

DataFor = Callable[["GatewaySession"], dict[str, Any] | None]


@dataclass
class Connection:
    """One websocket; outlives nothing (a session may move between connections)."""

    ws: web.WebSocketResponse
    encoder: TransportEncoder
    compress: str | None
    queue: asyncio.Queue[dict[str, Any] | None] = field(default_factory=asyncio.Queue)
    session: GatewaySession | None = None
    writer: asyncio.Task[None] | None = None


@dataclass
class GatewaySession:
    """An identified gateway session: its intents, sequence counter and dispatch history."""

    session_id: str
    intents: int
    shard: list[int] | None
    seq: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    connection: Connection | None = None
    # Sequence numbers of READY and the initial GUILD_CREATEs not yet written; the session counts as
    # ready (``Gateway.ready_count``) once the last of them went out.
    ready_pending: set[int] = field(default_factory=set)

    @property
    def shard_key(self) -> Shard | None:
        return (self.shard[0], self.shard[1]) if self.shard else None

    @property
    def gets_guildless_events(self) -> bool:
        """Events without a ``guild_id`` (DMs, DM interactions) go to shard 0 only."""
        return receives(self.shard_key, None)

    def receives(self, guild_id: int | None) -> bool:
        """Whether events of ``guild_id`` (None: guild-less) are routed to this session."""
        return receives(self.shard_key, guild_id)

    def next_dispatch(self, event: str, data: dict[str, Any]) -> dict[str, Any]:
        self.seq += 1
        payload = {"op": OP_DISPATCH, "t": event, "s": self.seq, "d": data}
        self.history.append(payload)
        return payload


class Gateway:
    """Gateway server logic; mounted on the emulator's aiohttp app at ``/``."""

    def __init__(
        self,
        world: World,
        notifier: Notifier,
        *,
        token: str,
        heartbeat_interval_ms: int,
        url: Callable[[], str],
        allow_privileged_intents: bool = True,
        recommended_shards: int = 1,
        max_concurrency: int = 1,
        identify_interval_s: float = 5.0,
    ) -> None:
        self.world = world
        self.notifier = notifier
        self.token = token
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self._url = url
        self.allow_privileged_intents = allow_privileged_intents
        self.recommended_shards = recommended_shards
        self.limiter = IdentifyLimiter(max_concurrency=max_concurrency, interval_s=identify_interval_s)
        self.max_guilds_per_session = MAX_GUILDS_PER_SESSION
        self.identifies: list[IdentifyRecord] = []
        self.invalid_sessions = 0  # op 9 sent (refused IDENTIFYs and failed RESUMEs)
        self.connections: list[Connection] = []
        self.compressions_seen: list[str | None] = []  # the `compress` each connection asked for
        self.sessions: dict[str, GatewaySession] = {}
        self.events: list[GatewayEventRecord] = []
        self.identify_intents: int | None = None
        self.identify_count = 0  # IDENTIFYs that started a session
        self.resume_count = 0
        self.ready_count = 0
        self.heartbeats = 0
        self.presence_updates: list[dict[str, Any]] = []

    # ---- public ----------------------------------------------------------------------------------
    @property
    def connected_count(self) -> int:
        return sum(1 for c in self.connections if c.session is not None and not c.ws.closed)

    @property
    def sessions_by_shard(self) -> dict[Shard | None, list[str]]:
        """Live (connected, identified) sessions by ``(shard_id, num_shards)``; None = unsharded."""
        out: dict[Shard | None, list[str]] = {}
        for conn in self.connections:
            if conn.session is not None and not conn.ws.closed:
                out.setdefault(conn.session.shard_key, []).append(conn.session.session_id)
        return out

    def dispatch(self, event: str, data: dict[str, Any] | DataFor, *, guild_id: int | None = None) -> None:
        """Send a dispatch to every identified session it is routed to (buffered for sessions that are
        away). Routing follows the body's ``guild_id`` (``guild_id=`` for events naming their guild
        otherwise, such as GUILD_CREATE's ``id``); without one only shard 0 gets it (gateway.mdx
        "Sharding"). Of a guild the bot is not in (where a user-installed app is used, see :mod:`.outside`)
        only INTERACTION_CREATE is sent: "Apps installed in a user context ... are limited to using
        commands" (quick-start/getting-started.mdx); it is routed by its ``guild_id`` like any other
        (inferred)."""
        for session in list(self.sessions.values()):
            body = data(session) if callable(data) else data
            if body is None:
                continue
            target = guild_id if guild_id is not None else _event_guild_id(body)
            if target is not None and target not in self.world.guilds and event != "INTERACTION_CREATE":
                continue
            if not session.receives(target):
                continue
            payload = session.next_dispatch(event, body)
            if session.connection is not None:
                session.connection.queue.put_nowait(payload)

    async def disconnect_all(self, code: int = 4000, *, invalidate: bool = False, shard: int | None = None) -> None:
        """Close every connection, or those of sessions on ``shard`` (``code`` 4000 lets discord.py
        RESUME); optionally forget their sessions."""
        chosen = [c for c in self.connections if shard is None or _shard_id(c.session) == shard]
        if invalidate:
            for sid, session in list(self.sessions.items()):
                if shard is None or _shard_id(session) == shard:
                    del self.sessions[sid]
        for conn in chosen:
            await self._close(conn, code, "Emulator disconnect")

    async def send_reconnect(self) -> None:
        """Send op 7 RECONNECT, asking clients to reconnect and resume."""
        for conn in list(self.connections):
            conn.queue.put_nowait({"op": OP_RECONNECT, "d": None, "s": None, "t": None})

    async def close(self) -> None:
        for conn in list(self.connections):
            await self._close(conn, 1001, "Emulator shutting down")

    # ---- websocket handler -----------------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.StreamResponse:
        compress = request.query.get("compress")
        encoder = encoder_for(compress)
        ws = web.WebSocketResponse(autoping=True, max_msg_size=16 * 1024 * 1024)
        await ws.prepare(request)
        if encoder is None or request.query.get("encoding", "json") != "json":
            await ws.close(code=4002, message=b"Error while decoding payload.")
            return ws
        conn = Connection(ws=ws, encoder=encoder, compress=compress)
        self.compressions_seen.append(compress)
        self.connections.append(conn)
        conn.writer = asyncio.create_task(self._writer(conn))
        conn.queue.put_nowait(
            {
                "op": OP_HELLO,
                "d": {"heartbeat_interval": self.heartbeat_interval_ms, "_trace": ["emulator"]},
                "s": None,
                "t": None,
            }
        )
        self.notifier.notify()
        try:
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    if msg.type is WSMsgType.BINARY:
                        await self._close(conn, 4002, "Error while decoding payload.")
                    continue
                try:
                    packet = json.loads(msg.data)
                except ValueError:
                    await self._close(conn, 4002, "Error while decoding payload.")
                    break
                await self._on_packet(conn, packet)
        finally:
            await self._detach(conn)
        return ws

    async def _on_packet(self, conn: Connection, packet: dict[str, Any]) -> None:
        op = packet.get("op")
        data = packet.get("d")
        if op == OP_HEARTBEAT:
            self.heartbeats += 1
            conn.queue.put_nowait({"op": OP_ACK, "d": None, "s": None, "t": None})
        elif op == OP_IDENTIFY:
            await self._identify(conn, data or {})
        elif op == OP_RESUME:
            await self._resume(conn, data or {})
        elif conn.session is None:
            await self._close(conn, 4003, "Not authenticated.")
        elif op == OP_PRESENCE:
            self.presence_updates.append(data or {})
        elif op == OP_REQUEST_MEMBERS:
            self._members_chunk(conn, data or {})
        elif op == OP_VOICE:
            pass  # voice is out of scope; Discord would answer with VOICE_STATE_UPDATE
        else:
            await self._close(conn, 4001, "Unknown opcode.")
        self.notifier.notify()

    async def _identify(self, conn: Connection, data: dict[str, Any]) -> None:
        """IDENTIFY, checked in this order (the order is inferred; each answer is documented in
        topics/opcodes-and-status-codes.mdx): already identified 4005, token 4004, intents 4013/4014,
        ``shard`` 4010, more guilds than one session may hold 4011, identify concurrency op 9."""
        raw_shard = data.get("shard")
        recorded = _recorded_shard(raw_shard)
        if conn.session is not None:
            await self._refuse(conn, recorded, 4005, "Already authenticated.")
            return
        if data.get("token") != self.token:
            await self._refuse(conn, recorded, 4004, "Authentication failed.")
            return
        self.limiter.charge()
        intents = data.get("intents")
        if not isinstance(intents, int) or intents < 0:
            await self._refuse(conn, recorded, 4013, "Invalid intent(s).")
            return
        if intents & PRIVILEGED_INTENTS and not self.allow_privileged_intents:
            await self._refuse(conn, recorded, 4014, "Disallowed intent(s).")
            return
        try:
            shard = parse_shard(raw_shard)
        except InvalidShard:
            await self._refuse(conn, recorded, 4010, "Invalid shard.")
            return
        guild_ids = self.world.shard_guild_ids(list(shard) if shard else None)
        if len(guild_ids) > self.max_guilds_per_session:
            await self._refuse(conn, shard, 4011, "Sharding required.")
            return
        bucket = self.limiter.bucket(shard)
        if not self.limiter.admit(bucket):
            # gateway.mdx "Identifying": "If your app exceeds this limit, Discord will respond with a
            # Invalid Session (opcode 9)"; ``d: false`` as nothing can be resumed (gateway-events.mdx
            # "Invalid Session"). The socket stays open: discord.py closes it with 1000 and identifies
            # again on a new one after ``before_identify_hook`` (discord/gateway.py received_message,
            # discord/shard.py Shard.reidentify, discord/client.py Client.connect).
            self.identifies.append(IdentifyRecord(time.monotonic(), shard, "invalid_session", bucket))
            self._invalid_session(conn)
            return
        self.identifies.append(IdentifyRecord(time.monotonic(), shard, "ready", bucket))
        self.identify_intents = intents
        self.identify_count += 1
        session = GatewaySession(secrets.token_hex(16), intents, list(shard) if shard else None)
        self.sessions[session.session_id] = session
        self._attach(conn, session)
        ready = guild_payloads.ready_payload(self.world, session.session_id, guild_ids, shard, self._url())
        ready_frame = session.next_dispatch("READY", ready)
        conn.queue.put_nowait(ready_frame)
        for gid in guild_ids:
            frame = session.next_dispatch("GUILD_CREATE", guild_payloads.guild_create_payload(self.world, intents, gid))
            session.ready_pending.add(frame["s"])
            conn.queue.put_nowait(frame)
        if not session.ready_pending:
            session.ready_pending.add(ready_frame["s"])  # no guild on this shard: READY is all there is

    async def _refuse(self, conn: Connection, shard: Shard | None, code: int, reason: str) -> None:
        self.identifies.append(IdentifyRecord(time.monotonic(), shard, "closed", close_code=code))
        await self._close(conn, code, reason)

    def _invalid_session(self, conn: Connection) -> None:
        self.invalid_sessions += 1
        conn.queue.put_nowait({"op": OP_INVALID_SESSION, "d": False, "s": None, "t": None})

    async def _resume(self, conn: Connection, data: dict[str, Any]) -> None:
        session = self.sessions.get(str(data.get("session_id")))
        if session is None or data.get("token") != self.token:
            self._invalid_session(conn)
            return
        old = session.connection
        if old is not None and old is not conn:
            session.connection = None
            old.session = None
            await self._close(old, 4000, "Session resumed elsewhere")
        self.resume_count += 1
        seq = data.get("seq") or 0
        self._attach(conn, session)
        for payload in session.history:
            if payload["s"] > seq:
                conn.queue.put_nowait(payload)
        conn.queue.put_nowait(session.next_dispatch("RESUMED", {"_trace": ["emulator"]}))

    def _members_chunk(self, conn: Connection, data: dict[str, Any]) -> None:
        if conn.session is not None:
            chunk = guild_payloads.members_chunk_payload(self.world, data)
            conn.queue.put_nowait(conn.session.next_dispatch("GUILD_MEMBERS_CHUNK", chunk))

    # ---- plumbing --------------------------------------------------------------------------------
    def _attach(self, conn: Connection, session: GatewaySession) -> None:
        conn.session = session
        session.connection = conn

    async def _writer(self, conn: Connection) -> None:
        while True:
            payload = await conn.queue.get()
            if payload is None or conn.ws.closed:
                return
            frame = conn.encoder.encode(json.dumps(payload, separators=(",", ":")))
            try:
                if isinstance(frame, bytes):
                    await conn.ws.send_bytes(frame)
                else:
                    await conn.ws.send_str(frame)
            except (ConnectionError, RuntimeError):
                return
            session_id = conn.session.session_id if conn.session else None
            record = GatewayEventRecord(time.monotonic(), session_id, payload["op"], payload["t"], payload["s"])
            self.events.append(record)
            session = conn.session
            if session is not None and payload["s"] in session.ready_pending:
                session.ready_pending.discard(payload["s"])
                if not session.ready_pending:
                    self.ready_count += 1
            self.notifier.notify()

    async def _close(self, conn: Connection, code: int, reason: str) -> None:
        # Let queued frames (e.g. an op 9) go out first, then close with Discord's code.
        if conn.writer is not None and not conn.writer.done():
            conn.queue.put_nowait(None)
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(conn.writer), timeout=1.0)
        if not conn.ws.closed:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await conn.ws.close(code=code, message=reason.encode())
        await self._detach(conn)

    async def _detach(self, conn: Connection) -> None:
        if conn in self.connections:
            self.connections.remove(conn)
        if conn.session is not None and conn.session.connection is conn:
            conn.session.connection = None
        if conn.writer is not None and not conn.writer.done():
            conn.writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await conn.writer
        self.notifier.notify()


def _event_guild_id(body: dict[str, Any]) -> int | None:
    raw = body.get("guild_id")
    return int(raw) if raw is not None else None


def _shard_id(session: GatewaySession | None) -> int:
    """The shard a session (or connection) is on; unsharded ones count as shard 0."""
    return session.shard[0] if session is not None and session.shard else 0


def _recorded_shard(raw: Any) -> Shard | None:
    """What an IDENTIFY asked for, as far as it is a pair of integers (kept even when invalid)."""
    if isinstance(raw, list) and len(raw) == 2 and all(type(v) is int for v in raw):
        return raw[0], raw[1]
    return None
