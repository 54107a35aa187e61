"""What is in the lake: tables, per-user listening, state and the last run."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pyarrow as pa

from .lake import Lake, delta_row_count

PER_USER_TABLES = ("streaming_history_bronze", "listening_history_bronze", "plays", "users")
PER_USER_SQL = """
with
bronze as (
    select user_id, count(*) as records, count(*) filter (where is_music) as music_records
    from streaming_history_bronze
    group by user_id
),
api as (
    select user_id, count(*) as api_records
    from listening_history_bronze
    group by user_id
),
plays as (
    select
        user_id,
        count(*) as plays,
        min(played_at) as first_play,
        max(played_at) as last_play,
        count(distinct track_key) as distinct_tracks,
        count(distinct track_id) as distinct_track_ids
    from plays
    where is_music
    group by user_id
)
select
    u.user_id,
    u.timezone,
    coalesce(b.records, 0)::bigint as export_records,
    coalesce(b.music_records, 0)::bigint as export_music_records,
    coalesce(a.api_records, 0)::bigint as api_records,
    p.plays::bigint as plays,
    p.first_play,
    p.last_play,
    p.distinct_tracks::bigint as distinct_tracks,
    p.distinct_track_ids::bigint as distinct_track_ids
from users as u
left join bronze as b on b.user_id = u.user_id
left join api as a on a.user_id = u.user_id
left join plays as p on p.user_id = u.user_id
order by u.user_id
"""


NO_PLAYS = pa.table(
    {
        "user_id": pa.array([], pa.string()),
        "played_at": pa.array([], pa.timestamp("us", tz="UTC")),
        "track_key": pa.array([], pa.string()),
        "track_id": pa.array([], pa.string()),
        "is_music": pa.array([], pa.bool_()),
    }
)


def lake_status(lake: Lake) -> dict:
    """A JSON-ready summary of the lake."""
    return {
        "lake": str(lake.root),
        "tables": table_status(lake),
        "users": user_status(lake),
        "state": state_status(lake),
        "live": live_status(lake),
    }


def live_status(lake: Lake) -> dict:
    """Live ingestion per user (last poll, cursor, errors) and running cooldowns."""
    from .spotify.live import live_status as spotify_live_status

    return spotify_live_status(lake)


def table_status(lake: Lake) -> list[dict]:
    rows = []
    for name, location in lake.tables().items():
        table = lake.delta(name)
        history = table.history(1)
        stamp = history[0].get("timestamp") if history else None
        rows.append(
            {
                "table": name,
                "location": location,
                "rows": delta_row_count(table, lake.path(location)),
                "version": table.version(),
                "updated_at": _ms_to_iso(stamp),
            }
        )
    return rows


def user_status(lake: Lake) -> list[dict]:
    if not lake.exists("users"):
        return []
    missing = {} if "plays" in lake.tables() else {"plays": NO_PLAYS}
    # only the tables the query reads: a view over every table took seconds at 10M plays
    con = lake.connect(extra=missing, only=set(PER_USER_TABLES) - set(missing), aliases=False)
    try:
        return con.sql(PER_USER_SQL).to_arrow_table().to_pylist()
    finally:
        con.close()


def state_status(lake: Lake) -> dict:
    """Every JSON file in ``_state/`` (cursors, cooldowns, loads, the last vacuum), by
    name, but the runner's own bookkeeping: what each step was built from, the
    change journal and the parsed SQL inputs (at 10M plays the journal alone
    was 250 KB of ``status``)."""
    from .changes import OLD_JOURNAL_FILE
    from .pipeline import SQL_TABLES_CACHE
    from .runner import STATE_FILE

    internal = {STATE_FILE, OLD_JOURNAL_FILE, SQL_TABLES_CACHE}  # the journal is .jsonl
    state = {}
    for path in sorted((lake.root / "_state").glob("*.json")):
        if path.name in internal:
            continue
        try:
            state[path.stem] = json.loads(path.read_text())
        except (OSError, ValueError):
            state[path.stem] = {"error": "unreadable"}
    return state


def _ms_to_iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="seconds")
