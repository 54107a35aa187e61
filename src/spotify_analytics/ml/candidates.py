"""The tiny tuning grids.

Kept small on purpose (three time-ordered folds, two or three candidates) so
every model of the demo lake trains in about a second on one core. Linear
models get standardised inputs; boosting runs a fixed number of rounds (no
early stopping) so results are deterministic. The classifier grid is linear
only: a boosted multi-class model costs one tree per class per round (5x the
regressor) and did not beat multinomial logistic regression in time-ordered
cross-validation on the planted data.
"""

from __future__ import annotations

from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from .evaluation import Candidate

BOOSTING = {"max_iter": 40, "learning_rate": 0.1, "max_leaf_nodes": 8, "min_samples_leaf": 40}


def regressors() -> list[Candidate]:
    return [
        Candidate(
            "ridge_alpha_1", make_pipeline(StandardScaler(), Ridge(alpha=1.0)), {"alpha": 1.0}
        ),
        Candidate(
            "ridge_alpha_100", make_pipeline(StandardScaler(), Ridge(alpha=100.0)), {"alpha": 100.0}
        ),
        Candidate(
            "hist_gradient_boosting",
            HistGradientBoostingRegressor(**BOOSTING, early_stopping=False, random_state=0),
            BOOSTING,
        ),
    ]


def classifiers() -> list[Candidate]:
    return [
        Candidate(
            "logistic_c_0.05",
            make_pipeline(StandardScaler(), LogisticRegression(C=0.05, max_iter=300)),
            {"C": 0.05},
        ),
        Candidate(
            "logistic_c_1",
            make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=300)),
            {"C": 1.0},
        ),
    ]
