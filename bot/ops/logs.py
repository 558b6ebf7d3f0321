"""Logging set-up with a formatter that masks every secret the bot knows and any Authorization header.

Secrets are the configured ones (tokens, keys, the database password in every form it is written) and the
ones the bot obtains while running (refreshed Agentverse tokens, tokens read back from the store): anything
that holds a credential registers it with `hide`, and every formatter masks all of them, so a traceback, a
`%r` argument or a driver's error text cannot show one.
"""

from __future__ import annotations

import logging
import re
from collections import OrderedDict
from collections.abc import Iterable

from bot.config.secret import Secret

_AUTH_HEADER = re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)(bot |bearer )?[^\s'\",}]+")
MASK = "***"
MIN_SECRET_CHARS = 4
"""Shorter values are not masked: a three-letter "secret" would blank out ordinary words in every line."""
MAX_OBTAINED = 256
"""Tokens obtained while running that stay masked (the newest): a long-running bot refreshes many."""


class Redactions:
    """The values no log line may show: configured secrets (kept for good) and obtained ones (the newest)."""

    def __init__(self) -> None:
        self._configured: set[str] = set()
        self._obtained: OrderedDict[str, None] = OrderedDict()
        self._ordered: list[str] = []

    def add(self, *values: str | None, configured: bool = False) -> None:
        """Mask these values from now on (None and very short values are ignored)."""
        changed = False
        for value in values:
            if not value or len(value) < MIN_SECRET_CHARS or value in self._configured:
                continue
            if configured:
                self._configured.add(value)
                self._obtained.pop(value, None)
            elif value not in self._obtained:
                self._obtained[value] = None
                while len(self._obtained) > MAX_OBTAINED:
                    self._obtained.popitem(last=False)
            changed = True
        if changed:
            # Longest first, so a secret containing another is masked whole.
            self._ordered = sorted({*self._configured, *self._obtained}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self._ordered:
            if secret in text:
                text = text.replace(secret, MASK)
        return _AUTH_HEADER.sub(lambda m: f"{m.group(1)}{m.group(2) or ''}{MASK}", text)


REDACTIONS = Redactions()
"""The process's one list, like logging's own registry of loggers: every formatter here reads it."""


def hide(*values: str | None) -> None:
    """Mask credentials the bot obtained while running (a refreshed token) in every log line from now on."""
    REDACTIONS.add(*values)


def hide_settings(secrets: Iterable[Secret]) -> None:
    """Mask the configured secrets (`Settings.secrets`) in every log line."""
    REDACTIONS.add(*(secret.reveal() for secret in secrets), configured=True)


class RedactingFormatter(logging.Formatter):
    """Formats as usual, then masks secrets, so tracebacks and `%r` arguments are covered too."""

    def __init__(self, fmt: str, secrets: Iterable[Secret] = ()) -> None:
        super().__init__(fmt)
        hide_settings(secrets)

    def format(self, record: logging.LogRecord) -> str:
        return self.redact(super().format(record))

    def redact(self, text: str) -> str:
        return REDACTIONS.redact(text)


LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
QUIET_LOGGERS = ("discord.http", "discord.gateway", "discord.webhook", "aiosqlite", "sqlalchemy.engine")
"""Kept at WARNING whatever LOG_LEVEL says: at DEBUG they log what members wrote and what the bot holds.
discord.py logs request bodies, gateway payloads and webhook URLs (with interaction tokens); aiosqlite every
statement with its parameters; SQLAlchemy, once its logger is enabled, statements and the rows they return."""


def configure_logging(level: str, secrets: Iterable[Secret]) -> None:
    """Log to stderr through the redacting formatter; keep discord.py's HTTP and gateway chatter at WARNING."""
    handler = logging.StreamHandler()
    handler.setFormatter(RedactingFormatter(LOG_FORMAT, secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
