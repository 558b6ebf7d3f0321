"""Cheap checks over the whole codebase: layering, command descriptions, provider registration."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from bot.config.settings import load_settings
from bot.providers.base import Provider
from bot.providers.registry import build_providers
from tests.emulators.discord import DiscordEmulator
from tests.support.harness import BotProcess

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = {
    "DISCORD_TOKEN": "t",
    "ABLT_API_KEY": "k",
    "MAGICAI_API_KEY": "m",
    "MAGICAI_PROJECT_ID": "5f738671-0ccc-4d32-9b7a-ddab669ab799",
    "SOUNDVERSE_API_KEY": "s",
    "CONVAI_API_KEY": "c",
    "AGENTVERSE_API_KEY": "a",
    "AGENTVERSE_EMAIL": "member@example.com",
}


async def test_every_configured_provider_is_registered_with_a_name() -> None:
    async with aiohttp.ClientSession() as session:
        providers = build_providers(load_settings(SETTINGS, None), session)
    assert set(providers) == {"ablt", "magicai", "soundverse", "convai", "agentverse"}
    for key, provider in providers.items():
        assert isinstance(provider, Provider) and provider.key == key and provider.display_name


async def test_every_slash_command_and_option_is_described_for_members(
    running_bot: BotProcess, discord_emulator: DiscordEmulator
) -> None:
    commands = {command["name"]: command for command in discord_emulator.commands if command["type"] == 1}
    assert set(commands) == {
        *("chat", "end", "reset", "action", "session", "export", "providers", "bind", "unbind", "access", "settings"),
        *("limits", "usage"),
    }
    for command in commands.values():
        assert command["description"] and command.get("contexts") == [0], command["name"]  # guild only
        options = list(command.get("options", []))
        while options:  # subcommands' own options too
            option = options.pop()
            assert option["description"], (command["name"], option["name"])
            options.extend(option.get("options", []))
    provider = next(o for o in commands["chat"]["options"] if o["name"] == "provider")
    assert provider["choices"] == [
        {"name": "aBLT", "value": "ablt"},
        {"name": "Magic AI", "value": "magicai"},
        {"name": "Soundverse", "value": "soundverse"},
        {"name": "Convai", "value": "convai"},
        {"name": "Agentverse", "value": "agentverse"},
    ]
    options = {o["name"]: o for o in commands["chat"]["options"]}
    assert options["bot"]["autocomplete"] is True
    assert len(options["action"]["choices"]) == 8


async def test_ask_ai_and_regenerate_are_message_commands_offered_where_chat_is(
    running_bot: BotProcess, discord_emulator: DiscordEmulator
) -> None:
    menus = {command["name"]: command for command in discord_emulator.commands if command["type"] != 1}
    assert set(menus) == {"Ask AI", "Regenerate"}
    for menu in menus.values():
        assert (menu["type"], menu["description"], menu.get("contexts")) == (3, "", [0])  # message commands
