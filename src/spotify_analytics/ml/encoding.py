"""Hour-of-week target encoding, learnt inside each training fold.

Appends, for every target column (the value for regression, each class's
indicator for classification), the training mean at the row's local hour and
at its hour of week, each shrunk towards the coarser level (hour towards the
global mean, hour of week towards the hour) with ``smoothing`` pseudo-rows.
``fit_transform`` gives training rows leave-one-out means, so a row's own target
never feeds its features; ``transform`` (validation and test rows) uses the
means of all training rows. This hands linear models what the hour-of-week
baseline knows, step-shaped daily curves and weekday x hour interactions
included, and lets them combine it with recent plays.

``momentum`` pairs ``(value_column, flag_column)`` add the hour-of-week mean of
a *feature* (e.g. the previous play's valence, which over the training rows
traces the user's valence by hour) and the momentum term
``(value - that mean) * flag``: how far the previous play sat from what is
usual at this hour, counted only when the flag (same session) is set. That is
the AR(1)-towards-a-time-target shape in one linear feature.
"""

from __future__ import annotations

import numpy as np

from .estimators import Estimator, clone
from .evaluation import factorize


class HourOfWeekEncoding(Estimator):
    def __init__(
        self,
        hour_column: int = 0,
        weekday_column: int = 1,
        smoothing: float = 5.0,
        momentum: tuple[tuple[int, int], ...] = (),
    ):
        self.hour_column = hour_column
        self.weekday_column = weekday_column
        self.smoothing = smoothing
        self.momentum = momentum

    def __getstate__(self) -> dict:  # saved without what tuning cached on it
        state = super().__getstate__()
        state.pop("ridge_statistics_", None)
        return state

    def __sklearn_clone__(self) -> HourOfWeekEncoding:  # clone() without inspecting signatures
        return HourOfWeekEncoding(
            self.hour_column, self.weekday_column, self.smoothing, self.momentum
        )

    def _groups(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        hour = np.clip(np.nan_to_num(X[:, self.hour_column]).astype(int), 0, 23)
        weekday = np.clip(np.nan_to_num(X[:, self.weekday_column]).astype(int), 1, 7)
        return hour, (weekday - 1) * 24 + hour

    def fit(self, X: np.ndarray, y: np.ndarray) -> HourOfWeekEncoding:
        self._fit(X, y)
        return self

    def _fit(self, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Learn the sums; returns the target columns and the rows' hour and hour of week."""
        y = np.asarray(y)
        if y.dtype.kind in "fiu":
            self.classes_ = None
            Y = y.astype(float).reshape(-1, 1)
        else:
            self.classes_, codes = factorize(y)
            Y = np.zeros((y.size, self.classes_.size))
            Y[np.arange(y.size), codes] = 1.0
        hour, how = self._groups(X)
        self.n_features_in_ = X.shape[1]
        self.global_ = Y.mean(axis=0)
        self.hour_sum_, self.hour_n_ = _sums(hour, Y, 24)
        self.how_sum_, self.how_n_ = _sums(how, Y, 168)
        values = self._momentum_values(X)
        self.value_global_ = values.mean(axis=0)
        self.value_hour_sum_, _ = _sums(hour, values, 24)
        self.value_how_sum_, _ = _sums(how, values, 168)
        return Y, hour, how

    def _momentum_values(self, X: np.ndarray) -> np.ndarray:
        columns = [value for value, _ in self.momentum]
        return X[:, columns].astype(float) if columns else np.zeros((X.shape[0], 0))

    def _momentum(self, X: np.ndarray, hour: np.ndarray, how: np.ndarray) -> np.ndarray:
        if not self.momentum:
            return np.zeros((X.shape[0], 0))
        m = self.smoothing
        hour_n, how_n = self.hour_n_[:, None], self.how_n_[:, None]
        hour_mean = (self.value_hour_sum_ + m * self.value_global_) / (hour_n + m)
        how_mean = (self.value_how_sum_ + m * hour_mean[np.arange(168) % 24]) / (how_n + m)
        usual = how_mean[how]
        flags = X[:, [flag for _, flag in self.momentum]]
        return np.hstack([usual, (self._momentum_values(X) - usual) * flags])

    def _encode(self, hour, how, hour_sum, hour_n, how_sum, how_n) -> np.ndarray:
        m = self.smoothing
        hour_mean = (hour_sum + m * self.global_) / (hour_n + m)
        how_mean = (how_sum + m * hour_mean) / (how_n + m)
        return np.hstack([hour_mean, how_mean])

    def transform(self, X: np.ndarray) -> np.ndarray:
        hour, how = self._groups(X)
        encoded = self._encode(
            hour,
            how,
            self.hour_sum_[hour],
            self.hour_n_[hour][:, None],
            self.how_sum_[how],
            self.how_n_[how][:, None],
        )
        return np.hstack([X, encoded, self._momentum(X, hour, how)])

    def fit_transform(self, X: np.ndarray, y: np.ndarray = None, **_: object) -> np.ndarray:
        Y, hour, how = self._fit(X, y)
        encoded = self._encode(
            hour,
            how,
            self.hour_sum_[hour] - Y,
            self.hour_n_[hour][:, None] - 1,
            self.how_sum_[how] - Y,
            self.how_n_[how][:, None] - 1,
        )
        return np.hstack([X, encoded, self._momentum(X, hour, how)])


def _sums(groups: np.ndarray, Y: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    sums = np.empty((size, Y.shape[1]))
    for column in range(Y.shape[1]):
        sums[:, column] = np.bincount(groups, weights=Y[:, column], minlength=size)
    return sums, np.bincount(groups, minlength=size).astype(float)


class HourOfWeekOffset(Estimator):
    """Baseline plus a learnt correction: predicts the (smoothed) hour-of-week mean
    and fits ``model`` to what is left. A heavily regularised ``model`` thus falls
    back to the hour-of-week baseline instead of the global mean."""

    def __init__(self, encoder: HourOfWeekEncoding, model: object):
        self.encoder = encoder
        self.model = model

    def fit(self, X: np.ndarray, y: np.ndarray) -> HourOfWeekOffset:
        self.encoder_ = clone(self.encoder)
        Z = self.encoder_.fit_transform(X, y)
        self.offset_column_ = X.shape[1] + 1  # the hour-of-week mean (see HourOfWeekEncoding)
        self.model_ = clone(self.model).fit(Z, np.asarray(y, float) - Z[:, self.offset_column_])
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        Z = self.encoder_.transform(X)
        return Z[:, self.offset_column_] + self.model_.predict(Z)
