"""The shared evaluation protocol: split, baselines, metrics, bootstrap, tuning."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute  # noqa: F401
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import Ridge
from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error, r2_score

from spotify_analytics.ml.evaluation import (
    CLASSIFICATION_METRICS,
    REGRESSION_METRICS,
    Candidate,
    classification_baselines,
    regression_baselines,
    score,
    temporal_split,
    tune,
)
from spotify_analytics.ml.features import context_features
from spotify_analytics.ml.plays import mood_plays, per_user
from spotify_analytics.ml.synthetic import planted_listening

BASE = np.datetime64("2025-01-01T00:00:00", "us")


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(0, 500), min_size=2, max_size=300),
    st.floats(0.1, 0.5),
    st.integers(1, 400),
)
def test_split_is_temporal_and_never_straddles(offsets, fraction, max_train) -> None:
    times = BASE + np.array(offsets, dtype="timedelta64[m]")
    split = temporal_split(times, test_fraction=fraction, max_train=max_train)
    assert not (split.train & split.test).any()
    if split.n_train and split.n_test:
        assert times[split.train].max() < times[split.test].min()
    # equal timestamps (duplicates of a moment) land on one side only
    assert not set(times[split.train].tolist()) & set(times[split.test].tolist())
    assert split.n_train <= max_train
    assert split.n_test >= 1


def test_training_cap_keeps_the_most_recent_rows() -> None:
    times = BASE + np.arange(1000).astype("timedelta64[m]")
    split = temporal_split(times, test_fraction=0.2, max_train=100)
    assert split.n_train == 100 and split.n_test == 200
    assert np.flatnonzero(split.train).tolist() == list(range(700, 800))


def test_baselines_come_from_training_rows_only() -> None:
    y_train = np.array([0.2, 0.4, 0.6, 0.8])
    how_train = np.array([0, 0, 1, 25])  # Monday 00:00 twice, Monday 01:00, Tuesday 01:00
    how_test = np.array([0, 1, 49, 100])  # 49: unseen slot, hour 1 seen; 100: hour 4 unseen
    previous = np.array([np.nan, 0.9, 0.1, 0.5])
    guess = regression_baselines(y_train, how_train, how_test, previous)
    assert guess["mean"].tolist() == pytest.approx([0.5] * 4)
    assert guess["hour_of_week_mean"].tolist() == pytest.approx([0.3, 0.6, 0.7, 0.5])
    assert guess["persistence"].tolist() == pytest.approx([0.5, 0.9, 0.1, 0.5])
    labels = np.array(["a", "b", "b", "c"], dtype=object)
    classes = classification_baselines(
        labels, how_train, how_test, np.array([None, "c", "a", "a"], dtype=object)
    )
    assert classes["majority"].tolist() == ["b"] * 4
    assert classes["hour_of_week_mode"].tolist() == ["a", "b", "b", "b"]
    assert classes["persistence"].tolist() == ["b", "c", "a", "a"]


def test_metrics_match_scikit_learn() -> None:
    rng = np.random.default_rng(1)
    y, p = rng.random(200), rng.random(200)
    r2, mae = REGRESSION_METRICS
    assert r2(y, p) == pytest.approx(r2_score(y, p))
    assert mae(y, p) == pytest.approx(mean_absolute_error(y, p))
    labels = np.array(list("abcde"), dtype=object)
    yc, pc = labels[rng.integers(0, 5, 300)], labels[rng.integers(0, 4, 300)]
    accuracy, macro_f1 = CLASSIFICATION_METRICS
    assert accuracy(yc, pc) == pytest.approx(accuracy_score(yc, pc))
    assert macro_f1(yc, pc) == pytest.approx(f1_score(yc, pc, average="macro"))


def test_score_picks_the_best_baseline_and_brackets_the_lift() -> None:
    rng = np.random.default_rng(2)
    y = rng.random(400)
    good = y + rng.normal(0, 0.05, 400)
    baselines = {"mean": np.full(400, 0.5), "noisy": y + rng.normal(0, 0.2, 400)}
    days = np.repeat(np.arange(40), 10)
    rows = {row["metric"]: row for row in score(REGRESSION_METRICS, y, good, baselines, days)}
    assert rows["r2"]["baseline"] == "noisy" and rows["mae"]["baseline"] == "noisy"
    for row in rows.values():
        assert row["lift"] > 0 and row["beats_baseline"]
        assert row["lift_ci_low"] <= row["lift"] <= row["lift_ci_high"]
    worse = score(REGRESSION_METRICS, y, baselines["mean"], baselines, days)
    assert not any(row["beats_baseline"] for row in worse)


def test_tuning_folds_respect_time() -> None:
    """A model that memorises the future would win a shuffled CV; time-ordered folds
    validate each fold only on rows after its training rows."""
    seen: list[tuple[int, int]] = []

    class Recorder(Ridge):
        def fit(self, X, y):
            seen.append((int(X[:, 0].max()), 0))
            return super().fit(X, y)

        def predict(self, X):
            seen[-1] = (seen[-1][0], int(X[:, 0].min()))
            return super().predict(X)

    X = np.arange(300, dtype=float).reshape(-1, 1)
    best, scores, _ = tune([Candidate("r", Recorder())], X, X[:, 0] * 2, REGRESSION_METRICS[0])
    assert best.name == "r" and len(seen) == 3
    assert all(train_max < valid_min for train_max, valid_min in seen)
    seen.clear()
    tune([Candidate("r", Recorder())], X, X[:, 0] * 2, REGRESSION_METRICS[0], n_splits=1)
    assert seen == [(239, 240)]  # one holdout: the last 20% of the rows


def test_context_features_use_only_earlier_plays() -> None:
    """Changing a play's own features (or later plays') never changes its row."""
    table = planted_listening(users=1, days=5, seed=4)
    _, arrays = next(per_user(table))
    plays = mood_plays(arrays)
    X, names = context_features(plays)
    changed = {k: v.copy() for k, v in plays.items()}
    k = plays["valence"].size // 2
    changed["valence"][k:] = 1 - changed["valence"][k:]
    changed["energy"][k:] = 1 - changed["energy"][k:]
    X2, _ = context_features(changed)
    assert np.array_equal(X[: k + 1], X2[: k + 1])
    assert not np.array_equal(X[k + 1 :], X2[k + 1 :])
    assert "prev_valence" in names and "valence" not in names


def test_users_stream_across_batch_boundaries() -> None:
    table = planted_listening(users=3, days=3, seed=6)
    whole = {u: a["play_id"].tolist() for u, a in per_user(table)}
    streamed = {u: a["play_id"].tolist() for u, a in per_user(table.to_batches(max_chunksize=7))}
    assert streamed == whole and len(whole) == 3


def test_a_users_model_does_not_depend_on_the_other_users(tmp_path) -> None:
    from spotify_analytics.ml.context import fit_context_model, prediction_table
    from spotify_analytics.ml.runs import fit_users, one_thread
    from spotify_analytics.ml.training import Protocol

    users = list(per_user(planted_listening(users=3, days=40, seed=2)))

    def run(chosen):
        def fit(user_id, arrays):
            return fit_context_model("mood_classifications", user_id, arrays, tmp_path, Protocol())

        with one_thread():
            return fit_users(chosen, fit, lambda r: prediction_table("mood_classifications", r))

    table, rows = run(users)
    alone, alone_rows = run(users[2:])
    assert {r["user_id"] for r in rows} == {"u0", "u1", "u2"}
    last = table.filter(pa.compute.equal(table.column("user_id"), "u2"))
    assert alone.equals(last) and alone_rows == [r for r in rows if r["user_id"] == "u2"]


def test_users_are_read_in_bounded_chunks(lake, settings, monkeypatch) -> None:
    from spotify_analytics.ml import plays
    from spotify_analytics.runner import StepContext

    table = planted_listening(users=5, days=4, seed=12)
    lake.overwrite("silver/listening_with_features", table)
    monkeypatch.setattr(plays, "CHUNK_ROWS", 150)  # several users per chunk, some alone
    streamed = {u: a["play_id"].size for u, a in plays.user_plays(StepContext(lake, settings))}
    whole = {u: a["play_id"].size for u, a in per_user(table)}
    assert streamed == whole and list(streamed) == sorted(streamed)
    assert list(plays._user_chunks([("a", 100), ("b", 100), ("c", 300), ("d", 1)], 150)) == [
        ("a", "a"),
        ("b", "b"),
        ("c", "c"),
        ("d", "d"),
    ]
    assert list(plays._user_chunks([("a", 50), ("b", 50), ("c", 60)], 150)) == [
        ("a", "b"),
        ("c", "c"),
    ]


def test_lean_estimators_match_scikit_learn(monkeypatch) -> None:
    """EncodedRidge and EncodedLogistic are scikit-learn's StandardScaler + Ridge and
    multinomial LogisticRegression after the same encoding, computed in NumPy. The
    logistic model stops early (single precision, a loose gradient tolerance): at
    that tolerance its probabilities lie within a few thousandths of scikit-learn's
    (2.1e-3 at most on one machine, 1.6e-4 on average), and solved tighter they meet
    scikit-learn's optimum."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from spotify_analytics.ml import candidates
    from spotify_analytics.ml.candidates import EncodedLogistic, EncodedRidge, _encoding
    from spotify_analytics.ml.context import context_data

    arrays = next(iter(per_user(planted_listening(users=1, days=40, seed=4))))[1]
    for model in ("mood_predictions", "mood_classifications"):
        data = context_data(model, "u0", mood_plays(arrays))
        X, y = data.X, data.y
        encoding = _encoding(data.feature_names)
        if model == "mood_predictions":
            lean = EncodedRidge(encoding, alpha=10.0, offset=False).fit(X, y)
            reference = make_pipeline(encoding, StandardScaler(), Ridge(alpha=10.0)).fit(X, y)
            assert np.allclose(lean.predict(X), reference.predict(X), atol=1e-9)
        else:
            lean = EncodedLogistic(encoding, C=0.05, max_iter=500).fit(X, y)
            reference = make_pipeline(
                encoding, StandardScaler(), LogisticRegression(C=0.05, max_iter=500, tol=1e-8)
            ).fit(X, y)
            assert list(lean.classes_) == list(reference.classes_)
            expected = reference.predict_proba(X)
            gaps = np.abs(lean.predict_proba(X) - expected)
            assert gaps.max() < 5e-3 and gaps.mean() < 5e-4
            assert np.mean(lean.predict(X) == reference.predict(X)) > 0.99
            monkeypatch.setattr(candidates, "LOGISTIC_GTOL", 1e-6)
            tight = EncodedLogistic(encoding, C=0.05, max_iter=500).fit(X, y)
            assert np.allclose(tight.predict_proba(X), expected, atol=5e-4)


@pytest.mark.parametrize("model", ["mood_predictions", "mood_classifications"])
def test_plays_older_than_the_training_window_change_nothing(tmp_path, model) -> None:
    """Features are computed from a little before the first training row on; the
    model and its predictions are those from every play."""
    from spotify_analytics.ml.candidates import classifiers, regressors
    from spotify_analytics.ml.context import context_data, fit_context_model
    from spotify_analytics.ml.runs import one_thread
    from spotify_analytics.ml.training import Protocol, run_task

    arrays = next(iter(per_user(planted_listening(users=1, days=40, seed=3))))[1]
    protocol = Protocol(max_train=400, classifier_max_train=400)  # most plays left out
    with one_thread():
        trimmed, kept = fit_context_model(model, "u0", arrays, tmp_path / "a", protocol)
        data = context_data(model, "u0", mood_plays(arrays))
        grid = regressors if data.kind == "regression" else classifiers
        whole = run_task(data, grid(data.feature_names), tmp_path / "b", protocol)
    assert kept["play_id"].size < mood_plays(arrays)["play_id"].size  # rows were trimmed
    assert trimmed.candidate == whole.candidate
    assert np.array_equal(trimmed.test.sum(), whole.test.sum())
    if data.kind == "regression":  # running sums from another start: rounding only
        assert np.allclose(trimmed.prediction, whole.prediction, rtol=0, atol=1e-9)
    else:
        assert np.mean(trimmed.prediction == whole.prediction) > 0.99
