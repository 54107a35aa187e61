"""Weekend against weekday listening, per user and audio feature, with Welch's t-test.

The group statistics come from SQL (music plays that were not skipped and
have features; synthetic features only with ``allow_synthetic``); the test
needs Student's t distribution, so it runs here, in NumPy (importing SciPy's
would cost a run about 0.2 CPU-s).
"""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..runner import StepContext
from ..schemas import CONTINUOUS_FEATURES

OUTPUT = "gold/diagnostic/weekend_vs_weekday"
INPUTS = ("listening_with_features", "run_params")
FEATURES = CONTINUOUS_FEATURES
ALPHA = 0.05

_VALUES = ", ".join(f"('{name}')" for name in FEATURES)
_COLUMNS = ",\n        ".join(f"l.{name}" for name in FEATURES)
_STATS = {
    "n": "cast(count(f.{feature}) as bigint)",
    "mean": "avg(f.{feature})",
    "std": "stddev_samp(f.{feature})",
}
_AGGREGATES = ",\n        ".join(
    template.format(feature=feature) + f" as {feature}_{stat}"
    for feature in FEATURES
    for stat, template in _STATS.items()
)
_GROUPS = {"weekend": "g.is_weekend", "weekday": "not g.is_weekend"}
# a group without plays has n = 0 and NULL mean and std
_PIVOTS = ",\n        ".join(
    (
        "coalesce(max(case when {cond} then g.{f}_{stat} end), 0)"
        if stat == "n"
        else "max(case when {cond} then g.{f}_{stat} end)"
    ).format(cond=cond, f=feature, stat=stat)
    + f" as {feature}_{group}_{stat}"
    for feature in FEATURES
    for group, cond in _GROUPS.items()
    for stat in _STATS
)
_PICKS = ",\n        ".join(
    "case x.feature "
    + " ".join(f"when '{feature}' then w.{feature}_{group}_{stat}" for feature in FEATURES)
    + f" end as {group}_{stat}"
    for group in _GROUPS
    for stat in _STATS
)

# one pass over the plays (aggregates per user and weekend flag), then the two
# groups side by side per user, then one row per feature
GROUP_STATS_SQL = f"""
with listening as (
    select * from listening_with_features
),

params as (
    select * from run_params
),

feature_plays as (
    select
        l.user_id,
        l.is_weekend,
        {_COLUMNS}
    from listening as l
    cross join params as p
    where coalesce(l.is_music, false)
        and not coalesce(l.is_skip, false)
        and l.user_id is not null
        and l.is_weekend is not null
        and l.valence is not null
        and (coalesce(l.feature_source, '') <> 'synthetic' or p.allow_synthetic)
),

grouped as (
    select
        f.user_id,
        f.is_weekend,
        {_AGGREGATES}
    from feature_plays as f
    group by f.user_id, f.is_weekend
),

wide as (
    select
        g.user_id,
        {_PIVOTS}
    from grouped as g
    group by g.user_id
),

features as (
    select * from (values {_VALUES}) as features (feature)
),

final as (
    select
        w.user_id,
        x.feature,
        {_PICKS}
    from wide as w
    cross join features as x
)

select * from final order by user_id, feature
"""

SCHEMA = pa.schema(
    [
        ("user_id", pa.string()),
        ("feature", pa.string()),
        ("n_feature_plays", pa.int64()),
        ("weekend_n", pa.int64()),
        ("weekend_mean", pa.float64()),
        ("weekend_std", pa.float64()),
        ("weekday_n", pa.int64()),
        ("weekday_mean", pa.float64()),
        ("weekday_std", pa.float64()),
        ("difference", pa.float64()),
        ("t_statistic", pa.float64()),
        ("welch_df", pa.float64()),
        ("p_value", pa.float64()),
        ("significant", pa.bool_()),
    ]
)


def weekend_vs_weekday(ctx: StepContext) -> dict[str, pa.Table]:
    """One row per user and feature: both groups' n, mean, std, their difference
    (weekend - weekday), Welch's t, its degrees of freedom and two-sided p-value."""
    groups = ctx.sql(GROUP_STATS_SQL, INPUTS)
    return {OUTPUT: welch_table(groups)}


def welch_table(groups: pa.Table) -> pa.Table:
    """Add the Welch test to per-group statistics. The test is NULL (and
    ``significant`` false) unless both groups have >= 2 plays and some spread."""
    weekend, weekday = _group(groups, "weekend"), _group(groups, "weekday")
    t, df, p = welch(*weekend, *weekday)
    return pa.table(
        {
            "user_id": groups.column("user_id"),
            "feature": groups.column("feature"),
            "n_feature_plays": pc.add(groups.column("weekend_n"), groups.column("weekday_n")),
            **{name: groups.column(name) for name in SCHEMA.names[3:9]},
            "difference": _nullable(weekend[1] - weekday[1]),
            "t_statistic": _nullable(t),
            "welch_df": _nullable(df),
            "p_value": _nullable(p),
            "significant": pa.array(np.nan_to_num(p, nan=1.0) < ALPHA),
        },
        schema=SCHEMA,
    )


def welch(
    n1: np.ndarray, m1: np.ndarray, s1: np.ndarray, n2: np.ndarray, m2: np.ndarray, s2: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Welch's t, Welch-Satterthwaite degrees of freedom and two-sided p-value,
    element-wise; NaN where a group has < 2 values or neither has spread."""
    t, df, p = (np.full(len(n1), np.nan) for _ in range(3))
    with np.errstate(divide="ignore", invalid="ignore"):
        v1, v2 = s1**2 / n1, s2**2 / n2
    ok = (n1 >= 2) & (n2 >= 2) & np.isfinite(v1 + v2) & (v1 + v2 > 1e-18)
    if ok.any():
        v1, v2 = v1[ok], v2[ok]
        t[ok] = (m1[ok] - m2[ok]) / np.sqrt(v1 + v2)
        df[ok] = (v1 + v2) ** 2 / (v1**2 / (n1[ok] - 1) + v2**2 / (n2[ok] - 1))
        p[ok] = two_sided_p(t[ok], df[ok])
    return t, df, p


def two_sided_p(t: np.ndarray, df: np.ndarray) -> np.ndarray:
    """P(|T| >= |t|) for Student's t with ``df`` degrees of freedom, element-wise:
    the regularized incomplete beta function I_x(df / 2, 1 / 2) at
    x = df / (df + t^2)."""
    t, df = np.atleast_1d(np.asarray(t, dtype=float)), np.atleast_1d(np.asarray(df, dtype=float))
    x, rest = df / (df + t * t), t * t / (df + t * t)  # rest = 1 - x, without rounding
    a, b = df / 2.0, 0.5
    log_beta = np.array([math.lgamma(v) - math.lgamma(v + b) for v in a]) + math.lgamma(b)
    with np.errstate(divide="ignore"):
        front = np.exp(a * np.log(x) + b * np.log(rest) - log_beta)
    # the fraction converges fast on the near side of the beta distribution's mean
    low = x < (a + 1.0) / (a + b + 2.0)
    p = np.empty_like(x)
    p[low] = front[low] * _beta_fraction(a[low], b, x[low]) / a[low]
    high = ~low
    p[high] = 1.0 - front[high] * _beta_fraction(b, a[high], rest[high]) / b
    return np.clip(p, 0.0, 1.0)


def _beta_fraction(a, b, x: np.ndarray) -> np.ndarray:
    """The continued fraction of the incomplete beta function, element-wise to
    double precision (the modified Lentz method)."""
    tiny = 1e-300
    c = np.ones_like(x)
    d = 1.0 / _away_from_zero(1.0 - (a + b) * x / (a + 1.0), tiny)
    fraction = d.copy()
    settled = np.zeros(np.shape(x), dtype=bool)  # once settled, the factors stay about 1
    for m in range(1, 100_000):
        for term in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 / _away_from_zero(1.0 + term * d, tiny)
            c = _away_from_zero(1.0 + term / c, tiny)
            fraction *= d * c
        settled |= np.abs(d * c - 1.0) < 1e-15
        if settled.all():
            break
    return fraction


def _away_from_zero(values: np.ndarray, tiny: float) -> np.ndarray:
    return np.where(np.abs(values) < tiny, tiny, values)


def _group(groups: pa.Table, prefix: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return tuple(_floats(groups, f"{prefix}_{stat}") for stat in ("n", "mean", "std"))


def _floats(table: pa.Table, name: str) -> np.ndarray:
    return table.column(name).cast(pa.float64()).to_numpy(zero_copy_only=False)


def _nullable(values: np.ndarray) -> pa.Array:
    return pa.array(values, pa.float64(), mask=~np.isfinite(values))
