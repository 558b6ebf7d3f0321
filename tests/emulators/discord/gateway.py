"""The gateway websocket: HELLO/IDENTIFY/READY/GUILD_CREATE, heartbeats, RESUME, dispatches.

Each identified client gets a :class:`GatewaySession` that numbers dispatches and keeps them
so a reconnecting client can RESUME and have missed events replayed, as on real Discord.
Sends go through a per-connection queue so event order is preserved without awaiting.
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

from . import guild_payloads, payloads
from .compression import TransportEncoder, encoder_for
from .notifier import Notifier
from .records import GatewayEventRecord
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

    @property
    def gets_guildless_events(self) -> bool:
        """Events without a ``guild_id`` (DMs, DM interactions) go to shard 0 only."""
        return not self.shard or self.shard[0] == 0

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
    ) -> None:
        self.world = world
        self.notifier = notifier
        self.token = token
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self._url = url
        self.allow_privileged_intents = allow_privileged_intents
        self.connections: list[Connection] = []
        self.compressions_seen: list[str | None] = []  # the `compress` each connection asked for
        self.sessions: dict[str, GatewaySession] = {}
        self.events: list[GatewayEventRecord] = []
        self.identify_intents: int | None = None
        self.identify_count = 0
        self.resume_count = 0
        self.ready_count = 0
        self.heartbeats = 0
        self.presence_updates: list[dict[str, Any]] = []

    # ---- public ----------------------------------------------------------------------------------
    @property
    def connected_count(self) -> int:
        return sum(1 for c in self.connections if c.session is not None and not c.ws.closed)

    def dispatch(self, event: str, data: dict[str, Any] | DataFor) -> None:
        """Send a dispatch to every identified session (buffered for sessions that are away)."""
        for session in list(self.sessions.values()):
            body = data(session) if callable(data) else data
            if body is None:
                continue
            payload = session.next_dispatch(event, body)
            if session.connection is not None:
                session.connection.queue.put_nowait(payload)

    async def disconnect_all(self, code: int = 4000, *, invalidate: bool = False) -> None:
        """Close every connection (``code`` 4000 lets discord.py RESUME); optionally forget sessions."""
        if invalidate:
            self.sessions.clear()
        for conn in list(self.connections):
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
        if conn.session is not None:
            await self._close(conn, 4005, "Already authenticated.")
            return
        if data.get("token") != self.token:
            await self._close(conn, 4004, "Authentication failed.")
            return
        intents = data.get("intents")
        if not isinstance(intents, int) or intents < 0:
            await self._close(conn, 4013, "Invalid intent(s).")
            return
        if intents & PRIVILEGED_INTENTS and not self.allow_privileged_intents:
            await self._close(conn, 4014, "Disallowed intent(s).")
            return
        self.identify_intents = intents
        self.identify_count += 1
        shard = data.get("shard")
        session = GatewaySession(secrets.token_hex(16), intents, shard if isinstance(shard, list) else None)
        self.sessions[session.session_id] = session
        self._attach(conn, session)
        world = self.world
        ready = {
            "v": 10,
            "user": payloads.bot_self_payload(world),
            "user_settings": {},
            "guilds": [{"id": str(world.guild_id), "unavailable": True}],
            "session_id": session.session_id,
            "session_type": "normal",
            "resume_gateway_url": self._url(),
            "shard": session.shard or [0, 1],
            "application": {"id": str(world.application_id), "flags": 1 << 19 | 1 << 23},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": ["emulator"],
            "auth": {},
            "_trace": ["emulator"],
        }
        conn.queue.put_nowait(session.next_dispatch("READY", ready))
        guild = guild_payloads.guild_create_payload(world, intents)
        conn.queue.put_nowait(session.next_dispatch("GUILD_CREATE", guild))

    async def _resume(self, conn: Connection, data: dict[str, Any]) -> None:
        session = self.sessions.get(str(data.get("session_id")))
        if session is None or data.get("token") != self.token:
            conn.queue.put_nowait({"op": OP_INVALID_SESSION, "d": False, "s": None, "t": None})
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
        world = self.world
        members = list(world.members.values())
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
            "guild_id": str(world.guild_id),
            "members": [payloads.member_payload(world, m) for m in members],
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [],
        }
        if data.get("nonce") is not None:
            chunk["nonce"] = data["nonce"]
        if conn.session is not None:
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
            if payload["t"] == "GUILD_CREATE":
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
