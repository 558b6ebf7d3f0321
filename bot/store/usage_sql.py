"""The usage ledger's SQL: migration 9's tables, and PostgreSQL's reserve and finish, each one statement.

PostgreSQL takes a turn's quota counters in one round trip: `bridge_usage_reserve`, a PL/pgSQL function, creates
the counters a turn needs that are not there yet and locks them all, each in a fixed order (scope, then period,
byte-wise: `COLLATE "C"`), so turns sharing counters queue instead of deadlocking; then checks them, and counts
the turn and inserts its ledger row, or changes nothing. A turn's end locks the same counters in the same order
inside one statement (`finish_statement`), optionally the same statement that writes the reply's final status (a
data-modifying CTE, postgresql.org/docs/15/queries-with.html).
"""

from __future__ import annotations

from bot.store.records import KINDS, OUTCOMES

_KINDS = ", ".join(f"'{kind}'" for kind in KINDS)
_OUTCOMES = ", ".join(f"'{outcome}'" for outcome in OUTCOMES)


def _ledger(key: str, integer: str, real: str) -> str:
    """The ledger table: one row per turn, never any text a member or a provider wrote."""
    return (
        f"CREATE TABLE usage_ledger (id {key}, at {real} NOT NULL, day TEXT NOT NULL, guild_id {integer} NOT NULL,"
        f" channel_id {integer} NOT NULL, member_id {integer} NOT NULL, provider TEXT NOT NULL,"
        f" kind TEXT NOT NULL CHECK (kind IN ({_KINDS})),"
        f" outcome TEXT NOT NULL DEFAULT 'pending' CHECK (outcome IN ({_OUTCOMES})),"
        f" chars_in INTEGER NOT NULL, chars_out INTEGER NOT NULL DEFAULT 0, audio_in_s {real} NOT NULL,"
        f" audio_out_s {real} NOT NULL DEFAULT 0, files INTEGER NOT NULL, provider_s {real} NOT NULL DEFAULT 0)"
    )


def _tables(key: str, integer: str, real: str) -> tuple[str, ...]:
    """Migration 9's tables and indexes in one dialect's types (`key`: the ledger's generated primary key)."""
    return (
        _ledger(key, integer, real),
        "CREATE INDEX usage_ledger_by_guild_day ON usage_ledger(guild_id, day)",
        "CREATE INDEX usage_ledger_by_member_day ON usage_ledger(member_id, day)",
        "CREATE INDEX usage_ledger_by_day ON usage_ledger(day)",
        f"CREATE TABLE usage_daily (day TEXT NOT NULL, guild_id {integer} NOT NULL, member_id {integer} NOT NULL,"
        " provider TEXT NOT NULL, kind TEXT NOT NULL, outcome TEXT NOT NULL, turns BIGINT NOT NULL,"
        f" chars_in BIGINT NOT NULL, chars_out BIGINT NOT NULL, audio_in_s {real} NOT NULL,"
        f" audio_out_s {real} NOT NULL, files BIGINT NOT NULL, provider_s {real} NOT NULL,"
        " PRIMARY KEY (day, guild_id, member_id, provider, kind, outcome))",
        "CREATE INDEX usage_daily_by_guild_day ON usage_daily(guild_id, day)",
        "CREATE INDEX usage_daily_by_member_day ON usage_daily(member_id, day)",
        "CREATE TABLE usage_counters (scope TEXT NOT NULL, period TEXT NOT NULL, turns BIGINT NOT NULL,"
        " chars BIGINT NOT NULL, PRIMARY KEY (scope, period))",
        f"CREATE TABLE quota_rules (guild_id {integer} NOT NULL, target TEXT NOT NULL, provider TEXT NOT NULL,"
        " period TEXT NOT NULL CHECK (period IN ('day', 'month')), max_turns BIGINT, max_chars BIGINT,"
        f" set_by {integer} NOT NULL, set_at {real} NOT NULL, PRIMARY KEY (guild_id, target, provider, period))",
        "ALTER TABLE server_settings ADD COLUMN timezone TEXT",
        "ALTER TABLE server_settings ADD COLUMN quota_exempt_managers INTEGER",
    )


RESERVE_FUNCTION = """
CREATE FUNCTION bridge_usage_reserve(
    p_scopes text[], p_periods text[], p_max_turns bigint[], p_max_chars bigint[],
    p_at double precision, p_day text, p_guild_id bigint, p_channel_id bigint, p_member_id bigint,
    p_provider text, p_kind text, p_chars_in bigint, p_audio_in_s double precision, p_files integer
) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    created text[];
    refused bigint;
    ledger_id bigint;
BEGIN
    -- Create the counters not there yet, then lock them all, each time in one fixed order.
    WITH made AS (
        INSERT INTO usage_counters (scope, period, turns, chars)
            SELECT s, p, 0, 0 FROM (SELECT DISTINCT s, p FROM unnest(p_scopes, p_periods) AS u(s, p)) AS keys
            ORDER BY s COLLATE "C", p COLLATE "C"
            ON CONFLICT (scope, period) DO NOTHING RETURNING scope || chr(10) || period AS made_key
    ) SELECT array_agg(made_key) INTO created FROM made;
    PERFORM 1 FROM usage_counters WHERE (scope, period) IN (SELECT * FROM unnest(p_scopes, p_periods))
        ORDER BY scope COLLATE "C", period COLLATE "C" FOR UPDATE;
    -- Check in the caller's order: the first without room is answered as minus its (1-based) position.
    SELECT u.n INTO refused FROM unnest(p_scopes, p_periods, p_max_turns, p_max_chars) WITH ORDINALITY
            AS u(s, p, most_turns, most_chars, n)
        JOIN usage_counters AS c ON c.scope = u.s AND c.period = u.p
        WHERE c.turns >= u.most_turns OR c.chars >= u.most_chars ORDER BY u.n LIMIT 1;
    IF refused IS NOT NULL THEN
        DELETE FROM usage_counters WHERE (scope || chr(10) || period) = ANY (created);
        RETURN -refused;
    END IF;
    UPDATE usage_counters SET turns = turns + 1, chars = chars + p_chars_in
        WHERE (scope, period) IN (SELECT * FROM unnest(p_scopes, p_periods));
    INSERT INTO usage_ledger (at, day, guild_id, channel_id, member_id, provider, kind, chars_in, audio_in_s, files)
        VALUES (p_at, p_day, p_guild_id, p_channel_id, p_member_id, p_provider, p_kind, p_chars_in, p_audio_in_s,
                p_files)
        RETURNING id INTO ledger_id;
    RETURN ledger_id;
END
$$
"""
"""Why no deadlock: a transaction waits for another only on a counter that one created and has not committed (the
insert, in order) or has locked (the lock, in order). One still creating never waits for one already locking (that
one got past every counter it needs, so none of them is another's uncreated row), and each step takes its
counters in the same order: no circle of waits can close. A NULL limit is not checked (`used >= NULL` is not
true). A counter this call created is removed again when the turn is refused (nobody else saw it), so a refusal
changes nothing."""

SQLITE_TABLES = _tables("INTEGER PRIMARY KEY", "INTEGER", "REAL")
POSTGRESQL_TABLES = (
    *_tables("BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", "BIGINT", "DOUBLE PRECISION"),
    RESERVE_FUNCTION,
)

RESERVE = (
    "SELECT bridge_usage_reserve(CAST(:scopes AS text[]), CAST(:periods AS text[]), CAST(:max_turns AS bigint[]),"
    " CAST(:max_chars AS bigint[]), :at, :day, :guild_id, :channel_id, :member_id, :provider, :kind, :chars_in,"
    " :audio_in_s, :files)"
)

FINISH_LEDGER = (
    "UPDATE usage_ledger SET chars_out = :chars_out, audio_out_s = :audio_out_s, provider_s = :provider_s,"
    " outcome = :outcome WHERE id = :ledger_id AND outcome = 'pending'"
)
"""Only a pending row changes: a turn's end is recorded once, however often it is reported."""


def finish_statement(before: str = "") -> str:
    """PostgreSQL: one statement recording a turn's end (`FINISH_LEDGER`) and, if that changed the row, adding its
    `chars_out` to the counters `:scopes`/`:periods`, locked in the reserve's order. `before`: another
    data-modifying CTE ("name AS (UPDATE ...), ") to run in the same statement."""
    return (
        f"WITH {before}done AS ({FINISH_LEDGER} RETURNING id),"  # noqa: S608 - `before` is the store's own
        " locked AS (SELECT scope, period FROM usage_counters WHERE EXISTS (SELECT 1 FROM done)"
        " AND (scope, period) IN (SELECT * FROM unnest(CAST(:scopes AS text[]), CAST(:periods AS text[])))"
        ' ORDER BY scope COLLATE "C", period COLLATE "C" FOR UPDATE)'
        " UPDATE usage_counters SET chars = usage_counters.chars + :chars_out FROM locked"
        " WHERE usage_counters.scope = locked.scope AND usage_counters.period = locked.period"
    )
