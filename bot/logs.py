"""Logging set-up with a formatter that masks every configured secret and Authorization header."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

from bot.config import Secret

_AUTH_HEADER = re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)(bot |bearer )?[^\s'\",}]+")
MASK = "***"


class RedactingFormatter(logging.Formatter):
    """Formats as usual, then masks secrets, so tracebacks and `%r` arguments are covered too."""

    def __init__(self, fmt: str, secrets: Iterable[Secret]) -> None:
        super().__init__(fmt)
        # Longest first so a secret containing another is masked whole.
        self._secrets = sorted({s.reveal() for s in secrets if s.reveal()}, key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        return self.redact(super().format(record))

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return _AUTH_HEADER.sub(lambda m: f"{m.group(1)}{m.group(2) or ''}{MASK}", text)


def configure_logging(level: str, secrets: Iterable[Secret]) -> None:
    """Log to stderr through the redacting formatter; keep discord.py's HTTP chatter at WARNING."""
    handler = logging.StreamHandler()
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("discord.http").setLevel(logging.WARNING)
    logging.getLogger("discord.gateway").setLevel(logging.WARNING)
