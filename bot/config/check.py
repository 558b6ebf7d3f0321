"""`python -m bot check`: every setting validated, then one cheap authenticated call per service.

Prints a table (service, ok / failed, why) and exits non-zero if anything failed, so it fits a
deployment script. The calls are the smallest each API offers: who-am-I, a bot list, a one-word
turn where a vendor has nothing cheaper.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy.exc import SQLAlchemyError

from bot.config.settings import ConfigError, Settings, env_line, inspect_settings
from bot.store import DatabaseUrlError, Store

PROBE_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class Outcome:
    service: str
    ok: bool
    why: str


Probe = Callable[[aiohttp.ClientSession], Awaitable[Outcome]]


def run_check(environ: Mapping[str, str], env_file: Path, write: Callable[[str], None]) -> int:
    """Validate, probe, print; 0 when everything is fine, 1 otherwise."""
    settings, problems = inspect_settings(environ, env_file)
    if problems:
        write("Configuration problems:")
        for problem in problems:
            write(f"  - {_where(problem, environ, env_file)}{problem}")
        return 1
    assert settings is not None  # noqa: S101 - no problems means settings were built
    outcomes = asyncio.run(_probe_all(settings))
    width = max(len(o.service) for o in outcomes)
    write(f"{'service':<{width}}  result  detail")
    for outcome in outcomes:
        write(f"{outcome.service:<{width}}  {'ok' if outcome.ok else 'FAILED':<6}  {outcome.why}")
    return 0 if all(o.ok for o in outcomes) else 1


def _where(problem: ConfigError, environ: Mapping[str, str], env_file: Path) -> str:
    variable = problem.variable
    if variable is None or variable in environ:
        return ""
    line = env_line(env_file, variable)
    return f"{env_file.name} line {line}: " if line else ""


async def _probe_all(settings: Settings) -> list[Outcome]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=PROBE_TIMEOUT_S)) as session:
        probes = [probe(session) for probe in _probes(settings)]
        return list(await asyncio.gather(_database(settings), *probes))


async def _database(settings: Settings) -> Outcome:
    """Opens the database as the bot would (creating or upgrading its tables) and asks it one question."""
    try:
        store = await asyncio.wait_for(Store.open(settings.database_url.reveal()), PROBE_TIMEOUT_S)
    except (OSError, TimeoutError, SQLAlchemyError, DatabaseUrlError) as exc:
        return Outcome("Database", False, f"cannot open it ({type(exc).__name__})")
    try:
        where = store.db.where
        ok = await store.db.ping()
    finally:
        await store.close()
    scale = settings.scale
    shards = "every shard" if scale.shard_ids is None else f"shards {','.join(map(str, scale.shard_ids))}"
    of = f" of {scale.shard_count}" if scale.shard_count else ""
    return Outcome("Database", ok, f"{where}; this process runs {shards}{of}")


def _probes(settings: Settings) -> list[Probe]:
    probes: list[Probe] = [
        _call(
            "Discord",
            "GET",
            f"{settings.discord_api_base_url}/users/@me",
            {"Authorization": f"Bot {settings.discord_token.reveal()}"},
        )
    ]
    if (ablt := settings.ablt) is not None:
        probes.append(_call("aBLT", "GET", f"{ablt.base_url}/v1/bots", _bearer(ablt.api_key.reveal())))
    if (magic := settings.magicai) is not None:
        key = magic.api_key.reveal()
        headers = {magic.auth_header: key} if magic.auth_header else _bearer(key)
        body = {"projectId": magic.project_id, "text": "ping", "sessionId": "bot-check"}
        probes.append(_call("Magic AI", "POST", f"{magic.base_url}/chat", headers, json_body=body))
    if (sound := settings.soundverse) is not None:
        body = {"prompt": "ping", "action": "other"}
        url = f"{sound.base_url}{sound.chat_path}"
        probes.append(_call("Soundverse", "POST", url, _bearer(sound.api_key.reveal()), json_body=body))
    if (convai := settings.convai) is not None:
        form = {"charId": convai.character_id or "", "sessionId": "-1"}
        url = f"{convai.base_url}/character/generate-starter-conversation"
        probes.append(_call("Convai", "POST", url, {"CONVAI-API-KEY": convai.api_key.reveal()}, form=form))
    if (agent := settings.agentverse) is not None:
        body = {"email": agent.email, "requestedModel": agent.model}
        url = f"{agent.base_url}/v1beta1/engine/chat/sessions"
        probes.append(_call("Agentverse", "POST", url, _bearer(agent.api_key.reveal()), json_body=body))
    return probes


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _call(
    service: str,
    method: str,
    url: str,
    headers: Mapping[str, str],
    *,
    json_body: Any = None,
    form: Mapping[str, str] | None = None,
) -> Probe:
    async def probe(session: aiohttp.ClientSession) -> Outcome:
        try:
            async with session.request(method, url, headers=headers, json=json_body, data=form) as response:
                body = (await response.content.read(2048)).decode("utf-8", errors="replace")
                if 200 <= response.status < 300:
                    return Outcome(service, True, f"HTTP {response.status}")
                return Outcome(service, False, _explain(response.status, body))
        except (aiohttp.ClientError, TimeoutError) as exc:
            return Outcome(service, False, f"cannot reach it ({type(exc).__name__})")

    return probe


def _explain(status: int, body: str) -> str:
    """A short reason: the status, what it usually means, and the vendor's own words if short."""
    meaning = {401: "key refused", 403: "key lacks access", 404: "not found", 426: "plan lacks API access"}.get(
        status, "rejected" if status < 500 else "service error"
    )
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    said = ""
    if isinstance(parsed, dict):
        for key in ("detail", "message", "ERROR", "details"):
            if isinstance(parsed.get(key), str):
                said = f": {parsed[key][:100]}"
                break
    return f"HTTP {status} ({meaning}){said}"
