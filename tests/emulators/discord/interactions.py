"""Simulated users' interactions (slash commands, message commands, autocomplete, buttons, selects,
modals) and the bot's responses to them: callbacks (once, within 3 s) and the 15-minute interaction webhook.
The guild-or-DM shape of each interaction comes from :mod:`.interaction_context`."""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping
from typing import Any

from . import errors, external_apps, payloads
from .commands import CHAT_INPUT, MESSAGE_COMMAND, OptionBuilder
from .gateway import Gateway
from .interaction_context import find_offered_command, locate, owners_where
from .messaging import MessageService, Origin
from .modals import ModalSubmission, SubmittedValue, check_modal
from .notifier import Notifier
from .records import (
    COMPONENTS_V2_FLAG,
    EPHEMERAL_FLAG,
    LOADING_FLAG,
    AttachmentSpec,
    CallbackRecord,
    InteractionRecord,
    MessageRecord,
)
from .validation import UploadedFile
from .world import World

PING, APPLICATION_COMMAND, COMPONENT, AUTOCOMPLETE, MODAL_SUBMIT = 1, 2, 3, 4, 5
ALLOWED_CALLBACKS = {
    PING: {1},
    APPLICATION_COMMAND: {4, 5, 9},
    COMPONENT: {4, 5, 6, 7, 9},
    AUTOCOMPLETE: {8},
    MODAL_SUBMIT: {4, 5, 6, 7},
}
CHAT_INPUT_COMMAND_MESSAGE, CONTEXT_MENU_COMMAND_MESSAGE = 20, 23


class InteractionService:
    def __init__(
        self,
        world: World,
        gateway: Gateway,
        notifier: Notifier,
        messages: MessageService,
        *,
        callback_timeout_s: float,
        token_ttl_s: float,
    ) -> None:
        self.world = world
        self.gateway = gateway
        self.notifier = notifier
        self.messages = messages
        self.callback_timeout_s = callback_timeout_s
        self.token_ttl_s = token_ttl_s
        self.source_messages: dict[int, int] = {}  # interaction id -> message the component is on

    # ---- simulated user actions ------------------------------------------------------------------
    def slash(
        self, name: str, options: dict[str, Any], channel_id: int, user_id: int, *, focused: str | None = None
    ) -> InteractionRecord:
        parts = name.split()
        location = locate(self.world, channel_id, user_id)
        command, owners = find_offered_command(self.world, parts[0], CHAT_INPUT, location, user_id)
        builder = OptionBuilder(self.world, lambda spec: self._upload(channel_id, spec), guild_id=location.guild_id)
        data: dict[str, Any] = {
            "id": command["id"],
            "name": command["name"],
            "type": CHAT_INPUT,
            "options": builder.build(command, parts[1:], options, focused),
        }
        if "guild_id" in command:
            data["guild_id"] = command["guild_id"]
        if builder.resolved and focused is None:
            data["resolved"] = builder.resolved
        kind = AUTOCOMPLETE if focused is not None else APPLICATION_COMMAND
        return self._dispatch(kind, data, channel_id, user_id, owners)

    def message_command(self, name: str, message_id: int, user_id: int) -> InteractionRecord:
        """A message command (Apps menu on ``message_id``) run where that message is.

        As Discord sends it (application-commands.mdx "Message Commands", its example interaction;
        receiving-and-responding.mdx "Application Command Data Structure"): ``data`` carries the
        command's ``id``/``name``/``type`` 3, ``target_id`` (the message) and the message itself in
        ``resolved.messages``; message commands take no options.
        """
        msg = self.world.messages.get(message_id)
        if msg is None or msg.deleted:
            raise ValueError(f"message {message_id} does not exist")
        if msg.ephemeral:
            raise ValueError("an ephemeral message has no Apps menu; a user cannot run a message command on it")
        location = locate(self.world, msg.channel_id, user_id)
        command, owners = find_offered_command(self.world, name, MESSAGE_COMMAND, location, user_id)
        data: dict[str, Any] = {
            "id": command["id"],
            "name": command["name"],
            "type": MESSAGE_COMMAND,
            "target_id": str(message_id),
            "resolved": {"messages": {str(message_id): payloads.message_payload(self.world, msg)}},
        }
        if "guild_id" in command:
            data["guild_id"] = command["guild_id"]
        return self._dispatch(APPLICATION_COMMAND, data, msg.channel_id, user_id, owners)

    def component(
        self, message_id: int, custom_id: str, user_id: int, values: list[str] | None = None
    ) -> InteractionRecord:
        msg = self.world.messages.get(message_id)
        if msg is None or msg.deleted:
            raise ValueError(f"message {message_id} does not exist")
        comp = _find_component(msg.components, custom_id)
        if comp is None:
            raise ValueError(f"message {message_id} has no component {custom_id!r} (has {msg.custom_ids()})")
        if comp.get("disabled"):
            raise ValueError(f"component {custom_id!r} is disabled; a user cannot use it")
        ctype = int(comp["type"])
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": ctype}
        if "id" in comp:
            data["id"] = comp["id"]
        if ctype == 2:
            if values is not None:
                raise ValueError("buttons take no values")
            if comp.get("style") == 5:
                raise ValueError("link buttons open a URL and send no interaction")
        else:
            chosen = list(values or [])
            low, high = comp.get("min_values", 1), comp.get("max_values", 1)
            if not low <= len(chosen) <= high:
                raise ValueError(f"select {custom_id!r} needs between {low} and {high} values")
            if ctype == 3:
                allowed = [o["value"] for o in comp.get("options", [])]
                bad = [v for v in chosen if v not in allowed]
                if bad:
                    raise ValueError(f"select {custom_id!r}: {bad} not among {allowed}")
            data["values"] = chosen
        rec = self._dispatch(COMPONENT, data, msg.channel_id, user_id, self._owners_of(msg, user_id), message=msg)
        self.source_messages[rec.id] = msg.id
        return rec

    def modal_submit(
        self, source: InteractionRecord, values: Mapping[str, SubmittedValue], user_id: int
    ) -> InteractionRecord:
        """Submit the modal ``source`` opened (see :mod:`.modals` for the shapes and the client's refusals)."""
        modal = source.modal
        if modal is None:
            raise ValueError("that interaction did not open a modal")
        store = functools.partial(self._upload, source.channel_id)
        data = ModalSubmission(modal, store, self.messages.max_file_size).data(values)
        source_msg_id = self.source_messages.get(source.id)
        msg = self.world.messages.get(source_msg_id) if source_msg_id else None
        owners = dict(source.payload.get("authorizing_integration_owners") or {})
        rec = self._dispatch(MODAL_SUBMIT, data, source.channel_id, user_id, owners, message=msg)
        if msg is not None:
            self.source_messages[rec.id] = msg.id
        return rec

    def crafted_modal_submit(self, source: InteractionRecord, data: dict[str, Any], user_id: int) -> InteractionRecord:
        """A MODAL_SUBMIT for the modal ``source`` opened whose ``data`` is exactly ``data``: what a modified client
        could send (which of a submission's fields Discord itself checks against the modal is not documented)."""
        if source.modal is None:
            raise ValueError("that interaction did not open a modal")
        owners = dict(source.payload.get("authorizing_integration_owners") or {})
        return self._dispatch(MODAL_SUBMIT, data, source.channel_id, user_id, owners)

    def _upload(self, channel_id: int, spec: AttachmentSpec) -> dict[str, Any]:
        f = UploadedFile(0, "files[0]", spec.filename, spec.content_type, spec.data)
        meta = {"duration_secs": spec.duration_secs, "waveform": spec.waveform, "description": spec.description}
        att = self.messages.store_file(channel_id, f, meta)
        self.messages.store.serve_as(att, spec)
        return payloads.attachment_payload(att)

    def _owners_of(self, msg: MessageRecord, user_id: int) -> dict[str, str]:
        """A component's interaction is authorized as the interaction that sent its message was ("it can be
        used to tell the difference between the authorizing user and the user that triggered an interaction
        (like a message component)", receiving-and-responding.mdx); else by the installations present."""
        source = self.world.interactions.get(msg.interaction_id) if msg.interaction_id is not None else None
        if source is not None:
            return dict(source.payload.get("authorizing_integration_owners") or {})
        return owners_where(self.world, locate(self.world, msg.channel_id, user_id), user_id)

    def _dispatch(
        self,
        kind: int,
        data: dict[str, Any],
        channel_id: int,
        user_id: int,
        owners: dict[str, str],
        *,
        message: MessageRecord | None = None,
    ) -> InteractionRecord:
        world = self.world
        location = locate(world, channel_id, user_id)
        iid = world.ids.next()
        token = world.new_token()
        body: dict[str, Any] = {
            "id": str(iid),
            "application_id": str(world.application_id),
            "type": kind,
            "data": data,
            "channel_id": str(channel_id),
            "token": token,
            "version": 1,
            "locale": "en-US",
            "entitlements": [],
            "attachment_size_limit": self.messages.max_file_size,
            **location.fields,
            "authorizing_integration_owners": owners,
        }
        if message is not None:
            body["message"] = payloads.message_payload(world, message)
        rec = InteractionRecord(
            id=iid,
            token=token,
            type=kind,
            application_id=world.application_id,
            guild_id=location.guild_id,
            channel_id=channel_id,
            user_id=user_id,
            data=data,
            payload=body,
            forced_ephemeral=external_apps.forces_ephemeral(location),
            _notifier=self.notifier,
        )
        world.interactions[iid] = rec
        world.interactions_by_token[token] = rec
        # Routed by its guild_id to that guild's shard; a DM interaction has none and reaches shard 0
        # only (events/gateway.mdx "Sharding").
        self.gateway.dispatch("INTERACTION_CREATE", body)
        self.notifier.notify()
        return rec

    # ---- callback --------------------------------------------------------------------------------
    def callback(
        self, interaction_id: int, token: str, body: dict[str, Any], files: list[UploadedFile]
    ) -> dict[str, Any]:
        rec = self.world.interactions.get(interaction_id)
        if rec is None or rec.token != token:
            raise errors.unknown_interaction()
        if time.monotonic() - rec.created_at > self.callback_timeout_s:
            rec.rejected_callbacks += 1
            self.notifier.notify()
            raise errors.unknown_interaction()
        if rec.callbacks:
            rec.rejected_callbacks += 1
            self.notifier.notify()
            raise errors.already_acknowledged()
        ctype = body.get("type")
        data = body.get("data") or {}
        allowed = ALLOWED_CALLBACKS[rec.type]
        if ctype not in allowed:
            raise errors.single_field_error(("type",), "BASE_TYPE_CHOICES", f"Value must be one of {sorted(allowed)}.")
        origin = self._origin(rec)
        message: MessageRecord | None = None
        if ctype == 4:
            message = self.messages.create(rec.channel_id, external_apps.as_sent(rec, data), files, origin)
        elif ctype == 5:
            flags = int(external_apps.as_sent(rec, data).get("flags") or 0) & EPHEMERAL_FLAG
            message = self.messages.create(
                rec.channel_id, {"flags": flags}, [], origin, allow_empty=True, extra_flags=LOADING_FLAG
            )
        elif ctype in (6, 7):
            source = self._source_message(rec)
            message = self.messages.edit(source, data, files, self._bot_origin()) if ctype == 7 else source
        elif ctype == 8:
            rec.choices = self._check_choices(data)
        elif ctype == 9:
            rec.modal = check_modal(data)
        if message is not None:
            rec.original_message = message
        rec.callbacks.append(CallbackRecord(time.monotonic(), int(ctype), data or None))
        self.notifier.notify()
        return self._callback_response(rec, int(ctype), message)

    def _callback_response(self, rec: InteractionRecord, ctype: int, msg: MessageRecord | None) -> dict[str, Any]:
        info: dict[str, Any] = {"id": str(rec.id), "type": rec.type}
        out: dict[str, Any] = {"interaction": info}
        if msg is not None and ctype in (4, 5, 7):
            info.update(
                response_message_id=str(msg.id),
                response_message_loading=msg.loading,
                response_message_ephemeral=msg.ephemeral,
            )
            out["resource"] = {"type": ctype, "message": payloads.message_payload(self.world, msg)}
        return out

    def _source_message(self, rec: InteractionRecord) -> MessageRecord:
        msg_id = self.source_messages.get(rec.id)
        msg = self.world.messages.get(msg_id) if msg_id else None
        if msg is None or msg.deleted:
            raise errors.unknown_message()
        return msg

    def _check_choices(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        form = errors.FormErrors()
        choices = data.get("choices")
        if not isinstance(choices, list):
            form.required(("data", "choices"))
            choices = []
        if len(choices) > 25:
            form.max_length(("data", "choices"), 25)
        for i, choice in enumerate(choices):
            name = choice.get("name")
            if not isinstance(name, str) or not 1 <= len(name) <= 100:
                form.bad_length(("data", "choices", i, "name"), 1, 100)
            if "value" not in choice:
                form.required(("data", "choices", i, "value"))
        form.raise_if_any()
        return list(choices)

    # ---- interaction webhook ---------------------------------------------------------------------
    def require_token(self, app_id: int, token: str) -> InteractionRecord:
        rec = self.world.interactions_by_token.get(token)
        if app_id != self.world.application_id or rec is None:
            raise errors.unknown_webhook()
        if time.monotonic() - rec.created_at > self.token_ttl_s:
            raise errors.invalid_webhook_token()
        if not rec.callbacks:
            raise errors.unknown_webhook()  # the webhook exists only once the interaction is acknowledged
        return rec

    def followup(self, rec: InteractionRecord, payload: dict[str, Any], files: list[UploadedFile]) -> MessageRecord:
        original = rec.original_message
        if rec.response_type == 5 and original is not None and original.loading and not original.deleted:
            # The first followup after a "thinking" defer fills in the loading message, keeping the
            # defer's visibility; Discord treats it as an edit (so it does not notify anyone). It may make
            # the message a Components V2 one (the flag can be set by an edit).
            edit_payload = {k: v for k, v in payload.items() if k != "flags"}
            if int(payload.get("flags") or 0) & COMPONENTS_V2_FLAG:
                edit_payload["flags"] = COMPONENTS_V2_FLAG
            return self.messages.edit(original, edit_payload, files, self._origin(rec))
        external_apps.check_followup_limit(rec)
        msg = self.messages.create(rec.channel_id, external_apps.as_sent(rec, payload), files, self._origin(rec))
        rec.followups.append(msg)
        self.notifier.notify()
        return msg

    def find_message(self, rec: InteractionRecord, message_id: str) -> MessageRecord:
        if message_id == "@original":
            msg = rec.original_message
        else:
            msg = next((m for m in rec.messages if str(m.id) == message_id), None)
        if msg is None or msg.deleted:
            raise errors.unknown_message()
        return msg

    def edit(
        self, rec: InteractionRecord, message_id: str, payload: dict[str, Any], files: list[UploadedFile]
    ) -> MessageRecord:
        return self.messages.edit(self.find_message(rec, message_id), payload, files, self._origin(rec))

    def _origin(self, rec: InteractionRecord) -> Origin:
        command = rec.data.get("name") if rec.type == APPLICATION_COMMAND else None
        chat_input = rec.data.get("type", CHAT_INPUT) == CHAT_INPUT
        kind = CHAT_INPUT_COMMAND_MESSAGE if chat_input else CONTEXT_MENU_COMMAND_MESSAGE
        return Origin(
            author_id=self.world.bot_user_id,
            kind="interaction",
            interaction_id=rec.id,
            interaction_type=rec.type,
            interaction_user_id=rec.user_id,
            command_name=command,
            webhook_id=self.world.application_id,
            message_type=kind if rec.type == APPLICATION_COMMAND else 0,
        )

    def _bot_origin(self) -> Origin:
        return Origin(author_id=self.world.bot_user_id, kind="interaction")


def _find_component(node: Any, custom_id: str) -> dict[str, Any] | None:
    if isinstance(node, dict):
        if node.get("custom_id") == custom_id and node.get("type") != 4:
            return node
        for value in node.values():
            found = _find_component(value, custom_id)
            if found is not None:
                return found
    elif isinstance(node, list):
        for item in node:
            found = _find_component(item, custom_id)
            if found is not None:
                return found
    return None
