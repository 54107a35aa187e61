"""audio_to_valence: grouped split on the catalog, scoring on users' real-feature tracks."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from silver_rollups import write_rollups
from spotify_analytics.lake import Lake
from spotify_analytics.ml import artifacts, catalog
from spotify_analytics.ml.artifacts import read_manifest
from spotify_analytics.ml.candidates import catalog_regressors
from spotify_analytics.ml.compiled import CompiledRegressor, compile_regressor
from spotify_analytics.ml.plays import query as run_query
from spotify_analytics.ml.plays import to_arrays
from spotify_analytics.ml.runs import one_thread
from spotify_analytics.ml.synthetic import planted_listening, synthetic_catalog
from spotify_analytics.runner import StepContext
from spotify_analytics.settings import Settings
from spotify_analytics.steps.audio_to_valence import audio_to_valence


def _lake(tmp_path, listening: pa.Table, tracks: pa.Table) -> tuple[Lake, StepContext]:
    lake = Lake.open(tmp_path / "lake", create=True)
    lake.overwrite("silver/listening_with_features", listening)
    write_rollups(lake, listening)  # the step reads user_track_plays and track_features
    lake.overwrite("silver/catalog_tracks", tracks)
    return lake, StepContext(lake, Settings(lake=lake.root))


def test_repeated_tracks_never_straddle_the_split(tmp_path) -> None:
    tracks = synthetic_catalog(3000, duplicate_share=0.3)
    ids = tracks.column("track_id").to_pylist()
    assert len(ids) > len(set(ids))  # the same track_id under several genres
    _, ctx = _lake(tmp_path, planted_listening(users=1, days=5), tracks)
    with one_thread():
        model = catalog.fit_catalog_model(ctx.sql(catalog.catalog_query()), ctx.lake.root)
    held = model.holdout
    held_groups = set(held["group_key"])
    assert not held_groups & model.train_groups
    assert not set(held["track_id"]) & model.train_ids
    # re-releases: a new id with the same artist and title sits with its original
    reissued = [i for i in ids if i.endswith("r")]
    assert reissued
    for track_id in reissued:
        assert (track_id in model.train_ids) == (track_id[:-1] in model.train_ids)


def test_catalog_model_beats_mean_and_genre_baselines(tmp_path) -> None:
    lake, ctx = _lake(tmp_path, planted_listening(users=2, days=20), synthetic_catalog(3000))
    table = audio_to_valence(ctx)["gold/predictive/audio_to_valence"]
    lake.overwrite("gold/predictive/audio_to_valence", table)
    rows = {(r["user_id"], r["metric"]): r for r in read_manifest(lake.root, "audio_to_valence")}
    r2 = rows[(catalog.CATALOG_USER, "r2")]
    assert r2["status"] == "ok" and r2["value"] > 0.5 and r2["beats_baseline"]
    assert set(json.loads(r2["baselines"])) == {"mean", "genre_mean"}
    assert rows[("u0", "r2")]["status"] == "ok"
    assert min(table.column("predicted_valence").to_pylist()) >= 0
    assert max(table.column("predicted_valence").to_pylist()) <= 1


def test_users_are_scored_only_on_real_features_the_model_did_not_see(tmp_path) -> None:
    listening = planted_listening(users=1, days=30, seed=9)
    tracks = synthetic_catalog(2000)
    # make one of the user's tracks a catalog track the model trains on
    first = tracks.slice(0, 1).to_pylist()[0]
    user_track = listening.column("track_key")[0].as_py()
    lake, ctx = _lake(tmp_path, listening, tracks)
    with one_thread():
        model = catalog.fit_catalog_model(ctx.sql(catalog.catalog_query()), lake.root)
    user_tracks = ctx.sql(catalog.user_tracks_query())
    arrays = to_arrays(user_tracks)
    assert set(arrays["feature_source"]) <= set(catalog.REAL_SOURCES)  # artist_profile excluded
    patched = user_tracks.set_column(
        user_tracks.schema.get_field_index("catalog_track_id"),
        "catalog_track_id",
        pc.if_else(
            pc.equal(user_tracks.column("track_key"), user_track),
            pa.scalar(
                first["track_id"]
                if first["track_id"] in model.train_ids
                else next(iter(model.train_ids))
            ),
            user_tracks.column("catalog_track_id"),
        ),
    )
    scored, metrics = catalog.score_users(model, patched)
    keys = set(np.concatenate([rows["track_key"] for rows in scored]).tolist())
    assert user_track not in keys and len(keys) == patched.num_rows - 1
    assert metrics[0]["n_test"] == len(keys)


def test_users_tracks_are_named_as_their_first_play(tmp_path) -> None:
    """The scored rows come from user_track_plays (a row per spelling): a track
    played under two names carries the name of its earliest play, whichever
    sorts first."""
    listening = planted_listening(users=1, days=30, seed=9)
    _, ctx = _lake(tmp_path / "before", listening, synthetic_catalog(500))
    before = ctx.sql(catalog.user_tracks_query())
    counts = pc.value_counts(listening.column("track_key")).to_pylist()
    played = {c["values"] for c in counts if c["counts"] >= 3}
    track = next(k for k in before.column("track_key").to_pylist() if k in played)
    plays = listening.filter(pc.equal(listening.column("track_key"), track))
    first = plays.sort_by("played_at").column("play_id")[0].as_py()
    names = pc.if_else(
        pc.equal(listening.column("track_key"), track),
        pc.if_else(pc.equal(listening.column("play_id"), first), "Zed (first)", "Alpha (later)"),
        listening.column("track_name"),
    )
    renamed = listening.set_column(
        listening.schema.get_field_index("track_name"), "track_name", names
    )
    lake, ctx = _lake(tmp_path / "after", renamed, synthetic_catalog(500))
    spellings = lake.read("user_track_plays").filter(pc.equal(pc.field("track_key"), track))
    first_at = {r["track_name"]: r["first_played_at"] for r in spellings.to_pylist()}
    assert first_at["Zed (first)"] < first_at["Alpha (later)"]
    after = ctx.sql(catalog.user_tracks_query())
    row = after.filter(pc.equal(after.column("track_key"), track)).to_pylist()
    assert [r["track_name"] for r in row] == ["Zed (first)"]
    assert after.num_rows == before.num_rows


def test_too_small_catalog_says_so(tmp_path) -> None:
    lake, ctx = _lake(tmp_path, planted_listening(users=1, days=5), synthetic_catalog(100))
    table = audio_to_valence(ctx)["gold/predictive/audio_to_valence"]
    assert table.num_rows == 0
    rows = read_manifest(lake.root, "audio_to_valence")
    assert {r["status"] for r in rows} == {"insufficient_data"}
    assert all("needs >=" in r["note"] for r in rows)


def test_held_out_share_is_stable_and_whole_groups(tmp_path) -> None:
    _, ctx = _lake(tmp_path, planted_listening(users=1, days=5), synthetic_catalog(6000))
    arrays = to_arrays(run_query(ctx, catalog.catalog_query(), "catalog_tracks"))
    assert abs(arrays["held_out"].mean() - catalog.HELD_OUT_SHARE) < 0.02
    flags: dict[str, set] = {}
    for key, flag in zip(arrays["group_key"], arrays["held_out"], strict=True):
        flags.setdefault(key, set()).add(bool(flag))
    assert all(len(v) == 1 for v in flags.values())
    again = to_arrays(run_query(ctx, catalog.catalog_query(), "catalog_tracks"))
    assert np.array_equal(arrays["held_out"], again["held_out"])


def test_the_compiled_model_predicts_what_scikit_learn_predicts() -> None:
    rng = np.random.default_rng(3)
    X = rng.random((3000, len(catalog.INPUTS)))
    y = 0.6 * X[:, 1] + 0.2 * rng.random(3000)
    X_new = rng.random((2000, len(catalog.INPUTS)))
    X_new[rng.random(X_new.shape) < 0.05] = np.nan  # the boosted trees route missing values
    X[rng.random(X.shape) < 0.05] = np.nan
    for candidate in catalog_regressors():
        complete = ~np.isnan(X).any(axis=1) if "ridge" in candidate.name else slice(None)
        fitted = candidate.estimator.fit(X[complete], y[complete])
        arrays = compile_regressor(fitted)
        assert arrays is not None, candidate.name
        rows = ~np.isnan(X_new).any(axis=1) if "ridge" in candidate.name else slice(None)
        compiled = CompiledRegressor(arrays)
        assert np.array_equal(compiled.predict(X_new[rows]), fitted.predict(X_new[rows]))
    assert compile_regressor(catalog_regressors()[0].estimator.steps[1][1]) is None  # bare Ridge


def test_reuse_scores_with_the_compiled_model_and_gets_the_same_table(tmp_path) -> None:
    lake, ctx = _lake(tmp_path, planted_listening(users=2, days=20), synthetic_catalog(3000))
    fresh = audio_to_valence(ctx)["gold/predictive/audio_to_valence"]
    (row,) = [
        r
        for r in read_manifest(lake.root, "audio_to_valence")
        if r["user_id"] == catalog.CATALOG_USER and r["metric"] == "r2"
    ]
    owner, version = catalog.CATALOG_USER, row["model_version"]
    folder = artifacts.model_dir(lake.root, catalog.MODEL, owner, version)
    assert (folder / artifacts.ARRAYS).is_file() and (folder / artifacts.ARTIFACT).is_file()
    users = frozenset(fresh.column("user_id").to_pylist()) - {catalog.CATALOG_USER}
    again = StepContext(lake, Settings(lake=lake.root), users=users)
    with one_thread():
        model = catalog.fit_catalog_model(again.sql(catalog.catalog_query()), lake.root, reuse=True)
    assert isinstance(model.estimator, CompiledRegressor)
    assert model.version == row["model_version"]
    reused = audio_to_valence(again)["gold/predictive/audio_to_valence"]
    order = [("user_id", "ascending"), ("track_key", "ascending")]
    assert reused.sort_by(order).equals(
        fresh.filter(pc.is_in(fresh.column("user_id"), pa.array(sorted(users)))).sort_by(order)
    )


def test_new_plays_alone_are_scored_by_the_saved_model_without_reading_the_catalog(
    tmp_path,
) -> None:
    tracks = synthetic_catalog(3000)
    lake, ctx = _lake(tmp_path, planted_listening(users=2, days=20), tracks)
    fresh = audio_to_valence(ctx)["gold/predictive/audio_to_valence"]
    users = frozenset(fresh.column("user_id").to_pylist()) - {catalog.CATALOG_USER}
    lake.overwrite("silver/catalog_tracks", tracks.slice(0, 0))  # read, it would fit no model

    def scored(changed: set[str]) -> pa.Table:
        again = StepContext(lake, Settings(lake=lake.root), users=users, changed=frozenset(changed))
        return audio_to_valence(again)["gold/predictive/audio_to_valence"]

    order = [("user_id", "ascending"), ("track_key", "ascending")]
    expected = fresh.filter(pc.is_in(fresh.column("user_id"), pa.array(sorted(users))))
    assert scored({"listening_with_features"}).sort_by(order).equals(expected.sort_by(order))
    assert scored({"listening_with_features", "catalog_tracks"}).num_rows == 0
