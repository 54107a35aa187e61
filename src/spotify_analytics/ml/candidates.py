"""The tiny tuning grids.

Kept small on purpose (three time-ordered folds, two or three candidates) so
every model of the demo lake trains in about a second on one core. Every
candidate starts with the hour-of-week target encoding (learnt inside each
fold). Linear models get standardised inputs; boosting runs a fixed number of
rounds (no early stopping) so results are deterministic. The classifier grid
is linear only: a boosted multi-class model costs one tree per class per round
(5x the regressor) and did not beat multinomial logistic regression in
time-ordered cross-validation on the planted data.
"""

from __future__ import annotations

from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from .encoding import HourOfWeekEncoding
from .evaluation import Candidate

BOOSTING = {"max_iter": 40, "learning_rate": 0.1, "max_leaf_nodes": 8, "min_samples_leaf": 40}


def _encoding(feature_names: list[str]) -> HourOfWeekEncoding:
    return HourOfWeekEncoding(
        hour_column=feature_names.index("hour"),
        weekday_column=feature_names.index("day_of_week"),
    )


def regressors(feature_names: list[str]) -> list[Candidate]:
    def ridge(alpha: float) -> Candidate:
        steps = (_encoding(feature_names), StandardScaler(), Ridge(alpha=alpha))
        return Candidate(f"ridge_alpha_{alpha:g}", make_pipeline(*steps), {"alpha": alpha})

    boosting = HistGradientBoostingRegressor(**BOOSTING, early_stopping=False, random_state=0)
    return [
        ridge(1.0),
        ridge(100.0),
        Candidate(
            "hist_gradient_boosting",
            make_pipeline(_encoding(feature_names), boosting),
            BOOSTING,
        ),
    ]


def classifiers(feature_names: list[str]) -> list[Candidate]:
    def logistic(c: float) -> Candidate:
        steps = (
            _encoding(feature_names),
            StandardScaler(),
            LogisticRegression(C=c, max_iter=300),
        )
        return Candidate(f"logistic_c_{c:g}", make_pipeline(*steps), {"C": c})

    return [logistic(0.05), logistic(1.0)]


def catalog_regressors() -> list[Candidate]:
    """For catalog tracks (no time, so no hour-of-week encoding)."""
    boosting = HistGradientBoostingRegressor(**BOOSTING, early_stopping=False, random_state=0)
    return [
        Candidate(
            "ridge_alpha_1", make_pipeline(StandardScaler(), Ridge(alpha=1.0)), {"alpha": 1.0}
        ),
        Candidate("hist_gradient_boosting", boosting, BOOSTING),
    ]
