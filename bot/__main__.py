"""`python -m bot`: load settings, log safely, run until Ctrl-C or SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

import discord

from bot.config.check import run_check
from bot.config.settings import ConfigError, Settings, load_settings
from bot.ops.logs import configure_logging
from bot.ops.usage_report import run_usage_report
from bot.runner import serve

log = logging.getLogger("bot")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["check"]:
        return run_check(os.environ, Path(".env"), print)
    if args[:1] == ["usage"]:
        return run_usage_report(args[1:], os.environ, Path(".env"), print)
    if args:
        sys.stderr.write("Usage: python -m bot [check | usage [--since DATE] [--guild ID] [--format csv|table]]\n")
        return 2
    try:
        settings = load_settings(os.environ)
    except ConfigError as exc:
        sys.stderr.write(f"Configuration error: {exc}\n")
        return 2
    configure_logging(settings.log_level, settings.secrets)
    try:
        asyncio.run(_run_until_signalled(settings))
    except discord.LoginFailure:
        log.error("Discord rejected DISCORD_TOKEN: copy the token again from the Developer Portal (Bot page).")
        return 1
    except discord.PrivilegedIntentsRequired:
        log.error("Enable the Message Content intent for this bot in the Developer Portal (Bot page); see README.")
        return 1
    return 0


async def _run_until_signalled(settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await serve(settings, stop, own_process=True)


if __name__ == "__main__":
    sys.exit(main())
