"""k-means and diagonal Gaussian mixtures for the small per-user fits of clusters.py.

The same algorithms as scikit-learn's ``KMeans`` (Lloyd, k-means++ starts) and
``GaussianMixture(covariance_type="diag")`` (EM), written for many tiny fits:
a user has a few hundred to a few thousand points in 9 dimensions, where
scikit-learn's per-call overhead (validation, thread-pool set-up per fit,
array-API dispatch per EM step) cost several times the arithmetic, over a
thousand users and ten fits each. The k-means starts run side by side in one
set of array operations. ``tests/test_ml_cognitive.py`` checks both against
scikit-learn.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

KMEANS_STARTS = 4
KMEANS_MAX_ITER = 300
KMEANS_TOL = 1e-4  # squared centre shift, relative to the mean feature variance
EM_MAX_ITER = 100
EM_TOL = 1e-3  # change of the mean log-likelihood per point
REG_COVAR = 1e-4  # added to every variance, as in scikit-learn


@dataclass
class KMeansFit:
    centers: np.ndarray
    labels: np.ndarray
    inertia: float

    def predict(self, X: np.ndarray) -> np.ndarray:
        return _nearest(X, self.centers[None])[:, 0]


def kmeans(X: np.ndarray, k: int, seed: int, starts: int = KMEANS_STARTS) -> KMeansFit:
    """Lloyd's algorithm from ``starts`` k-means++ starts; the lowest inertia wins."""
    rng = np.random.default_rng(seed)
    centers = _plus_plus(X, k, starts, rng)
    tol = KMEANS_TOL * X.var(axis=0).mean()
    previous = None
    for _ in range(KMEANS_MAX_ITER):
        labels = _nearest(X, centers)
        if previous is not None and (labels == previous).all():
            break  # no point changed cluster: the centres are final
        moved = _centres(X, labels, centers)
        shift = ((moved - centers) ** 2).sum(axis=(1, 2))
        centers, previous = moved, labels
        if (shift <= tol).all():
            break
    labels = _nearest(X, centers)
    inertia = ((X[:, None, :] - centers[np.arange(starts), labels]) ** 2).sum(axis=(0, 2))
    best = int(inertia.argmin())
    return KMeansFit(centers[best], labels[:, best], float(inertia[best]))


def _plus_plus(X: np.ndarray, k: int, starts: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ for several starts at once: each next centre is drawn with
    probability proportional to the squared distance to the nearest centre
    so far. Returns (starts, k, features)."""
    n = X.shape[0]
    picks = np.empty((starts, k), dtype=np.int64)
    picks[:, 0] = rng.integers(n, size=starts)
    closest = ((X[None, :, :] - X[picks[:, 0]][:, None, :]) ** 2).sum(axis=2)
    for j in range(1, k):
        cumulative = np.cumsum(closest, axis=1)
        draw = rng.random(starts) * cumulative[:, -1]
        picks[:, j] = np.minimum((cumulative <= draw[:, None]).sum(axis=1), n - 1)
        moved = ((X[None, :, :] - X[picks[:, j]][:, None, :]) ** 2).sum(axis=2)
        np.minimum(closest, moved, out=closest)
    return X[picks]


def _nearest(X: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """The nearest centre of every point for each start: (points, starts).
    ``centers`` is (starts, k, features); |x|^2 is left out, as it does not
    change which centre is nearest."""
    starts, k, d = centers.shape
    scores = X @ centers.reshape(-1, d).T
    scores *= -2
    scores += (centers**2).sum(axis=2).ravel()
    return scores.reshape(X.shape[0], starts, k).argmin(axis=2)


def _centres(X: np.ndarray, labels: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """The mean of each cluster of each start; an empty cluster keeps its centre."""
    starts, k, d = centers.shape
    members = np.eye(k)[labels].reshape(X.shape[0], starts * k)
    counts = members.sum(axis=0).reshape(starts, k, 1)
    sums = (members.T @ X).reshape(starts, k, d)
    return np.where(counts > 0, sums / np.maximum(counts, 1), centers)


def adjusted_rand(first: np.ndarray, second: np.ndarray) -> float:
    """Adjusted Rand index of two labelings (scikit-learn's formula, without
    its sparse contingency table, which cost milliseconds per call)."""
    _, a = np.unique(first, return_inverse=True)
    _, b = np.unique(second, return_inverse=True)
    shape = (a.max() + 1, b.max() + 1)
    table = np.bincount(a * shape[1] + b, minlength=shape[0] * shape[1]).reshape(shape)
    both = _pairs(table)
    rows, columns = _pairs(table.sum(axis=1)), _pairs(table.sum(axis=0))
    expected = rows * columns / _pairs(np.array([a.size]))
    spread = (rows + columns) / 2 - expected
    return 1.0 if spread == 0 else float((both - expected) / spread)


def _pairs(counts: np.ndarray) -> float:
    return float((counts * (counts - 1)).sum() / 2)


@dataclass
class MixtureFit:
    weights: np.ndarray
    means: np.ndarray
    variances: np.ndarray
    log_likelihood: float  # mean over the fitted points
    n_points: int
    converged: bool

    def log_prob(self, X: np.ndarray) -> np.ndarray:
        """log(weight_j) + log N(x | mean_j, diag(variance_j)) for every point and j."""
        return self._log_prob(_stacked(X))

    def _log_prob(self, stacked: np.ndarray) -> np.ndarray:
        """``log_prob`` from ``_stacked(X)``: the quadratic form is one product."""
        precision = 1.0 / self.variances
        d = self.means.shape[1]
        weights = np.hstack([precision, -2 * self.means * precision]).T
        constant = (
            np.log(self.weights)
            - 0.5 * (d * np.log(2 * np.pi) + (self.means**2 * precision).sum(axis=1))
            + 0.5 * np.log(precision).sum(axis=1)
        )
        return constant - 0.5 * (stacked @ weights)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.log_prob(X).argmax(axis=1)

    @property
    def n_parameters(self) -> int:
        k, d = self.means.shape
        return 2 * k * d + k - 1

    @property
    def bic(self) -> float:
        total = self.log_likelihood * self.n_points
        return float(-2 * total + self.n_parameters * np.log(self.n_points))

    @property
    def aic(self) -> float:
        return float(-2 * self.log_likelihood * self.n_points + 2 * self.n_parameters)


def gaussian_mixture(X: np.ndarray, labels: np.ndarray, k: int) -> MixtureFit:
    """EM for a diagonal-covariance mixture started from a hard partition
    (scikit-learn's 'kmeans' start), until the mean log-likelihood changes by
    less than ``EM_TOL``."""
    stacked = _stacked(X)
    fit = _m_step(stacked, np.eye(k)[labels])
    previous = -np.inf
    for _ in range(EM_MAX_ITER):
        norm, resp = _e_step(stacked, fit)
        fit = _m_step(stacked, resp)
        if abs(norm - previous) < EM_TOL:
            fit.converged = True
            break
        previous = norm
    fit.log_likelihood = _e_step(stacked, fit)[0]
    return fit


def _stacked(X: np.ndarray) -> np.ndarray:
    """[x^2, x] per point, so the E step's quadratic form and the M step's
    first and second moments are one matrix product each."""
    return np.hstack([X**2, X])


def _e_step(stacked: np.ndarray, fit: MixtureFit) -> tuple[float, np.ndarray]:
    log_prob = fit._log_prob(stacked)
    top = log_prob.max(axis=1, keepdims=True)
    norm = top[:, 0] + np.log(np.exp(log_prob - top).sum(axis=1))
    return float(norm.mean()), np.exp(log_prob - norm[:, None])


def _m_step(stacked: np.ndarray, resp: np.ndarray) -> MixtureFit:
    d = stacked.shape[1] // 2
    counts = resp.sum(axis=0) + 10 * np.finfo(float).eps
    moments = resp.T @ stacked / counts[:, None]
    means = moments[:, d:]
    variances = moments[:, :d] - means**2 + REG_COVAR
    return MixtureFit(
        weights=counts / stacked.shape[0],
        means=means,
        variances=np.maximum(variances, REG_COVAR),
        log_likelihood=np.nan,
        n_points=stacked.shape[0],
        converged=False,
    )
