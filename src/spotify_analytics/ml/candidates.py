"""The tiny tuning grids.

Kept small on purpose (three time-ordered folds, a handful of candidates) so
every model of the demo lake trains in well under a second on one core.

Every grid starts with a no-skill candidate (the training mean, or the
majority class): when no model beats it in time-ordered cross-validation, the
model *is* that baseline and claims no lift. The other candidates start with
the hour-of-week target encoding (learnt inside each fold). Linear models get
standardised inputs; boosting runs a fixed number of rounds (no early
stopping) so results are deterministic. The classifier grid is linear only: a
boosted multi-class model costs one tree per class per round and did not beat
multinomial logistic regression in time-ordered cross-validation.
"""

from __future__ import annotations

from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from .encoding import HourOfWeekEncoding, HourOfWeekOffset
from .evaluation import Candidate

BOOSTING = {"max_iter": 40, "learning_rate": 0.1, "max_leaf_nodes": 8, "min_samples_leaf": 40}


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


def regressors(feature_names: list[str], *, boosting: bool = True) -> list[Candidate]:
    """Mostly the hour-of-week mean plus a learnt correction (HourOfWeekOffset); one
    candidate shrinks towards the global mean instead, for users without a time pattern."""

    def offset(model: object) -> HourOfWeekOffset:
        return HourOfWeekOffset(_encoding(feature_names), model)

    def ridge(alpha: float) -> Candidate:
        model = offset(make_pipeline(StandardScaler(), Ridge(alpha=alpha)))
        return Candidate(f"ridge_alpha_{alpha:g}", model, {"alpha": alpha})

    booster = HistGradientBoostingRegressor(**BOOSTING, early_stopping=False, random_state=0)
    shrunk_to_mean = make_pipeline(_encoding(feature_names), StandardScaler(), Ridge(alpha=100.0))
    return [
        Candidate("training_mean", DummyRegressor(strategy="mean"), {}),
        Candidate("ridge_alpha_100_no_offset", shrunk_to_mean, {"alpha": 100.0, "offset": None}),
        ridge(1.0),
        ridge(100.0),
    ] + ([Candidate("hist_gradient_boosting", offset(booster), BOOSTING)] if boosting else [])


def classifiers(feature_names: list[str]) -> list[Candidate]:
    def logistic(c: float) -> Candidate:
        steps = (
            _encoding(feature_names),
            StandardScaler(),
            LogisticRegression(C=c, max_iter=300),
        )
        return Candidate(f"logistic_c_{c:g}", make_pipeline(*steps), {"C": c})

    majority = Candidate("majority_class", DummyClassifier(strategy="prior"), {})
    return [majority, logistic(0.05), logistic(0.3)]


def catalog_regressors() -> list[Candidate]:
    """For catalog tracks (no time, so no hour-of-week encoding)."""
    boosting = HistGradientBoostingRegressor(**BOOSTING, early_stopping=False, random_state=0)
    return [
        Candidate(
            "ridge_alpha_1", make_pipeline(StandardScaler(), Ridge(alpha=1.0)), {"alpha": 1.0}
        ),
        Candidate("hist_gradient_boosting", boosting, BOOSTING),
    ]
