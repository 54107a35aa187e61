"""Predictive models on a lake with planted patterns, on shuffled labels, and on tiny users."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from silver_rollups import write_rollups
from spotify_analytics.lake import Lake
from spotify_analytics.ml import artifacts
from spotify_analytics.ml.reproduce import reproduce_predictions
from spotify_analytics.ml.steps import ml_steps
from spotify_analytics.ml.synthetic import planted_listening, synthetic_catalog
from spotify_analytics.pipeline import run as run_pipeline
from spotify_analytics.quality import QualityGate, grain_path
from spotify_analytics.runner import StepContext
from spotify_analytics.settings import Settings

PRIMARY = {"mood_predictions": "r2", "mood_classifications": "accuracy", "energy_forecasts": "r2"}
CONTEXT_MODELS = ("mood_predictions", "mood_classifications", "energy_forecasts")
NO_LIFT_TOLERANCE = 0.03  # shuffled labels: |primary-metric lift| must stay within this


def PLANTED() -> pa.Table:  # noqa: N802
    return planted_listening(users=3, days=90, seed=11, phi=0.5)


def _build(
    root,
    listening: pa.Table,
    steps=("play_models", "audio_to_valence", "model_performance_metrics"),
):
    lake = Lake.open(root, create=True)
    lake.overwrite("silver/listening_with_features", listening)
    write_rollups(lake, listening)  # audio_to_valence reads the per-track rollups
    lake.overwrite("silver/catalog_tracks", synthetic_catalog(1500))
    settings = Settings(lake=lake.root)
    ctx = StepContext(lake, settings)
    for step in ml_steps():
        if step.name in steps:
            for location, table in step.function(ctx).items():
                lake.overwrite(location, table)
    return lake, settings


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    return _build(tmp_path_factory.mktemp("planted") / "lake", PLANTED())


def _metrics(lake: Lake) -> list[dict]:
    return lake.read("model_performance_metrics").to_pylist()


def test_every_context_model_beats_its_strongest_baseline(planted) -> None:
    lake, _ = planted
    rows = [r for r in _metrics(lake) if r["metric"] == PRIMARY.get(r["model"])]
    assert len(rows) == 9  # 3 users x 3 context models
    for row in rows:
        assert row["status"] == "ok"
        best = max(json.loads(row["baselines"]).values())
        assert row["baseline_value"] == pytest.approx(best)  # strongest of mean/how/persistence
        assert row["lift"] > 0, row
        assert row["value"] > row["baseline_value"]
    valence = [r for r in rows if r["model"] == "mood_predictions"]
    assert all(r["beats_baseline"] for r in valence)  # 90% interval of the lift above zero


def test_shuffled_labels_claim_no_lift(tmp_path) -> None:
    lake, _ = _build(tmp_path / "lake", planted_listening(users=2, days=60, seed=5, shuffle=True))
    rows = [r for r in _metrics(lake) if r["metric"] == PRIMARY.get(r["model"])]
    assert len(rows) == 6
    for row in rows:
        assert row["lift"] <= NO_LIFT_TOLERANCE, row
        assert row["lift"] >= -NO_LIFT_TOLERANCE, row
        assert not row["beats_baseline"], row


def test_no_play_or_duplicate_of_a_play_is_in_train_and_test(tmp_path) -> None:
    table = planted_listening(users=1, days=40, seed=3)
    duplicated = pa.concat_tables([table, table.slice(100, 300)])  # same play_id twice
    other_id = table.slice(2000, 200).set_column(
        0, "play_id", pc.binary_join_element_wise(table.slice(2000, 200).column("play_id"), "x", "")
    )  # the same play (user, track, played_at) under another id
    lake, _ = _build(
        tmp_path / "lake", pa.concat_tables([duplicated, other_id]), steps=("play_models",)
    )
    predicted = lake.read("mood_predictions")
    version = predicted.column("model_version")[0].as_py()
    _, card = artifacts.load_model(lake.root, "mood_predictions", "u0", version)
    cutoff = np.datetime64(card["cutoff"].rstrip("Z"), "us")
    plays = table.filter(pc.invert(table.column("is_skip")))
    times = plays.column("played_at").cast(pa.timestamp("us")).to_numpy()
    train_ids = set(plays.column("play_id").to_numpy(zero_copy_only=False)[times < cutoff])
    test_ids = predicted.column("play_id").to_pylist()
    assert len(test_ids) == len(set(test_ids))  # duplicates collapsed
    assert not train_ids & set(test_ids)
    moments = [
        (k, t)
        for k, t in zip(
            predicted.column("track_key").to_pylist(),
            predicted.column("played_at").to_pylist(),
            strict=True,
        )
    ]
    assert len(moments) == len(set(moments))
    assert card["n_train"] + card["n_test"] == plays.num_rows  # every distinct play once
    assert min(predicted.column("played_at").to_pylist()).replace(tzinfo=None) >= cutoff.astype(
        object
    )


def test_small_users_get_a_status_row_not_a_number(tmp_path) -> None:
    table = planted_listening(users=2, days=60, seed=8)
    small = table.filter(pc.equal(table.column("user_id"), "u1")).slice(0, 80)
    big = table.filter(pc.equal(table.column("user_id"), "u0"))
    lake, _ = _build(tmp_path / "lake", pa.concat_tables([big, small]))
    rows = [r for r in _metrics(lake) if r["user_id"] == "u1" and r["model"] in CONTEXT_MODELS]
    assert {r["model"] for r in rows} == set(CONTEXT_MODELS)
    for row in rows:
        assert row["status"] == "insufficient_data" and row["value"] is None
        assert row["n_train"] < 200 and "needs >=" in row["note"]
    assert "u1" not in lake.read("mood_predictions").column("user_id").to_pylist()
    assert "u0" in lake.read("mood_predictions").column("user_id").to_pylist()


@pytest.mark.parametrize("model", CONTEXT_MODELS)
def test_saved_model_reproduces_the_stored_predictions(planted, model) -> None:
    lake, settings = planted
    stored = lake.read(model).filter(pc.equal(lake.read(model).column("user_id"), "u1"))
    again = reproduce_predictions(lake, settings, model, "u1")
    column = {
        "mood_predictions": "predicted_valence",
        "energy_forecasts": "predicted_energy",
        "mood_classifications": "predicted_quadrant",
    }[model]
    assert again.num_rows == stored.num_rows > 0
    assert again.column("predicted").to_pylist() == stored.column(column).to_pylist()
    if model == "mood_classifications":
        assert again.column("probability").to_pylist() == stored.column("probability").to_pylist()


def test_model_cards_and_versions(planted, tmp_path) -> None:
    lake, _ = planted
    listed = [m for m in artifacts.list_models(lake.root) if m["model"] == "mood_predictions"]
    assert {m["user_id"] for m in listed} == {"u0", "u1", "u2"}
    card = json.loads(
        (
            artifacts.model_dir(lake.root, "mood_predictions", "u0", listed[0]["version"])
            / "card.json"
        ).read_text()
    )
    for key in (
        "features",
        "params",
        "train_from",
        "train_to",
        "metrics",
        "sklearn_version",
        "data_fingerprint",
        "cutoff",
        "cv_scores",
    ):
        assert card[key], key
    # same data -> same version: rebuilding rewrites the version instead of piling up copies
    again, _ = _build(tmp_path / "again", PLANTED(), steps=("play_models",))
    rebuilt = [m for m in artifacts.list_models(again.root) if m["model"] == "mood_predictions"]
    assert {m["version"] for m in rebuilt} == {m["version"] for m in listed}


def test_odd_user_ids_get_safe_unique_folders() -> None:
    assert artifacts.user_folder("alice") == "alice"
    odd = [artifacts.user_folder(u) for u in ("../x", "a/b", "a_b", "a b", "")]
    assert len(set(odd)) == 5 and all("/" not in f and f not in {"", ".", ".."} for f in odd)


def test_every_output_passes_its_grain_checks(planted) -> None:
    """Each ML step's outputs match their grain files (keys, not-null, [0, 1], BIGINT)."""
    lake, settings = planted
    gate = QualityGate(lake)
    ctx = StepContext(lake, settings)
    for step in ml_steps():
        for location, table in step.function(ctx).items():
            assert table.num_rows > 0, location
            gate.validate_arrow(table, location, grain_path(location))
    assert not [r for r in gate.results if r.failed]


def test_steps_run_in_the_pipeline(planted) -> None:
    lake, settings = planted
    report = run_pipeline(lake, settings, select="model_performance_metrics")
    assert report.built == ["model_performance_metrics"]
    checks = lake.read("quality_checks").to_pylist()
    assert {c["status"] for c in checks if c["table_name"] == "model_performance_metrics"} <= {
        "pass",
        "warn",
    }


def test_changing_shared_model_code_makes_the_steps_stale() -> None:
    for step in ml_steps():
        assert "def temporal_split" in step.code  # the ml package is part of each fingerprint


PER_USER_STEPS = ("play_models", "audio_to_valence", "model_performance_metrics")
MANIFESTS = ("mood_predictions", "mood_classifications", "energy_forecasts", "audio_to_valence")


@pytest.mark.parametrize("name", PER_USER_STEPS)
def test_a_one_user_rebuild_equals_the_full_build_for_that_user(planted, tmp_path, name) -> None:
    """A per-user step run for users={u} returns exactly u's rows of the full build,
    and the side files keep every other user's entries."""
    source, settings = planted
    shutil.copytree(source.root, tmp_path / "lake")
    lake = Lake(tmp_path / "lake")
    before = {model: artifacts.read_manifest(lake.root, model) for model in MANIFESTS}
    catalog_cards = artifacts.model_dir(lake.root, "audio_to_valence", "(catalog)", "v").parent
    cards_before = {p: p.read_text() for p in catalog_cards.glob("*/card.json")}
    step = next(s for s in ml_steps() if s.name == name)
    assert step.per_user
    ctx = StepContext(lake, Settings(lake=lake.root), users=frozenset({"u1"}))
    tables = step.function(ctx)
    assert set(tables) == set(step.outputs)
    for location, table in tables.items():
        full = lake.read(location.rsplit("/", 1)[-1])
        expected = full.filter(pc.equal(full.column("user_id"), "u1"))
        assert table.num_rows == expected.num_rows > 0
        keys = [
            (field.name, "ascending")
            for field in table.schema
            if field.name != "probability" and not pa.types.is_list(field.type)
        ]
        assert table.sort_by(keys).equals(expected.sort_by(keys))
    after = {model: artifacts.read_manifest(lake.root, model) for model in MANIFESTS}
    assert after == before  # u1's rows rewritten identically, the others' kept
    # the catalog model is reused from its saved artifact, not tuned and saved again
    assert {p: p.read_text() for p in catalog_cards.glob("*/card.json")} == cards_before
    for model in set(step.output_names) & set(MANIFESTS):
        assert {r["user_id"] for r in after[model]} >= {"u0", "u2"}


@pytest.mark.parametrize("model", ["mood_predictions", "mood_classifications"])
def test_a_model_trained_on_trimmed_plays_reproduces_exactly(tmp_path, model) -> None:
    """With a training cap that leaves most plays out, the features are computed
    from shortly before the training window; reproducing does the same."""
    from spotify_analytics.ml.runs import run_context_model
    from spotify_analytics.ml.training import Protocol

    lake = Lake.open(tmp_path / "lake", create=True)
    lake.overwrite("silver/listening_with_features", planted_listening(users=1, days=40, seed=3))
    settings = Settings(lake=lake.root)
    protocol = Protocol(max_train=400, classifier_max_train=400)
    lake.overwrite(
        f"gold/predictive/{model}", run_context_model(StepContext(lake, settings), model, protocol)
    )
    stored = lake.read(model)
    again = reproduce_predictions(lake, settings, model, "u0")
    column = "predicted_valence" if model == "mood_predictions" else "predicted_quadrant"
    assert again.num_rows == stored.num_rows > 0
    assert again.column("predicted").to_pylist() == stored.column(column).to_pylist()


def _update_shard(root: str, users: list[str], everyone: list[str]) -> None:
    for round_no in range(20):
        rows = [{"user_id": user, "value": round_no} for user in users]
        artifacts.update_manifest(root, "m", rows, frozenset(users), frozenset(everyone))


def test_shards_in_processes_update_one_manifest_without_losing_rows(tmp_path) -> None:
    """Shards of a whole build write the manifest from several processes at once;
    the lock keeps every shard's rows, and users not in the build are dropped."""
    import multiprocessing

    artifacts.write_manifest(tmp_path, "m", [{"user_id": "gone", "value": -1}])
    shards = [[f"a{n}" for n in range(5)], [f"b{n}" for n in range(5)]]
    everyone = [user for shard in shards for user in shard]
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_update_shard, args=(str(tmp_path), shard, everyone))
        for shard in shards
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    rows = artifacts.read_manifest(tmp_path, "m")
    assert [row["user_id"] for row in rows] == sorted(everyone)
    assert {row["value"] for row in rows} == {19}


def test_a_manifest_update_parses_and_writes_only_its_users_rows(tmp_path) -> None:
    """The manifest keeps each row as JSON beside its user: an update for some
    users and a read of some users parse no other user's row (a row that
    would not parse shows it), and a whole read names the broken file."""
    import pyarrow.parquet as pq

    from spotify_analytics.errors import LakeError

    artifacts.write_manifest(tmp_path, "m", [{"user_id": u, "value": 1} for u in ("a", "b")])
    path = tmp_path / artifacts.MODELS_DIR / "m" / artifacts.MANIFEST
    stored = pq.read_table(path)
    broken = stored.set_column(1, "row", pa.array(['{"user_id": "a", "value": 1}', "{not json"]))
    pq.write_table(broken, path)

    artifacts.update_manifest(tmp_path, "m", [{"user_id": "c", "value": 3}], frozenset({"c"}))
    assert artifacts.read_manifest(tmp_path, "m", frozenset({"a", "c"})) == [
        {"user_id": "a", "value": 1},
        {"user_id": "c", "value": 3},
    ]
    assert pq.read_table(path)["user_id"].to_pylist() == ["a", "b", "c"]
    with pytest.raises(LakeError, match="unreadable model manifest"):
        artifacts.read_manifest(tmp_path, "m")


def test_a_manifest_of_an_earlier_version_is_read_then_replaced(tmp_path) -> None:
    """A lake whose models folder holds the earlier one-document current.json
    is read from it, and the next update writes current.parquet in its place."""
    folder = tmp_path / artifacts.MODELS_DIR / "m"
    folder.mkdir(parents=True)
    rows = [{"user_id": u, "value": n} for n, u in enumerate(("a", "b"))]
    (folder / artifacts.OLD_MANIFEST).write_text(json.dumps({"model": "m", "rows": rows}))
    assert artifacts.read_manifest(tmp_path, "m") == rows

    artifacts.update_manifest(tmp_path, "m", [{"user_id": "b", "value": 9}], frozenset({"b"}))
    assert not (folder / artifacts.OLD_MANIFEST).exists()
    assert artifacts.read_manifest(tmp_path, "m") == [
        {"user_id": "a", "value": 0},
        {"user_id": "b", "value": 9},
    ]
