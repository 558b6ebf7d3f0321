"""Builds `/chat` at start-up: its provider list and extra options come from the configured providers."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any

import discord
from discord import app_commands

from bot.providers.base import ChatOption, Provider

PROMPT_MAX_CHARS = 4000
OPTION_MAX_CHARS = 100

StartChat = Callable[[discord.Interaction, str, str, dict[str, str | None]], Awaitable[None]]
Suggest = Callable[[discord.Interaction, str, str], Awaitable[list[app_commands.Choice[str]]]]


def build_chat_command(
    providers: Iterable[Provider], start_chat: StartChat, suggest: Suggest
) -> app_commands.Command[Any, ..., None]:
    """`/chat provider prompt [option…]`, one optional parameter per provider option, deduplicated by name."""
    providers = list(providers)
    options = _unique_options(providers)

    async def chat(
        interaction: discord.Interaction,
        provider: app_commands.Choice[str],
        prompt: str,
        **chosen: app_commands.Choice[str] | str | None,
    ) -> None:
        values = {
            name: value.value if isinstance(value, app_commands.Choice) else value for name, value in chosen.items()
        }
        await start_chat(interaction, provider.value, prompt, values)

    # discord.py reads parameters from the signature: describe the real ones instead of **chosen.
    setattr(chat, "__signature__", _signature(options))  # noqa: B010 - a function attribute mypy cannot see
    descriptions = {"provider": "Which AI service to talk to", "prompt": "Your first message"}
    descriptions |= {option.name: option.description for option in options}
    choices = {"provider": [app_commands.Choice(name=p.display_name, value=p.key) for p in providers]}
    choices |= {
        option.name: [app_commands.Choice(name=label, value=value) for value, label in option.choices.items()]
        for option in options
        if option.choices
    }
    decorated: Any = app_commands.guild_only(
        app_commands.choices(**choices)(app_commands.describe(**descriptions)(chat))
    )
    command: app_commands.Command[Any, ..., None] = app_commands.Command(
        name="chat", description="Start a conversation with an AI service in a thread.", callback=decorated
    )
    for option in options:
        if option.autocomplete:
            command.autocomplete(option.name)(_suggester(option.name, suggest))
    return command


def _unique_options(providers: Iterable[Provider]) -> list[ChatOption]:
    options: dict[str, ChatOption] = {}
    for provider in providers:
        for option in provider.chat_options:
            options.setdefault(option.name, option)
    return list(options.values())


def _signature(options: Iterable[ChatOption]) -> inspect.Signature:
    def param(name: str, annotation: object, default: object = inspect.Parameter.empty) -> inspect.Parameter:
        return inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=annotation, default=default)

    extra = [
        param(o.name, app_commands.Choice[str] | None if o.choices else _text(OPTION_MAX_CHARS) | None, None)
        for o in options
    ]
    return inspect.Signature(
        [
            param("interaction", discord.Interaction),
            param("provider", app_commands.Choice[str]),
            param("prompt", _text(PROMPT_MAX_CHARS)),
            *extra,
        ]
    )


def _text(max_chars: int) -> type[app_commands.Transformer]:
    return app_commands.Range[str, 1, max_chars]  # type: ignore[return-value]


def _suggester(
    option: str, suggest: Suggest
) -> Callable[[discord.Interaction, str], Coroutine[Any, Any, list[app_commands.Choice[str]]]]:
    async def suggestions(interaction: discord.Interaction, typed: str) -> list[app_commands.Choice[str]]:
        return await suggest(interaction, option, typed)

    return suggestions
