"""Clusters, anomalies, transitions and segments."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest
from sklearn.metrics import adjusted_rand_score

from spotify_analytics.lake import Lake
from spotify_analytics.ml import anomalies, clusters, segments, sequences
from spotify_analytics.ml.plays import per_user
from spotify_analytics.ml.quadrants import quadrant_array
from spotify_analytics.ml.runs import one_thread
from spotify_analytics.ml.synthetic import planted_listening
from spotify_analytics.runner import StepContext
from spotify_analytics.settings import Settings
from spotify_analytics.steps.mood_state_clusters import mood_state_clusters

ARI_TOLERANCE = 0.9  # chosen clusterings from two seeds agree at least this well


@pytest.fixture(scope="module")
def user_arrays():
    return dict(per_user(planted_listening(users=2, days=40, seed=21)))


def test_clusters_are_stable_across_seeds(user_arrays) -> None:
    _, X = clusters.distinct_tracks(user_arrays["u0"])
    for method in clusters.CRITERIA:
        with one_thread():
            first = clusters.cluster_tracks(X, method, seed=0)
            second = clusters.cluster_tracks(X, method, seed=7)
        assert first.k == second.k == 5  # the five planted mood families
        assert adjusted_rand_score(first.labels, second.labels) >= ARI_TOLERANCE
        assert first.stability_ari >= ARI_TOLERANCE


def test_selection_table_explains_the_choice(tmp_path) -> None:
    lake = Lake.open(tmp_path / "lake", create=True)
    lake.overwrite("silver/listening_with_features", planted_listening(users=2, days=30, seed=4))
    out = mood_state_clusters(StepContext(lake, Settings(lake=lake.root)))
    selection = out["gold/cognitive/cluster_model_selection"].to_pylist()
    table = out["gold/cognitive/mood_state_clusters"].to_pylist()
    for user in ("u0", "u1"):
        kmeans = [r for r in selection if r["user_id"] == user and r["method"] == "kmeans"]
        gmm = [r for r in selection if r["user_id"] == user and r["method"] == "gmm"]
        assert [r["k"] for r in kmeans] == list(clusters.K_RANGE)
        chosen = [r for r in kmeans if r["is_chosen"]]
        assert len(chosen) == 1
        assert chosen[0]["silhouette"] == max(r["silhouette"] for r in kmeans)
        assert all(r["inertia"] is not None for r in kmeans)
        best_bic = min(gmm, key=lambda r: r["bic"])
        assert best_bic["is_chosen"] and sum(r["is_chosen"] for r in gmm) == 1
        rows = [r for r in table if r["user_id"] == user and r["method"] == "kmeans"]
        assert len(rows) == chosen[0]["k"]
        assert sum(r["n_tracks"] for r in rows) == rows[0]["n_distinct_tracks"]
        for row in rows:  # named after the quadrant of the centroid
            quadrant = quadrant_array(row["mean_valence"], row["mean_energy"]).item()
            assert row["cluster_name"].startswith(quadrant) and row["mood_quadrant"] == quadrant


def test_too_few_tracks_is_a_status_row(tmp_path) -> None:
    lake = Lake.open(tmp_path / "lake", create=True)
    small = planted_listening(users=1, days=1, sessions_per_day=1.0, seed=1).slice(0, 10)
    lake.overwrite("silver/listening_with_features", small)
    out = mood_state_clusters(StepContext(lake, Settings(lake=lake.root)))
    rows = out["gold/cognitive/cluster_model_selection"].to_pylist()
    assert {r["status"] for r in rows} == {"insufficient_data"} and {r["k"] for r in rows} == {0}
    assert out["gold/cognitive/mood_state_clusters"].num_rows == 0


def _plays(valence, energy, hours, sessions=None) -> dict[str, np.ndarray]:
    n = len(valence)
    start = datetime(2025, 3, 3)
    played = np.array([start + timedelta(minutes=4 * i) for i in range(n)], dtype="datetime64[us]")
    return {
        "play_id": np.array([f"p{i}" for i in range(n)], dtype=object),
        "played_at": played,
        "date": played.astype("datetime64[D]"),
        "hour_of_day": np.array(hours),
        "day_of_week": np.ones(n, dtype=int),
        "is_weekend": np.zeros(n, dtype=bool),
        "session_id": np.array(sessions or ["s1"] * n, dtype=object),
        "session_play_no": np.arange(1, n + 1),
        "is_skip": np.zeros(n, dtype=bool),
        "track_key": np.array([f"t{i % 7}" for i in range(n)], dtype=object),
        "track_name": np.array(["x"] * n, dtype=object),
        "artist_name": np.array(["y"] * n, dtype=object),
        "valence": np.array(valence, dtype=float),
        "energy": np.array(energy, dtype=float),
    }


def test_anomalies_have_ordered_severity() -> None:
    rng = np.random.default_rng(0)
    valence = list(0.5 + rng.normal(0, 0.05, 60))
    energy = list(0.5 + rng.normal(0, 0.05, 60))
    valence[10], valence[20], energy[30] = 0.99, 0.63, 0.01  # far, mild, far and low
    found = anomalies.find_anomalies(_plays(valence, energy, [9] * 60))
    by_id = dict(
        zip(
            found["play_id"],
            zip(
                found["severity"],
                found["severity_rank"],
                found["direction"],
                found["feature"],
                strict=True,
            ),
            strict=True,
        )
    )
    assert by_id["p10"][:3] == ("High", 3, "higher")
    assert by_id["p30"] == ("High", 3, "lower", "energy")
    for severity, rank, z in zip(
        found["severity"], found["severity_rank"], found["max_abs_z"], strict=True
    ):
        assert z > 2
        assert (severity, rank) == (
            ("High", 3) if z > 3 else ("Medium", 2) if z > 2.5 else ("Low", 1)
        )
    # an hour with fewer than MIN_HOUR_PLAYS plays is not judged
    few = anomalies.find_anomalies(_plays(valence[:5], energy[:5], [3] * 5))
    assert few["play_id"].size == 0


def test_transitions_stay_inside_sessions() -> None:
    # happy-energetic, happy-energetic | new session: sad-calm, sad-calm, happy-energetic
    plays = _plays(
        [0.9, 0.9, 0.1, 0.1, 0.9], [0.9, 0.9, 0.1, 0.1, 0.9], [9] * 5, ["a", "a", "b", "b", "b"]
    )
    found = sequences.transitions(plays)
    pairs = dict(
        zip(
            zip(found["from_quadrant"], found["to_quadrant"], strict=True),
            found["n_transitions"],
            strict=True,
        )
    )
    assert pairs == {
        ("happy-energetic", "happy-energetic"): 1,
        ("sad-calm", "sad-calm"): 1,
        ("sad-calm", "happy-energetic"): 1,
    }  # no a->b transition
    i = list(found["from_quadrant"]).index("sad-calm")
    assert found["probability"][i] == pytest.approx(0.5)
    # P(to = sad-calm) over all 3 transitions = 1/3, so lift = 0.5 / (1/3)
    j = [k for k in range(found["lift"].size) if found["to_quadrant"][k] == "sad-calm"][0]
    assert found["lift"][j] == pytest.approx(1.5)


def test_segment_rules() -> None:
    night = _plays([0.5] * 40, [0.5] * 40, [1] * 40)
    row = segments.user_segments(night)[0]
    assert row["archetype"] == "night_owl" and row["period"] == "all"
    skipper = _plays([0.5] * 40, [0.5] * 40, [14] * 40)
    skipper["is_skip"] = np.arange(40) % 2 == 0
    assert segments.user_segments(skipper)[0]["archetype"] == "skipper"
    tiny = _plays([0.5] * 5, [0.5] * 5, [14] * 5)
    assert segments.user_segments(tiny)[0]["archetype"] == "insufficient_data"
    months = segments.user_segments(_plays([0.5] * 40, [0.5] * 40, [14] * 40))
    assert [(r["period_type"], r["period"]) for r in months] == [
        ("all", "all"),
        ("month", "2025-03"),
    ]
    assert months[1]["period_start"] == date(2025, 3, 3)


def test_planted_users_get_distinct_archetypes(user_arrays) -> None:
    rows = {u: segments.user_segments(a)[0] for u, a in user_arrays.items()}
    # u0 listens around 09:00 (morning person), u1 around 16:00
    assert rows["u0"]["archetype"] == "morning_person"
    assert rows["u1"]["archetype"] != "morning_person"
    assert pa.array([r["n_plays"] for r in rows.values()]).type == pa.int64()
