"""Context features for "what comes next" models: only what is known before a play.

A play's row describes the moment it starts: its local time (cyclic hour with a
second harmonic, cyclic weekday, weekend and its interaction with the hour), its
position in the session, and the plays before it (the previous two plays'
valence/energy/quadrant, the gap since the previous play, whether it was in the
same session, running means over the earlier plays of the session and of the
day). Nothing from the play itself or later plays enters its row.
"""

from __future__ import annotations

import numpy as np

from .quadrants import QUADRANTS, quadrant_codes

TAU = 2 * np.pi


def time_features(hour: np.ndarray, day_of_week: np.ndarray) -> dict[str, np.ndarray]:
    hour = np.asarray(hour, dtype=float)
    dow = np.asarray(day_of_week, dtype=float)
    weekend = (dow >= 6).astype(float)
    columns = {
        "hour_sin": np.sin(TAU * hour / 24),
        "hour_cos": np.cos(TAU * hour / 24),
        "hour_sin2": np.sin(2 * TAU * hour / 24),
        "hour_cos2": np.cos(2 * TAU * hour / 24),
        "weekday_sin": np.sin(TAU * (dow - 1) / 7),
        "weekday_cos": np.cos(TAU * (dow - 1) / 7),
        "is_weekend": weekend,
    }
    columns["weekend_hour_sin"] = weekend * columns["hour_sin"]
    columns["weekend_hour_cos"] = weekend * columns["hour_cos"]
    columns["hour"] = hour
    columns["day_of_week"] = dow
    return columns


def context_features(plays: dict[str, np.ndarray]) -> tuple[np.ndarray, list[str]]:
    """The feature matrix for a user's mood plays (sorted by time) and its column names."""
    valence = plays["valence"].astype(float)
    energy = plays["energy"].astype(float)
    columns = time_features(plays["hour_of_day"], plays["day_of_week"])
    same_session = _shift_equal(plays["session_id"])
    gap = np.diff(plays["played_at"]).astype("timedelta64[s]").astype(float) / 60
    columns["session_position"] = np.log1p(plays["session_play_no"].astype(float))
    columns["same_session"] = same_session.astype(float)
    gaps = np.concatenate([[1e4], np.maximum(gap, 0)])[: len(valence)]  # none for no plays
    columns["log_gap_minutes"] = np.log1p(gaps)
    for name, values in (("valence", valence), ("energy", energy)):
        previous = _lag(values, 1)
        columns[f"prev_{name}"] = previous
        columns[f"prev2_{name}"] = _lag(values, 2)
        columns[f"prev_{name}_in_session"] = previous * same_session
        columns[f"session_mean_{name}"] = _running_mean(values, plays["session_id"], previous)
        columns[f"day_mean_{name}"] = _running_mean(values, plays["date"], previous)
    previous_quadrant = _lag(quadrant_codes(valence, energy).astype(float), 1, fill=-1.0)
    for code, label in enumerate(QUADRANTS):
        columns[f"prev_is_{label}"] = (previous_quadrant == code).astype(float)
    names = list(columns)
    return np.column_stack([columns[name] for name in names]), names


def previous_values(values: np.ndarray) -> np.ndarray:
    """The previous play's value (NaN for the first play): the persistence baseline."""
    return _lag(np.asarray(values, dtype=float), 1, fill=np.nan)


def previous_labels(labels: np.ndarray) -> np.ndarray:
    shifted = np.empty(labels.size, dtype=object)
    shifted[0:1] = None
    shifted[1:] = labels[:-1]
    return shifted


def _lag(values: np.ndarray, k: int, fill: float = 0.5) -> np.ndarray:
    out = np.full(values.size, fill)
    if values.size > k:
        out[k:] = values[:-k]
    return out


def _shift_equal(keys: np.ndarray) -> np.ndarray:
    same = np.zeros(keys.size, dtype=bool)
    if keys.size > 1:
        same[1:] = keys[1:] == keys[:-1]
    return same


def _running_mean(values: np.ndarray, groups: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """Mean of the earlier rows of the same (contiguous) group; ``fallback`` at a group's start."""
    start = np.maximum.accumulate(np.where(~_shift_equal(groups), np.arange(values.size), 0))
    before = np.cumsum(values) - values
    count = np.arange(values.size) - start
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, (before - before[start]) / np.maximum(count, 1), fallback)
