"""Forwarded messages: resources/message.mdx "Message Reference Types", "Forwards" and
"Message Snapshot Object".

A forward is a message whose ``message_reference`` has ``type: 1`` and whose ``message_snapshots``
hold one immutable copy of the source (a fixed subset of its fields, no author), taken when the
forward is made; it carries the HAS_SNAPSHOT flag (1 << 14, "Message Flags").
"""

from __future__ import annotations

from typing import Any

from . import errors, payloads
from .access import Access
from .records import MessageRecord
from .world import World

FORWARD = 1
# "we support only messages with type DEFAULT, REPLY, CHAT_INPUT_COMMAND, or CONTEXT_MENU_COMMAND,
# and don't support messages with a poll, call, or activity" (Message Reference Types).
FORWARDABLE_TYPES = (0, 19, 20, 23)
SNAPSHOT_FIELDS = (
    "type",
    "content",
    "embeds",
    "attachments",
    "timestamp",
    "edited_timestamp",
    "flags",
    "mentions",
    "mention_roles",
    "sticker_items",
    "components",
)


def is_forward(ref: Any) -> bool:
    return isinstance(ref, dict) and ref.get("type") == FORWARD


def snapshot_of(world: World, source: MessageRecord) -> dict[str, Any]:
    """``{"message": {...}}`` with the documented subset of the source's fields, as they are now."""
    full = payloads.message_payload(world, source)
    message = {key: full[key] for key in SNAPSHOT_FIELDS if key in full}
    message.setdefault("sticker_items", [])
    message["mentions"] = [{k: v for k, v in u.items() if k != "member"} for u in message.get("mentions", [])]
    return {"message": message}


def forward(
    world: World, access: Access, ref: dict[str, Any], author_id: int
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The stored reference and snapshots for a forward of ``ref`` by ``author_id``.

    ``channel_id`` and ``message_id`` are required ("Required fields: type, message_id, channel_id")
    and the requester must be able to view the source ("the requestor must have VIEW_CHANNEL").
    Refusing an unsupported source type with a 50035 form error is inferred (the docs name no code).
    """
    form = errors.FormErrors()
    for key in ("message_id", "channel_id"):
        if not str(ref.get(key) or "").isdigit():
            form.required(("message_reference", key))
    form.raise_if_any()
    source = world.messages.get(int(ref["message_id"]))
    if source is None or source.deleted or source.ephemeral or source.channel_id != int(ref["channel_id"]):
        raise errors.single_field_error(("message_reference",), "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "Unknown message")
    access.require_view(author_id, source.channel_id)
    if source.type not in FORWARDABLE_TYPES or source.poll is not None:
        raise errors.single_field_error(
            ("message_reference",), "MESSAGE_REFERENCE_INVALID_TYPE", "This message cannot be forwarded"
        )
    reference: dict[str, Any] = {"type": FORWARD, "message_id": str(source.id), "channel_id": str(source.channel_id)}
    if source.guild_id is not None:
        reference["guild_id"] = str(source.guild_id)
    return reference, [snapshot_of(world, source)]


def blank_snapshots(snapshots: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Snapshots as a session without MESSAGE_CONTENT sees them: content, embeds, attachments and
    components emptied. Inferred from message.mdx ("An app will receive empty values in the content,
    embeds, attachments, and components fields ... if they have not configured ... MESSAGE_CONTENT"):
    a snapshot's copies of those fields are message content too."""
    out = []
    for snap in snapshots:
        message = dict(snap.get("message") or {})
        message.update(content="", embeds=[], attachments=[], components=[])
        out.append({**snap, "message": message})
    return out
