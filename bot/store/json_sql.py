"""The JSON operations on a session's `state` (a JSON object kept as text), in each dialect's SQL.

SQLite's JSON1 functions (sqlite.org/json1.html) and PostgreSQL's jsonb operators
(postgresql.org/docs/15/functions-json.html) differ in spelling and in one detail that matters here:
SQLite's `json_extract` gives SQL NULL for a JSON null, PostgreSQL's `#>` gives a jsonb 'null'.
Both fragments below treat "absent" and "null" alike.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from bot.store.database import Kind

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def merge_state(kind: Kind, changes: Mapping[str, Any], column: str = "state") -> tuple[str, dict[str, Any]]:
    """SQL for the JSON object in `column` with each top-level key of `changes` replaced (a shallow merge),
    and its binds."""
    if not _KEY.match(column):
        raise ValueError(column)
    if kind == "postgresql":
        return f"CAST(CAST({column} AS jsonb) || CAST(:patch AS jsonb) AS text)", {"patch": json.dumps(dict(changes))}
    parts, binds = [], {}
    for number, (key, value) in enumerate(changes.items()):
        if not _KEY.match(key):
            raise ValueError(f"state keys are identifiers, not {key!r}")
        parts.append(f"'$.{key}', json(:v{number})")
        binds[f"v{number}"] = json.dumps(value)
    return f"json_set({column}, {', '.join(parts)})", binds


def flag_is_set(kind: Kind, key: str) -> str:
    """SQL that is true when `state[key]` is JSON true."""
    if not _KEY.match(key):
        raise ValueError(key)
    if kind == "postgresql":
        return f"(CAST(state AS jsonb) ->> '{key}') = 'true'"
    return f"json_extract(state, '$.{key}') = 1"


def offer_claim(kind: Kind) -> tuple[str, str]:
    """(new state, condition) that mark the open offer `:token` as taken by `:by` through interaction `:via`,
    if nobody took it yet."""
    if kind == "postgresql":
        return (
            "CAST(jsonb_set(jsonb_set(CAST(state AS jsonb), '{offer,taken_by}', to_jsonb(CAST(:by AS bigint))),"
            " '{offer,via}', to_jsonb(CAST(:via AS bigint))) AS text)",
            "CAST(state AS jsonb) #>> '{offer,token}' = :token"
            " AND COALESCE(CAST(state AS jsonb) #> '{offer,taken_by}', 'null'::jsonb) = 'null'::jsonb",
        )
    return (
        "json_set(state, '$.offer.taken_by', :by, '$.offer.via', :via)",
        "json_extract(state, '$.offer.token') = :token AND json_extract(state, '$.offer.taken_by') IS NULL",
    )
