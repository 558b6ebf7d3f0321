"""Reading Components V2 messages as the Discord emulator recorded them (sections, text displays, buttons)."""

from __future__ import annotations

from typing import Any

from tests.emulators.discord import MessageRecord

TEXT_DISPLAY, SECTION, BUTTON = 10, 9, 2


def parts(message: MessageRecord, kind: int) -> list[dict[str, Any]]:
    """Every component of `kind` in a message, however deep, in order."""
    found: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == kind:
                found.append(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(message.components)
    return found
