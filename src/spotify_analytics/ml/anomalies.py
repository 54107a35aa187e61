"""Listening anomalies: plays whose valence or energy is far from that hour's norm.

The norm is the user's mean and sample standard deviation of valence and energy
at the same local hour of day (non-skipped plays with features; hours with
fewer than ``MIN_HOUR_PLAYS`` plays or no spread are not judged, and their
norm and z-score are null). A play is an anomaly when
max(|z_valence|, |z_energy|) > 2. Severity, ordered numerically by
``severity_rank``: High (3) when |z| > 3, Medium (2) when 2.5 < |z| <= 3,
Low (1) when 2 < |z| <= 2.5.

One DuckDB query over every user at once (``ANOMALIES_SQL``); each user's rows
depend only on that user's plays.
"""

from __future__ import annotations

MIN_HOUR_PLAYS = 10
THRESHOLD = 2.0
SEVERITIES = ((3.0, "High", 3), (2.5, "Medium", 2), (THRESHOLD, "Low", 1))
MIN_SPREAD = 1e-9
EXACT = "decimal(18, 15)"  # valence and energy lie in [0, 1]
COLUMNS = (
    "user_id",
    "play_id",
    "played_at",
    "date",
    "hour_of_day",
    "track_key",
    "track_name",
    "artist_name",
    "is_skip",
    "valence",
    "energy",
)


def _sums(feature: str) -> str:
    """Exact sums (decimals add without rounding), so a user's norm does not
    depend on the order in which parallel threads add up the plays."""
    exact = f"cast({feature} as {EXACT})"
    return (
        f"cast(sum({exact}) as double) as sum_{feature},\n"
        f"        cast(sum({exact} * {exact}) as double) as squares_{feature}"
    )


def _moments(feature: str) -> str:
    mean = f"sum_{feature} / n_hour_plays"
    variance = (
        f"(squares_{feature} - sum_{feature} * sum_{feature} / n_hour_plays) / (n_hour_plays - 1)"
    )
    std = f"case when n_hour_plays > 1 then sqrt(greatest({variance}, 0)) end"
    return f"{mean} as mean_{feature},\n        {std} as std_{feature}"


def _norm(feature: str) -> str:
    judged = f"n_hour_plays >= {MIN_HOUR_PLAYS} and std_{feature} > {MIN_SPREAD}"
    return (
        f"case when {judged} then mean_{feature} end as hour_mean_{feature},\n"
        f"        case when {judged} then std_{feature} end as hour_std_{feature}"
    )


ANOMALIES_SQL = """
with plays as (
    {plays}
),
mood as (
    select *
    from plays
    where not coalesce(is_skip, false) and isfinite(valence) and isfinite(energy)
),
hour_sums as (
    select
        user_id,
        hour_of_day,
        count(*) as n_hour_plays,
        {sums}
    from mood
    group by user_id, hour_of_day
),
hour_stats as (
    select
        user_id,
        hour_of_day,
        n_hour_plays,
        {moments}
    from hour_sums
),
hour_norms as (
    select
        user_id,
        hour_of_day,
        n_hour_plays,
        {norm_valence},
        {norm_energy}
    from hour_stats
),
scored as (
    select
        mood.*,
        hour_norms.* exclude (user_id, hour_of_day),
        (valence - hour_mean_valence) / hour_std_valence as z_valence,
        (energy - hour_mean_energy) / hour_std_energy as z_energy
    from mood
    join hour_norms using (user_id, hour_of_day)
),
driven as (
    select
        *,
        greatest(abs(z_valence), abs(z_energy)) as max_abs_z,
        case
            when coalesce(abs(z_valence), 0) >= coalesce(abs(z_energy), 0) then 'valence'
            else 'energy'
        end as feature
    from scored
),
final as (
    select
        user_id,
        play_id,
        played_at,
        date,
        cast(hour_of_day as integer) as hour_of_day,
        track_key,
        track_name,
        artist_name,
        valence,
        energy,
        hour_mean_valence,
        hour_std_valence,
        hour_mean_energy,
        hour_std_energy,
        cast(n_hour_plays as bigint) as n_hour_plays,
        z_valence,
        z_energy,
        max_abs_z,
        feature,
        case
            when (case feature when 'valence' then z_valence else z_energy end) > 0 then 'higher'
            else 'lower'
        end as direction,
        case {severity_label} end as severity,
        cast(case {severity_rank} end as bigint) as severity_rank
    from driven
    where max_abs_z > {threshold}
)
select * from final
order by user_id, played_at, play_id
"""


def anomalies_sql(plays: str) -> str:
    """The query over a ``plays`` subquery (deduplicated music plays)."""
    return ANOMALIES_SQL.format(
        plays=plays,
        sums=",\n        ".join(_sums(name) for name in ("valence", "energy")),
        moments=",\n        ".join(_moments(name) for name in ("valence", "energy")),
        norm_valence=_norm("valence"),
        norm_energy=_norm("energy"),
        severity_label=" ".join(
            f"when max_abs_z > {t} then '{label}'" for t, label, _ in SEVERITIES
        ),
        severity_rank=" ".join(f"when max_abs_z > {t} then {rank}" for t, _, rank in SEVERITIES),
        threshold=THRESHOLD,
    )
