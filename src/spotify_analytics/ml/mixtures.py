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

KMEANS_STARTS = 2
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
    return kmeans_each(X, [k], seed, starts)[0]


def kmeans_each(
    X: np.ndarray, ks: list[int], seed: int, starts: int = KMEANS_STARTS
) -> list[KMeansFit]:
    """``kmeans(X, k, seed)`` for every k of ``ks``, run side by side: every start
    of every k is one run of a single Lloyd loop (centres padded to the largest k,
    the padding never nearest), and each k stops by itself as it would alone.

    k-means++ draws its centres one by one from one random stream, so the first k
    centres of a start drawn for the largest k are the start ``kmeans`` draws for
    k: the results equal separate calls (up to rounding in the products)."""
    ks = list(ks)
    groups, largest, d = len(ks), max(ks), X.shape[1]
    drawn = _plus_plus(X, largest, starts, np.random.default_rng(seed))
    runs = groups * starts
    centers = np.zeros((runs, largest, d))
    padding = np.zeros((runs, largest))
    for g, k in enumerate(ks):
        centers[g * starts : (g + 1) * starts, :k] = drawn[:, :k]
        padding[g * starts : (g + 1) * starts, k:] = np.inf
    _lloyd(X, centers, padding, starts, KMEANS_TOL * X.var(axis=0).mean())
    labels = _nearest(X, centers, padding)
    inertia = ((X[:, None, :] - centers[np.arange(runs), labels]) ** 2).sum(axis=(0, 2))
    fits = []
    for g, k in enumerate(ks):
        best = g * starts + int(inertia[g * starts : (g + 1) * starts].argmin())
        fits.append(KMeansFit(centers[best, :k], labels[:, best], float(inertia[best])))
    return fits


def _lloyd(
    X: np.ndarray, centers: np.ndarray, padding: np.ndarray, starts: int, tol: float
) -> None:
    """Lloyd iterations on ``centers`` (runs, k, features) in place, ``starts``
    consecutive runs making one k. A k stops when none of its points changes
    cluster, or when every centre of it moved by at most ``tol`` (squared). A
    run whose points all kept their clusters is at a fixed point (its centres
    would not move again), so it is left out from then on, which changes nothing
    but the work done."""
    live = np.ones(centers.shape[0], dtype=bool)
    labels = np.zeros((X.shape[0], centers.shape[0]), dtype=np.intp)
    for iteration in range(KMEANS_MAX_ITER):
        on = np.flatnonzero(live)
        found = _nearest(X, centers[on], padding[on])
        if iteration:
            moving = (found != labels[:, on]).any(axis=0)
            live[on] = moving
            on, found = on[moving], found[:, moving]
            if on.size == 0:
                break
        labels[:, on] = found
        moved = _centres(X, found, centers[on])
        shift = ((moved - centers[on]) ** 2).sum(axis=(1, 2))
        centers[on] = moved
        group = on // starts  # a k stops when all its moving runs moved by <= tol
        settled = np.bincount(group, weights=shift > tol, minlength=live.size // starts) == 0
        live &= ~np.repeat(settled, starts)
        if not live.any():
            break


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


def _nearest(X: np.ndarray, centers: np.ndarray, padding: np.ndarray | float = 0.0) -> np.ndarray:
    """The nearest centre of every point for each start: (points, starts).
    ``centers`` is (starts, k, features); ``padding`` (inf for padded centres,
    flattened) is added to every distance; |x|^2 is left out, as it does not
    change which centre is nearest."""
    starts, k, d = centers.shape
    scores = X @ centers.reshape(-1, d).T
    scores *= -2
    scores += (centers**2).sum(axis=2).ravel() + np.ravel(padding)
    return scores.reshape(X.shape[0], starts, k).argmin(axis=2)


def _centres(X: np.ndarray, labels: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """The mean of each cluster of each start; an empty cluster keeps its centre."""
    starts, k, d = centers.shape
    members = np.zeros((starts * k, X.shape[0]))
    members[labels.T + k * np.arange(starts)[:, None], np.arange(X.shape[0])] = 1.0
    counts = members.sum(axis=1).reshape(starts, k, 1)
    sums = (members @ X).reshape(starts, k, d)
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
    return gaussian_mixtures(X, [labels], [k])[0]


def gaussian_mixtures(
    X: np.ndarray, partitions: list[np.ndarray], ks: list[int]
) -> list[MixtureFit]:
    """``gaussian_mixture(X, labels, k)`` for every (labels, k) pair, run side by
    side: the components of all mixtures are the columns of one E and one M step
    (each mixture normalised over its own columns), and each mixture stops by
    itself as it would alone."""
    ks = list(ks)
    stacked = _stacked(X)
    n, groups = stacked.shape[0], len(ks)
    owner = np.repeat(np.arange(groups), ks)  # the mixture of each component
    bounds = np.concatenate([[0], np.cumsum(ks)[:-1]])
    starts = [np.eye(k)[labels] for labels, k in zip(partitions, ks, strict=True)]
    fit = _m_step(stacked, np.hstack(starts))
    previous = np.full(groups, -np.inf)
    active = np.ones(groups, dtype=bool)
    converged = np.zeros(groups, dtype=bool)
    on, columns, local, firsts, part = np.arange(groups), np.arange(owner.size), owner, bounds, fit
    for _ in range(EM_MAX_ITER):
        norm, resp = _e_steps(stacked, part, local, firsts)
        part = _m_step(stacked, resp)  # the mixtures still iterating
        done = np.abs(norm - previous[on]) < EM_TOL
        previous[on] = norm
        if done.any():  # write their parameters back; go on with the others
            _put(fit, columns, part)
            converged[on[done]] = True
            active[on[done]] = False
            if not active.any():
                break
            on, columns = np.flatnonzero(active), np.flatnonzero(active[owner])
            local = np.searchsorted(on, owner[columns])
            firsts = np.flatnonzero(np.concatenate([[True], local[1:] != local[:-1]]))
            part = _take(fit, columns)
    if active.any():
        _put(fit, columns, part)
    final, _ = _e_steps(stacked, fit, owner, bounds)
    return [
        MixtureFit(
            weights=fit.weights[owner == g],
            means=fit.means[owner == g],
            variances=fit.variances[owner == g],
            log_likelihood=float(final[g]),
            n_points=n,
            converged=bool(converged[g]),
        )
        for g in range(groups)
    ]


def _take(fit: MixtureFit, columns: np.ndarray) -> MixtureFit:
    return MixtureFit(
        fit.weights[columns],
        fit.means[columns],
        fit.variances[columns],
        np.nan,
        fit.n_points,
        False,
    )


def _put(fit: MixtureFit, columns: np.ndarray, part: MixtureFit) -> None:
    fit.weights[columns] = part.weights
    fit.means[columns] = part.means
    fit.variances[columns] = part.variances


def _stacked(X: np.ndarray) -> np.ndarray:
    """[x^2, x] per point, so the E step's quadratic form and the M step's
    first and second moments are one matrix product each."""
    return np.hstack([X**2, X])


def _e_steps(
    stacked: np.ndarray, fit: MixtureFit, owner: np.ndarray, bounds: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The mean log-likelihood per point of each mixture, and the responsibilities
    (each mixture's columns sum to one per point)."""
    log_prob = fit._log_prob(stacked)
    top = np.maximum.reduceat(log_prob, bounds, axis=1)
    log_prob -= top[:, owner]
    np.exp(log_prob, out=log_prob)
    total = np.add.reduceat(log_prob, bounds, axis=1)
    log_prob /= total[:, owner]
    norm = top + np.log(total)
    return norm.mean(axis=0), log_prob


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
