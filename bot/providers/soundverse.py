"""Soundverse's music assistant: stateless, one reply per prompt, steered by an `action`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp

from bot.config.provider_settings import SoundverseSettings
from bot.providers import http
from bot.providers.base import ChatOption, Event, Provider, TextDelta, Turn
from bot.providers.errors import ProviderBadResponse, ProviderError, error_for_status

ACTIONS: dict[str, str] = {
    "generate_music": "Generate music",
    "extend_music": "Extend a song",
    "auto_complete_music": "Auto-complete a song",
    "loop_audio": "Loop audio",
    "separate_stems": "Separate stems",
    "edit_music": "Edit music",
    "lyric_writing": "Write lyrics",
    "other": "General chat",
}
"""The documented `action` values and the names members see."""
DEFAULT_ACTION = "other"
STATELESS_NOTICE = "Soundverse answers each message on its own: it does not remember earlier messages in this thread."


class SoundverseProvider(Provider):
    key = "soundverse"
    display_name = "Soundverse"
    chat_options = (ChatOption("action", "Soundverse only: what kind of help you want", choices=ACTIONS),)

    def __init__(self, settings: SoundverseSettings, session: aiohttp.ClientSession, *, timeout_s: float) -> None:
        self._settings = settings
        self._session = session
        self._timeout = http.timeout_for(timeout_s, total_s=timeout_s * 2)

    def start_state(self, options: Mapping[str, str | None]) -> dict[str, Any]:
        return {"action": _checked_action(options.get("action") or DEFAULT_ACTION)}

    def change_setting(self, state: Mapping[str, Any], name: str, value: str) -> dict[str, Any]:
        if name != "action":
            return super().change_setting(state, name, value)
        return {**state, "action": _checked_action(value)}

    def describe(self, state: Mapping[str, Any]) -> str:
        return f"Soundverse · {ACTIONS.get(str(state.get('action')), 'General chat')}"

    def opening_notice(self, state: Mapping[str, Any]) -> str | None:
        return STATELESS_NOTICE

    def details(self, state: Mapping[str, Any]) -> list[tuple[str, str]]:
        action = str(state.get("action", DEFAULT_ACTION))
        return [("Action", f"{ACTIONS.get(action, action)} (`{action}`)")]

    async def reply(self, turn: Turn) -> AsyncIterator[Event]:
        data = await http.post_json(
            self._session,
            f"{self._settings.base_url}{self._settings.chat_path}",
            provider=self.display_name,
            client_timeout=self._timeout,
            headers={"Authorization": f"Bearer {self._settings.api_key.reveal()}"},
            json={"prompt": turn.text, "action": turn.state.get("action", DEFAULT_ACTION)},
            on_error=_status_error,
        )
        text = data.get("aiReply") if isinstance(data, dict) else None
        if not isinstance(text, str):
            raise ProviderBadResponse(
                "Soundverse sent a reply without an answer; send your message again.", detail="no aiReply"
            )
        if text:
            yield TextDelta(text)


def _checked_action(action: str) -> str:
    if action not in ACTIONS:
        raise ValueError(f"Unknown Soundverse action `{action}`. Pick one from the list.")
    return action


def _status_error(status: int, body: str, detail: str) -> ProviderError:
    return error_for_status("Soundverse", status, detail, key_setting="SOUNDVERSE_API_KEY")
