"""Energy forecasts: the mean energy of the next listened (local date, hour).

A one-step-ahead forecast: each (date, hour) cell in which the user played
music is predicted from its time (cyclic hour, weekday, weekend), from the
cells before it (the previous cell's mean energy and valence, the gap to it,
the day's earlier cells) and from the last play before the hour (its energy
and valence, and whether the hour's listening continues that play's session).
Persistence is the previous cell's mean energy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from .candidates import regressors
from .evaluation import hour_of_week
from .features import _lag, _running_mean, _shift_equal, time_features
from .plays import constant, mood_plays
from .training import Protocol, TaskData, TaskResult, run_task

MODEL = "energy_forecasts"
CELL_PROTOCOL = Protocol(min_train=100, min_test=20)


def hour_cells(plays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One row per local (date, hour) with plays, in time order: mean energy/valence."""
    day = plays["date"].astype("datetime64[D]").astype(np.int64)
    key = day * 24 + plays["hour_of_day"].astype(np.int64)
    keys, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    counts = np.bincount(inverse)
    before = np.maximum(first - 1, 0)
    has_before = first > 0
    cells = {
        "last_energy": np.where(has_before, plays["energy"][before].astype(float), np.nan),
        "last_valence": np.where(has_before, plays["valence"][before].astype(float), np.nan),
        "continuing": has_before & (plays["session_id"][first] == plays["session_id"][before]),
        "date": plays["date"][first],
        "hour_of_day": plays["hour_of_day"][first],
        "day_of_week": plays["day_of_week"][first],
        "played_at": plays["played_at"][first],
        "n_plays": counts,
        "energy": np.bincount(inverse, plays["energy"].astype(float)) / counts,
        "valence": np.bincount(inverse, plays["valence"].astype(float)) / counts,
    }
    order = np.argsort(cells["played_at"], kind="stable")
    return {name: values[order] for name, values in cells.items()}


def cell_features(cells: dict[str, np.ndarray]) -> tuple[np.ndarray, list[str]]:
    columns = time_features(cells["hour_of_day"], cells["day_of_week"])
    energy, valence = cells["energy"], cells["valence"]
    gap = np.diff(cells["played_at"]).astype("timedelta64[m]").astype(float) / 60
    previous = _lag(energy, 1)
    columns["prev_energy"] = previous
    columns["prev_valence"] = _lag(valence, 1)
    columns["prev2_energy"] = _lag(energy, 2)
    gaps = np.concatenate([[1e3], np.maximum(gap, 0)])[: len(energy)]  # none for no cells
    columns["log_gap_hours"] = np.log1p(gaps)
    columns["same_day"] = _shift_equal(cells["date"]).astype(float)
    columns["day_mean_energy"] = _running_mean(energy, cells["date"], previous)
    columns["prev_log_plays"] = np.log1p(_lag(cells["n_plays"].astype(float), 1, fill=0.0))
    columns["last_energy"] = np.nan_to_num(cells["last_energy"], nan=0.5)
    columns["last_valence"] = np.nan_to_num(cells["last_valence"], nan=0.5)
    columns["continuing"] = cells["continuing"].astype(float)
    names = list(columns)
    return np.column_stack([columns[name] for name in names]), names


def forecast_data(user_id: str, cells: dict[str, np.ndarray]) -> TaskData:
    X, names = cell_features(cells)
    return TaskData(
        model=MODEL,
        user_id=user_id,
        kind="regression",
        target="mean energy of the next listened local hour",
        X=X,
        feature_names=names,
        y=cells["energy"],
        times=cells["played_at"],
        how=hour_of_week(cells["day_of_week"], cells["hour_of_day"]),
        previous=_lag(cells["energy"], 1, fill=np.nan),
        blocks=cells["date"],
    )


def fit_energy_forecast(
    user_id: str,
    arrays: dict[str, np.ndarray],
    lake_root: Path,
    protocol: Protocol = CELL_PROTOCOL,
) -> tuple[TaskResult, dict[str, np.ndarray]]:
    return fit_energy_cells(user_id, mood_plays(arrays), lake_root, protocol)


def fit_energy_cells(
    user_id: str,
    mood: dict[str, np.ndarray],
    lake_root: Path,
    protocol: Protocol = CELL_PROTOCOL,
) -> tuple[TaskResult, dict[str, np.ndarray]]:
    """``fit_energy_forecast`` for plays already limited to ``mood_plays``."""
    cells = hour_cells(mood)
    data = forecast_data(user_id, cells)
    return run_task(data, regressors(data.feature_names), lake_root, protocol), cells


SCHEMA = pa.schema(
    [
        ("user_id", pa.string()),
        ("date", pa.date32()),
        ("hour_of_day", pa.int32()),
        ("day_of_week", pa.int32()),
        ("n_plays", pa.int64()),
        ("actual_energy", pa.float64()),
        ("predicted_energy", pa.float64()),
        ("baseline_mean", pa.float64()),
        ("baseline_hour_of_week_mean", pa.float64()),
        ("baseline_persistence", pa.float64()),
        ("model_version", pa.string()),
    ]
)


def forecast_table(results: list[tuple[str, TaskResult, dict]]) -> pa.Table:
    chunks = []
    for user_id, result, cells in results:
        if result.status != "ok":
            continue
        test = result.test
        n = int(test.sum())
        chunks.append(
            pa.table(
                {
                    "user_id": constant(n, user_id),
                    "date": cells["date"][test],
                    "hour_of_day": cells["hour_of_day"][test].astype(np.int32),
                    "day_of_week": cells["day_of_week"][test].astype(np.int32),
                    "n_plays": cells["n_plays"][test].astype(np.int64),
                    "actual_energy": cells["energy"][test],
                    "predicted_energy": result.prediction,
                    **{f"baseline_{k}": v for k, v in result.baselines.items()},
                    "model_version": constant(n, result.version),
                },
                schema=SCHEMA,
            )
        )
    return pa.concat_tables(chunks) if chunks else SCHEMA.empty_table()
