"""Behavioural segments: an archetype per user, for all time and per month.

Stated rules over music plays (skips included: skipping is behaviour). The
first rule that holds names the archetype; every rule that holds is listed in
``traits``. Periods with fewer than ``MIN_PLAYS`` plays get 'insufficient_data'.

| archetype | rule |
|---|---|
| skipper | skip_rate >= 0.30 |
| night_owl | night_share (local 23:00-05:59) >= 0.30 |
| morning_person | morning_share (06:00-11:59) >= 0.35 |
| explorer | new_track_share (plays that are the user's first ever play of the track) >= 0.50 |
| repeater | top10_share (plays of the period's 10 most played tracks) >= 0.40 |
| weekend_listener | weekend_share >= 0.45 (2 of 7 days would be 0.29) |
| balanced | none of the above |

The rules are fixed thresholds, not fitted across users, so a user's rows
depend only on that user's plays. Computed per user in NumPy (``user_segments``)
from the deduplicated plays the next-play models read (``runs.run_context_models``);
``SEGMENTS_SQL`` states the same rules in SQL (the tests compare the two).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from .plays import ArrowStrings, constant

MIN_PLAYS = 30
RULES = (
    ("skipper", "skip_rate", 0.30),
    ("night_owl", "night_share", 0.30),
    ("morning_person", "morning_share", 0.35),
    ("explorer", "new_track_share", 0.50),
    ("repeater", "top10_share", 0.40),
    ("weekend_listener", "weekend_share", 0.45),
)
TOP_TRACKS = 10
COLUMNS = (
    "user_id",
    "play_id",
    "played_at",
    "date",
    "hour_of_day",
    "is_weekend",
    "session_id",
    "track_key",
    "is_skip",
)

# Each play is counted once per month in three groupings (month totals, month
# and track, month and session); the 'all' rows roll those up, so no step
# reads the plays twice. A track's first ever play is its earliest.
SEGMENTS_SQL = """
with plays as (
    {plays}
),
flagged as (
    select
        user_id,
        track_key,
        session_id,
        played_at,
        date,
        date_trunc('month', date) as month,
        coalesce(is_skip, false) as skip,
        hour_of_day >= 23 or hour_of_day <= 5 as night,
        hour_of_day between 6 and 11 as morning,
        coalesce(is_weekend, false) as weekend
    from plays
),
monthly as (
    select
        user_id,
        month,
        min(date) as period_start,
        max(date) as period_end,
        count(*) as n_plays,
        count(*) filter (where skip) as n_skips,
        count(*) filter (where night) as n_night,
        count(*) filter (where morning) as n_morning,
        count(*) filter (where weekend) as n_weekend
    from flagged
    group by user_id, month
),
monthly_tracks as (
    select
        user_id,
        month,
        track_key,
        count(*) filter (where not skip) as n_listened,
        min(played_at) as first_at,
        arg_min(skip, played_at) as first_skipped
    from flagged
    group by user_id, month, track_key
),
monthly_sessions as (
    select user_id, month, session_id
    from flagged
    group by user_id, month, session_id
),
tracks as (
    select
        user_id,
        track_key,
        sum(n_listened) as n_listened,
        arg_min(month, first_at) as first_month,
        arg_min(first_skipped, first_at) as first_skipped
    from monthly_tracks
    group by user_id, track_key
),
period_totals as (
    select
        user_id,
        'month' as period_type,
        strftime(month, '%Y-%m') as period,
        * exclude (user_id, month)
    from monthly
    union all
    select
        user_id,
        'all',
        'all',
        min(period_start),
        max(period_end),
        sum(n_plays),
        sum(n_skips),
        sum(n_night),
        sum(n_morning),
        sum(n_weekend)
    from monthly
    group by user_id
),
period_tracks as (
    select user_id, 'month' as period_type, month, n_listened
    from monthly_tracks
    union all
    select user_id, 'all', null, n_listened
    from tracks
),
track_counts as (
    select
        user_id,
        period_type,
        coalesce(strftime(month, '%Y-%m'), 'all') as period,
        count(*) filter (where n_listened > 0) as distinct_tracks,
        sum(n_listened) as n_listened,
        list_sum(max(n_listened, {top})) as top_listened
    from period_tracks
    group by user_id, period_type, month
),
session_counts as (
    select
        user_id,
        'month' as period_type,
        strftime(month, '%Y-%m') as period,
        count(*) as n_sessions
    from monthly_sessions
    group by user_id, month
    union all
    select user_id, 'all', 'all', count(distinct coalesce(session_id, ''))
    from monthly_sessions
    group by user_id
),
new_track_counts as (
    select
        user_id,
        'month' as period_type,
        strftime(first_month, '%Y-%m') as period,
        count(*) as n_new
    from tracks
    where not first_skipped
    group by user_id, first_month
    union all
    select user_id, 'all', 'all', count(*)
    from tracks
    where not first_skipped
    group by user_id
),
shares as (
    select
        period_totals.*,
        n_skips / n_plays as skip_rate,
        n_night / n_plays as night_share,
        n_morning / n_plays as morning_share,
        n_weekend / n_plays as weekend_share,
        coalesce(n_new, 0) / greatest(n_listened, 1) as new_track_share,
        top_listened / greatest(n_listened, 1) as top10_share,
        distinct_tracks,
        n_plays / n_sessions as mean_session_plays
    from period_totals
    join track_counts using (user_id, period_type, period)
    join session_counts using (user_id, period_type, period)
    left join new_track_counts using (user_id, period_type, period)
),
named as (
    select
        *,
        case when n_plays >= {min_plays} then {traits} else []::varchar[] end as traits
    from shares
),
final as (
    select
        user_id,
        period_type,
        period,
        period_start,
        period_end,
        cast(n_plays as bigint) as n_plays,
        skip_rate,
        night_share,
        morning_share,
        weekend_share,
        new_track_share,
        top10_share,
        cast(distinct_tracks as bigint) as distinct_tracks,
        mean_session_plays,
        case
            when n_plays < {min_plays} then 'insufficient_data'
            when len(traits) > 0 then traits[1]
            else 'balanced'
        end as archetype,
        traits,
        '{rules}' as rules
    from named
)
select * from final
order by user_id, period_type, period
"""


def rules_text() -> str:
    rules = "; ".join(f"{name}: {column} >= {threshold}" for name, column, threshold in RULES)
    return f"first match of {rules}; else balanced"


def segments_sql(plays: str) -> str:
    """The query over a ``plays`` subquery (deduplicated music plays)."""
    traits = ", ".join(
        f"case when {column} >= {threshold} then ['{name}'] else []::varchar[] end"
        for name, column, threshold in RULES
    )
    return SEGMENTS_SQL.format(
        plays=plays,
        top=TOP_TRACKS,
        min_plays=MIN_PLAYS,
        traits=f"list_concat({traits})",
        rules=rules_text(),
    )


def user_segments(user_id: str, plays: dict[str, np.ndarray]) -> dict | None:
    """The segment rows of one user's music plays (deduplicated, skips included,
    in time order), as columns: 'all' first, then each local month."""
    n = plays["played_at"].size
    if n == 0:
        return None
    skip = plays["is_skip"].astype(bool)
    hour = plays["hour_of_day"].astype(np.int64)
    weekend = plays["is_weekend"].astype(bool)
    date = plays["date"].astype("datetime64[D]")
    months, month = np.unique(date.astype("datetime64[M]"), return_inverse=True)
    track = _codes(plays["track_key"])
    session = np.unique(plays["session_id"], return_inverse=True)[1]
    listened = (~skip).astype(float)
    m, t = months.size, int(track.max()) + 1
    # per period: 'all' is period 0, month i is period i + 1
    periods = m + 1

    def per_period(weights: np.ndarray) -> np.ndarray:
        by_month = np.bincount(month, weights=weights, minlength=m)
        return np.concatenate([[by_month.sum()], by_month])

    n_plays = per_period(np.ones(n))
    counts = {
        "skips": per_period(skip.astype(float)),
        "night": per_period(((hour >= 23) | (hour <= 5)).astype(float)),
        "morning": per_period(((hour >= 6) & (hour <= 11)).astype(float)),
        "weekend": per_period(weekend.astype(float)),
    }
    days = date.astype(np.int64)
    start = np.full(m, days.max())
    end = np.full(m, days.min())
    np.minimum.at(start, month, days)
    np.maximum.at(end, month, days)
    start = np.concatenate([[start.min()], start]).astype("datetime64[D]")
    end = np.concatenate([[end.max()], end]).astype("datetime64[D]")
    cells = np.bincount(month * t + track, weights=listened, minlength=m * t).reshape(m, t)
    totals = cells.sum(axis=0)
    by_track = np.vstack([totals, cells])  # periods x tracks: listened plays
    n_listened = by_track.sum(axis=1)
    distinct = (by_track > 0).sum(axis=1)
    top = np.sort(by_track, axis=1)[:, -TOP_TRACKS:].sum(axis=1)
    _, first = np.unique(track, return_index=True)  # each track's first play
    new = ~skip[first]
    by_first = np.bincount(month[first][new], minlength=m)
    n_new = np.concatenate([[new.sum()], by_first]).astype(float)
    pairs = np.unique(month * (int(session.max()) + 1) + session)
    sessions = np.bincount(pairs // (int(session.max()) + 1), minlength=m)
    n_sessions = np.concatenate([[np.unique(session).size], sessions])
    shares = {
        "skip_rate": counts["skips"] / n_plays,
        "night_share": counts["night"] / n_plays,
        "morning_share": counts["morning"] / n_plays,
        "weekend_share": counts["weekend"] / n_plays,
        "new_track_share": n_new / np.maximum(n_listened, 1),
        "top10_share": top / np.maximum(n_listened, 1),
    }
    traits = [
        [name for name, column, at in RULES if shares[column][i] >= at]
        if n_plays[i] >= MIN_PLAYS
        else []
        for i in range(periods)
    ]
    archetype = [
        "insufficient_data" if n_plays[i] < MIN_PLAYS else (found[0] if found else "balanced")
        for i, found in enumerate(traits)
    ]
    labels = ["all", *np.datetime_as_string(months, unit="M").tolist()]
    return {
        "user_id": constant(periods, user_id),
        "period_type": np.array(["all"] + ["month"] * m, dtype=object),
        "period": np.array(labels, dtype=object),
        "period_start": start,
        "period_end": end,
        "n_plays": n_plays.astype(np.int64),
        **shares,
        "distinct_tracks": distinct.astype(np.int64),
        "mean_session_plays": n_plays / n_sessions,
        "archetype": np.array(archetype, dtype=object),
        "traits": pa.array(traits, pa.list_(pa.string())),
        "rules": constant(periods, rules_text()),
    }


def _codes(values: np.ndarray | ArrowStrings) -> np.ndarray:
    """Equal values get equal small integer codes."""
    keys = values.to_arrow() if isinstance(values, ArrowStrings) else pa.array(values.tolist())
    return keys.dictionary_encode().indices.to_numpy(zero_copy_only=False).astype(np.int64)
