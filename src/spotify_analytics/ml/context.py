"""Next-play models from context: valence (regression) and mood quadrant (classes)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from .candidates import classifiers, regressors
from .evaluation import Split, hour_of_week, temporal_split
from .features import context_features, previous_labels, previous_values
from .plays import arrow_column, constant, mood_plays
from .quadrants import quadrant_array
from .training import Protocol, TaskData, TaskResult, run_task

TASKS = {
    "mood_predictions": ("regression", "valence of the next play"),
    "mood_classifications": ("classification", "mood quadrant of the next play"),
}


def context_data(
    model: str,
    user_id: str,
    plays: dict[str, np.ndarray],
    features: dict[int, tuple[np.ndarray, list[str]]] | None = None,
) -> TaskData:
    """A user's non-skipped plays with features, as rows for ``model``. The
    valence and quadrant models use the same rows (``needed_plays``), so their
    features are computed once when both pass the same ``features`` dict."""
    kind, target = TASKS[model]
    features = {} if features is None else features
    n = plays["played_at"].size
    if n not in features:  # the rows are a suffix of the user's plays: n names them
        features[n] = context_features(plays)
    X, names = features[n]
    valence = plays["valence"].astype(float)
    energy = plays["energy"].astype(float)
    if kind == "regression":
        y, previous = valence, previous_values(valence)
    else:
        y = quadrant_array(valence, energy)
        previous = previous_labels(y)
    return TaskData(
        model=model,
        user_id=user_id,
        kind=kind,
        target=target,
        X=X,
        feature_names=names,
        y=y,
        times=plays["played_at"],
        how=hour_of_week(plays["day_of_week"], plays["hour_of_day"]),
        previous=previous,
        blocks=plays["date"],
    )


def fit_context_model(
    model: str,
    user_id: str,
    arrays: dict[str, np.ndarray],
    lake_root: Path,
    protocol: Protocol,
) -> tuple[TaskResult, dict[str, np.ndarray]]:
    return fit_mood_model(model, user_id, mood_plays(arrays), lake_root, protocol)


def fit_mood_model(
    model: str,
    user_id: str,
    mood: dict[str, np.ndarray],
    lake_root: Path,
    protocol: Protocol,
    features: dict | None = None,
) -> tuple[TaskResult, dict[str, np.ndarray]]:
    """``fit_context_model`` for plays already limited to ``mood_plays``;
    ``features`` as in ``context_data``."""
    plays, split = needed_plays(model, mood, protocol)
    data = context_data(model, user_id, plays, features)
    if data.kind == "regression":
        candidates = regressors(data.feature_names)
    else:
        candidates = classifiers(data.feature_names)
    return run_task(data, candidates, lake_root, protocol, split), plays


def needed_plays(
    model: str, plays: dict[str, np.ndarray], protocol: Protocol
) -> tuple[dict[str, np.ndarray], Split]:
    """The split of a user's plays, and the plays from ``first_needed_row`` on:
    older ones would only be dropped by the split (the training cap). The rows
    start where the widest training window of the two play models needs them,
    so both models get the same rows and features."""
    times = plays["played_at"]
    cap = protocol.train_cap(TASKS[model][0])
    split = temporal_split(times, test_fraction=protocol.test_fraction, max_train=cap)
    widest = max(protocol.max_train, protocol.classifier_max_train)
    window = split
    if widest != cap:
        window = temporal_split(times, test_fraction=protocol.test_fraction, max_train=widest)
    start = first_needed_row(plays, window)
    return {name: values[start:] for name, values in plays.items()}, split.tail(start)


def first_needed_row(plays: dict[str, np.ndarray], split: Split) -> int:
    """The first row whose features the split's rows need: two plays before the
    start of the first training row's session and of its local date (lags reach
    two plays back, running means to the start of the session and the day), so
    features computed from there are those computed from the first play (up to
    rounding in the running sums; reproduce.py trims the same way)."""
    rows = np.flatnonzero(split.train | split.test)
    if rows.size == 0:
        return 0
    first = int(rows[0])
    start = first
    for key in (plays["session_id"], plays["date"]):
        before = np.flatnonzero(key[:first] != key[first])
        start = min(start, int(before[-1]) + 1 if before.size else 0)
    return max(0, start - 2)


def prediction_table(model: str, results: list[tuple[str, TaskResult, dict]]) -> pa.Table:
    """Test-window rows of every user with a model: actual, predicted and each baseline."""
    chunks = [
        _user_rows(model, user_id, result, plays)
        for user_id, result, plays in results
        if result.status == "ok"
    ]
    schema = _schema(model)
    if not chunks:
        return schema.empty_table()
    return pa.concat_tables([pa.table(chunk, schema=schema) for chunk in chunks])


def _user_rows(model: str, user_id: str, result: TaskResult, plays: dict) -> dict:
    test = result.test
    n = int(test.sum())
    rows = {
        "user_id": constant(n, user_id),
        "play_id": arrow_column(plays["play_id"][test]),
        "played_at": plays["played_at"][test],
        "date": plays["date"][test],
        "hour_of_day": plays["hour_of_day"][test].astype(np.int32),
        "day_of_week": plays["day_of_week"][test].astype(np.int32),
        "session_play_no": plays["session_play_no"][test].astype(np.int32),
        "track_key": arrow_column(plays["track_key"][test]),
    }
    if model == "mood_predictions":
        rows["actual_valence"] = plays["valence"][test].astype(float)
        rows["predicted_valence"] = result.prediction
        for name, values in result.baselines.items():
            rows[f"baseline_{name}"] = values.astype(float)
    else:
        rows["actual_quadrant"] = quadrant_array(plays["valence"][test], plays["energy"][test])
        rows["predicted_quadrant"] = result.prediction
        rows["probability"] = result.probability
        for name, values in result.baselines.items():
            rows[f"baseline_{name}"] = values
    rows["model_version"] = constant(n, result.version)
    return rows


def _schema(model: str) -> pa.Schema:
    common = [
        ("user_id", pa.string()),
        ("play_id", pa.string()),
        ("played_at", pa.timestamp("us", tz="UTC")),
        ("date", pa.date32()),
        ("hour_of_day", pa.int32()),
        ("day_of_week", pa.int32()),
        ("session_play_no", pa.int32()),
        ("track_key", pa.string()),
    ]
    if model == "mood_predictions":
        specific = [
            ("actual_valence", pa.float64()),
            ("predicted_valence", pa.float64()),
            ("baseline_mean", pa.float64()),
            ("baseline_hour_of_week_mean", pa.float64()),
            ("baseline_persistence", pa.float64()),
        ]
    else:
        specific = [
            ("actual_quadrant", pa.string()),
            ("predicted_quadrant", pa.string()),
            ("probability", pa.float64()),
            ("baseline_majority", pa.string()),
            ("baseline_hour_of_week_mode", pa.string()),
            ("baseline_persistence", pa.string()),
        ]
    return pa.schema(common + specific + [("model_version", pa.string())])
