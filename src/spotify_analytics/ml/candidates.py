"""The tiny tuning grids, and the lean estimators they are made of.

Kept small on purpose (three time-ordered folds, a handful of candidates) so
every user's model trains in a few milliseconds on one core: at 1,000 users
per run, scikit-learn's per-call overhead (input validation, pipelines,
iterative solvers started from zero) cost more than the arithmetic.

Every grid starts with a no-skill candidate (the training mean, or the
majority class): when no model beats it in time-ordered cross-validation, the
model *is* that baseline and claims no lift. The other candidates start with
the hour-of-week target encoding (learnt inside each fold), standardise their
inputs and fit a ridge regression (closed form) or a multinomial logistic
regression (L-BFGS on a NumPy loss). They follow scikit-learn's estimator
conventions (fit, predict, predict_proba, get_params; ``estimators.py``) without
importing it: scikit-learn loads only for the boosted and catalog candidates.
"""

from __future__ import annotations

import numpy as np

from . import lbfgs
from .encoding import HourOfWeekEncoding, HourOfWeekOffset
from .estimators import Estimator, clone
from .evaluation import Candidate, factorize

BOOSTING = {"max_iter": 40, "learning_rate": 0.1, "max_leaf_nodes": 8, "min_samples_leaf": 40}
LOGISTIC_MAX_ITER = 20
# stop once no gradient entry of the mean log-loss exceeds this: probabilities then
# lie within a few thousandths of the exact optimum's
LOGISTIC_GTOL = 1e-4


MOMENTUM = (
    ("prev_valence", "same_session"),
    ("prev_energy", "same_session"),
    ("last_valence", "continuing"),
    ("last_energy", "continuing"),
)


def _encoding(feature_names: list[str]) -> HourOfWeekEncoding:
    """Target encoding by hour of week, plus momentum terms for the lagged
    features present (see encoding.py)."""
    index = {name: i for i, name in enumerate(feature_names)}
    momentum = tuple(
        (index[value], index[flag]) for value, flag in MOMENTUM if value in index and flag in index
    )
    return HourOfWeekEncoding(
        hour_column=index["hour"], weekday_column=index["day_of_week"], momentum=momentum
    )


def _standardise(Z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Columns centred and scaled to unit variance (constant columns: scale 1)."""
    mean = Z.mean(axis=0)
    scale = Z.std(axis=0)
    scale[scale < 10 * np.finfo(float).eps] = 1.0
    return (Z - mean) / scale, mean, scale


class TrainingMean(Estimator):
    """No skill: always the training mean."""

    def fit(self, X: np.ndarray, y: np.ndarray) -> TrainingMean:
        self.mean_ = float(np.mean(y))
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.full(len(X), self.mean_)


class MajorityClass(Estimator):
    """No skill: always the most common training class (ties: the first label),
    with the training class shares as probabilities."""

    def fit(self, X: np.ndarray, y: np.ndarray) -> MajorityClass:
        self.classes_, codes = factorize(y)
        counts = np.bincount(codes, minlength=self.classes_.size)
        self.prior_ = counts / counts.sum()
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return np.tile(self.prior_, (len(X), 1))

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.full(len(X), self.classes_[np.argmax(self.prior_)], dtype=object)


class _OnEncoding:
    """An estimator whose first stage is the hour-of-week encoding. ``fit_encoded``
    takes rows already encoded by a fitted encoder, so candidates sharing an
    encoder share that work in tuning (``evaluation.tune``)."""

    def __sklearn_clone__(self):  # what clone() does, without inspecting signatures
        params = {name: getattr(self, name) for name in self._parameters}
        return type(self)(**{**params, "encoder": clone(self.encoder)})

    def fit(self, X: np.ndarray, y: np.ndarray):
        encoder = clone(self.encoder)
        return self.fit_encoded(encoder, encoder.fit_transform(X, y), y)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.predict_encoded(self.encoder_.transform(X))


class EncodedRidge(_OnEncoding, Estimator):
    """Hour-of-week encoding, standardised inputs, ridge regression (closed form).

    With ``offset`` the model predicts the (smoothed) hour-of-week mean plus a
    learnt correction, so heavy regularisation falls back to the hour-of-week
    baseline; without, it shrinks towards the training mean."""

    _parameters = ("encoder", "alpha", "offset")

    def __init__(self, encoder: HourOfWeekEncoding, alpha: float = 1.0, offset: bool = True):
        self.encoder = encoder
        self.alpha = alpha
        self.offset = offset

    def fit_encoded(
        self, encoder: HourOfWeekEncoding, Z: np.ndarray, y: np.ndarray
    ) -> EncodedRidge:
        y = np.asarray(y, dtype=float)
        self.encoder_ = encoder
        self.offset_column_ = encoder.n_features_in_ + 1  # the hour-of-week mean
        # candidates of one tuning fold share the encoder, its rows and their Gram matrix
        stats = encoder.__dict__.get("ridge_statistics_")
        if stats is None or stats[0] != id(Z):
            stats = encoder.ridge_statistics_ = (id(Z), *_gram(Z, y))
        self.coef_, self.intercept_ = _ridge(
            *stats[1:], self.alpha, self.offset_column_, self.offset
        )
        return self

    def predict_encoded(self, Z: np.ndarray) -> np.ndarray:
        correction = Z @ self.coef_ + self.intercept_
        return correction + (Z[:, self.offset_column_] if self.offset else 0.0)


def _gram(Z: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``[Z, 1]' [Z, 1]`` and ``[Z, 1]' y``: all a ridge fit needs from the rows."""
    n, d = Z.shape
    augmented = np.empty((n, d + 1))
    augmented[:, :d] = Z
    augmented[:, d] = 1.0
    return augmented.T @ augmented, augmented.T @ y


def _ridge(
    gram: np.ndarray, cross: np.ndarray, alpha: float, offset_column: int, offset: bool
) -> tuple[np.ndarray, float]:
    """Ridge on standardised columns (scikit-learn's ``StandardScaler`` + ``Ridge``)
    from the Gram matrix of ``[Z, 1]`` and its product with y; the target is ``y``
    minus the offset column when ``offset``. Coefficients and intercept for the raw
    columns."""
    d = gram.shape[0] - 1
    n = gram[d, d]
    mean = gram[d, :d] / n
    covariance = gram[:d, :d] / n - np.outer(mean, mean)
    scale = np.sqrt(np.maximum(np.diag(covariance), 0.0))
    scale[scale < 1e-12] = 1.0
    zy, target_mean = cross[:d], cross[d] / n
    if offset:
        zy = zy - gram[:d, offset_column]
        target_mean -= mean[offset_column]
    rhs = (zy / n - mean * target_mean) / scale
    system = covariance / np.outer(scale, scale)
    system[np.diag_indices_from(system)] += alpha / n
    coef = np.linalg.solve(system, rhs) / scale
    return coef, float(target_mean - mean @ coef)


class EncodedLogistic(_OnEncoding, Estimator):
    """Hour-of-week encoding (per class), standardised inputs, multinomial logistic
    regression with an L2 penalty of strength ``1 / C`` (scikit-learn's objective),
    solved by L-BFGS for at most ``max_iter`` iterations."""

    _parameters = ("encoder", "C", "max_iter")

    def __init__(
        self, encoder: HourOfWeekEncoding, C: float = 1.0, max_iter: int = LOGISTIC_MAX_ITER
    ):
        self.encoder = encoder
        self.C = C
        self.max_iter = max_iter

    def warm_start_from(self, fitted: EncodedLogistic) -> None:
        """Start the solver from ``fitted``'s weights (the same model fitted on fewer
        rows): the refit then needs a few iterations instead of many."""
        self._start = (fitted.classes_, np.vstack([fitted.coef_, fitted.intercept_]))

    def fit_encoded(
        self, encoder: HourOfWeekEncoding, Z: np.ndarray, y: np.ndarray
    ) -> EncodedLogistic:
        self.classes_, codes = factorize(y)
        self.encoder_ = encoder
        S, self.mean_, self.scale_ = _standardise(Z)
        start = None
        classes, weights = getattr(self, "_start", (None, None))
        if classes is not None and np.array_equal(classes, self.classes_):
            start = weights if weights.shape[0] == S.shape[1] + 1 else None
        self.__dict__.pop("_start", None)
        self.coef_, self.intercept_ = _multinomial(
            S, codes, self.classes_.size, 1.0 / self.C, self.max_iter, start
        )
        return self

    def _scores(self, Z: np.ndarray) -> np.ndarray:
        return ((Z - self.mean_) / self.scale_) @ self.coef_ + self.intercept_

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        return self._scores(self.encoder_.transform(X))

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return _softmax(self.decision_function(X))

    def predict_encoded(self, Z: np.ndarray) -> np.ndarray:
        return self.classes_[np.argmax(self._scores(Z), axis=1)].astype(object)


def _softmax(scores: np.ndarray) -> np.ndarray:
    scores = scores - scores.max(axis=1, keepdims=True)
    np.exp(scores, out=scores)
    scores /= scores.sum(axis=1, keepdims=True)
    return scores


def _multinomial(
    S: np.ndarray,
    codes: np.ndarray,
    k: int,
    penalty: float,
    max_iter: int,
    start: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Weights and intercepts minimising mean log-loss + penalty / (2n) * |W|^2."""
    n, d = S.shape
    if k < 2:
        return np.zeros((d, k)), np.zeros(k)
    # rows as columns, so the per-row reductions over k classes run along contiguous
    # memory; single precision halves the memory traffic of the two products
    St = np.empty((d + 1, n), dtype=np.float32)
    St[:d] = S.T
    St[d] = 1.0
    onehot = np.zeros((k, n), dtype=np.float32)
    onehot[codes, np.arange(n)] = 1.0
    scale = penalty / n

    def loss(flat: np.ndarray) -> tuple[float, np.ndarray]:
        W = flat.reshape(d + 1, k)
        scores = W.T.astype(np.float32) @ St
        scores -= np.maximum.reduce(scores, axis=0)
        probabilities = np.exp(scores)
        total = np.add.reduce(probabilities, axis=0)
        probabilities /= total
        value = (np.log(total).sum(dtype=float) - (onehot * scores).sum(dtype=float)) / n
        value += 0.5 * scale * (W[:-1] ** 2).sum()
        probabilities -= onehot
        gradient = (St @ probabilities.T).astype(float) / n
        gradient[:-1] += scale * W[:-1]
        return value, gradient.ravel()

    initial = np.zeros((d + 1) * k) if start is None else start.ravel()
    W = lbfgs.minimize(loss, initial, max_iter=max_iter, gtol=LOGISTIC_GTOL).reshape(d + 1, k)
    return W[:-1], W[-1]


def regressors(feature_names: list[str], *, boosting: bool = False) -> list[Candidate]:
    """Mostly the hour-of-week mean plus a learnt correction; one candidate shrinks
    towards the global mean instead, for users without a time pattern. ``boosting``
    adds a boosted correction (off by default: 10x the cost of the grid, and never
    chosen on the demo lake)."""
    encoding = _encoding(feature_names)

    def ridge(alpha: float) -> Candidate:
        return Candidate(f"ridge_alpha_{alpha:g}", EncodedRidge(encoding, alpha), {"alpha": alpha})

    grid = [
        Candidate("training_mean", TrainingMean(), {}),
        Candidate(
            "ridge_alpha_100_no_offset",
            EncodedRidge(encoding, 100.0, offset=False),
            {"alpha": 100.0, "offset": None},
        ),
        ridge(1.0),
        ridge(100.0),
    ]
    if boosting:
        from sklearn.ensemble import HistGradientBoostingRegressor

        booster = HistGradientBoostingRegressor(**BOOSTING, early_stopping=False, random_state=0)
        boosted = HourOfWeekOffset(encoding, booster)
        grid.append(Candidate("hist_gradient_boosting", boosted, BOOSTING))
    return grid


def classifiers(feature_names: list[str]) -> list[Candidate]:
    encoding = _encoding(feature_names)

    def logistic(c: float) -> Candidate:
        return Candidate(f"logistic_c_{c:g}", EncodedLogistic(encoding, c), {"C": c})

    majority = Candidate("majority_class", MajorityClass(), {})
    return [majority, logistic(0.05)]  # C=0.3 was chosen by CV for no demo user


def catalog_regressors() -> list[Candidate]:
    """For catalog tracks (no time, so no hour-of-week encoding)."""
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    boosting = HistGradientBoostingRegressor(**BOOSTING, early_stopping=False, random_state=0)
    return [
        Candidate(
            "ridge_alpha_1", make_pipeline(StandardScaler(), Ridge(alpha=1.0)), {"alpha": 1.0}
        ),
        Candidate("hist_gradient_boosting", boosting, BOOSTING),
    ]
