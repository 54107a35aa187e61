"""L-BFGS for the smooth, unconstrained losses of the lean estimators.

In NumPy, so that fitting a classifier does not import SciPy's optimizer
(about 0.4 CPU-s, plus its libraries read back from disk when the page cache
has dropped them, in every run that fits a classifier). It follows SciPy's
``minimize(method="L-BFGS-B")`` without bounds: ten correction pairs, a first
step of unit length along the gradient, and the same stopping rules (largest
gradient component at most ``gtol``, or a relative decrease of the loss at
most ``ftol``, or ``max_iter`` iterations). Its line search backtracks from
the full step with safeguarded quadratic interpolation until the loss falls
enough (Armijo's condition); a pair whose curvature is not positive is left
out of the update.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import numpy as np

Loss = Callable[[np.ndarray], tuple[float, np.ndarray]]

FTOL = 2.220446049250313e-09  # SciPy's default: factr 1e7 times machine epsilon
SUFFICIENT_DECREASE = 1e-4
MAX_STEPS = 20  # loss evaluations per line search, as SciPy's maxls


def minimize(
    loss: Loss,
    start: np.ndarray,
    *,
    max_iter: int,
    gtol: float,
    ftol: float = FTOL,
    memory: int = 10,
) -> np.ndarray:
    """The point where ``loss`` (which returns the value and the gradient) is
    smallest, as far as ``max_iter`` iterations find it."""
    x = np.array(start, dtype=float)
    value, gradient = loss(x)
    pairs: deque[tuple[np.ndarray, np.ndarray, float]] = deque(maxlen=memory)
    for _ in range(max_iter):
        if np.max(np.abs(gradient), initial=0.0) <= gtol:
            break
        direction = -_inverse_hessian_times(gradient, pairs)
        slope = float(gradient @ direction)
        if slope >= 0:  # not downhill (rounding): start again from the gradient
            pairs.clear()
            direction, slope = -gradient, -float(gradient @ gradient)
        step = 1.0 if pairs else 1.0 / np.sqrt(-slope)  # a unit-length first step
        found = _line_search(loss, x, value, direction, slope, step)
        if found is None:  # no decrease along the direction: x is as good as it gets
            break
        moved, new_value, new_gradient = found
        s, y = moved - x, new_gradient - gradient
        curvature = float(s @ y)
        if curvature > np.finfo(float).eps * float(y @ y):
            pairs.append((s, y, 1.0 / curvature))
        settled = value - new_value <= ftol * max(abs(value), abs(new_value), 1.0)
        x, value, gradient = moved, new_value, new_gradient
        if settled:
            break
    return x


def _inverse_hessian_times(
    gradient: np.ndarray, pairs: deque[tuple[np.ndarray, np.ndarray, float]]
) -> np.ndarray:
    """The two-loop recursion: the L-BFGS inverse Hessian times ``gradient``."""
    q = gradient.copy()
    alphas = []
    for s, y, rho in reversed(pairs):
        alpha = rho * float(s @ q)
        q -= alpha * y
        alphas.append(alpha)
    if pairs:
        _, y, rho = pairs[-1]
        q /= rho * float(y @ y)  # scaled by s'y / y'y
    for (s, y, rho), alpha in zip(pairs, reversed(alphas), strict=True):
        q += (alpha - rho * float(y @ q)) * s
    return q


def _line_search(
    loss: Loss, x: np.ndarray, value: float, direction: np.ndarray, slope: float, step: float
) -> tuple[np.ndarray, float, np.ndarray] | None:
    """The first point along ``direction`` whose loss falls enough, backtracking
    from ``step``; None when ``MAX_STEPS`` evaluations find none."""
    for _ in range(MAX_STEPS):
        moved = x + step * direction
        new_value, new_gradient = loss(moved)
        if new_value <= value + SUFFICIENT_DECREASE * step * slope:
            return moved, new_value, new_gradient
        # the minimum of the parabola through the value, the slope and the new value,
        # kept within a tenth and a half of the step
        excess = new_value - value - step * slope
        trial = -slope * step * step / (2.0 * excess) if excess > 0 else 0.5 * step
        step = min(max(trial, 0.1 * step), 0.5 * step)
    return None
