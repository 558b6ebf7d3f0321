"""Secrets and members' words never leave through the log, whatever fails: statement parameters are hidden,
tokens the bot obtains are masked from the moment it holds them, and the database password is masked in every
form it is written. Every test in the suite also has its log read for secrets (tests/support/log_audit.py); here the
logs are read at DEBUG, while the database refuses writes."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

from sqlalchemy.engine import make_url

from bot.config.settings import load_settings
from bot.ops.logs import RedactingFormatter
from tests.emulators.ablt import AbltEmulator, Reply
from tests.emulators.agentverse import AgentverseEmulator
from tests.emulators.discord import DiscordEmulator
from tests.support import db_faults
from tests.support.agentverse import objective, offer_with
from tests.support.databases import postgres_database
from tests.support.harness import REPO, BotProcess, bot_environment, stop_process
from tests.support.journey import chat, say, thread_for, wait_for_post, wait_for_reply

BOTH_STORES = True
AUDIT_LOGS_AT_DEBUG = True
PASSWORD = "p@ss:w/rd%sëcret"
"""Needs %-encoding in a URL (@ : / % and a non-ASCII letter); trust authentication ignores it."""


async def test_a_refreshed_token_the_store_refuses_to_keep_never_reaches_the_log(
    make_bot: Callable[..., BotProcess],
    discord_emulator: DiscordEmulator,
    agentverse: AgentverseEmulator,
    database: str,
) -> None:
    """Issue 18, sample 5: the store refuses the refreshed Agentverse pair; the error is logged without the
    statement's parameters, the tokens are masked, and the engine's flow goes on with the pair in memory."""
    bot = make_bot()
    await bot.start()
    await db_faults.refuse_writes(database, "meta", "1 = 1", events=("INSERT", "UPDATE"))
    agentverse.expire_access_tokens()
    thread_id = await objective(discord_emulator, "Find a flight")
    await offer_with(discord_emulator, thread_id, "Flights/Flights")
    await bot.stop()
    assert agentverse.refresh_count == 1
    assert len(agentverse.issued_tokens) > 2  # a new pair was minted, and the log audit looks for it


async def test_a_members_words_never_reach_the_log_when_the_store_refuses_them(
    make_bot: Callable[..., BotProcess],
    discord_emulator: DiscordEmulator,
    ablt: AbltEmulator,
    database: str,
    forbid_in_logs: Callable[..., None],
) -> None:
    """The member's message cannot be recorded: they are told so in the thread, nothing goes to the provider,
    and no log line shows what they wrote; once the database takes writes again the conversation goes on."""
    canary = "zebra-quartz-mandolin"
    forbid_in_logs(canary)
    bot = make_bot()
    await bot.start()
    ablt.enqueue(Reply(text="Hello."), Reply(text="Welcome back."))
    thread = await thread_for(discord_emulator, await chat(discord_emulator, "Hi"))
    await wait_for_reply(discord_emulator, thread.id, "Hello.")
    await db_faults.refuse_writes(database, "transcript", f"NEW.content LIKE '%{canary}%'", events=("INSERT",))
    asked = len(ablt.requests)
    mark = await say(discord_emulator, thread.id, f"my secret plan is {canary}")
    await wait_for_post(discord_emulator, thread.id, "database is not answering", after=mark)
    assert len(ablt.requests) == asked

    await db_faults.lift(database, "transcript")
    await wait_for_post(
        discord_emulator, thread.id, "Welcome back.", after=await say(discord_emulator, thread.id, "still there?")
    )
    await bot.stop()


async def test_the_database_password_is_masked_in_every_form(
    discord_emulator: DiscordEmulator, ablt: AbltEmulator, tmp_path: Path
) -> None:
    """`python -m bot` and `python -m bot check` with a password in DATABASE_URL, while the database drops every
    connection: neither the password as written (%-encoded) nor as the driver sees it appears in their output."""
    async with postgres_database() as plain:
        url = make_url(plain).set(password=PASSWORD).render_as_string(hide_password=False)
        assert quote(PASSWORD, safe="") in url  # as written in the URL
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "ABLT_", "DATABASE_"))}
        env |= bot_environment(discord_emulator, ablt, url, LOG_LEVEL="DEBUG") | {"PYTHONPATH": str(REPO)}
        check = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "check", cwd=tmp_path, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        checked, _ = await asyncio.wait_for(check.communicate(), 60)

        bot = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", cwd=tmp_path, env=env, stderr=asyncio.subprocess.PIPE
        )
        try:
            await discord_emulator.wait_for(lambda: discord_emulator.ready_count > 0, 30, "the bot to connect")
            await discord_emulator.wait_for_commands(timeout=10)
            ablt.enqueue(Reply(text="Fine."), Reply(text="Still fine."))
            thread = await thread_for(discord_emulator, await chat(discord_emulator, "Hi"))
            await wait_for_reply(discord_emulator, thread.id, "Fine.")
            assert await db_faults.drop_connections(url) > 0
            await wait_for_post(
                discord_emulator, thread.id, "Still fine.", after=await say(discord_emulator, thread.id, "again")
            )
        finally:
            await stop_process(bot)
        assert bot.stderr is not None
        logged = (await bot.stderr.read()).decode()
    output = checked.decode() + logged
    assert "Database" in checked.decode()
    for form in (PASSWORD, quote(PASSWORD, safe=""), quote(PASSWORD)):
        assert form not in output, form


def test_the_password_is_masked_as_written_and_as_the_driver_reads_it() -> None:
    """A driver or a traceback may show the password decoded: the log masks it in both forms."""
    url = f"postgresql://bot:{quote(PASSWORD, safe='')}@127.0.0.1:5432/bot"
    settings = load_settings({"DISCORD_TOKEN": "t" * 30, "ABLT_API_KEY": "k" * 20, "DATABASE_URL": url}, None)
    formatter = RedactingFormatter("%(message)s", settings.secrets)
    for form in (PASSWORD, quote(PASSWORD, safe="")):
        record = logging.LogRecord("bot", logging.ERROR, __file__, 1, "connect failed for %s", (form,), None)
        assert form not in formatter.format(record)


async def test_a_validation_error_that_echoes_the_members_words_leaves_them_out_of_the_log(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator, forbid_in_logs: Callable[..., None]
) -> None:
    """A FastAPI-style 422 repeats what was sent as `input` (pydantic v2): the member sees the usual line, and the
    log keeps the error's location and message but not their words."""
    canary = "walrus-tangerine-oboe"
    forbid_in_logs(canary)
    error = {"loc": ["body", "messages", 0], "msg": "too long", "type": "string_too_long", "input": f"say {canary}"}
    ablt.enqueue(Reply(status=422, body={"detail": [error]}))
    thread = await thread_for(discord_emulator, await chat(discord_emulator, f"say {canary}"))
    await wait_for_post(discord_emulator, thread.id, "could not read")
