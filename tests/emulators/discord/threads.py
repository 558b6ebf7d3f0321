"""Thread creation and modification with Discord's defaults and checks.

Without a starter message, ``type`` defaults to PRIVATE_THREAD (12), exactly as Discord does;
threads created from a message are public (11) and take the message's id. Who may create, edit,
join or remove members is checked by :mod:`.access` when an ``actor_id`` is given (REST calls and
simulated members); moderator actions from the facade pass none. A person's thread creation counts
against the parent's slowmode (:mod:`.slowmode`).
"""

from __future__ import annotations

import time
from typing import Any

from . import errors
from .gateway import Gateway, GatewaySession
from .messaging import MessageService, Origin
from .notifier import Notifier
from .payloads import thread_member_payload
from .records import ThreadRecord
from .snowflakes import iso_timestamp, snowflake_iso
from .validation import validate_archive_duration, validate_thread_name
from .world import World
from .world_types import INTENT_GUILD_MEMBERS, INTENT_GUILDS, PRIVATE_THREAD, PUBLIC_THREAD

THREAD_CREATED_MESSAGE = 18
HAS_THREAD_FLAG = 1 << 5


class ThreadService:
    def __init__(self, world: World, gateway: Gateway, notifier: Notifier, messages: MessageService) -> None:
        self.world = world
        self.gateway = gateway
        self.notifier = notifier
        self.messages = messages
        self.access = messages.access
        messages.on_thread_join = lambda thread, user_id: self._members_update(thread, added=[user_id])

    def create(self, parent_id: int, body: dict[str, Any], owner_id: int) -> ThreadRecord:
        """``POST /channels/{id}/threads`` (no starter message)."""
        self.world.require_text_channel(parent_id)
        form = errors.FormErrors()
        validate_thread_name(form, body.get("name"), required=True)
        validate_archive_duration(form, body.get("auto_archive_duration"))
        ttype = body.get("type", PRIVATE_THREAD)
        if ttype is None:
            ttype = PRIVATE_THREAD
        if ttype not in (PUBLIC_THREAD, PRIVATE_THREAD):
            form.choices(("type",), "(11, 12)")
        form.raise_if_any()
        self.access.check_create_thread(owner_id, parent_id, int(ttype))
        self.messages.slowmode.check("thread", owner_id, parent_id)
        thread = self._new(self.world.ids.next(), parent_id, body, int(ttype), owner_id, None)
        self.messages.slowmode.record("thread", owner_id, parent_id)
        if thread.type == PUBLIC_THREAD:
            # "X started a thread" system message in the parent, as the Discord client shows.
            origin = Origin(author_id=owner_id, kind="system", message_type=THREAD_CREATED_MESSAGE)
            self.messages.create(parent_id, {"content": thread.name}, [], origin, allow_empty=True)
        return thread

    def create_from_message(
        self, channel_id: int, message_id: int, body: dict[str, Any], owner_id: int
    ) -> ThreadRecord:
        """``POST /channels/{cid}/messages/{mid}/threads``: public, id == message id."""
        self.world.require_text_channel(channel_id)
        msg = self.world.require_message(channel_id, message_id)
        form = errors.FormErrors()
        validate_thread_name(form, body.get("name"), required=True)
        validate_archive_duration(form, body.get("auto_archive_duration"))
        form.raise_if_any()
        self.access.check_create_thread(owner_id, channel_id, PUBLIC_THREAD)
        if msg.thread_id is not None or message_id in self.world.threads:
            raise errors.thread_already_exists()
        self.messages.slowmode.check("thread", owner_id, channel_id)
        thread = self._new(message_id, channel_id, body, PUBLIC_THREAD, owner_id, message_id)
        self.messages.slowmode.record("thread", owner_id, channel_id)
        msg.thread_id = thread.id
        msg.flags |= HAS_THREAD_FLAG
        self.messages.gateway.dispatch("MESSAGE_UPDATE", self.messages.message_event(msg))
        return thread

    def _new(
        self, thread_id: int, parent_id: int, body: dict[str, Any], ttype: int, owner_id: int, starter: int | None
    ) -> ThreadRecord:
        now_iso = iso_timestamp()
        thread = ThreadRecord(
            id=thread_id,
            guild_id=self.world.guild_for_channel(parent_id).id,
            parent_id=parent_id,
            name=str(body["name"]),
            type=ttype,
            owner_id=owner_id,
            starter_message_id=starter,
            auto_archive_duration=int(body.get("auto_archive_duration") or 4320),
            invitable=bool(body.get("invitable", True)),
            rate_limit_per_user=int(body.get("rate_limit_per_user") or 0),
            member_ids=[owner_id],
            archive_timestamp=now_iso,
            create_timestamp=snowflake_iso(thread_id) if starter is None else now_iso,
        )
        thread.renames.append((time.monotonic(), thread.name))
        self.world.threads[thread.id] = thread
        self.world.channel_messages.setdefault(thread.id, [])
        self.gateway.dispatch("THREAD_CREATE", self.messages.thread_event(thread, newly_created=True))
        self.notifier.notify()
        return thread

    def modify(self, thread: ThreadRecord, body: dict[str, Any], actor_id: int | None = None) -> ThreadRecord:
        """``PATCH /channels/{thread_id}``: rename, (un)archive, lock, change archive duration."""
        form = errors.FormErrors()
        validate_thread_name(form, body.get("name"), required=False)
        validate_archive_duration(form, body.get("auto_archive_duration"))
        form.raise_if_any()
        if actor_id is not None:
            self.access.check_modify_thread(actor_id, thread, body)
        was_archived = thread.archived
        if "name" in body and body["name"] != thread.name:
            thread.name = str(body["name"])
            thread.renames.append((time.monotonic(), thread.name))
        if "archived" in body and bool(body["archived"]) != thread.archived:
            thread.archived = bool(body["archived"])
            thread.archive_timestamp = iso_timestamp()
        for key in ("locked", "invitable"):
            if key in body:
                setattr(thread, key, bool(body[key]))
        if body.get("auto_archive_duration") is not None:
            thread.auto_archive_duration = int(body["auto_archive_duration"])
        if body.get("rate_limit_per_user") is not None:
            thread.rate_limit_per_user = int(body["rate_limit_per_user"])
        self.messages.thread_changed(thread, was_archived=was_archived)
        return thread

    def add_member(self, thread: ThreadRecord, user_id: int, actor_id: int | None = None) -> None:
        self.world.require_member(user_id, thread.guild_id)
        if actor_id is not None:
            self.access.check_add_thread_member(actor_id, thread, user_id)
        if thread.archived:
            raise errors.thread_archived()
        if user_id in thread.member_ids:
            return
        thread.member_ids.append(user_id)
        self._members_update(thread, added=[user_id])
        if user_id == self.world.bot_user_id:
            # channel.mdx "Join Thread": "Fires a Thread Members Update and a Thread Create Gateway event".
            self.gateway.dispatch("THREAD_CREATE", self.messages.thread_event(thread))

    def remove_member(self, thread: ThreadRecord, user_id: int, actor_id: int | None = None) -> None:
        if actor_id is not None:
            self.access.check_remove_thread_member(actor_id, thread, user_id)
        if user_id in thread.member_ids:
            thread.member_ids.remove(user_id)
            self._members_update(thread, removed=[user_id])

    def _members_update(
        self, thread: ThreadRecord, added: list[int] | None = None, removed: list[int] | None = None
    ) -> None:
        """THREAD_MEMBERS_UPDATE; without GUILD_MEMBERS only changes involving the bot are sent."""
        bot_id = self.world.bot_user_id
        added = added or []
        removed = removed or []
        body = {
            "id": str(thread.id),
            "guild_id": str(thread.guild_id),
            "member_count": min(len(thread.member_ids), 50),
            "added_members": [thread_member_payload(thread, u) for u in added],
            "removed_member_ids": [str(u) for u in removed],
        }
        involves_bot = bot_id in added or bot_id in removed

        def for_session(session: GatewaySession) -> dict[str, Any] | None:
            if not session.intents & INTENT_GUILDS:
                return None
            if session.intents & INTENT_GUILD_MEMBERS or involves_bot:
                return body
            return None

        self.gateway.dispatch("THREAD_MEMBERS_UPDATE", for_session)
        self.notifier.notify()
