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
depend only on that user's plays. One DuckDB query over every user at once
(``SEGMENTS_SQL``).
"""

from __future__ import annotations

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

SEGMENTS_SQL = """
with plays as (
    {plays}
),
flagged as (
    select
        user_id,
        track_key,
        session_id,
        date,
        hour_of_day,
        coalesce(is_skip, false) as skip,
        coalesce(is_weekend, false) as weekend,
        played_at = min(played_at) over (partition by user_id, track_key) as first_play,
        strftime(date, '%Y-%m') as month
    from plays
),
periods as (
    select 'all' as period_type, 'all' as period, * from flagged
    union all
    select 'month' as period_type, month as period, * from flagged
),
track_counts as (
    select user_id, period_type, period, count(*) filter (where not skip) as n_listened
    from periods
    group by user_id, period_type, period, track_key
),
top_tracks as (
    select
        user_id,
        period_type,
        period,
        count(*) filter (where n_listened > 0) as distinct_tracks,
        list_sum(list_slice(list_sort(list(n_listened), 'desc'), 1, {top})) as top_listened
    from track_counts
    group by user_id, period_type, period
),
metrics as (
    select
        user_id,
        period_type,
        period,
        min(date) as period_start,
        max(date) as period_end,
        count(*) as n_plays,
        count(*) filter (where not skip) as n_listened,
        count(*) filter (where skip) / count(*) as skip_rate,
        count(*) filter (where hour_of_day >= 23 or hour_of_day <= 5) / count(*) as night_share,
        count(*) filter (where hour_of_day between 6 and 11) / count(*) as morning_share,
        count(*) filter (where weekend) / count(*) as weekend_share,
        count(*) filter (where first_play and not skip) as n_new_listened,
        count(*) / count(distinct coalesce(session_id, '')) as mean_session_plays
    from periods
    group by user_id, period_type, period
),
shares as (
    select
        metrics.* exclude (n_listened, n_new_listened),
        n_new_listened / greatest(n_listened, 1) as new_track_share,
        top_listened / greatest(n_listened, 1) as top10_share,
        distinct_tracks
    from metrics
    join top_tracks using (user_id, period_type, period)
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
