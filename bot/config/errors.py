"""The one error a bad setting raises, shared by the settings modules."""

from __future__ import annotations

import re

_VARIABLE = re.compile(r"\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b")


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the variable and the fix."""

    @property
    def variable(self) -> str | None:
        """The first setting the message names (`DISCORD_TOKEN`), to point at its line in `.env`."""
        match = _VARIABLE.search(str(self))
        return match.group(0) if match else None
