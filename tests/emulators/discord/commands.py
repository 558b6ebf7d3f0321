"""Application command storage (what ``tree.sync()`` uploads) and schema-driven option building
for simulated invocations, so a test can only invoke what the bot actually registered."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .errors import FormErrors
from .installs import INTEGRATION_TYPES
from .records import AttachmentSpec
from .world import World

NAME_RE = re.compile(r"^[-_\w]{1,32}$")
SUBCOMMAND, GROUP, STRING, INTEGER, BOOLEAN, USER, CHANNEL, ROLE, MENTIONABLE, NUMBER, ATTACHMENT = (
    1,
    2,
    3,
    4,
    5,
    6,
    7,
    8,
    9,
    10,
    11,
)
CHAT_INPUT, USER_COMMAND, MESSAGE_COMMAND = 1, 2, 3  # application command types
CONTEXT_TYPES = (0, 1, 2)  # GUILD, BOT_DM, PRIVATE_CHANNEL (receiving-and-responding.mdx)


def _validate_options(form: FormErrors, path: tuple[str | int, ...], options: Any, depth: int) -> None:
    if options is None:
        return
    if not isinstance(options, list) or len(options) > 25:
        form.max_length(path, 25)
        return
    seen_optional = False
    names: set[str] = set()
    for i, opt in enumerate(options):
        opath = (*path, i)
        name = opt.get("name")
        if not isinstance(name, str) or not NAME_RE.match(name) or name != name.lower():
            form.add((*opath, "name"), "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
        elif name in names:
            form.add((*opath, "name"), "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS", "Option names must be unique")
        names.add(str(name))
        desc = opt.get("description")
        if not isinstance(desc, str) or not 1 <= len(desc) <= 100:
            form.bad_length((*opath, "description"), 1, 100)
        otype = opt.get("type")
        if otype in (SUBCOMMAND, GROUP):
            if depth >= 2 or (otype == GROUP and depth >= 1):
                form.add((*opath, "type"), "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID", "Invalid nesting")
            _validate_options(form, (*opath, "options"), opt.get("options"), depth + 1)
            continue
        if opt.get("required"):
            if seen_optional:
                form.add(
                    (*opath, "required"),
                    "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                    "Required options must be placed before non-required options",
                )
        else:
            seen_optional = True
        choices = opt.get("choices")
        if choices and len(choices) > 25:
            form.max_length((*opath, "choices"), 25)
        if choices and opt.get("autocomplete"):
            form.add(
                (*opath, "autocomplete"),
                "APPLICATION_COMMAND_OPTION_CHOICES_AND_AUTOCOMPLETE",
                "Autocomplete cannot be set with choices",
            )


def _validate_install_contexts(
    form: FormErrors, path: tuple[str | int, ...], cmd: dict[str, Any], world: World
) -> None:
    """``integration_types`` (0 GUILD_INSTALL, 1 USER_INSTALL) and ``contexts`` (0, 1, 2) hold known values; a
    command may name an installation context only "as long as any included contexts are already supported on
    the application-level" (application-commands.mdx "Installation Context"; the error's code is inferred)."""
    for key, allowed in (("integration_types", INTEGRATION_TYPES), ("contexts", CONTEXT_TYPES)):
        values = cmd.get(key)
        if values is None:
            continue
        if not isinstance(values, list):
            form.wrong_type((*path, key), "array")
            continue
        for j, value in enumerate(values):
            if value not in allowed:
                form.choices((*path, key, j), str(allowed))
            elif key == "integration_types" and value not in world.installs.supported:
                form.add(
                    (*path, key, j),
                    "APPLICATION_COMMAND_INTEGRATION_TYPE_NOT_SUPPORTED",
                    "The application does not support this installation context.",
                )


def normalize_commands(world: World, body: Any, guild_id: int | None) -> list[dict[str, Any]]:
    """Validate a bulk-overwrite body and return the stored command objects (with ids)."""
    form = FormErrors()
    if not isinstance(body, list):
        form.wrong_type((), "array")
        form.raise_if_any()
        return []
    seen: set[tuple[str, int]] = set()
    out: list[dict[str, Any]] = []
    for i, cmd in enumerate(body):
        ctype = int(cmd.get("type", CHAT_INPUT))
        name = cmd.get("name")
        if not isinstance(name, str) or not 1 <= len(name) <= 32:
            form.bad_length((i, "name"), 1, 32)
            continue
        if ctype == CHAT_INPUT and (not NAME_RE.match(name) or name != name.lower()):
            form.add((i, "name"), "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
        if (name, ctype) in seen:
            form.add((i, "name"), "APPLICATION_COMMANDS_DUPLICATE_NAME", "Application command names must be unique")
        seen.add((name, ctype))
        desc = cmd.get("description", "")
        if ctype == CHAT_INPUT and (not isinstance(desc, str) or not 1 <= len(desc) <= 100):
            form.bad_length((i, "description"), 1, 100)
        _validate_options(form, (i, "options"), cmd.get("options"), 0)
        _validate_install_contexts(form, (i,), cmd, world)
        out.append(stored_command(world, cmd, guild_id))
    if sum(1 for c in out if c["type"] == CHAT_INPUT) > 100:
        form.max_length((), 100)
    form.raise_if_any()
    return out


def stored_command(world: World, cmd: dict[str, Any], guild_id: int | None) -> dict[str, Any]:
    ctype = int(cmd.get("type", CHAT_INPUT))
    stored: dict[str, Any] = {
        "id": str(world.command_id(guild_id, cmd["name"], ctype)),
        "application_id": str(world.application_id),
        "version": str(world.ids.next()),
        "type": ctype,
        "name": cmd["name"],
        "name_localizations": cmd.get("name_localizations"),
        "description": cmd.get("description", ""),
        "description_localizations": cmd.get("description_localizations"),
        "default_member_permissions": cmd.get("default_member_permissions"),
        "dm_permission": cmd.get("dm_permission", True),
        "nsfw": bool(cmd.get("nsfw", False)),
        # "Defaults to your app's configured contexts" (application-commands.mdx, Application Command
        # Structure); the Bulk Overwrite table says GUILD_INSTALL, which is the same for a guild-only app.
        "integration_types": cmd.get("integration_types") or sorted(world.installs.supported),
        "contexts": cmd.get("contexts"),
    }
    if cmd.get("options"):
        stored["options"] = cmd["options"]
    if guild_id is not None:
        stored["guild_id"] = str(guild_id)
    return stored


# ---- building invocation options ------------------------------------------------------------------
class OptionBuilder:
    """Turns ``{"prompt": "hi", "count": "3"}`` into typed interaction options per the schema.

    Raises ``ValueError`` for anything the Discord client would not let a user send (unknown
    option, missing required option, value outside choices/min/max).
    """

    def __init__(
        self, world: World, store_attachment: Callable[[AttachmentSpec], dict[str, Any]], *, guild_id: int | None
    ) -> None:
        self.world = world
        self.store_attachment = store_attachment
        self.guild_id = guild_id  # where the command runs; its members, roles and channels can be picked
        self.resolved: dict[str, dict[str, Any]] = {}

    def build(
        self, command: dict[str, Any], path: list[str], values: dict[str, Any], focused: str | None
    ) -> list[dict[str, Any]]:
        schema: list[dict[str, Any]] = command.get("options") or []
        chain: list[dict[str, Any]] = []
        for part in path:
            sub = next((o for o in schema if o.get("type") in (SUBCOMMAND, GROUP) and o["name"] == part), None)
            if sub is None:
                raise ValueError(f"/{command['name']}: unknown subcommand {part!r}")
            chain.append(sub)
            schema = sub.get("options") or []
        if any(o.get("type") in (SUBCOMMAND, GROUP) for o in schema):
            subs = [o["name"] for o in schema]
            raise ValueError(f"/{command['name']} needs a subcommand (one of {subs})")
        known = {o["name"]: o for o in schema}
        for name in values:
            if name not in known:
                raise ValueError(f"/{command['name']}: unknown option {name!r}; registered: {sorted(known)}")
        options: list[dict[str, Any]] = []
        for opt in schema:
            name = opt["name"]
            if name not in values or values[name] is None:
                if opt.get("required") and focused is None:
                    raise ValueError(f"/{command['name']}: required option {name!r} missing")
                continue
            options.append(self._coerce(opt, values[name], focused == name))
        for sub in reversed(chain):
            options = [{"name": sub["name"], "type": sub["type"], "options": options}]
        return options

    def _coerce(self, opt: dict[str, Any], raw: Any, focused: bool) -> dict[str, Any]:
        otype = opt["type"]
        out: dict[str, Any] = {"name": opt["name"], "type": otype}
        if focused:
            out.update(value=str(raw), focused=True)  # autocomplete sends what the user typed
            return out
        value: Any
        if otype == STRING:
            value = str(raw)
            low, high = opt.get("min_length", 0), opt.get("max_length", 6000)
            if not low <= len(value) <= high:
                raise ValueError(f"option {opt['name']!r}: length must be in [{low}, {high}]")
        elif otype in (INTEGER, NUMBER):
            value = int(raw) if otype == INTEGER else float(raw)
            if ("min_value" in opt and value < opt["min_value"]) or ("max_value" in opt and value > opt["max_value"]):
                raise ValueError(f"option {opt['name']!r}: {value} outside min/max")
        elif otype == BOOLEAN:
            value = raw if isinstance(raw, bool) else str(raw).lower() in ("true", "1", "yes")
        elif otype == ATTACHMENT:
            if not isinstance(raw, AttachmentSpec):
                raise ValueError(f"option {opt['name']!r} needs an AttachmentSpec")
            att = self.store_attachment(raw)
            self.resolved.setdefault("attachments", {})[att["id"]] = att
            value = att["id"]
        else:
            value = self._resolve_entity(opt, int(raw))
        choices = opt.get("choices")
        if choices and value not in [c["value"] for c in choices]:
            raise ValueError(f"option {opt['name']!r}: {value!r} is not one of {[c['value'] for c in choices]}")
        out["value"] = value
        return out

    def _resolve_entity(self, opt: dict[str, Any], ident: int) -> str:
        from . import payloads

        world = self.world
        otype = opt["type"]
        gid = self.guild_id
        guild = (world.guilds.get(gid) or world.outside_guilds.get(gid)) if gid is not None else None
        if otype in (USER, MENTIONABLE) and ident in world.users:
            self.resolved.setdefault("users", {})[str(ident)] = payloads.user_payload(world.users[ident])
            if guild is not None and ident in guild.members:
                member = payloads.member_payload(world, guild.members[ident], with_user=False)
                member["permissions"] = str(guild.roles[guild.id].permissions)
                self.resolved.setdefault("members", {})[str(ident)] = member
        elif guild is None and otype in (ROLE, MENTIONABLE, CHANNEL):
            raise ValueError(f"option {opt['name']!r}: a DM offers no guild roles or channels to pick")
        elif guild is not None and otype in (ROLE, MENTIONABLE) and ident in guild.roles:
            self.resolved.setdefault("roles", {})[str(ident)] = payloads.role_payload(guild.roles[ident])
        elif guild is not None and otype == CHANNEL and self._live_guild_channel(ident, guild.id):
            # the client offers only the channels and threads of the guild the command runs in
            channel = payloads.any_channel_payload(world, world.channel_or_thread(ident))
            allowed_types = opt.get("channel_types")
            if allowed_types and channel["type"] not in allowed_types:
                raise ValueError(f"option {opt['name']!r}: channel type {channel['type']} not allowed")
            channel["permissions"] = str(guild.roles[guild.id].permissions)
            self.resolved.setdefault("channels", {})[str(ident)] = channel
        else:
            raise ValueError(f"option {opt['name']!r}: unknown id {ident}")
        return str(ident)

    def _live_guild_channel(self, ident: int, guild_id: int) -> bool:
        live = ident in self.world.channels or ident in self.world.threads
        return live and self.world.channel_guild_id(ident) == guild_id
