"""The fitted catalog model as plain arrays, so an incremental run scores with NumPy.

An incremental run reuses the catalog model of the last full build to score the
changed users' tracks. Unpickling it imports scikit-learn (about 1.5 CPU-s,
several times the scoring itself), so the model is also saved as the arrays its
``predict`` reads: the scaler and ridge coefficients of the ridge pipeline, or
the trees of the gradient-boosted regressor (each node's feature, threshold,
children, where missing values go, and the leaf values, learning rate applied).
``CompiledRegressor.predict`` walks them as scikit-learn does (``x <= threshold``
goes left; a missing value goes where training sent it) and adds the trees in
the same order, so it returns scikit-learn's predictions to the last bit
(tested). A model of another kind is not compiled and is unpickled as before.
"""

from __future__ import annotations

import numpy as np


def compile_regressor(estimator: object) -> dict[str, np.ndarray] | None:
    """The arrays ``CompiledRegressor`` predicts from, or None for a model it cannot
    replay (anything but ``StandardScaler`` + ``Ridge`` or a numeric-only
    ``HistGradientBoostingRegressor`` with squared error)."""
    steps = getattr(estimator, "steps", None)
    if steps is not None:
        kinds = [type(step).__name__ for _, step in steps]
        if kinds != ["StandardScaler", "Ridge"]:
            return None
        scaler, ridge = steps[0][1], steps[1][1]
        if not (scaler.with_mean and scaler.with_std) or np.ndim(ridge.coef_) != 1:
            return None
        return {
            "name": np.array("Ridge"),
            "mean": np.asarray(scaler.mean_, float),
            "scale": np.asarray(scaler.scale_, float),
            "coef": np.asarray(ridge.coef_, float),
            "intercept": np.asarray(ridge.intercept_, float),
        }
    if type(estimator).__name__ != "HistGradientBoostingRegressor":
        return None
    if getattr(estimator, "loss", None) != "squared_error":
        return None
    if getattr(estimator, "_preprocessor", None) is not None:
        return None
    trees = [predictors[0].nodes for predictors in estimator._predictors]
    if any(len(predictors) != 1 for predictors in estimator._predictors):
        return None
    nodes = np.concatenate(trees) if trees else None
    if nodes is None or nodes["is_categorical"].any():
        return None
    sizes = np.array([len(tree) for tree in trees])
    return {
        "name": np.array("HistGradientBoostingRegressor"),
        "baseline": np.asarray(estimator._baseline_prediction, float).ravel(),
        "roots": np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64),
        "feature": nodes["feature_idx"].astype(np.int64),
        "threshold": nodes["num_threshold"].astype(float),
        "missing_left": nodes["missing_go_to_left"].astype(bool),
        "left": nodes["left"].astype(np.int64),
        "right": nodes["right"].astype(np.int64),
        "leaf": nodes["is_leaf"].astype(bool),
        "value": nodes["value"].astype(float),
    }


class CompiledRegressor:
    """``predict`` of a compiled ridge pipeline or gradient-boosted regressor."""

    def __init__(self, arrays: dict[str, np.ndarray]):
        self.arrays = {name: np.asarray(values) for name, values in arrays.items()}
        self.name = str(self.arrays["name"])

    def predict(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=float)
        a = self.arrays
        if "coef" in a:
            scaled = X - a["mean"]
            scaled /= a["scale"]
            return scaled @ a["coef"] + a["intercept"]
        raw = np.zeros(len(X))
        raw += a["baseline"][0]
        rows = np.arange(len(X))
        for root in a["roots"].tolist():
            node = np.full(len(X), root)
            active = rows[~a["leaf"][node]]
            while active.size:
                at = node[active]
                value = X[active, a["feature"][at]]
                left = np.where(np.isnan(value), a["missing_left"][at], value <= a["threshold"][at])
                node[active] = root + np.where(left, a["left"][at], a["right"][at])
                active = active[~a["leaf"][node[active]]]
            raw += a["value"][node]
        return raw
