"""The NumPy L-BFGS the classifiers fit with, against SciPy's."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize as scipy_minimize

from spotify_analytics.ml import lbfgs


def quadratic(matrix: np.ndarray, target: np.ndarray):
    def loss(x: np.ndarray) -> tuple[float, np.ndarray]:
        residual = x - target
        return 0.5 * float(residual @ matrix @ residual), matrix @ residual

    return loss


def softmax_loss(X: np.ndarray, codes: np.ndarray, k: int, penalty: float):
    n, d = X.shape
    onehot = np.eye(k)[codes]

    def loss(flat: np.ndarray) -> tuple[float, np.ndarray]:
        W = flat.reshape(d, k)
        scores = X @ W
        scores -= scores.max(axis=1, keepdims=True)
        log_total = np.log(np.exp(scores).sum(axis=1))
        value = (log_total.sum() - (onehot * scores).sum()) / n + 0.5 * penalty * (W**2).sum()
        probabilities = np.exp(scores - log_total[:, None])
        gradient = X.T @ (probabilities - onehot) / n + penalty * W
        return float(value), gradient.ravel()

    return loss


def test_finds_the_minimum_of_an_ill_conditioned_quadratic() -> None:
    rng = np.random.default_rng(0)
    basis, _ = np.linalg.qr(rng.normal(size=(8, 8)))
    matrix = basis @ np.diag(np.logspace(0, 4, 8)) @ basis.T
    target = rng.normal(size=8)
    loss = quadratic(matrix, target)
    found = lbfgs.minimize(loss, np.zeros(8), max_iter=500, gtol=1e-10, ftol=0.0)
    assert np.allclose(found, target, atol=1e-8)
    # with SciPy's relative-decrease rule it stops once the loss barely falls
    settled = lbfgs.minimize(loss, np.zeros(8), max_iter=500, gtol=1e-10)
    assert loss(settled)[0] < 1e-8 * loss(np.zeros(8))[0]


def test_a_multinomial_logistic_loss_ends_where_scipy_ends() -> None:
    rng = np.random.default_rng(1)
    X = np.column_stack([rng.normal(size=(600, 5)), np.ones(600)])
    codes = np.argmax(X[:, :3] + rng.normal(scale=0.8, size=(600, 3)), axis=1)
    loss = softmax_loss(X, codes, 3, penalty=1e-3)
    start = np.zeros(X.shape[1] * 3)
    ours = lbfgs.minimize(loss, start, max_iter=500, gtol=1e-6)
    theirs = scipy_minimize(
        loss, start, jac=True, method="L-BFGS-B", options={"maxiter": 500, "gtol": 1e-6}
    ).x
    assert loss(ours)[0] == pytest.approx(loss(theirs)[0], rel=1e-9)
    assert np.allclose(ours, theirs, atol=1e-4)
    assert np.max(np.abs(loss(ours)[1])) <= 1e-6


def test_stops_after_max_iter_iterations_and_at_a_stationary_start() -> None:
    calls = []
    matrix, target = np.diag([1.0, 100.0]), np.array([3.0, -2.0])
    inner = quadratic(matrix, target)

    def counted(x: np.ndarray) -> tuple[float, np.ndarray]:
        calls.append(x.copy())
        return inner(x)

    found = lbfgs.minimize(counted, np.zeros(2), max_iter=1, gtol=1e-12)
    assert inner(found)[0] < inner(np.zeros(2))[0]  # one step, downhill
    assert not np.allclose(found, target)
    calls.clear()
    assert np.array_equal(lbfgs.minimize(counted, target, max_iter=50, gtol=1e-12), target)
    assert len(calls) == 1  # the gradient at the start is zero: nothing to do
