"""Train, evaluate and save one model for one user, the same way for every task."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import artifacts
from .estimators import clone
from .evaluation import (
    CLASSIFICATION_METRICS,
    REGRESSION_METRICS,
    Candidate,
    Split,
    classification_baselines,
    regression_baselines,
    score,
    temporal_split,
    tune,
)


@dataclass(frozen=True)
class Protocol:
    """Split and size rules; the defaults are the documented protocol."""

    test_fraction: float = 0.2
    max_train: int = 5_000  # most recent training rows per user
    classifier_max_train: int = 3_000  # the same for the classifier (10x the cost per row)
    min_train: int = 200
    min_test: int = 50
    cv_splits: int = 3  # regressions: TimeSeriesSplit folds over the training rows
    classifier_cv_splits: int = 1  # 1: one time-ordered holdout (a logistic fit is costly)
    validation_fraction: float = 0.2  # the holdout: the last rows of training

    def splits(self, kind: str) -> int:
        return self.cv_splits if kind == "regression" else self.classifier_cv_splits

    def train_cap(self, kind: str) -> int:
        return self.max_train if kind == "regression" else self.classifier_max_train


@dataclass
class TaskData:
    """One user's rows for one model, in time order."""

    model: str
    user_id: str
    kind: str  # regression | classification
    target: str
    X: np.ndarray
    feature_names: list[str]
    y: np.ndarray
    times: np.ndarray  # datetime64[us], UTC: the split runs on these
    how: np.ndarray  # hour of week 0..167 (baselines)
    previous: np.ndarray  # persistence: the previous row's value or class
    blocks: np.ndarray  # bootstrap blocks (local dates)


@dataclass
class TaskResult:
    status: str
    test: np.ndarray
    prediction: np.ndarray | None = None
    probability: np.ndarray | None = None
    baselines: dict[str, np.ndarray] = field(default_factory=dict)
    version: str | None = None
    metric_rows: list[dict] = field(default_factory=list)
    candidate: str | None = None


def predict(estimator: object, X: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Predictions as stored in the tables: unit-interval targets are clipped to [0, 1];
    classifiers also give the probability of the predicted class."""
    if kind == "regression":
        return np.clip(estimator.predict(X), 0.0, 1.0), None
    probabilities = estimator.predict_proba(X)
    labels = estimator.classes_[np.argmax(probabilities, axis=1)]
    return labels.astype(object), probabilities.max(axis=1)


def run_task(
    data: TaskData,
    candidates: list[Candidate],
    lake_root: Path,
    protocol: Protocol,
    split: Split | None = None,
) -> TaskResult:
    """Split in time, tune, fit, score against baselines, save; or report too little data.
    ``split`` is the split already made (over rows trimmed of plays it does not use).

    Everything depends on this user's rows only (no state shared between users),
    so a user's model is the same whichever users are built with it."""
    split = split or temporal_split(
        data.times, test_fraction=protocol.test_fraction, max_train=protocol.train_cap(data.kind)
    )
    if split.n_train < protocol.min_train or split.n_test < protocol.min_test:
        note = (
            f"insufficient data: {split.n_train} training and {split.n_test} test rows;"
            f" needs >= {protocol.min_train} and >= {protocol.min_test}"
        )
        return TaskResult(
            "insufficient_data", split.test, metric_rows=_status_rows(data, split, note)
        )
    metrics = REGRESSION_METRICS if data.kind == "regression" else CLASSIFICATION_METRICS
    X_train, y_train = data.X[split.train], data.y[split.train]
    best, cv_scores, fitted = tune(
        candidates,
        X_train,
        y_train,
        metrics[0],
        n_splits=protocol.splits(data.kind),
        validation_fraction=protocol.validation_fraction,
    )
    estimator = clone(best.estimator)
    if hasattr(estimator, "warm_start_from"):
        estimator.warm_start_from(fitted[best.name])
    estimator.fit(X_train, y_train)
    prediction, probability = predict(estimator, data.X[split.test], data.kind)
    make_baselines = regression_baselines if data.kind == "regression" else classification_baselines
    baselines = make_baselines(
        y_train, data.how[split.train], data.how[split.test], data.previous[split.test]
    )
    scored = score(metrics, data.y[split.test], prediction, baselines, data.blocks[split.test])
    params = {"candidate": best.name, **best.params}
    data_fingerprint = artifacts.fingerprint(X_train, y_train, data.times[split.train])
    version = artifacts.model_version(data_fingerprint, params)
    rows = [_metric_row(data, split, row, params, version, estimator) for row in scored]
    card = _card(data, split, params, version, estimator, cv_scores, rows, protocol)
    card["data_fingerprint"] = data_fingerprint
    artifacts.save_model(lake_root, card, estimator)
    return TaskResult(
        "ok", split.test, prediction, probability, baselines, version, rows, best.name
    )


def _validation(protocol: Protocol, kind: str) -> str:
    if protocol.splits(kind) > 1:
        return f"TimeSeriesSplit(n_splits={protocol.splits(kind)}) over the training rows"
    return (
        f"fitted on the first {1 - protocol.validation_fraction:.0%} of the training rows,"
        f" validated on the last {protocol.validation_fraction:.0%}"
    )


def _range(times: np.ndarray) -> tuple[str | None, str | None]:
    if times.size == 0:
        return None, None
    return (
        np.datetime_as_string(times.min(), unit="s") + "Z",
        np.datetime_as_string(times.max(), unit="s") + "Z",
    )


def _common(data: TaskData, split) -> dict:
    train_from, train_to = _range(data.times[split.train])
    test_from, test_to = _range(data.times[split.test])
    return {
        "user_id": data.user_id,
        "model": data.model,
        "n_train": split.n_train,
        "n_test": split.n_test,
        "split": split.description,
        "train_from": train_from,
        "train_to": train_to,
        "test_from": test_from,
        "test_to": test_to,
    }


def _metric_row(data, split, scored: dict, params: dict, version: str, estimator) -> dict:
    return {
        **_common(data, split),
        **scored,
        "status": "ok",
        "baselines": json.dumps(scored["baselines"], sort_keys=True),
        "params": json.dumps(params, sort_keys=True),
        "estimator": describe(estimator),
        "model_version": version,
        "note": f"target {data.target}; {len(data.feature_names)} features",
    }


def _status_rows(data: TaskData, split, note: str) -> list[dict]:
    metrics = REGRESSION_METRICS if data.kind == "regression" else CLASSIFICATION_METRICS
    return [
        {
            **_common(data, split),
            "metric": m.name,
            "status": "insufficient_data",
            "higher_is_better": m.higher_is_better,
            "note": note,
        }
        for m in metrics
    ]


def describe(estimator: object) -> str:
    """The fitted model's name, e.g. ``HourOfWeekOffset(Ridge)``."""
    steps = getattr(estimator, "steps", None)
    final = steps[-1][1] if steps else estimator
    inner = getattr(final, "model_", None)
    name = type(final).__name__
    return f"{name}({describe(inner)})" if inner is not None else name


def _card(data, split, params, version, estimator, cv_scores, rows, protocol) -> dict:
    return {
        **_common(data, split),
        "version": version,
        "status": "ok",
        "kind": data.kind,
        "target": data.target,
        "features": data.feature_names,
        "params": params,
        "estimator": describe(estimator),
        "cv_scores": cv_scores,
        "cv": _validation(protocol, data.kind),
        "cutoff": np.datetime_as_string(split.cutoff, unit="us") + "Z",
        "metrics": rows,
        "protocol": protocol.__dict__,
    }
