"""Every test's logs, read as the bot's own log handler would write them, must hold no secret.

The conftest fixture `no_secrets_in_logs` runs this after each test: it formats every record captured in the
test's setup, call and teardown with the bot's `RedactingFormatter` and looks for each secret the test's bots
and emulators used (`known_secrets`), plus anything the test added with `forbid_in_logs` (a member's text in a
fault run, a database password). Modules that set `AUDIT_LOGS_AT_DEBUG = True` capture DEBUG records too,
with discord.py's request and gateway loggers at WARNING as `python -m bot` keeps them (bot/ops/logs.py).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import pytest

from bot.ops.logs import LOG_FORMAT, RedactingFormatter
from tests.support.harness import ABLT_KEY, BOT_TOKEN, CONVAI_KEY, MAGICAI_KEY, SOUNDVERSE_KEY

NOT_THE_BOTS = ("tests", "aiohttp.access", "bench")
"""Loggers of the emulators and benchmarks that run beside the bot in the test process: not the bot's log."""
CONFIGURED_SECRETS = (BOT_TOKEN, ABLT_KEY, MAGICAI_KEY, SOUNDVERSE_KEY, CONVAI_KEY, "av-access-1", "av-refresh-1")
"""The secrets tests/support/harness.py's `bot_environment` configures."""


def known_secrets(request: pytest.FixtureRequest) -> set[str]:
    """The configured secrets, the tokens the Agentverse emulator issued in this test, and what it forbade."""
    found = set(CONFIGURED_SECRETS)
    agentverse = request.node.funcargs.get("agentverse")
    if agentverse is not None:
        found |= set(agentverse.issued_tokens)
    found |= set(getattr(request.node, "forbidden_in_logs", ()))
    return found


def leaks(records: Iterable[logging.LogRecord], secrets: set[str]) -> list[str]:
    """Lines (as the bot's formatter writes them) showing any of `secrets`, each with the secret it shows."""
    formatter = RedactingFormatter(LOG_FORMAT)
    found = []
    for record in records:
        if record.name.startswith(NOT_THE_BOTS):
            continue
        line = formatter.format(record)
        found += [f"{secret!r} in: {line[:300]}" for secret in secrets if secret in line]
    return found


def forbid(request: pytest.FixtureRequest, *values: str) -> None:
    """No log line of this test may show these values (a member's text, a password)."""
    node = request.node
    node.forbidden_in_logs = (*getattr(node, "forbidden_in_logs", ()), *values)
