"""Listening anomalies: plays whose valence or energy is far from that hour's norm.

The norm is the user's mean and sample standard deviation of valence and energy
at the same local hour of day (non-skipped plays with features; hours with
fewer than ``MIN_HOUR_PLAYS`` plays or no spread are not judged). A play is an
anomaly when max(|z_valence|, |z_energy|) > 2. Severity, ordered numerically by
``severity_rank``: High (3) when |z| > 3, Medium (2) when 2.5 < |z| <= 3,
Low (1) when 2 < |z| <= 2.5.
"""

from __future__ import annotations

import numpy as np

from .plays import mood_plays

MIN_HOUR_PLAYS = 10
THRESHOLD = 2.0
SEVERITIES = ((3.0, "High", 3), (2.5, "Medium", 2), (THRESHOLD, "Low", 1))


def hour_norms(values: np.ndarray, hour: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per hour 0..23: count, mean and sample std (NaN where not judged)."""
    count = np.bincount(hour, minlength=24).astype(float)
    total = np.bincount(hour, values, minlength=24)
    squares = np.bincount(hour, values**2, minlength=24)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
        var = (squares - count * mean**2) / (count - 1)
    std = np.sqrt(np.maximum(var, 0))
    judged = (count >= MIN_HOUR_PLAYS) & (std > 1e-9)
    return count, np.where(judged, mean, np.nan), np.where(judged, std, np.nan)


def find_anomalies(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The anomalous plays of one user, with their z-scores and severity."""
    plays = mood_plays(arrays)
    hour = plays["hour_of_day"].astype(int)
    out: dict[str, np.ndarray] = {}
    z = {}
    for name in ("valence", "energy"):
        values = plays[name].astype(float)
        count, mean, std = hour_norms(values, hour)
        out[f"hour_mean_{name}"], out[f"hour_std_{name}"] = mean[hour], std[hour]
        z[name] = (values - mean[hour]) / std[hour]
        out["n_hour_plays"] = count[hour].astype(np.int64)
    worst = np.fmax(np.abs(z["valence"]), np.abs(z["energy"]))
    keep = np.nan_to_num(worst, nan=0.0) > THRESHOLD
    driver = np.where(
        np.nan_to_num(np.abs(z["valence"])) >= np.nan_to_num(np.abs(z["energy"])),
        "valence",
        "energy",
    )
    driver_z = np.where(driver == "valence", z["valence"], z["energy"])
    out.update(
        z_valence=z["valence"],
        z_energy=z["energy"],
        max_abs_z=worst,
        feature=driver.astype(object),
        direction=np.where(driver_z > 0, "higher", "lower").astype(object),
    )
    out["severity"] = np.select(
        [worst > t for t, _, _ in SEVERITIES], [label for _, label, _ in SEVERITIES], ""
    ).astype(object)
    out["severity_rank"] = np.select(
        [worst > t for t, _, _ in SEVERITIES], [rank for _, _, rank in SEVERITIES], 0
    ).astype(np.int64)
    for name in (
        "play_id",
        "played_at",
        "date",
        "hour_of_day",
        "track_key",
        "track_name",
        "artist_name",
        "valence",
        "energy",
    ):
        out[name] = plays[name]
    return {name: values[keep] for name, values in out.items()}
