"""Builds `/chat` and `/bind` at start-up: their provider list and options come from the configured providers."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import discord
from discord import app_commands

from bot.providers.base import ChatOption, Provider

PROMPT_MAX_CHARS = 4000
OPTION_MAX_CHARS = 100

Run = Callable[[discord.Interaction, dict[str, str | None]], Awaitable[None]]
Suggest = Callable[[discord.Interaction, str, str], Awaitable[list[app_commands.Choice[str]]]]


@dataclass(frozen=True)
class Param:
    """A parameter of the command itself (before the providers' own options)."""

    name: str
    description: str
    required: bool = False
    choices: Mapping[str, str] = field(default_factory=dict)
    max_chars: int = OPTION_MAX_CHARS


def provider_param(providers: Iterable[Provider], description: str, *, required: bool) -> Param:
    return Param("provider", description, required, {p.key: p.display_name for p in providers})


AnyCommand = app_commands.Command[Any, ..., Any] | app_commands.Group | app_commands.ContextMenu


def usable_in_dms(command: AnyCommand, allowed: bool, *, user_installs: bool = False) -> None:
    """Offer a command in the bot's DMs too when the owner allows DMs; otherwise in servers only. With
    `user_installs`, members may also add it to their own account and use it anywhere: servers without the
    bot, DMs with friends and group DMs (application-commands.mdx "Installation Context" and "Interaction
    Contexts": `integration_types` [0, 1], `contexts` with 2 for PRIVATE_CHANNEL)."""
    command.guild_only = not (allowed or user_installs)
    command.allowed_contexts = app_commands.AppCommandContext(
        guild=True, dm_channel=allowed, private_channel=user_installs
    )
    command.allowed_installs = app_commands.AppInstallationType(guild=True, user=user_installs)


def build_chat_command(
    providers: Iterable[Provider], run: Run, suggest: Suggest, *, dms: bool = False, user_installs: bool = False
) -> app_commands.Command[Any, ..., None]:
    """`/chat [prompt] [provider] [option…]`; without a provider the channel's binding (or the only one) is used,
    without a prompt the composer's form opens."""
    providers = list(providers)
    params = [
        Param("prompt", "Your first message (leave it out for a form: long text, files)", max_chars=PROMPT_MAX_CHARS),
        provider_param(providers, "Which AI service to talk to (default: this channel's)", required=False),
    ]
    command = build_command(
        "chat", "Start a conversation with an AI service in a thread.", params, providers, run, suggest
    )
    usable_in_dms(command, dms, user_installs=user_installs)
    return command


def build_command(
    name: str,
    description: str,
    params: list[Param],
    providers: Iterable[Provider],
    run: Run,
    suggest: Suggest,
) -> app_commands.Command[Any, ..., None]:
    """A guild command with `params` then one optional parameter per provider option (deduplicated by name)."""
    options = _unique_options(providers)

    async def callback(interaction: discord.Interaction, **chosen: app_commands.Choice[str] | str | None) -> None:
        values = {
            key: value.value if isinstance(value, app_commands.Choice) else value for key, value in chosen.items()
        }
        await run(interaction, values)

    # discord.py reads parameters from the signature: describe the real ones instead of **chosen.
    setattr(callback, "__signature__", _signature(params, options))  # noqa: B010 - mypy cannot see it
    descriptions = {p.name: p.description for p in params} | {o.name: o.description for o in options}
    items: list[Param | ChatOption] = [*params, *options]
    choices = {
        item.name: [app_commands.Choice(name=label, value=value) for value, label in item.choices.items()]
        for item in items
        if item.choices
    }
    decorated: Any = app_commands.guild_only(
        app_commands.choices(**choices)(app_commands.describe(**descriptions)(callback))
    )
    command: app_commands.Command[Any, ..., None] = app_commands.Command(
        name=name, description=description, callback=decorated
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


def _signature(params: Iterable[Param], options: Iterable[ChatOption]) -> inspect.Signature:
    def param(name: str, annotation: object, default: object = inspect.Parameter.empty) -> inspect.Parameter:
        return inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=annotation, default=default)

    def kind(choices: Mapping[str, str], max_chars: int) -> Any:
        return app_commands.Choice[str] if choices else _text(max_chars)

    own = [
        param(p.name, kind(p.choices, p.max_chars))
        if p.required
        else param(p.name, kind(p.choices, p.max_chars) | None, None)
        for p in params
    ]
    extra = [param(o.name, kind(o.choices, OPTION_MAX_CHARS) | None, None) for o in options]
    return inspect.Signature([param("interaction", discord.Interaction), *own, *extra])


def _text(max_chars: int) -> type[app_commands.Transformer]:
    return app_commands.Range[str, 1, max_chars]  # type: ignore[return-value]


def _suggester(
    option: str, suggest: Suggest
) -> Callable[[discord.Interaction, str], Coroutine[Any, Any, list[app_commands.Choice[str]]]]:
    async def suggestions(interaction: discord.Interaction, typed: str) -> list[app_commands.Choice[str]]:
        return await suggest(interaction, option, typed)

    return suggestions
