"""`spotify-analytics vacuum`: old versions' files go, nothing a run needs does."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from spotify_analytics.cli import app
from spotify_analytics.lake import Lake
from spotify_analytics.pipeline import pipeline_steps, run
from spotify_analytics.runner import Runner
from spotify_analytics.steps import track_plays
from spotify_analytics.vacuum import vacuum_lake
from test_incremental import USER, _add_plays, _canonical, _copy, _same_rows


def _data_files(lake: Lake) -> set[str]:
    return {
        path.relative_to(lake.root).as_posix()
        for location in lake.tables().values()
        for path in lake.path(location).rglob("*.parquet")
        if "_delta_log" not in path.parts
    }


def _live_files(lake: Lake) -> set[str]:
    return {
        f"{location}/{uri.rsplit(location + '/', 1)[1]}"
        for location in lake.tables().values()
        for uri in lake.delta(location).file_uris()
    }


def _assert_same_tables(lake: Lake, plain: Lake) -> None:
    """Every table but the quality checks holds the same rows in both lakes."""
    for location in plain.tables().values():
        if location.startswith("gold/quality/"):
            continue
        mine, other = _canonical(lake.read(location)), _canonical(plain.read(location))
        assert _same_rows(mine, other), location


def test_vacuum_deletes_only_the_files_no_version_in_reach_reads(demo, tmp_path) -> None:
    lake, settings = _copy(demo, tmp_path)
    _add_plays(lake, USER)
    run(lake, settings)
    replaced = _data_files(lake) - _live_files(lake)
    assert replaced  # the incremental run replaced some of kim's files

    assert vacuum_lake(lake, keep_hours=168) == []  # all replaced less than a week ago
    assert vacuum_lake(lake, keep_hours=0, dry_run=True)
    assert _data_files(lake) - _live_files(lake) == replaced  # a dry run deletes nothing

    found = vacuum_lake(lake, keep_hours=0)
    assert sum(entry.files for entry in found) == len(replaced)
    assert _data_files(lake) == _live_files(lake)
    assert vacuum_lake(lake, keep_hours=0) == []  # nothing left to delete


def test_the_run_after_a_vacuum_builds_nothing_and_the_next_new_plays_as_before(
    demo, tmp_path
) -> None:
    lake, settings = _copy(demo, tmp_path / "vacuumed")
    plain, plain_settings = _copy(demo, tmp_path / "plain")
    for target, target_settings in ((lake, settings), (plain, plain_settings)):
        _add_plays(target, USER)
        run(target, target_settings)
    assert vacuum_lake(lake, keep_hours=0)

    report = run(lake, settings)
    assert report.built == []  # the vacuum's commits changed no rows

    for target in (lake, plain):
        _add_plays(target, "demo-alex")
    vacuumed_track_plays = lake.version("track_plays")
    updates = []
    real = track_plays._updated

    def watched(*args):
        updates.append(real(*args))
        return updates[-1]

    with pytest.MonkeyPatch.context() as patch:
        # the vacuum's commits to track_plays count as the ones its last build left
        patch.setattr(track_plays, "_updated", watched)
        report = run(lake, settings)
    built = {r.name: r.reason for r in report.results if r.status == "built"}
    assert built["plays"].endswith("(1 user)") and built["yearly_recap"].endswith("(1 user)")
    assert lake.version("track_plays") > vacuumed_track_plays
    assert len(updates) == 1 and updates[0] is not None
    run(plain, plain_settings)
    _assert_same_tables(lake, plain)


def test_a_vacuum_compacts_the_appended_tables_and_the_next_runs_go_on_as_before(
    demo, tmp_path, monkeypatch
) -> None:
    import pyarrow.parquet as pq

    from spotify_analytics import lake as lake_module

    monkeypatch.setattr(lake_module, "COMPACT_MIN_FILES", 2)
    lake, settings = _copy(demo, tmp_path / "compacted")
    plain, plain_settings = _copy(demo, tmp_path / "plain")
    for target, target_settings in ((lake, settings), (plain, plain_settings)):
        for user in (USER, "demo-alex"):
            _add_plays(target, user)  # a MERGE: a file more in Bronze
            run(target, target_settings)  # a file more in quality_checks
    bronze = "streaming_history_bronze"
    files_before, rows_before = len(lake.snapshot(bronze).files), lake.count(bronze)
    checks_before = lake.count("quality_checks")

    found = {entry.table: entry for entry in vacuum_lake(lake, keep_hours=168)}
    assert found[bronze].compacted == files_before >= 3
    assert found["quality_checks"].compacted >= 3
    assert found[bronze].files == 0  # the rewritten files stay for a week
    live = lake.snapshot(bronze).files
    assert len(live) == 1 and lake.count(bronze) == rows_before
    assert lake.count("quality_checks") == checks_before
    users = pq.read_table(live[0][0], columns=["user_id"]).column("user_id").to_pylist()
    assert users == sorted(users)  # in user order: a few users' rows in a few row groups

    assert run(lake, settings).built == []  # the rewrite changed no rows
    for target in (lake, plain):
        _add_plays(target, USER)
    built = {r.name: r.reason for r in run(lake, settings).results if r.status == "built"}
    assert built["plays"].endswith("(1 user)")
    run(plain, plain_settings)
    _assert_same_tables(lake, plain)


def test_a_step_behind_its_input_still_finds_the_changed_rows_after_a_vacuum(
    demo, tmp_path
) -> None:
    lake, settings = _copy(demo, tmp_path)
    _add_plays(lake, USER)
    run(lake, settings)  # replaces kim's files: something to vacuum
    _add_plays(lake, "demo-alex")
    only_plays = [step for step in pipeline_steps() if step.name == "plays"]
    Runner(lake, settings, only_plays).run()  # plays moves on; what reads it stays behind
    assert any(entry.table == "plays" for entry in vacuum_lake(lake, keep_hours=0))

    built = {r.name: r.reason for r in run(lake, settings).results if r.status == "built"}
    # the journal says the vacuum's commits changed nobody, and the versions the
    # lagging steps compare against were kept
    assert built["user_track_plays"].endswith("(1 user)")
    assert built["temporal_trends"].endswith("(1 user)")  # reads plays through a view
    assert built["track_features"].endswith("keys)")


def test_the_vacuum_command_reports_what_it_frees(demo, tmp_path) -> None:
    lake, settings = _copy(demo, tmp_path)
    _add_plays(lake, USER)
    run(lake, settings)
    cli = CliRunner()
    args = ["vacuum", "--lake", str(lake.root), "--keep-hours", "0", "--json"]
    dry = cli.invoke(app, [*args, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    planned = json.loads(dry.stdout)
    assert planned["dry_run"] and planned["files"] > 0 and planned["bytes"] > 0
    done = cli.invoke(app, args)
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["files"] == planned["files"]
    bad = cli.invoke(app, ["vacuum", "--lake", str(lake.root), "--keep-hours", "-1"])
    assert bad.exit_code != 0 and "keep hours" in bad.output


def test_vacuum_deletes_the_spill_folders_of_processes_that_are_gone(lake: Lake) -> None:
    import os

    spills = lake.root / "_state" / "duckdb_tmp"
    gone = _finished_pid()
    for name in (f"{gone}-dead", f"{os.getpid()}-mine"):
        (spills / name).mkdir(parents=True)
        (spills / name / "duckdb_temp_storage.tmp").write_bytes(b"x" * 1000)
    (spills / "0123abcd").mkdir()  # an earlier version's name: judged by age
    (spills / "0123abcd" / "duckdb_temp_storage.tmp").write_bytes(b"x" * 500)
    found = vacuum_lake(lake, keep_hours=1)
    assert [(e.table, e.files, e.bytes) for e in found] == [("_state/duckdb_tmp", 1, 1000)]
    assert sorted(p.name for p in spills.iterdir()) == sorted([f"{os.getpid()}-mine", "0123abcd"])
    found = vacuum_lake(lake, keep_hours=0)  # the one named otherwise, now
    assert [(e.table, e.files, e.bytes) for e in found] == [("_state/duckdb_tmp", 1, 500)]
    con = lake.connect(only=set())  # a live connection's folder stays
    assert vacuum_lake(lake, keep_hours=0) == []
    con.close()


def _finished_pid() -> int:
    import subprocess

    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid
