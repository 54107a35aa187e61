"""What the cognitive steps do: SQL over every user at once, then Arrow tables.

Every step reads ``listening_with_features`` through ``StepContext.connect``,
so an incremental run limited to some users sees only their rows. Each user's
output depends only on that user's plays (clusters are seeded the same way
for every user), which makes all four steps per-user.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa

from ..runner import StepContext
from ..settings import Settings
from . import anomalies, clusters, segments, sequences
from .plays import FEATURES
from .runs import one_thread, run_context_models

# listening_with_features is unique on play_id (its grain check is critical), so
# only the second duplicate rule is applied here: the same track at the same
# instant stored under two play ids counts once (the lowest play_id is kept).
# Copies are looked for only among rows whose (user, track, instant) hash
# repeats, which costs half of ranking every row. The copies (few, usually
# none) are found once per connection and every query leaves them out.
COPIES_SQL = """with repeated_keys as (
        select hash(user_id, track_key, played_at) as key_hash
        from listening_with_features
        where {music}
        group by key_hash
        having count(*) > 1
    )
    select play_id
    from listening_with_features
    where {music}
        and hash(user_id, track_key, played_at) in (select key_hash from repeated_keys)
    qualify row_number() over (
        partition by user_id, track_key, played_at order by play_id
    ) > 1"""
PLAYS_SQL = """select {columns}
    from listening_with_features
    anti join play_copies using (play_id)
    where {music}"""
MUSIC = "is_music and user_id is not null and played_at is not null"


def plays_sql(settings: Settings, columns: tuple[str, ...]) -> str:
    """Deduplicated music plays (``play_copies`` must exist: ``connect``);
    synthetic features count as missing unless allowed."""
    names = []
    for name in columns:
        if name in FEATURES and not settings.allow_synthetic:
            name = (
                f"case when coalesce(feature_source, '') <> 'synthetic' then {name} end as {name}"
            )
        names.append(name)
    return PLAYS_SQL.format(columns=", ".join(names), music=MUSIC)


def connect(ctx: StepContext) -> duckdb.DuckDBPyConnection:
    """A connection over ``listening_with_features`` (limited to ``ctx.users``, if
    set) with the temp table ``play_copies``: the play ids ``plays_sql`` drops."""
    con = ctx.connect(only={"listening_with_features"})
    con.execute(f"create temp table play_copies as {COPIES_SQL.format(music=MUSIC)}")
    return con


def query(ctx: StepContext, sql: str) -> pa.Table:
    """Run SQL over ``listening_with_features`` (limited to ``ctx.users``, if set)."""
    con = ctx.connect(only={"listening_with_features"})
    try:
        return con.sql(sql).to_arrow_table()
    finally:
        con.close()


def run_sql(con: duckdb.DuckDBPyConnection, sql: str, schema: pa.Schema) -> pa.Table:
    return con.sql(sql).to_arrow_table().select(schema.names).cast(schema)


def _one(ctx: StepContext, name: str) -> pa.Table:
    make_sql, columns, schema = PATTERNS[name]
    con = connect(ctx)
    try:
        return run_sql(con, make_sql(plays_sql(ctx.settings, columns)), schema)
    finally:
        con.close()


def _table(rows: list[dict], schema: pa.Schema) -> pa.Table:
    if not rows:
        return schema.empty_table()
    return pa.Table.from_pylist(rows, schema=schema)


CLUSTER_SCHEMA = pa.schema(
    [
        ("user_id", pa.string()),
        ("method", pa.string()),
        ("cluster_id", pa.int64()),
        ("cluster_name", pa.string()),
        ("mood_quadrant", pa.string()),
        ("k", pa.int64()),
        ("n_tracks", pa.int64()),
        ("share", pa.float64()),
    ]
    + [(f"mean_{name}", pa.float64()) for name in FEATURES]
    + [
        ("n_distinct_tracks", pa.int64()),
        ("criterion", pa.string()),
        ("silhouette", pa.float64()),
        ("stability_ari", pa.float64()),
    ]
)
SELECTION_SCHEMA = pa.schema(
    [
        ("user_id", pa.string()),
        ("method", pa.string()),
        ("k", pa.int64()),
        ("status", pa.string()),
        ("inertia", pa.float64()),
        ("silhouette", pa.float64()),
        ("bic", pa.float64()),
        ("aic", pa.float64()),
        ("is_chosen", pa.bool_()),
        ("criterion", pa.string()),
        ("n_distinct_tracks", pa.int64()),
        ("note", pa.string()),
    ]
)


def user_tracks(ctx: StepContext) -> list[tuple[str, np.ndarray]]:
    """(user_id, raw feature matrix of the user's distinct tracks), per user."""
    table = query(ctx, clusters.tracks_sql(ctx.settings.allow_synthetic))
    if table.num_rows == 0:
        return []
    users = table.column("user_id").to_numpy(zero_copy_only=False)
    tracked = table.column("track_key").is_valid().to_numpy(zero_copy_only=False)
    X = np.column_stack(
        [table.column(name).to_numpy(zero_copy_only=False).astype(float) for name in FEATURES]
    )
    starts = np.flatnonzero(np.concatenate([[True], users[1:] != users[:-1]]))
    ends = np.append(starts[1:], users.size)
    return [(str(users[s]), X[s:e][tracked[s:e]]) for s, e in zip(starts, ends, strict=True)]


def mood_state_tables(ctx: StepContext, seed: int = 0) -> tuple[pa.Table, pa.Table]:
    """``mood_state_clusters`` and ``cluster_model_selection`` alone (the step
    builds them in ``runs.run_context_models``, seed 0)."""
    if seed == 0:
        found = run_context_models(ctx, {}, ("mood_state_clusters",))
        return found["mood_state_clusters"], found["cluster_model_selection"]
    cluster_rows, selection_rows = [], []
    with one_thread():
        for user_id, X in user_tracks(ctx):
            found, selection = _user_mood_states(user_id, X, seed)
            cluster_rows += found
            selection_rows += selection
    return _table(cluster_rows, CLUSTER_SCHEMA), _table(selection_rows, SELECTION_SCHEMA)


def _user_mood_states(user_id: str, X: np.ndarray, seed: int) -> tuple[list[dict], list[dict]]:
    n_tracks = X.shape[0]
    common = {
        method: {
            "user_id": user_id,
            "method": method,
            "criterion": criterion,
            "n_distinct_tracks": n_tracks,
        }
        for method, criterion in clusters.CRITERIA.items()
    }
    if n_tracks < clusters.MIN_TRACKS:
        note = f"{n_tracks} distinct tracks with features; needs >= {clusters.MIN_TRACKS}"
        selection = [
            {**common[m], "k": 0, "status": "insufficient_data", "is_chosen": False, "note": note}
            for m in clusters.CRITERIA
        ]
        return [], selection
    found, selection = [], []
    for method, result in clusters.cluster_user(X, seed).items():
        criterion = common[method]["criterion"]
        chosen = next(r for r in result.selection if r["is_chosen"])
        selection += [
            {
                **common[method],
                **row,
                "status": "ok",
                "note": f"chosen by {criterion}" if row["is_chosen"] else "",
            }
            for row in result.selection
        ]
        found += [
            {
                **common[method],
                **row,
                "k": result.k,
                "silhouette": chosen["silhouette"],
                "stability_ari": result.stability_ari,
            }
            for row in clusters.describe(result, X)
        ]
    return found, selection


ANOMALY_SCHEMA = pa.schema(
    [
        ("user_id", pa.string()),
        ("play_id", pa.string()),
        ("played_at", pa.timestamp("us", tz="UTC")),
        ("date", pa.date32()),
        ("hour_of_day", pa.int32()),
        ("track_key", pa.string()),
        ("track_name", pa.string()),
        ("artist_name", pa.string()),
        ("valence", pa.float64()),
        ("energy", pa.float64()),
        ("hour_mean_valence", pa.float64()),
        ("hour_std_valence", pa.float64()),
        ("hour_mean_energy", pa.float64()),
        ("hour_std_energy", pa.float64()),
        ("n_hour_plays", pa.int64()),
        ("z_valence", pa.float64()),
        ("z_energy", pa.float64()),
        ("max_abs_z", pa.float64()),
        ("feature", pa.string()),
        ("direction", pa.string()),
        ("severity", pa.string()),
        ("severity_rank", pa.int64()),
    ]
)


def anomaly_table(ctx: StepContext) -> pa.Table:
    return run_context_models(ctx, {}, ("listening_anomalies",))["listening_anomalies"]


SEQUENCE_SCHEMA = pa.schema(
    [
        ("user_id", pa.string()),
        ("from_quadrant", pa.string()),
        ("to_quadrant", pa.string()),
        ("n_transitions", pa.int64()),
        ("n_from", pa.int64()),
        ("probability", pa.float64()),
        ("marginal_to_probability", pa.float64()),
        ("lift", pa.float64()),
        ("expected_transitions", pa.float64()),
        ("n_user_transitions", pa.int64()),
    ]
)


def sequence_table(ctx: StepContext) -> pa.Table:
    return run_context_models(ctx, {}, ("sequential_patterns",))["sequential_patterns"]


SEGMENT_SCHEMA = pa.schema(
    [
        ("user_id", pa.string()),
        ("period_type", pa.string()),
        ("period", pa.string()),
        ("period_start", pa.date32()),
        ("period_end", pa.date32()),
        ("n_plays", pa.int64()),
        ("skip_rate", pa.float64()),
        ("night_share", pa.float64()),
        ("morning_share", pa.float64()),
        ("weekend_share", pa.float64()),
        ("new_track_share", pa.float64()),
        ("top10_share", pa.float64()),
        ("distinct_tracks", pa.int64()),
        ("mean_session_plays", pa.float64()),
        ("archetype", pa.string()),
        ("traits", pa.list_(pa.string())),
        ("rules", pa.string()),
    ]
)


def segment_table(ctx: StepContext) -> pa.Table:
    return run_context_models(ctx, {}, ("behavioral_segments",))["behavioral_segments"]


# the same rules in SQL over every user at once (the previous implementation, for the tests)
PATTERNS = {
    "listening_anomalies": (anomalies.anomalies_sql, anomalies.COLUMNS, ANOMALY_SCHEMA),
    "sequential_patterns": (sequences.sequences_sql, sequences.COLUMNS, SEQUENCE_SCHEMA),
    "behavioral_segments": (segments.segments_sql, segments.COLUMNS, SEGMENT_SCHEMA),
}


def _anomaly_rows(user_id: str, plays: dict, mood: dict) -> dict[str, pa.Table | None]:
    rows = anomalies.user_anomalies(user_id, mood)
    return {"listening_anomalies": None if rows is None else pa.table(rows, ANOMALY_SCHEMA)}


def _transition_rows(user_id: str, plays: dict, mood: dict) -> dict[str, pa.Table | None]:
    rows = sequences.user_transitions(user_id, mood)
    return {"sequential_patterns": None if rows is None else pa.table(rows, SEQUENCE_SCHEMA)}


def _segment_rows(user_id: str, plays: dict, mood: dict) -> dict[str, pa.Table | None]:
    rows = segments.user_segments(user_id, plays)
    return {"behavioral_segments": None if rows is None else pa.table(rows, SEGMENT_SCHEMA)}


def _cluster_rows(user_id: str, plays: dict, mood: dict) -> dict[str, pa.Table | None]:
    found, selection = _user_mood_states(user_id, clusters.track_points(plays), seed=0)
    return {
        "mood_state_clusters": _table(found, CLUSTER_SCHEMA),
        "cluster_model_selection": _table(selection, SELECTION_SCHEMA),
    }


# per user in NumPy, from the plays the next-play models read (runs.run_context_models):
# name -> (function of (user_id, plays, mood plays), the schema of each table it makes)
PATTERN_ROWS = {
    "listening_anomalies": (_anomaly_rows, {"listening_anomalies": ANOMALY_SCHEMA}),
    "sequential_patterns": (_transition_rows, {"sequential_patterns": SEQUENCE_SCHEMA}),
    "behavioral_segments": (_segment_rows, {"behavioral_segments": SEGMENT_SCHEMA}),
    "mood_state_clusters": (
        _cluster_rows,
        {"mood_state_clusters": CLUSTER_SCHEMA, "cluster_model_selection": SELECTION_SCHEMA},
    ),
}


def pattern_sql_table(ctx: StepContext, name: str) -> pa.Table:
    """``name`` built by its SQL (``PATTERNS``), for comparing with ``PATTERN_ROWS``."""
    return _one(ctx, name)
