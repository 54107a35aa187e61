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
"""

from __future__ import annotations

import numpy as np

MIN_PLAYS = 30
RULES = (
    ("skipper", "skip_rate", 0.30),
    ("night_owl", "night_share", 0.30),
    ("morning_person", "morning_share", 0.35),
    ("explorer", "new_track_share", 0.50),
    ("repeater", "top10_share", 0.40),
    ("weekend_listener", "weekend_share", 0.45),
)


def period_metrics(hour, skip, weekend, first_play, track, session) -> dict[str, float]:
    listened = ~skip
    n_listened = max(int(listened.sum()), 1)
    _, counts = np.unique(track[listened].astype(str), return_counts=True)
    top10 = np.sort(counts)[::-1][:10].sum()
    _, session_sizes = np.unique(session.astype(str), return_counts=True)
    return {
        "n_plays": int(hour.size),
        "skip_rate": float(skip.mean()),
        "night_share": float(((hour >= 23) | (hour <= 5)).mean()),
        "morning_share": float(((hour >= 6) & (hour <= 11)).mean()),
        "weekend_share": float(weekend.mean()),
        "new_track_share": float((first_play & listened).sum() / n_listened),
        "top10_share": float(top10 / n_listened),
        "distinct_tracks": int(counts.size),
        "mean_session_plays": float(session_sizes.mean()),
    }


def archetype(metrics: dict[str, float]) -> tuple[str, list[str]]:
    if metrics["n_plays"] < MIN_PLAYS:
        return "insufficient_data", []
    traits = [name for name, column, threshold in RULES if metrics[column] >= threshold]
    return (traits[0] if traits else "balanced"), traits


def user_segments(arrays: dict[str, np.ndarray]) -> list[dict]:
    """Rows for period 'all' and for each local month of one user."""
    hour = arrays["hour_of_day"].astype(int)
    skip = np.array([bool(v) for v in arrays["is_skip"]], dtype=bool)
    weekend = np.array([bool(v) for v in arrays["is_weekend"]], dtype=bool)
    track = arrays["track_key"].astype(str)
    _, first_index = np.unique(track, return_index=True)
    first_play = np.zeros(track.size, dtype=bool)
    first_play[first_index] = True  # rows are in time order
    month = arrays["date"].astype("datetime64[M]").astype(str)
    periods = [("all", "all", np.ones(track.size, dtype=bool))]
    periods += [("month", m, month == m) for m in np.unique(month)]
    rows = []
    for period_type, period, mask in periods:
        metrics = period_metrics(
            hour[mask],
            skip[mask],
            weekend[mask],
            first_play[mask],
            track[mask],
            arrays["session_id"][mask],
        )
        name, traits = archetype(metrics)
        rows.append(
            {
                "period_type": period_type,
                "period": period,
                **metrics,
                "archetype": name,
                "traits": traits,
                "period_start": arrays["date"][mask].min().item(),
                "period_end": arrays["date"][mask].max().item(),
            }
        )
    return rows
