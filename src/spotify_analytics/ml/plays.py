"""Loading plays for the models: deduplicated, ordered, split per user as arrays."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa

from ..runner import StepContext

FEATURES = (
    "valence",
    "energy",
    "danceability",
    "acousticness",
    "instrumentalness",
    "speechiness",
    "liveness",
    "loudness",
    "tempo",
)
PLAY_COLUMNS = (
    "user_id",
    "play_id",
    "played_at",
    "date",
    "hour_of_day",
    "day_of_week",
    "is_weekend",
    "session_id",
    "session_play_no",
    "track_key",
    "track_id",
    "track_name",
    "artist_name",
    "is_skip",
    "feature_source",
    *FEATURES,
)

PLAYS_SQL = """
with source as (
    select {columns}
    from listening_with_features
    where is_music and user_id is not null and played_at is not null
),
features_allowed as (
    select * replace (
        {feature_guards}
    )
    from source
),
deduped as (
    select *
    from features_allowed
    qualify row_number() over (partition by user_id, play_id order by played_at) = 1
),
final as (
    select *
    from deduped
    qualify row_number() over (
        partition by user_id, track_key, played_at order by play_id
    ) = 1
)
select * from final
order by user_id, played_at, play_id
"""


def plays_query(allow_synthetic: bool) -> str:
    """Music plays, one row per play (duplicates of a play dropped), in time order.
    Synthetic features count as missing unless ``allow_synthetic``."""
    guard = "true" if allow_synthetic else "coalesce(feature_source, '') <> 'synthetic'"
    guards = ",\n        ".join(f"case when {guard} then {name} end as {name}" for name in FEATURES)
    return PLAYS_SQL.format(columns=", ".join(PLAY_COLUMNS), feature_guards=guards)


def load_plays(ctx: StepContext) -> pa.Table:
    return ctx.sql(plays_query(ctx.settings.allow_synthetic))


def to_arrays(table: pa.Table) -> dict[str, np.ndarray]:
    """Arrow columns as numpy arrays (timestamps as UTC datetime64[us], dates as [D])."""
    arrays: dict[str, np.ndarray] = {}
    for name in table.column_names:
        column = table.column(name)
        if pa.types.is_timestamp(column.type):
            column = column.cast(pa.timestamp("us"))
        arrays[name] = column.to_numpy(zero_copy_only=False)
    return arrays


def per_user(table: pa.Table) -> Iterator[tuple[str, dict[str, np.ndarray]]]:
    """``(user_id, arrays)`` for each user of a table sorted by user_id."""
    if table.num_rows == 0:
        return
    arrays = to_arrays(table)
    users = arrays["user_id"]
    starts = np.flatnonzero(np.concatenate([[True], users[1:] != users[:-1]]))
    ends = np.append(starts[1:], users.size)
    for start, end in zip(starts, ends, strict=True):
        yield str(users[start]), {name: values[start:end] for name, values in arrays.items()}


def select(arrays: dict[str, np.ndarray], mask: np.ndarray) -> dict[str, np.ndarray]:
    return {name: values[mask] for name, values in arrays.items()}


def mood_plays(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Plays a mood model learns from: not skipped, valence and energy known."""
    skip = np.array([bool(v) for v in arrays["is_skip"]], dtype=bool)
    valence = arrays["valence"].astype(float)
    energy = arrays["energy"].astype(float)
    return select(arrays, ~skip & np.isfinite(valence) & np.isfinite(energy))
