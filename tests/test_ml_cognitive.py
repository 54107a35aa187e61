"""Clusters, anomalies, transitions and segments."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, silhouette_score
from sklearn.mixture import GaussianMixture

from spotify_analytics.lake import Lake, conform
from spotify_analytics.ml import clusters, mixtures
from spotify_analytics.ml.cognitive import (
    anomaly_table,
    pattern_sql_table,
    segment_table,
    sequence_table,
)
from spotify_analytics.ml.plays import FEATURES, per_user
from spotify_analytics.ml.quadrants import quadrant_array, quadrant_names_sql, quadrant_sql
from spotify_analytics.ml.runs import one_thread
from spotify_analytics.ml.synthetic import planted_listening
from spotify_analytics.runner import StepContext
from spotify_analytics.settings import Settings
from spotify_analytics.steps.play_models import play_models

ARI_TOLERANCE = 0.9  # chosen clusterings from two seeds agree at least this well
LISTENING = "silver/listening_with_features"


def _context(lake: Lake, users: frozenset[str] | None = None) -> StepContext:
    return StepContext(lake, Settings(lake=lake.root), users)


def _planted_lake(root, **options) -> Lake:
    lake = Lake.open(root, create=True)
    lake.overwrite(LISTENING, planted_listening(**options))
    return lake


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> Lake:
    return _planted_lake(tmp_path_factory.mktemp("planted") / "lake", users=3, days=30, seed=4)


def _track_matrix(table: pa.Table, user: str) -> np.ndarray:
    arrays = dict(per_user(table.filter(pc.equal(table["user_id"], user))))[user]
    listened = ~arrays["is_skip"].astype(bool)
    _, first = np.unique(arrays["track_key"][listened].astype(str), return_index=True)
    return np.column_stack([arrays[name][listened][first].astype(float) for name in FEATURES])


@pytest.fixture(scope="module")
def planted_tracks() -> np.ndarray:
    return _track_matrix(planted_listening(users=2, days=40, seed=21), "u0")


def test_clusters_are_stable_across_seeds(planted_tracks) -> None:
    with one_thread():
        first = clusters.cluster_user(planted_tracks, seed=0)
        second = clusters.cluster_user(planted_tracks, seed=7)
    for method in clusters.CRITERIA:
        assert first[method].k == second[method].k == 5  # the five planted mood families
        agreement = adjusted_rand_score(first[method].labels, second[method].labels)
        assert agreement >= ARI_TOLERANCE
        assert first[method].stability_ari >= ARI_TOLERANCE


def test_a_fit_sample_still_labels_every_track(planted_tracks) -> None:
    with one_thread():
        full = clusters.cluster_user(planted_tracks, seed=0)
        sampled = clusters.cluster_user(planted_tracks, seed=0, fit_tracks=150)
    for method in clusters.CRITERIA:
        assert sampled[method].labels.size == planted_tracks.shape[0]
        assert sampled[method].k == 5
        agreement = adjusted_rand_score(full[method].labels, sampled[method].labels)
        assert agreement >= ARI_TOLERANCE


def test_silhouette_on_the_sample_is_exact() -> None:
    rng = np.random.default_rng(3)
    X = np.vstack([rng.normal(centre, 1.0, (60, 3)) for centre in (0, 4, 8)])
    labels = np.repeat([0, 1, 2], 60)
    labels[5] = 2  # a misplaced point gives a negative silhouette
    labels[-1] = 3  # and a singleton cluster scores 0
    sample = clusters.Silhouette(X, 100, seed=1)
    expected = silhouette_score(X[sample.index], labels[sample.index])
    assert sample.score(labels) == pytest.approx(expected, abs=1e-12)
    assert clusters.Silhouette(X, 1000, seed=1).score(labels) == pytest.approx(
        silhouette_score(X, labels), abs=1e-12
    )


def test_mixtures_match_scikit_learn(planted_tracks) -> None:
    X = clusters.standardise(planted_tracks)
    with one_thread():
        ours = mixtures.kmeans(X, 5, seed=0)
        theirs = KMeans(n_clusters=5, n_init=4, random_state=0).fit(X)
        assert ours.inertia == pytest.approx(theirs.inertia_, rel=1e-6)
        assert adjusted_rand_score(ours.labels, theirs.labels_) == pytest.approx(1.0)
        for k in (3, 5):
            start = mixtures.kmeans(X, k, seed=0)
            mixture = mixtures.gaussian_mixture(X, start.labels, k)
            members = np.eye(k)[start.labels]
            counts = members.sum(axis=0)
            means = members.T @ X / counts[:, None]
            variances = members.T @ X**2 / counts[:, None] - means**2 + mixtures.REG_COVAR
            reference = GaussianMixture(
                n_components=k,
                covariance_type="diag",
                weights_init=counts / counts.sum(),
                means_init=means,
                precisions_init=1 / variances,
                reg_covar=mixtures.REG_COVAR,
            ).fit(X)
            assert mixture.converged and reference.converged_
            assert mixture.bic == pytest.approx(reference.bic(X), rel=1e-6)
            assert mixture.aic == pytest.approx(reference.aic(X), rel=1e-6)
            assert (mixture.predict(X) == reference.predict(X)).mean() > 0.99


def test_adjusted_rand_matches_scikit_learn() -> None:
    rng = np.random.default_rng(5)
    cases = [(rng.integers(0, 4, 300), rng.integers(0, 5, 300)) for _ in range(5)]
    same = rng.integers(0, 3, 50)
    cases += [(same, same), (same, (same + 1) % 3), (np.zeros(9), np.zeros(9))]
    cases += [(np.zeros(9), np.arange(9)), (np.arange(9), np.arange(9))]
    for first, second in cases:
        expected = adjusted_rand_score(first, second)
        assert mixtures.adjusted_rand(first, second) == pytest.approx(expected, abs=1e-12)


def test_selection_table_explains_the_choice(planted) -> None:
    out = play_models(_context(planted))
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
    lake.overwrite(LISTENING, small)
    out = play_models(_context(lake))
    rows = out["gold/cognitive/cluster_model_selection"].to_pylist()
    assert {r["status"] for r in rows} == {"insufficient_data"} and {r["k"] for r in rows} == {0}
    assert out["gold/cognitive/mood_state_clusters"].num_rows == 0


def test_a_user_without_features_gets_status_rows(tmp_path) -> None:
    plays = planted_listening(users=2, days=3, seed=2)
    unknown = pc.equal(plays["user_id"], "u1")
    for name in FEATURES:  # u1's tracks were never matched to features
        column = plays.schema.get_field_index(name)
        values = pc.if_else(unknown, pa.scalar(None, pa.float64()), plays[name])
        plays = plays.set_column(column, name, values)
    lake = Lake.open(tmp_path / "lake", create=True)
    lake.overwrite(LISTENING, plays)
    rows = play_models(_context(lake))["gold/cognitive/cluster_model_selection"]
    u1 = [r for r in rows.to_pylist() if r["user_id"] == "u1"]
    assert [(r["method"], r["k"], r["status"]) for r in u1] == [
        ("kmeans", 0, "insufficient_data"),
        ("gmm", 0, "insufficient_data"),
    ]
    assert {r["n_distinct_tracks"] for r in u1} == {0}
    assert {r["status"] for r in rows.to_pylist() if r["user_id"] == "u0"} == {"ok"}


STEPS = {
    "play_models": play_models,
}


@pytest.mark.parametrize("name", sorted(STEPS))
def test_one_users_run_equals_the_full_run_for_that_user(planted, name) -> None:
    step = STEPS[name]
    full = step(_context(planted))
    alone = step(_context(planted, frozenset({"u1"})))
    for location, table in full.items():
        expected = table.filter(pc.equal(table["user_id"], "u1"))
        assert expected.num_rows > 0
        assert alone[location].equals(expected), location


# -- anomalies, transitions and segments over hand-made plays -------------------------


def _plays(valence, energy, hours, sessions=None, **extra) -> pa.Table:
    n = len(valence)
    start = datetime(2025, 3, 3)
    played = np.array([start + timedelta(minutes=4 * i) for i in range(n)], dtype="datetime64[us]")
    columns = {
        "user_id": ["u0"] * n,
        "play_id": [f"p{i:03d}" for i in range(n)],
        "played_at": pa.array(played).cast(pa.timestamp("us", tz="UTC")),
        "date": pa.array(played.astype("datetime64[D]")),
        "hour_of_day": hours,
        "day_of_week": [1] * n,
        "is_weekend": [False] * n,
        "session_id": sessions or ["s1"] * n,
        "session_play_no": list(range(1, n + 1)),
        "is_skip": [False] * n,
        "is_music": [True] * n,
        "track_key": [f"t{i % 7}" for i in range(n)],
        "track_name": ["x"] * n,
        "artist_name": ["y"] * n,
        "feature_source": ["spotify_api"] * n,
        "valence": valence,
        "energy": energy,
        **extra,
    }
    schema = planted_listening(users=1, days=1, seed=0).schema
    return conform(pa.table(columns), schema)


def _lake_of(tmp_path, table: pa.Table) -> StepContext:
    lake = Lake.open(tmp_path / "lake", create=True)
    lake.overwrite(LISTENING, table)
    return _context(lake)


def test_anomalies_have_ordered_severity(tmp_path) -> None:
    rng = np.random.default_rng(0)
    valence = list(0.5 + rng.normal(0, 0.05, 60))
    energy = list(0.5 + rng.normal(0, 0.05, 60))
    valence[10], valence[20], energy[30] = 0.99, 0.63, 0.01  # far, mild, far and low
    few = [3] * 5 + [9] * 55  # an hour with fewer than MIN_HOUR_PLAYS plays is not judged
    found = anomaly_table(_lake_of(tmp_path, _plays(valence, energy, few))).to_pylist()
    by_id = {r["play_id"]: r for r in found}
    assert (by_id["p010"]["severity"], by_id["p010"]["severity_rank"]) == ("High", 3)
    assert by_id["p010"]["direction"] == "higher" and by_id["p010"]["feature"] == "valence"
    assert [by_id["p030"][c] for c in ("severity", "direction", "feature")] == [
        "High",
        "lower",
        "energy",
    ]
    assert {r["hour_of_day"] for r in found} == {9} and found[0]["n_hour_plays"] == 55
    for row in found:
        assert row["max_abs_z"] > 2
        z = row["max_abs_z"]
        expected = ("High", 3) if z > 3 else ("Medium", 2) if z > 2.5 else ("Low", 1)
        assert (row["severity"], row["severity_rank"]) == expected
        assert row["z_valence"] == pytest.approx(
            (row["valence"] - row["hour_mean_valence"]) / row["hour_std_valence"]
        )
    hour = np.array(valence[5:])
    assert found[0]["hour_mean_valence"] == pytest.approx(hour.mean())
    assert found[0]["hour_std_valence"] == pytest.approx(hour.std(ddof=1))


def test_a_play_stored_twice_counts_once(tmp_path) -> None:
    plays = _plays([0.5] * 40, [0.5] * 40, [14] * 40)
    first = plays.slice(0, 1)
    copy = first.set_column(first.schema.get_field_index("play_id"), "play_id", pa.array(["p999"]))
    ctx = _lake_of(tmp_path, pa.concat_tables([plays, copy]))
    row = segment_table(ctx).to_pylist()[0]
    assert row["n_plays"] == 40
    transitions = sequence_table(ctx).to_pylist()
    assert sum(r["n_transitions"] for r in transitions) == 39


def test_transitions_stay_inside_sessions(tmp_path) -> None:
    # happy-energetic, happy-energetic | new session: sad-calm, sad-calm, happy-energetic
    plays = _plays(
        [0.9, 0.9, 0.1, 0.1, 0.9], [0.9, 0.9, 0.1, 0.1, 0.9], [9] * 5, ["a", "a", "b", "b", "b"]
    )
    found = sequence_table(_lake_of(tmp_path, plays)).to_pylist()
    pairs = {(r["from_quadrant"], r["to_quadrant"]): r for r in found}
    assert {pair: r["n_transitions"] for pair, r in pairs.items()} == {
        ("happy-energetic", "happy-energetic"): 1,
        ("sad-calm", "sad-calm"): 1,
        ("sad-calm", "happy-energetic"): 1,
    }  # no a->b transition
    assert pairs["sad-calm", "sad-calm"]["probability"] == pytest.approx(0.5)
    # P(to = sad-calm) over all 3 transitions = 1/3, so lift = 0.5 / (1/3)
    assert pairs["sad-calm", "sad-calm"]["lift"] == pytest.approx(1.5)
    assert pairs["sad-calm", "sad-calm"]["expected_transitions"] == pytest.approx(2 / 3)


def test_segment_rules(tmp_path) -> None:
    night = segment_table(_lake_of(tmp_path / "night", _plays([0.5] * 40, [0.5] * 40, [1] * 40)))
    row = night.to_pylist()[0]
    assert row["archetype"] == "night_owl" and row["period"] == "all"
    skips = [i % 2 == 0 for i in range(40)]
    skipper = _plays([0.5] * 40, [0.5] * 40, [14] * 40, is_skip=skips)
    row = segment_table(_lake_of(tmp_path / "skip", skipper)).to_pylist()[0]
    assert row["archetype"] == "skipper" and row["traits"][0] == "skipper"
    assert row["skip_rate"] == 0.5
    tiny = segment_table(_lake_of(tmp_path / "tiny", _plays([0.5] * 5, [0.5] * 5, [14] * 5)))
    assert tiny.to_pylist()[0]["archetype"] == "insufficient_data"
    months = segment_table(_lake_of(tmp_path / "months", _plays([0.5] * 40, [0.5] * 40, [14] * 40)))
    rows = months.to_pylist()
    assert [(r["period_type"], r["period"]) for r in rows] == [("all", "all"), ("month", "2025-03")]
    assert rows[1]["period_start"] == date(2025, 3, 3)
    # 7 tracks played in turn: each first play is new; the top 10 hold every play
    assert rows[0]["new_track_share"] == pytest.approx(7 / 40)
    assert rows[0]["top10_share"] == 1.0 and rows[0]["distinct_tracks"] == 7


def test_planted_users_get_distinct_archetypes(planted) -> None:
    rows = {
        r["user_id"]: r
        for r in segment_table(_context(planted)).to_pylist()
        if r["period_type"] == "all"
    }
    # u0 listens around 09:00 (morning person), u1 around 16:00
    assert rows["u0"]["archetype"] == "morning_person"
    assert rows["u1"]["archetype"] != "morning_person"


def test_quadrant_sql_matches_the_numpy_rule() -> None:
    grid = np.array([0.0, 0.39, 0.4, 0.41, 0.59, 0.6, 0.61, 1.0])
    valence, energy = (values.ravel() for values in np.meshgrid(grid, grid))
    code = quadrant_sql("v", "e", codes=True)
    sql = f"select {quadrant_sql('v', 'e')} as q, {quadrant_names_sql(code)} as c from points"
    points = pa.table({"v": valence, "e": energy})  # noqa: F841 (read by DuckDB)
    found = duckdb.sql(sql).fetchnumpy()
    assert list(found["q"]) == list(quadrant_array(valence, energy))
    assert list(found["c"]) == list(found["q"])


@pytest.mark.parametrize(
    "name", ["listening_anomalies", "sequential_patterns", "behavioral_segments"]
)
def test_per_user_numpy_rows_equal_the_sql_rule(planted, tmp_path, name) -> None:
    """The tables built per user in NumPy equal the same rule stated in SQL
    (doubles to rounding), duplicates of a play included."""
    table = planted.read("listening_with_features")
    first = table.slice(0, 1)
    copy = first.set_column(first.schema.get_field_index("play_id"), "play_id", pa.array(["zz"]))
    ctx = _lake_of(tmp_path, pa.concat_tables([table, copy]))
    ours = {
        "listening_anomalies": anomaly_table,
        "sequential_patterns": sequence_table,
        "behavioral_segments": segment_table,
    }[name](ctx)
    theirs = pattern_sql_table(ctx, name)
    assert ours.num_rows == theirs.num_rows > 0
    assert ours.schema == theirs.schema
    for column in ours.column_names:
        mine, sql = ours.column(column).to_pylist(), theirs.column(column).to_pylist()
        if pa.types.is_floating(ours.schema.field(column).type):
            assert mine == pytest.approx(sql, rel=1e-9, abs=1e-12), column
        else:
            assert mine == sql, column
