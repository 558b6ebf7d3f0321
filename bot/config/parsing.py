"""Reading one setting: typed parsers of a variable's text that raise ConfigError naming the variable."""

from __future__ import annotations

import math
from collections.abc import Callable
from urllib.parse import urlparse

from bot.config.errors import ConfigError

Getter = Callable[[str], "str | None"]
"""A variable's value, stripped, or None when unset or blank."""
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def bounded_number(get: Getter, name: str, low: float, high: float, *, whole: bool = False) -> float:
    """A number in [low, high] (a whole one with `whole`); `low` when unset."""
    raw = get(name)
    if raw is None:
        return low
    kind = "a whole number" if whole else "a number"
    try:
        value = int(raw) if whole else float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be {kind} from {low:g} to {high:g}, or left empty.") from None
    if not math.isfinite(value) or not low <= value <= high:
        raise ConfigError(f"{name} must be {kind} from {low:g} to {high:g}, or left empty.")
    return value


def flag(get: Getter, name: str, *, default: bool) -> bool:
    """On or off (true/false, yes/no, 1/0, any case); `default` when unset."""
    raw = get(name)
    if raw is None:
        return default
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise ConfigError(f"{name} must be on or off (true/false, yes/no, 1/0).")


def url(get: Getter, name: str, default: str, schemes: tuple[str, ...]) -> str:
    """A URL with one of `schemes` and a host (`default` when unset); an http(s) URL loses any trailing slash."""
    value = get(name) or default
    parsed = urlparse(value)
    if parsed.scheme not in schemes or not parsed.netloc:
        raise ConfigError(f"{name} must be a {' or '.join(schemes)} URL, for example {default}")
    return value.rstrip("/") if schemes[0] == "http" else value


def positive_float(get: Getter, name: str, default: float) -> float:
    """A positive, finite number of seconds; `default` when unset."""
    raw = get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, for example {default:g}") from None
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{name} must be a positive number of seconds, for example {default:g}")
    return value
