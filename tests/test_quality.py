from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from spotify_analytics.cli import app
from spotify_analytics.errors import QualityError
from spotify_analytics.lake import Lake
from spotify_analytics.pipeline import pipeline_steps
from spotify_analytics.quality import (
    QUALITY_CHECKS,
    check_relation,
    grain_path,
    load_grain,
)
from spotify_analytics.runner import Runner, python_step, sql_models
from spotify_analytics.schemas import USERS
from spotify_analytics.settings import Settings

GRAIN = """\
table: t
grain: one row per user and hour
keys: [user_id, hour]
unit_interval: [valence]
bigint: [plays]
support: plays
min_support: 10
"""


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def _checks(tmp_path: Path, sql: str, grain: str = GRAIN, location: str = "gold/x/t") -> dict:
    grain_file = _write(tmp_path / "sql", {f"{location}.yml": grain}) / f"{location}.yml"
    con = duckdb.connect()
    con.execute(f"create table out as {sql}")
    return {r.check_name: r for r in check_relation(con, "out", location, grain_file)}


def test_load_grain_reads_every_field(tmp_path: Path) -> None:
    path = _write(tmp_path, {"t.yml": GRAIN}) / "t.yml"
    grain = load_grain(path)
    assert grain.keys == ("user_id", "hour")
    assert grain.unit_interval == ("valence",)
    assert grain.support == "plays" and grain.min_support == 10
    assert grain.columns == {"user_id", "hour", "valence", "plays"}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("table: t\ngrain: x\n", "missing keys"),
        ("table: other\ngrain: x\nkeys: []\n", "expected 't'"),
        ("table: t\ngrain: x\nkeys: []\nunique: [a]\n", "unknown field"),
        ("[1, 2]", "expected a mapping"),
    ],
)
def test_malformed_grain_files_are_refused(tmp_path: Path, text: str, problem: str) -> None:
    path = _write(tmp_path, {"t.yml": text}) / "t.yml"
    with pytest.raises(ValueError, match=problem):
        load_grain(path)


def test_clean_table_passes_every_check(tmp_path: Path) -> None:
    results = _checks(
        tmp_path,
        "select * from (values ('a', 1, 0.5, 5::bigint), ('a', 2, null, 6::bigint))"
        " v(user_id, hour, valence, plays)",
    )
    assert {name: r.status for name, r in results.items()} == {
        "grain_file": "pass",
        "row_count": "pass",
        "columns": "pass",
        "unique_keys": "pass",
        "not_null:user_id": "pass",
        "not_null:hour": "pass",
        "unit_interval:valence": "pass",
        "low_support": "pass",
        "bigint:plays": "pass",
    }


def test_each_broken_rule_is_reported(tmp_path: Path) -> None:
    results = _checks(
        tmp_path,
        "select * from (values ('a', 1, 1.5, 1), ('a', 1, 0.2, 5), (null, 2, 'nan'::double, 9))"
        " v(user_id, hour, valence, plays)",
    )
    assert results["unique_keys"].status == "fail" and results["unique_keys"].observed == 1
    assert results["not_null:user_id"].observed == 1
    assert results["unit_interval:valence"].observed == 2  # 1.5 and NaN
    assert results["bigint:plays"].status == "fail"  # an INTEGER, not BIGINT
    assert results["low_support"].status == "pass" and results["low_support"].observed == 15
    assert results["low_support"].severity == "warning"


def test_nullable_keys_may_be_null_and_their_nulls_compare_equal(tmp_path: Path) -> None:
    grain = "table: t\ngrain: one row per user and name\nkeys: [user_id, name]\n"
    grain += "nullable_keys: [name]\n"
    distinct = "select * from (values ('a', 'x'), ('a', null), ('b', null)) v(user_id, name)"
    results = _checks(tmp_path / "ok", distinct, grain)
    assert results["unique_keys"].status == "pass" and "not_null:name" not in results
    twice = "select * from (values ('a', null), ('a', null), (null, 'x')) v(user_id, name)"
    results = _checks(tmp_path / "broken", twice, grain)
    assert results["unique_keys"].observed == 1
    assert results["not_null:user_id"].observed == 1


def test_table_resting_on_few_plays_warns(tmp_path: Path) -> None:
    results = _checks(
        tmp_path,
        "select * from (values ('a', 1, 0.5, 3::bigint), ('b', 1, 0.5, 4::bigint))"
        " v(user_id, hour, valence, plays)",
    )
    low = results["low_support"]
    assert (low.status, low.severity, low.observed, low.threshold) == ("warn", "warning", 7, 10)
    assert not any(r.failed for r in results.values())


def test_hugeint_sum_is_not_bigint(tmp_path: Path) -> None:
    results = _checks(
        tmp_path,
        "select 'a' as user_id, 1 as hour, 0.5 as valence, sum(x) as plays from range(5) r(x)",
    )
    assert results["bigint:plays"].status == "fail"
    assert "HUGEINT" in results["bigint:plays"].detail


def test_missing_columns_and_empty_tables(tmp_path: Path) -> None:
    results = _checks(tmp_path, "select 'a' as user_id, 1 as hour where false")
    assert results["row_count"].status == "warn"
    assert results["columns"].status == "fail"
    assert "low_support" not in results  # never reached: the columns are missing
    assert "plays" in results["columns"].detail and "valence" in results["columns"].detail


def test_missing_grain_file_is_critical_only_for_gold(tmp_path: Path) -> None:
    con = duckdb.connect()
    con.execute("create table out as select 1 as a")
    for location, status in (("gold/x/t", "fail"), ("silver/t", "warn")):
        results = check_relation(con, "out", location, grain_path(location, tmp_path))
        assert {r.check_name: r.status for r in results}["grain_file"] == status


def _lake_with_users(lake: Lake) -> None:
    lake.merge(USERS, pa.table({"user_id": ["a", "b"], "timezone": ["UTC", "UTC"]}))


def test_critical_failure_stops_run_and_keeps_previous_version(tmp_path: Path, lake: Lake) -> None:
    root = _write(
        tmp_path / "sql",
        {
            "silver/zones.sql": "select user_id, timezone from users",
            "silver/zones.yml": "table: zones\ngrain: one row per user\nkeys: [user_id]\n",
            "gold/x/per_zone.sql": "select timezone, count(*)::bigint as n from zones group by 1",
            "gold/x/per_zone.yml": "table: per_zone\ngrain: one row per zone\nkeys: [timezone]\n",
        },
    )
    _lake_with_users(lake)
    runner = Runner(lake, Settings(lake=lake.root), sql_models(root))
    assert runner.run().built == ["zones", "per_zone"]
    before = lake.read("per_zone").to_pylist()
    version = lake.version("per_zone")

    # a new grain the data breaks: two users share a zone
    (root / "gold/x/per_zone.sql").write_text("select timezone, n from zones, (select 1::bigint n)")
    lake.merge(USERS, pa.table({"user_id": ["c"], "timezone": ["Asia/Tokyo"]}))
    runner = Runner(lake, Settings(lake=lake.root), sql_models(root))
    with pytest.raises(QualityError, match="per_zone: quality check unique_keys failed"):
        runner.run()
    assert lake.version("per_zone") == version
    assert lake.read("per_zone").to_pylist() == before
    assert lake.count("zones") == 3  # built before the failure: committed

    # a whole-table build writes Parquet files first: a failure commits and keeps none
    with pytest.raises(QualityError, match="per_zone: quality check unique_keys failed"):
        Runner(lake, Settings(lake=lake.root), sql_models(root)).run(select="per_zone")
    assert lake.version("per_zone") == version
    assert lake.read("per_zone").to_pylist() == before
    assert not [p for p in lake.path("gold/x/per_zone").glob("part-*") if p.is_dir()]

    checks = lake.read("quality_checks").to_pylist()
    failed = [(r["table_name"], r["check_name"]) for r in checks if r["status"] == "fail"]
    assert failed == [("per_zone", "unique_keys")] * 2  # the incremental and the forced run
    assert {r["run_id"] for r in checks if r["table_name"] == "per_zone"} >= {runner.quality.run_id}
    assert len({r["run_id"] for r in checks}) == 3

    # the next run retries the failed step
    (root / "gold/x/per_zone.sql").write_text(
        "select timezone, count(*)::bigint as n from zones group by 1"
    )
    runner = Runner(lake, Settings(lake=lake.root), sql_models(root))
    assert runner.run().built == ["per_zone"]


def test_python_step_output_is_checked_before_writing(tmp_path: Path, lake: Lake) -> None:
    root = _write(
        tmp_path / "sql",
        {
            "gold/x/scores.yml": "table: scores\ngrain: one row per user\nunit_interval: [p]\n"
            "keys: [user_id]\n"
        },
    )

    def scores(ctx) -> dict[str, pa.Table]:
        return {"gold/x/scores": pa.table({"user_id": ["a"], "p": [1.2]})}

    step = python_step(scores, inputs=["users"], outputs=["gold/x/scores"])
    step = type(step)(**{**step.__dict__, "root": str(root)})
    _lake_with_users(lake)
    with pytest.raises(QualityError, match="scores: quality check unit_interval:p failed"):
        Runner(lake, Settings(lake=lake.root), [step]).run()
    assert not lake.exists("gold/x/scores")


def test_quality_checks_merge_is_idempotent(lake: Lake) -> None:
    from spotify_analytics.quality import CheckResult, QualityGate

    gate = QualityGate(lake)
    gate.results = [CheckResult("t", "row_count", "pass", "warning", 3.0, 1.0)]
    gate.record()
    gate.record()
    assert lake.count(QUALITY_CHECKS.location) == 1


def test_check_command_exit_codes_and_json(lake: Lake) -> None:
    cli = CliRunner()
    lake.overwrite("gold/x/no_grain_here", pa.table({"user_id": ["a"]}))
    result = cli.invoke(app, ["check", "--lake", str(lake.root), "--json"])
    assert result.exit_code == 4
    payload = json.loads(result.stdout)
    bad = {(c["table_name"], c["check_name"]) for c in payload["checks"] if c["status"] == "fail"}
    assert bad == {("no_grain_here", "grain_file")}

    shutil.rmtree(lake.path("gold/x/no_grain_here"))
    result = cli.invoke(app, ["check", "--lake", str(lake.root)])
    assert result.exit_code == 0, result.output
    checks = lake.read("quality_checks").to_pylist()
    assert len({r["run_id"] for r in checks}) == 2
    assert {r["table_name"] for r in checks} == {"no_grain_here", "quality_checks"}


def test_every_sql_model_has_a_grain_file() -> None:
    missing = [
        step.name
        for step in pipeline_steps()
        for location in step.outputs
        if not step.grain_file(location).is_file()
    ]
    assert not missing, f"no grain file for {missing} (see docs/models.md)"


def test_whole_pipeline_passes_its_checks_on_an_empty_lake(lake: Lake, settings) -> None:
    """Every step runs on empty Bronze tables and its result matches its grain
    file (the runner checks columns, keys and types before each write)."""
    report = Runner(lake, settings, pipeline_steps()).run()
    assert {step.name for step in pipeline_steps() if not step.view} == set(report.built)
    checks = lake.read("quality_checks").to_pylist()
    assert not [c for c in checks if c["status"] == "fail"]
    grain_checked = {c["table_name"] for c in checks if c["check_name"] == "grain_file"}
    assert {"temporal_trends", "yearly_recap", "top_tracks_by_mood"} <= grain_checked
