"""Listening anomalies: plays whose valence or energy is far from that hour's norm.

The norm is the user's mean and sample standard deviation of valence and energy
at the same local hour of day (non-skipped plays with features; hours with
fewer than ``MIN_HOUR_PLAYS`` plays or no spread are not judged, and their
norm and z-score are null). A play is an anomaly when
max(|z_valence|, |z_energy|) > 2. Severity, ordered numerically by
``severity_rank``: High (3) when |z| > 3, Medium (2) when 2.5 < |z| <= 3,
Low (1) when 2 < |z| <= 2.5.

Computed per user in NumPy (``user_anomalies``) from the deduplicated plays the
next-play models read (``runs.run_context_models``), so the plays are read once
for both; ``ANOMALIES_SQL`` states the same rule in SQL (the tests compare the
two). Each user's rows depend only on that user's plays.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from .plays import arrow_column, constant

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


def user_anomalies(user_id: str, mood: dict[str, np.ndarray]) -> dict | None:
    """The anomaly rows of one user's mood plays (non-skipped, valence and energy
    known, in time order), as columns; None when there are none. Hour means and
    sample deviations are two-pass sums in double precision."""
    hour = mood["hour_of_day"].astype(np.int64)
    n = np.bincount(hour, minlength=24)
    norms, z = {}, {}
    for feature in ("valence", "energy"):
        x = mood[feature].astype(float)
        mean = np.bincount(hour, weights=x, minlength=24) / np.maximum(n, 1)
        deviation = x - mean[hour]
        squares = np.bincount(hour, weights=deviation * deviation, minlength=24)
        std = np.sqrt(squares / np.maximum(n - 1, 1))
        judged = (n >= MIN_HOUR_PLAYS) & (n > 1) & (std > MIN_SPREAD)
        norms[feature] = (np.where(judged, mean, np.nan), np.where(judged, std, np.nan))
        with np.errstate(invalid="ignore", divide="ignore"):
            z[feature] = (x - norms[feature][0][hour]) / norms[feature][1][hour]
    size = np.fmax(np.abs(z["valence"]), np.abs(z["energy"]))  # fmax skips a missing z
    rows = np.flatnonzero(size > THRESHOLD)
    if rows.size == 0:
        return None
    size = size[rows]
    zv, ze = z["valence"][rows], z["energy"][rows]
    by_valence = np.nan_to_num(np.abs(zv)) >= np.nan_to_num(np.abs(ze))
    rank = np.select([size > t for t, _, _ in SEVERITIES], [r for _, _, r in SEVERITIES], 0)
    labels = np.array(["", *[label for _, label, _ in reversed(SEVERITIES)]], dtype=object)
    at = hour[rows]
    return {
        "user_id": constant(rows.size, user_id),
        "play_id": arrow_column(mood["play_id"][rows]),
        "played_at": mood["played_at"][rows],
        "date": mood["date"][rows],
        "hour_of_day": at.astype(np.int32),
        "track_key": arrow_column(mood["track_key"][rows]),
        "track_name": arrow_column(mood["track_name"][rows]),
        "artist_name": arrow_column(mood["artist_name"][rows]),
        "valence": mood["valence"][rows].astype(float),
        "energy": mood["energy"][rows].astype(float),
        "hour_mean_valence": _nullable(norms["valence"][0][at]),
        "hour_std_valence": _nullable(norms["valence"][1][at]),
        "hour_mean_energy": _nullable(norms["energy"][0][at]),
        "hour_std_energy": _nullable(norms["energy"][1][at]),
        "n_hour_plays": n[at].astype(np.int64),
        "z_valence": _nullable(zv),
        "z_energy": _nullable(ze),
        "max_abs_z": size,
        "feature": np.where(by_valence, "valence", "energy").astype(object),
        "direction": np.where(np.where(by_valence, zv, ze) > 0, "higher", "lower").astype(object),
        "severity": labels[rank],
        "severity_rank": rank.astype(np.int64),
    }


def _nullable(values: np.ndarray) -> pa.Array:
    return pa.array(values, type=pa.float64(), mask=np.isnan(values))
