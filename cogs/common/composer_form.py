"""The composer's form: the modal `/chat` opens without a prompt, and what a submitted one says.

The modal (discord-api-docs, interactions/receiving-and-responding.mdx "Modal": title ≤45 characters, custom_id
≤100, one to five top-level components) holds Labels (components/reference.mdx "Label": text ≤45, description
≤100), each around one Text Input (a paragraph, ≤4,000 characters), String Select (≤25 options) or File Upload
(≤10 files). The modal's custom_id names the provider `/chat` named, and every field says what it is by its own
custom_id, so reading a submission needs nothing kept in memory: it reads the same after a restart.

A submission ("Modal Submit Data Structure": `custom_id`, `components`, `resolved`) comes from a member's client
and is read as hostile: a custom_id not ours, a provider that is not configured, a select value not among the
options, text past its limit, a file id missing from `resolved`, an attachment object with fields of the wrong
type or a negative size each raise `BadForm`, with a line for the member; nothing else is raised.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import discord

from bot.providers.base import ChatOption, Provider
from cogs.common.chat_command import OPTION_MAX_CHARS, PROMPT_MAX_CHARS
from cogs.common.text_files import MAX_TEXT_FILES

if TYPE_CHECKING:
    from discord.types.message import Attachment as AttachmentPayload

MODAL_PREFIX = "composer:"
PROMPT_ID = "composer:prompt"
PROVIDER_ID = "composer:provider"
FILES_ID = "composer:files"
OPTION_PREFIX = "composer:option:"
MAX_TOP_LEVEL = 5
"""A modal's top-level components; the message and the file upload always take two of them."""
MAX_SUBMITTED_FILES = 10
"""A File Upload's highest `max_values`: more ids than this did not come from a real client."""
MAX_FILENAME_CHARS = 1024
SALVAGED_CHARS = 4 * PROMPT_MAX_CHARS
TITLE_CHARS, LABEL_CHARS, DESCRIPTION_CHARS, SELECT_OPTIONS = 45, 45, 100, 25
LABEL, ACTION_ROW = 18, 1
_MODAL_ID = re.compile(r"composer:(?P<provider>[a-z0-9_-]{0,32})")
_SNOWFLAKE = re.compile(r"[0-9]{1,20}")

STALE = "That form is from an older version of the bot; run `/chat` again."
UNKNOWN_PROVIDER = "That AI service is not set up on this bot. Pick one from the list."
BAD_CHOICE = "Pick one of the listed choices for {name}."
TOO_LONG = "Your message is over {limit:,} characters."
OPTION_TOO_LONG = "{name} takes at most {limit} characters."
FILE_LOST = "A file you attached did not come through; attach it again."


class BadForm(Exception):
    """A submission the bot cannot use: `str(exc)` is the line for the member, `reason` a short code for the log."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Draft:
    """What the member wrote in the form (or what `/chat` named before it opened)."""

    provider: str | None = None
    """The provider named or picked; None leaves it to the channel (its binding, the server's default)."""
    named: bool = False
    """Named on `/chat`: the form shows no provider to pick, and the channel's binding does not apply."""
    prompt: str = ""
    options: Mapping[str, str] = field(default_factory=dict)
    """The provider options given, by name (not yet narrowed to the provider's own: `options_for`)."""
    files: tuple[AttachmentPayload, ...] = ()
    """The uploaded files' attachment objects, checked (never pre-filled: a form cannot hold files)."""


class ComposerForm(discord.ui.Modal):
    """The form itself. Its submissions are read by `read_submission` from the cog's `on_interaction`, never by
    discord.py's memory of open modals (the cog stops the form before sending it), so a restart loses nothing."""


def composer_form(providers: Sequence[Provider], draft: Draft, default: str | None = None) -> ComposerForm:
    """The form pre-filled with `draft`: the message, the file upload, the provider (unless named; `default`
    pre-selected), then the providers' options with fixed choices and any option `draft` gives, as many as fit."""
    by_key = {p.key: p for p in providers}
    named = by_key.get(draft.provider or "") if draft.named else None
    title = f"Chat with {named.display_name}" if named else "Start a conversation"
    form = ComposerForm(title=title[:TITLE_CHARS], custom_id=MODAL_PREFIX + (named.key if named else ""))
    prompt: discord.ui.TextInput[ComposerForm] = discord.ui.TextInput(
        custom_id=PROMPT_ID,
        style=discord.TextStyle.paragraph,
        max_length=PROMPT_MAX_CHARS,
        required=False,
        default=draft.prompt[:PROMPT_MAX_CHARS] or None,
    )
    form.add_item(_label("Your message", "Up to 4,000 characters; leave it empty to send only files.", prompt))
    upload: discord.ui.FileUpload[ComposerForm] = discord.ui.FileUpload(
        custom_id=FILES_ID, required=False, min_values=0, max_values=MAX_TEXT_FILES
    )
    form.add_item(_label("Files", files_hint([named] if named else providers), upload))
    if named is None:
        chosen = draft.provider if draft.provider in by_key else default
        menu = [discord.SelectOption(label=p.display_name, value=p.key, default=p.key == chosen) for p in providers]
        picker: discord.ui.Select[ComposerForm] = discord.ui.Select(
            custom_id=PROVIDER_ID, required=True, options=menu[:SELECT_OPTIONS]
        )
        form.add_item(_label("AI service", None, picker))
    first = by_key.get(draft.provider or default or "")  # its options first; a named provider's only
    ordered = [named] if named else [first, *providers] if first else list(providers)
    for option in _shown_options(ordered, draft.options)[: MAX_TOP_LEVEL - len(form.children)]:
        form.add_item(_option_field(option, draft.options.get(option.name)))
    return form


def files_hint(providers: Iterable[Provider]) -> str:
    """What the file upload takes: text files always, a recording for the providers that listen."""
    listeners = [p.display_name for p in providers if p.accepts_audio]
    if not listeners:
        return f"Up to {MAX_TEXT_FILES} text files, 100 KB each, read with your message."
    return f"Text files, read with your message; or one voice note or audio file for {', '.join(listeners)}."[
        :DESCRIPTION_CHARS
    ]


def _label(text: str, description: str | None, component: discord.ui.Item[ComposerForm]) -> discord.ui.Label[Any]:
    short = description[:DESCRIPTION_CHARS] if description else None
    return discord.ui.Label(text=text[:LABEL_CHARS], description=short, component=component)


def _shown_options(providers: Iterable[Provider], given: Mapping[str, str]) -> list[ChatOption]:
    """The options the form can show, once each: those with a value given first, then those with fixed choices."""
    shown = [o for o in _known_options(providers) if o.name in given or 0 < len(o.choices) <= SELECT_OPTIONS]
    return sorted(shown, key=lambda o: o.name not in given)


def _option_field(option: ChatOption, value: str | None) -> discord.ui.Label[Any]:
    custom_id = OPTION_PREFIX + option.name
    component: discord.ui.Item[ComposerForm]
    if option.choices and len(option.choices) <= SELECT_OPTIONS:
        choices = [
            discord.SelectOption(label=label[:100], value=key, default=key == value)
            for key, label in option.choices.items()
        ]
        component = discord.ui.Select(custom_id=custom_id, required=False, min_values=0, options=choices)
    else:
        component = discord.ui.TextInput(
            custom_id=custom_id, max_length=OPTION_MAX_CHARS, required=False, default=(value or "")[:100] or None
        )
    return _label(option.name.capitalize(), option.description, component)


def read_submission(data: object, providers: Mapping[str, Provider]) -> Draft:
    """What a submitted form says; raises BadForm (see the module's docstring) for anything a real client of a
    form of ours could not have sent, and for a message over PROMPT_MAX_CHARS characters."""
    if not isinstance(data, Mapping):
        raise BadForm(STALE, "no data")
    match = _MODAL_ID.fullmatch(data.get("custom_id") or "") if isinstance(data.get("custom_id"), str) else None
    if match is None:
        raise BadForm(STALE, "not a composer custom_id")
    named = match["provider"] or None
    if named is not None and named not in providers:
        raise BadForm(UNKNOWN_PROVIDER, "unknown provider in custom_id")
    fields = _fields(data.get("components"))
    prompt = _text(fields, PROMPT_ID).strip()
    if len(prompt) > PROMPT_MAX_CHARS:
        raise BadForm(TOO_LONG.format(limit=PROMPT_MAX_CHARS), "prompt too long")
    picked = named or _picked(fields, PROVIDER_ID, providers)
    if picked is not None and picked not in providers:
        raise BadForm(UNKNOWN_PROVIDER, "unknown provider picked")
    options: dict[str, str] = {}
    for option in _known_options(providers.values()):
        if value := _option_value(fields, option):
            options[option.name] = value
    files = _files(fields, data.get("resolved"))
    return Draft(picked, named is not None, prompt, options, files)


def salvaged_prompt(data: object) -> str:
    """The message of a submission refused for some other reason, to hand back to the member ("" if there is none
    to find); at most SALVAGED_CHARS characters, since a crafted one may be any length."""
    try:
        fields = _fields(data.get("components")) if isinstance(data, Mapping) else {}
    except BadForm:
        return ""
    value = fields.get(PROMPT_ID, {}).get("value")
    return value.strip()[:SALVAGED_CHARS] if isinstance(value, str) else ""


def options_for(provider: Provider, options: Mapping[str, str]) -> dict[str, str]:
    """The options `provider` reads, out of those given; BadForm for a value not among a fixed option's choices."""
    mine: dict[str, str] = {}
    for option in provider.chat_options:
        value = options.get(option.name)
        if value and option.choices and value not in option.choices:
            raise BadForm(BAD_CHOICE.format(name=option.name), f"{option.name} value not among its choices")
        if value:
            mine[option.name] = value
    return mine


def _fields(components: object) -> dict[str, Mapping[str, Any]]:
    """Each submitted input by its custom_id, from Labels and (the older layout) Action Rows."""
    if not isinstance(components, list) or len(components) > MAX_TOP_LEVEL:
        raise BadForm(STALE, "components not a list of at most 5")
    found: dict[str, Mapping[str, Any]] = {}
    for top in components:
        if not isinstance(top, Mapping):
            raise BadForm(STALE, "component not an object")
        kind, children = top.get("type"), top.get("components")
        inner: list[Any] = [top.get("component")] if kind == LABEL else []
        if kind == ACTION_ROW and isinstance(children, list):
            inner = children
        for item in inner:
            custom_id = item.get("custom_id") if isinstance(item, Mapping) else None
            if isinstance(custom_id, str) and isinstance(item, Mapping):
                if custom_id in found:
                    raise BadForm(STALE, "custom_id submitted twice")
                found[custom_id] = item
    return found


def _text(fields: Mapping[str, Mapping[str, Any]], custom_id: str) -> str:
    value = fields.get(custom_id, {}).get("value", "")
    if not isinstance(value, str):
        raise BadForm(STALE, f"{custom_id} value not text")
    return value


def _values(fields: Mapping[str, Mapping[str, Any]], custom_id: str, most: int) -> list[Any]:
    values = fields.get(custom_id, {}).get("values", [])
    if not isinstance(values, list) or len(values) > most:
        raise BadForm(STALE, f"{custom_id} values not a list of at most {most}")
    return values


def _picked(fields: Mapping[str, Mapping[str, Any]], custom_id: str, allowed: Mapping[str, object]) -> str | None:
    values = _values(fields, custom_id, 1)
    if not values:
        return None
    if not isinstance(values[0], str) or values[0] not in allowed:
        raise BadForm(UNKNOWN_PROVIDER, "provider value not among the options")
    return values[0]


def _known_options(providers: Iterable[Provider]) -> list[ChatOption]:
    """Every provider option once, by name (the first provider to declare a name defines it, as on `/chat`)."""
    unique: dict[str, ChatOption] = {}
    for provider in providers:
        for option in provider.chat_options:
            unique.setdefault(option.name, option)
    return list(unique.values())


def _option_value(fields: Mapping[str, Mapping[str, Any]], option: ChatOption) -> str:
    custom_id = OPTION_PREFIX + option.name
    if custom_id not in fields:
        return ""
    if "values" in fields[custom_id]:  # a select: one of its choices
        values = _values(fields, custom_id, 1)
        if values and (not isinstance(values[0], str) or values[0] not in option.choices):
            raise BadForm(BAD_CHOICE.format(name=option.name), f"{option.name} value not among its choices")
        return str(values[0]) if values else ""
    value = _text(fields, custom_id).strip()
    if len(value) > OPTION_MAX_CHARS:
        raise BadForm(OPTION_TOO_LONG.format(name=option.name, limit=OPTION_MAX_CHARS), f"{option.name} too long")
    if value and option.choices and value not in option.choices:  # typed (or crafted) where choices are fixed
        raise BadForm(BAD_CHOICE.format(name=option.name), f"{option.name} value not among its choices")
    return value


def _files(fields: Mapping[str, Mapping[str, Any]], resolved: object) -> tuple[AttachmentPayload, ...]:
    """The uploaded files' attachment objects, each found in `resolved` and checked; BadForm for any that is not."""
    ids = _values(fields, FILES_ID, MAX_SUBMITTED_FILES)
    attachments = resolved.get("attachments") if isinstance(resolved, Mapping) else None
    keys = [i for i in ids if isinstance(i, str)]  # snowflakes are strings (reference.mdx, "Snowflakes")
    if len(keys) != len(ids) or len(set(keys)) != len(keys):
        raise BadForm(FILE_LOST, "file ids repeated or not strings")
    checked: list[AttachmentPayload] = []
    for key in keys:
        payload = attachments.get(key) if isinstance(attachments, Mapping) else None
        attachment = _attachment(key, payload)
        if attachment is None:
            raise BadForm(FILE_LOST, "file id not in resolved, or its object malformed")
        checked.append(attachment)
    return tuple(checked)


def _attachment(key: str, payload: object) -> AttachmentPayload | None:
    """The fields of an attachment object the bot reads, if each has the documented type (resources/message.mdx,
    Attachment Object); None otherwise. `size` is only what Discord recorded: downloads are bounded by the bytes
    read (bot/members/attachments.py)."""
    if not _SNOWFLAKE.fullmatch(key) or not isinstance(payload, Mapping) or payload.get("id") != key:
        return None
    filename, size, url = payload.get("filename"), payload.get("size"), payload.get("url")
    content_type, duration = payload.get("content_type"), payload.get("duration_secs")
    if not isinstance(filename, str) or not 0 < len(filename) <= MAX_FILENAME_CHARS:
        return None
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        return None
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        return None
    if content_type is not None and not isinstance(content_type, str):
        return None
    if duration is not None and (
        not isinstance(duration, int | float) or isinstance(duration, bool) or not math.isfinite(duration)
    ):
        return None
    checked: AttachmentPayload = {"id": key, "filename": filename, "size": size, "url": url, "proxy_url": url}
    if content_type is not None:
        checked["content_type"] = content_type
    if duration is not None and duration >= 0:
        checked["duration_secs"] = float(duration)
    return checked
