"""What the lean estimators need of scikit-learn's conventions, without importing it.

Importing scikit-learn costs about 1.5 CPU-s (it imports ``scipy.stats``, which
formats the docstrings of every distribution), more than an incremental run
spends on its models. The per-user models (``candidates.py``, ``encoding.py``)
are plain NumPy, so they follow scikit-learn's estimator conventions here:
parameters are the ``__init__`` arguments (``get_params``),
``clone`` builds an unfitted copy, and time-ordered folds are those of
``TimeSeriesSplit``. scikit-learn is imported only where its own estimators are
used (the catalog model, the boosted candidate, group folds); ``clone`` hands
those to scikit-learn's.
"""

from __future__ import annotations

import copy
import functools
import inspect
from collections.abc import Iterator

import numpy as np


class Estimator:
    """Base of the lean estimators: scikit-learn's parameter conventions."""

    @classmethod
    @functools.cache
    def _parameter_names(cls) -> tuple[str, ...]:
        if cls.__init__ is object.__init__:
            return ()
        signature = inspect.signature(cls.__init__)
        return tuple(
            name
            for name, parameter in signature.parameters.items()
            if name != "self"
            and parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)
        )

    def get_params(self, deep: bool = True) -> dict[str, object]:
        return {name: getattr(self, name) for name in self._parameter_names()}

    def __sklearn_clone__(self) -> Estimator:
        """An unfitted copy with cloned parameters (what ``clone`` calls, here and
        in scikit-learn)."""
        return type(self)(**{name: clone(value) for name, value in self.get_params().items()})

    def __getstate__(self) -> dict:
        return dict(self.__dict__)  # a copy: subclasses drop caches from it


def clone(value: object) -> object:
    """An unfitted copy of an estimator (scikit-learn's ``clone`` for its own
    estimators); anything else is deep-copied, lists and tuples element-wise."""
    if isinstance(value, Estimator):
        return value.__sklearn_clone__()
    if type(value) in (list, tuple):
        return type(value)(clone(item) for item in value)
    if hasattr(value, "get_params") and not isinstance(value, type):
        from sklearn.base import clone as sklearn_clone  # one of scikit-learn's estimators

        return sklearn_clone(value)
    return copy.deepcopy(value)


def time_series_folds(n_samples: int, n_splits: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Scikit-learn's ``TimeSeriesSplit(n_splits)`` folds: ``n_splits`` validation
    blocks of ``n_samples // (n_splits + 1)`` rows at the end, each trained on
    every row before it."""
    folds = n_splits + 1
    if folds > n_samples:
        raise ValueError(
            f"Cannot have number of folds={folds} greater than the number of samples={n_samples}."
        )
    size = n_samples // folds
    indices = np.arange(n_samples)
    for start in range(n_samples - n_splits * size, n_samples, size):
        yield indices[:start], indices[start : start + size]
