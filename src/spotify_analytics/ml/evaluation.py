"""The evaluation protocol every model shares.

- **Data**: deduplicated plays (one row per ``play_id``, and per user, track and
  ``played_at``), music only, features present; skips excluded unless the task
  is about skips.
- **Split**: per user and in time. The cutoff is the ``played_at`` below which
  ``1 - test_fraction`` of the user's rows fall; train is strictly before it,
  test at or after it. No event is split at random, so no play (or duplicate of
  one) can sit on both sides. Training keeps at most ``max_train`` of the most
  recent rows so per-user cost stays bounded.
- **Tuning**: per user, a tiny grid, scored by validation that respects time
  (``TimeSeriesSplit`` over the training rows, or one holdout: the last rows of
  training) or groups (``GroupKFold`` for catalog models), then refitted on all
  training rows.
- **Baselines** from the *training* rows only, scored on the same test rows:
  mean (or majority class), hour-of-week mean (or mode) with hour and global
  fallbacks, persistence (the previous play's value or class).
- **Lift** = model minus the best baseline for that metric (sign flipped for
  errors, so positive is always better), with a 90% block-bootstrap interval
  that resamples test *days*; a model "beats" its baselines only when the
  interval's lower end is above zero.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from .estimators import clone, time_series_folds

BOOTSTRAP_REPLICATES = 200
HOURS_OF_WEEK = 7 * 24


@dataclass(frozen=True)
class Split:
    """A per-user temporal split: boolean masks over the user's rows."""

    train: np.ndarray
    test: np.ndarray
    cutoff: np.datetime64 | None
    description: str

    @property
    def n_train(self) -> int:
        return int(self.train.sum())

    @property
    def n_test(self) -> int:
        return int(self.test.sum())

    def tail(self, start: int) -> Split:
        """The same split over the rows from ``start`` on (none of the earlier rows
        may be in it)."""
        assert not (self.train[:start].any() or self.test[:start].any())
        return Split(self.train[start:], self.test[start:], self.cutoff, self.description)


def temporal_split(
    times: np.ndarray, *, test_fraction: float = 0.2, max_train: int = 20_000
) -> Split:
    """Train on earlier rows, test on later ones (``times`` need not be sorted)."""
    n = times.size
    if n < 2:
        empty = np.zeros(n, dtype=bool)
        return Split(empty, empty.copy(), None, "too few rows to split")
    ordered = np.sort(times)
    cutoff = ordered[min(n - 1, int(np.floor(n * (1 - test_fraction))))]
    train = times < cutoff
    test = times >= cutoff
    if train.sum() > max_train:
        rows = np.flatnonzero(train)
        dropped = rows[np.argsort(times[rows], kind="stable")[:-max_train]]
        train[dropped] = False
    description = (
        f"temporal per user: train played_at < {np.datetime_as_string(cutoff, unit='s')}"
        f" (most recent {max_train:,} rows at most), test at or after"
        f" (last {test_fraction:.0%} of rows)"
    )
    return Split(train, test, cutoff, description)


def factorize(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(values.astype(str), return_inverse=True)``: the sorted distinct
    labels as strings and each value's position among them. Class labels are a
    few distinct strings, so this maps each distinct value once instead of
    converting and sorting every one."""
    values = np.asarray(values)
    if values.dtype != object:
        return np.unique(values.astype(str), return_inverse=True)
    items = values.tolist()
    distinct = set(items)
    labels = np.array(sorted({str(value) for value in distinct}))
    position = {str(label): i for i, label in enumerate(labels.tolist())}
    lookup = {value: position[str(value)] for value in distinct}
    return labels, np.fromiter(map(lookup.__getitem__, items), dtype=np.intp, count=len(items))


def hour_of_week(day_of_week: np.ndarray, hour: np.ndarray) -> np.ndarray:
    """0..167: ISO weekday (1 = Monday) and local hour."""
    return (np.asarray(day_of_week, dtype=int) - 1) * 24 + np.asarray(hour, dtype=int)


# -- baselines ---------------------------------------------------------------


def regression_baselines(
    y_train: np.ndarray, how_train: np.ndarray, how_test: np.ndarray, previous: np.ndarray
) -> dict[str, np.ndarray]:
    """Mean, hour-of-week mean and persistence predictions for the test rows."""
    mean = float(np.mean(y_train))
    how = _group_means(y_train, how_train, HOURS_OF_WEEK)
    hour = _group_means(y_train, how_train % 24, 24)
    by_how = how[how_test]
    by_how = np.where(np.isnan(by_how), hour[how_test % 24], by_how)
    by_how = np.where(np.isnan(by_how), mean, by_how)
    persistence = np.where(np.isnan(previous), mean, previous)
    return {
        "mean": np.full(how_test.size, mean),
        "hour_of_week_mean": by_how,
        "persistence": persistence,
    }


def classification_baselines(
    y_train: np.ndarray, how_train: np.ndarray, how_test: np.ndarray, previous: np.ndarray
) -> dict[str, np.ndarray]:
    """Majority class, hour-of-week mode and persistence for the test rows
    (ties: the alphabetically first label)."""
    labels, codes = factorize(y_train)
    k = labels.size
    majority = labels[np.argmax(np.bincount(codes, minlength=k))]
    how_counts = np.bincount(how_train * k + codes, minlength=HOURS_OF_WEEK * k)
    how_counts = how_counts.reshape(HOURS_OF_WEEK, k)
    hour_counts = how_counts.reshape(7, 24, k).sum(axis=0)
    by_how = np.where(
        how_counts[how_test].sum(axis=1) > 0,
        labels[how_counts[how_test].argmax(axis=1)],
        np.where(
            hour_counts[how_test % 24].sum(axis=1) > 0,
            labels[hour_counts[how_test % 24].argmax(axis=1)],
            majority,
        ),
    )
    persistence = np.array(
        [majority if value is None else value for value in previous.tolist()], dtype=object
    )
    return {
        "majority": np.full(how_test.size, str(majority), dtype=object),
        "hour_of_week_mode": by_how.astype(object),
        "persistence": persistence,
    }


def _group_means(values: np.ndarray, groups: np.ndarray, size: int) -> np.ndarray:
    sums = np.bincount(groups, weights=values, minlength=size)
    counts = np.bincount(groups, minlength=size)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


# -- metrics (weighted, so the bootstrap is one matrix product) ---------------


def _r2(y, p, w):
    total = w.sum(1)
    mean = (w @ y) / total
    ss_tot = w @ (y**2) - total * mean**2
    ss_res = w @ ((y - p) ** 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ss_tot > 1e-12, 1 - ss_res / ss_tot, np.nan)


def _mae(y, p, w):
    return (w @ np.abs(y - p)) / w.sum(1)


def _accuracy(y, p, w):
    return (w @ (y == p).astype(float)) / w.sum(1)


def _macro_f1(y, p, w):
    """Mean F1 over the labels present (in ``y`` or ``p``) of each weighting. Per
    label, 2 tp / (2 tp + wrong) = 2 tp / (n_true + n_predicted), so three
    weighted counts per (block, label) give every label's score at once."""
    y, p = np.asarray(y), np.asarray(p)
    if y.dtype.kind not in "iu" or p.dtype.kind not in "iu":
        _, codes = factorize(np.concatenate([y.astype(object), p.astype(object)]))
        y, p = codes[: y.size], codes[y.size :]
    k = int(max(y.max(initial=0), p.max(initial=0))) + 1
    if isinstance(w, _BlockWeights):
        index, weights = w.index, w.counts
    else:
        index, weights = np.arange(y.size), np.asarray(w, dtype=float)
    size = weights.shape[1] * k
    same = y == p

    def counts(rows: np.ndarray, labels: np.ndarray) -> np.ndarray:
        found = np.bincount(rows * k + labels, minlength=size).reshape(-1, k)
        return weights @ found

    tp = counts(index[same], y[same])
    denominator = counts(index, y) + counts(index, p)
    with np.errstate(invalid="ignore", divide="ignore"):
        scores = np.where(denominator > 0, 2 * tp / denominator, np.nan)
    return np.nanmean(scores, axis=1)


@dataclass(frozen=True)
class Metric:
    name: str
    function: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
    higher_is_better: bool

    def __call__(self, y: np.ndarray, p: np.ndarray) -> float:
        return float(self.function(y, p, np.ones((1, y.size)))[0])


REGRESSION_METRICS = (Metric("r2", _r2, True), Metric("mae", _mae, False))
CLASSIFICATION_METRICS = (Metric("accuracy", _accuracy, True), Metric("macro_f1", _macro_f1, True))


def score(
    metrics: Sequence[Metric],
    y: np.ndarray,
    prediction: np.ndarray,
    baselines: dict[str, np.ndarray],
    blocks: np.ndarray,
    *,
    seed: int = 0,
) -> list[dict]:
    """One row per metric: value, best baseline, lift and its bootstrap interval."""
    weights = _bootstrap_weights(blocks, seed)
    if np.asarray(y).dtype == object:  # class labels: compare small integer codes
        y, prediction, baselines = _codes(y, prediction, baselines)
    rows = []
    for metric in metrics:
        sign = 1.0 if metric.higher_is_better else -1.0
        value = metric(y, prediction)
        values = {name: metric(y, guess) for name, guess in baselines.items()}
        usable = {name: v for name, v in values.items() if np.isfinite(v)}
        best = max(usable, key=lambda name: sign * usable[name]) if usable else None
        row = {
            "metric": metric.name,
            "value": _finite(value),
            "higher_is_better": metric.higher_is_better,
            "baseline": best,
            "baseline_value": _finite(values[best]) if best else None,
            "baselines": {k: _finite(v) for k, v in values.items()},
            "lift": None,
            "lift_ci_low": None,
            "lift_ci_high": None,
            "beats_baseline": False,
        }
        if best is not None and np.isfinite(value):
            lifts = sign * (
                metric.function(y, prediction, weights)
                - metric.function(y, baselines[best], weights)
            )
            low, high = np.nanpercentile(lifts, [5, 95])
            row.update(
                lift=sign * (value - values[best]),
                lift_ci_low=float(low),
                lift_ci_high=float(high),
                beats_baseline=bool(low > 0),
            )
        rows.append(row)
    return rows


def _codes(y, prediction, baselines: dict) -> tuple:
    arrays = [y, prediction, *baselines.values()]
    _, codes = factorize(np.concatenate([np.asarray(a, dtype=object) for a in arrays]))
    parts = np.split(codes, np.cumsum([len(a) for a in arrays])[:-1])
    return parts[0], parts[1], dict(zip(baselines, parts[2:], strict=True))


def _bootstrap_weights(blocks: np.ndarray, seed: int) -> _BlockWeights:
    labels, index = np.unique(blocks, return_inverse=True)
    n, replicates = labels.size, BOOTSTRAP_REPLICATES
    draws = np.random.default_rng(seed).integers(0, n, size=(replicates, n))
    draws += np.arange(replicates)[:, None] * n  # each replicate counts in its own row
    counts = np.bincount(draws.ravel(), minlength=replicates * n).reshape(replicates, n)
    return _BlockWeights(counts.astype(float), index)


class _BlockWeights:
    """Row weights of the bootstrap replicates (a row weighs its block's count),
    kept per block: ``weights @ values`` sums the values of each block first, so
    the cost is replicates x blocks, not replicates x rows."""

    def __init__(self, counts: np.ndarray, index: np.ndarray):
        self.counts = counts
        self.index = index

    def __matmul__(self, values: np.ndarray) -> np.ndarray:
        per_block = np.bincount(
            self.index, weights=np.asarray(values, dtype=float), minlength=self.counts.shape[1]
        )
        return self.counts @ per_block

    def sum(self, axis: int) -> np.ndarray:
        return self @ np.ones(self.index.size)


def _finite(value: float) -> float | None:
    return float(value) if value is not None and np.isfinite(value) else None


# -- tuning ----------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """One point of a tuning grid: a name, an estimator and its distinguishing params."""

    name: str
    estimator: object
    params: dict = field(default_factory=dict)


def tune(
    candidates: Sequence[Candidate],
    X: np.ndarray,
    y: np.ndarray,
    metric: Metric,
    *,
    groups: np.ndarray | None = None,
    n_splits: int = 3,
    validation_fraction: float = 0.2,
) -> tuple[Candidate, dict[str, float], dict[str, object]]:
    """The candidate with the best mean validation score; ties go to the earlier,
    simpler candidate. Folds: ``GroupKFold`` when ``groups`` is given; else
    time-ordered, each validating only on rows after its training rows
    (``TimeSeriesSplit``, or with ``n_splits=1`` one holdout: the last
    ``validation_fraction`` of the rows). Also returns each candidate's model
    fitted on the last fold (a warm start for the refit). An estimator with
    ``warm_start_from`` starts from the previous candidate's fit on the same fold
    when that was of its own kind (e.g. the same model with another penalty)."""
    sign = 1.0 if metric.higher_is_better else -1.0
    fold_scores: dict[str, list[float]] = {c.name: [] for c in candidates}
    fitted: dict[str, object] = {}
    for train, valid in _folds(X, y, groups, n_splits, validation_fraction):
        encoded: dict[int, tuple] = {}  # one encoding per fold for candidates sharing it
        previous = None
        for candidate in candidates:
            model = clone(candidate.estimator)
            if type(previous) is type(model) and hasattr(model, "warm_start_from"):
                model.warm_start_from(previous)
            if hasattr(model, "fit_encoded"):
                encoder, Z_train, Z_valid = _encoded(encoded, candidate, X, y, train, valid)
                prediction = model.fit_encoded(encoder, Z_train, y[train]).predict_encoded(Z_valid)
            else:
                prediction = model.fit(X[train], y[train]).predict(X[valid])
            fold_scores[candidate.name].append(metric(y[valid], prediction))
            fitted[candidate.name] = previous = model
    scores = {name: float(np.nanmean(values)) for name, values in fold_scores.items()}
    best = max(candidates, key=lambda c: (sign * scores[c.name], -candidates.index(c)))
    return best, scores, fitted


def _encoded(cache: dict, candidate: Candidate, X, y, train, valid) -> tuple:
    key = id(candidate.estimator.encoder)
    if key not in cache:
        encoder = clone(candidate.estimator.encoder)
        cache[key] = (
            encoder,
            encoder.fit_transform(X[train], y[train]),
            encoder.transform(X[valid]),
        )
    return cache[key]


def _folds(X, y, groups, n_splits: int, validation_fraction: float) -> list:
    if groups is not None:
        from sklearn.model_selection import GroupKFold  # the catalog model's folds

        return list(GroupKFold(n_splits=n_splits).split(X, y, groups))
    if n_splits > 1:
        return list(time_series_folds(len(X), n_splits))
    n = len(y)
    cut = n - max(1, int(round(n * validation_fraction)))
    return [(np.arange(cut), np.arange(cut, n))]
