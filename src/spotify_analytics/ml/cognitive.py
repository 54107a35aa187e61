"""What the cognitive steps do: per user, then one Arrow table per output."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from ..runner import StepContext
from . import anomalies, clusters, segments, sequences
from .plays import MOOD_COLUMNS, PLAY_COLUMNS, user_plays
from .runs import one_thread


def _table(rows: list[dict], schema: pa.Schema) -> pa.Table:
    if not rows:
        return schema.empty_table()
    return pa.Table.from_pylist(rows, schema=schema)


def _concat(chunks: list[dict], schema: pa.Schema) -> pa.Table:
    tables = [
        pa.table({f.name: chunk[f.name] for f in schema}, schema=schema)
        for chunk in chunks
        if chunk
    ]
    return pa.concat_tables(tables) if tables else schema.empty_table()


KEYS = ("user_id", "play_id", "played_at", "track_key", "is_skip", "feature_source")
CLUSTER_COLUMNS = (*KEYS, *clusters.FEATURES)
SEGMENT_COLUMNS = (*KEYS, "date", "hour_of_day", "is_weekend", "session_id")

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
    + [(f"mean_{name}", pa.float64()) for name in clusters.FEATURES]
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


def mood_state_tables(ctx: StepContext, seed: int = 0) -> tuple[pa.Table, pa.Table]:
    cluster_rows, selection_rows = [], []
    with one_thread():
        for user_id, arrays in user_plays(ctx, CLUSTER_COLUMNS):
            keys, X = clusters.distinct_tracks(arrays)
            for method, criterion in clusters.CRITERIA.items():
                common = {
                    "user_id": user_id,
                    "method": method,
                    "criterion": criterion,
                    "n_distinct_tracks": int(keys.size),
                }
                if keys.size < clusters.MIN_TRACKS:
                    selection_rows.append(
                        {
                            **common,
                            "k": 0,
                            "status": "insufficient_data",
                            "is_chosen": False,
                            "note": (
                                f"{keys.size} distinct tracks with features;"
                                f" needs >= {clusters.MIN_TRACKS}"
                            ),
                        }
                    )
                    continue
                result = clusters.cluster_tracks(X, method, seed)
                chosen = next(r for r in result.selection if r["is_chosen"])
                selection_rows += [
                    {
                        **common,
                        **row,
                        "status": "ok",
                        "note": (f"chosen by {criterion}" if row["is_chosen"] else ""),
                    }
                    for row in result.selection
                ]
                cluster_rows += [
                    {
                        **common,
                        **row,
                        "k": result.k,
                        "silhouette": chosen["silhouette"],
                        "stability_ari": result.stability_ari,
                    }
                    for row in clusters.describe(result, X)
                ]
    return _table(cluster_rows, CLUSTER_SCHEMA), _table(selection_rows, SELECTION_SCHEMA)


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
    chunks = []
    for user_id, arrays in user_plays(ctx, PLAY_COLUMNS):
        found = anomalies.find_anomalies(arrays)
        found["user_id"] = np.full(found["play_id"].size, user_id, dtype=object)
        found["hour_of_day"] = found["hour_of_day"].astype(np.int32)
        chunks.append(found)
    return _concat(chunks, ANOMALY_SCHEMA)


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
    chunks = []
    for user_id, arrays in user_plays(ctx, MOOD_COLUMNS):
        found = sequences.transitions(arrays)
        if found:
            found["user_id"] = np.full(found["lift"].size, user_id, dtype=object)
            chunks.append(found)
    return _concat(chunks, SEQUENCE_SCHEMA)


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
    rules = "; ".join(
        f"{name}: {column} >= {threshold}" for name, column, threshold in segments.RULES
    )
    rows = []
    for user_id, arrays in user_plays(ctx, SEGMENT_COLUMNS):
        rows += [
            {"user_id": user_id, **row, "rules": f"first match of {rules}; else balanced"}
            for row in segments.user_segments(arrays)
        ]
    return _table(rows, SEGMENT_SCHEMA)
