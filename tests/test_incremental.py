"""Per-user incremental runs: new plays of one user rebuild that user's rows only,
and the tables end up exactly as a full rebuild leaves them."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import threading
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from spotify_analytics import runner
from spotify_analytics.changes import ChangeJournal, users_in_new_files
from spotify_analytics.dag import inline_views
from spotify_analytics.errors import SpotifyAnalyticsError
from spotify_analytics.lake import Lake
from spotify_analytics.ml.artifacts import read_manifest
from spotify_analytics.pipeline import pipeline_steps, run
from spotify_analytics.runner import Runner, StepContext, python_step
from spotify_analytics.schemas import STREAMING_HISTORY
from spotify_analytics.settings import Settings

USER = "demo-kim"
# Columns that say when or by which run a row was made, not what it holds.
RUN_COLUMNS = {"run_id", "checked_at", "built_at", "trained_at", "model_version", "fitted_at"}


def _copy(demo: Path, tmp_path: Path) -> tuple[Lake, Settings]:
    root = tmp_path / "lake"
    shutil.copytree(demo, root)
    return Lake(root), Settings(lake=root)


def _canonical(table: pa.Table) -> pa.Table:
    """Run metadata dropped, timestamps in UTC, rows sorted (floats rounded for
    the sort only), so two builds of the same rows line up row by row."""
    keep = [name for name in table.column_names if name not in RUN_COLUMNS]
    columns: dict[str, pa.ChunkedArray] = {}
    sort_keys: dict[str, pa.ChunkedArray] = {}
    for name in keep:
        column = table.column(name)
        if pa.types.is_timestamp(column.type) and column.type.tz:
            column = column.cast(pa.timestamp(column.type.unit, tz="UTC"))
        columns[name] = column
        if pa.types.is_floating(column.type):
            sort_keys[f"__sort_{name}"] = pc.round(column, 6)
        elif not pa.types.is_nested(column.type):
            sort_keys[name] = column
    both = pa.table({**columns, **{k: v for k, v in sort_keys.items() if k not in columns}})
    return both.sort_by([(name, "ascending") for name in sort_keys]).select(keep)


def _same_rows(mine: pa.Table, full: pa.Table) -> bool:
    """Equal, floats within 1e-9 (sums in another order differ in the last bits)."""
    if mine.schema != full.schema or mine.num_rows != full.num_rows:
        return False
    for name in mine.column_names:
        a, b = mine.column(name), full.column(name)
        if pa.types.is_floating(a.type):
            x, y = a.to_numpy(zero_copy_only=False), b.to_numpy(zero_copy_only=False)
            if not np.allclose(x, y, rtol=1e-9, atol=1e-12, equal_nan=True):
                return False
        elif not a.equals(b):
            return False
    return True


def _add_plays(lake: Lake, user: str, n: int = 20) -> None:
    """``n`` new plays of ``user``: copies of their latest records a day later,
    the first of them a track nobody has played before."""
    bronze = lake.read(STREAMING_HISTORY.name)
    mine = bronze.filter(pc.equal(bronze["user_id"], user))
    latest = mine.sort_by([("ts", "descending")]).slice(0, n)
    later = pc.add(latest["ts"], pa.scalar(timedelta(days=1), pa.duration("us")))
    latest = latest.set_column(latest.schema.get_field_index("ts"), "ts", later)
    ids = pc.binary_join_element_wise(latest["record_id"], pa.scalar("-new"), "")
    latest = latest.set_column(latest.schema.get_field_index("record_id"), "record_id", ids)
    rows = latest.to_pylist()
    rows[0]["track_name"] = "A Song Nobody Played Before"
    rows[0]["spotify_track_uri"] = "spotify:track:0000000000000000000new"
    lake.merge(STREAMING_HISTORY, pa.Table.from_pylist(rows, schema=latest.schema))


def test_every_per_user_step_builds_one_user_as_the_full_build_does(demo, tmp_path) -> None:
    lake, settings = _copy(demo, tmp_path)
    built, views = inline_views(pipeline_steps())
    steps = [step for step in built if step.per_user]
    assert {"plays", "yearly_recap", "weekend_vs_weekday"} <= {step.name for step in steps}
    only = frozenset({USER})
    for step in steps:
        if step.sql is not None:
            con = lake.connect(
                only=step.inputs | step.views, users=only, extra=_params(settings), views=views
            )
            try:
                produced = {step.outputs[0]: con.sql(step.sql).to_arrow_table()}
            finally:
                con.close()
        else:
            produced = step.function(StepContext(lake, settings, only, views=views))
        for location, table in produced.items():
            stored = lake.read(location)
            expected = stored.filter(pc.equal(stored["user_id"], USER))
            assert expected.num_rows > 0, location
            assert set(table["user_id"].to_pylist()) == {USER}, location
            assert _same_rows(_canonical(table), _canonical(expected)), location


def _params(settings: Settings) -> dict[str, pa.Table]:
    from spotify_analytics.runner import PARAMS_TABLE, run_params

    return {PARAMS_TABLE: run_params(settings)}


def test_new_plays_of_one_user_rebuild_that_user_only_and_match_a_full_build(
    demo, tmp_path
) -> None:
    lake, settings = _copy(demo, tmp_path / "incremental")
    full_lake, full_settings = _copy(demo, tmp_path / "full")
    for target in (lake, full_lake):
        _add_plays(target, USER)

    report = run(lake, settings)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(runner, "USER_SORTED_FILE_BYTES", 64 * 2**10)
        run(full_lake, full_settings, full=True)

    per_user = {step.name for step in pipeline_steps() if step.per_user}
    built = {result.name: result.reason for result in report.results if result.status == "built"}
    assert {"plays", "track_features", "temporal_trends", "yearly_recap"} <= built.keys()
    new_track = (
        lake.connect()
        .execute(
            "select count(*) from track_features where track_key like '%nobody played before%'"
        )
        .fetchall()[0][0]
    )
    assert new_track == 1  # track_features changed for one key: still only kim's rows rebuilt
    for name in per_user & built.keys():
        assert built[name].endswith("(1 user)"), (name, built[name])
    # the track lookups rebuild only the tracks of kim's plays, not every track
    n_tracks = lake.read("track_features").num_rows
    for name in ("track_catalog_matches", "track_features"):
        rebuilt = int(built[name].rsplit("(", 1)[1].split()[0])
        assert built[name].endswith("keys)") and 0 < rebuilt < n_tracks / 2, built[name]
    for location in full_lake.tables().values():
        if location.startswith("gold/quality/"):
            continue
        mine, full = _canonical(lake.read(location)), _canonical(full_lake.read(location))
        assert _same_rows(mine, full), (location, _difference(mine, full))


def _difference(mine: pa.Table, full: pa.Table) -> tuple[list, list]:
    """A few rows only the incremental build has, and a few only the full one has."""
    a, b = mine.to_pylist(), full.to_pylist()
    return [row for row in a if row not in b][:3], [row for row in b if row not in a][:3]


def test_a_run_with_nothing_new_builds_nothing(demo, tmp_path) -> None:
    lake, settings = _copy(demo, tmp_path)
    versions = {name: lake.version(name) for name in lake.tables()}
    report = run(lake, settings)
    assert report.built == []
    assert {name: lake.version(name) for name in lake.tables()} == versions


@pytest.mark.parametrize("full", [False, True])
def test_a_run_over_small_tables_opens_a_database_per_step_thread(demo, tmp_path, full) -> None:
    """The connections of an incremental run's steps, and of every step of a
    whole build whose inputs hold fewer rows than a shard (the demo's), are
    cursors of their thread's database: opening one costs 15-45 ms of CPU, and
    such a run made about 35. A whole build over small inputs does not count
    their rows per user either (that query opened a database of its own)."""
    lake, settings = _copy(demo, tmp_path)
    _add_plays(lake, USER)
    opened: list[str] = []
    real = Lake._database

    def counted(self: Lake, threads: int | None = None):
        opened.append(threading.current_thread().name)
        return real(self, threads)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Lake, "_database", counted)
        report = run(lake, settings, full=full)
    assert len(report.built) > 20
    assert len(opened) == len(set(opened)) <= 2  # the run's two step threads


INCREMENTAL_RUN = """
import json, sys
from spotify_analytics import pipeline
from spotify_analytics.lake import Lake
from spotify_analytics.settings import Settings
report = pipeline.run(Lake(sys.argv[1]), Settings(lake=sys.argv[1]))
loaded = {name.split(".")[0] for name in sys.modules} & {"sklearn", "scipy", "sqlglot"}
print(json.dumps({"built": report.built, "loaded": sorted(loaded)}))
"""


def test_an_incremental_run_imports_neither_scipy_nor_sqlglot(demo, tmp_path) -> None:
    """Importing scikit-learn costs more CPU than an incremental run's models: the
    catalog model is reused in its compiled form and the per-user models are NumPy,
    their optimizer and the t-test's distribution included (SciPy's cost 0.4-0.6
    CPU-s to import). The SQL models' inputs come from the parse cache, and the
    Python steps name the tables their queries read, so sqlglot (0.15 s to
    import) is not loaded."""
    lake, _ = _copy(demo, tmp_path)
    _add_plays(lake, USER)
    done = subprocess.run(
        [sys.executable, "-c", INCREMENTAL_RUN, str(lake.root)],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(done.stdout)
    built = {"audio_to_valence", "play_models", "model_performance_metrics"}
    assert built | {"track_catalog_matches", "weekend_vs_weekday"} <= set(result["built"])
    assert result["loaded"] == []


def test_bronze_changes_are_read_from_the_delta_log(demo, tmp_path) -> None:
    lake, _ = _copy(demo, tmp_path)
    before = lake.version(STREAMING_HISTORY.name)
    _add_plays(lake, USER, n=3)
    after = lake.version(STREAMING_HISTORY.name)
    lake.snapshot(STREAMING_HISTORY.name)  # the newest version, as the run keeps it
    loads = []
    real = lake.delta

    def counted(name: str, version: int | None = None):
        loads.append(version)
        return real(name, version)

    lake.delta = counted  # type: ignore[method-assign]
    assert users_in_new_files(lake, STREAMING_HISTORY.name, before, after) == {USER}
    assert loads == [before]  # the newest version is the kept table
    # a table without users cannot say whose rows changed
    assert users_in_new_files(lake, "kaggle_tracks_bronze", 0, 0) == frozenset()
    assert users_in_new_files(lake, "catalog_tracks", -5, 0) is None


def test_the_journal_knows_only_the_versions_it_recorded(lake) -> None:
    journal = ChangeJournal(lake)
    journal.record("silver/plays", 3, frozenset({"a"}))
    journal.record("silver/plays", 4, frozenset({"b"}))
    journal.record("silver/plays", 5, None)
    assert journal.users_between("silver/plays", 2, 4) == {"a", "b"}
    assert journal.users_between("silver/plays", 3, 4) == {"b"}
    assert journal.users_between("silver/plays", 1, 4) is None  # version 2 unknown
    assert journal.users_between("silver/plays", 3, 5) is None  # 5 rewrote everyone


def test_a_journal_sees_what_another_wrote_since_it_last_read(lake) -> None:
    """Each journal keeps the file in memory between reads; a run that another
    object (or process) recorded after that is read from the file again."""
    first, second = ChangeJournal(lake), ChangeJournal(lake)
    first.record("silver/plays", 1, frozenset({"a"}))
    assert second.users_between("silver/plays", 0, 1) == {"a"}
    second.record("silver/plays", 2, frozenset({"b", "c"}))
    assert first.users_between("silver/plays", 0, 2) == {"a", "b", "c"}
    first.record("silver/plays", 3, frozenset({"d"}))
    assert second.users_between("silver/plays", 1, 3) == {"b", "c", "d"}


def test_the_journal_appends_a_line_per_version_and_skips_a_torn_one(lake, monkeypatch) -> None:
    """A record is one line added to the journal; a line a killed process left
    torn counts as unknown, and the next record rewrites the file so no line
    follows it. Once the file holds twice the entries kept, it is rewritten
    with those alone."""
    from spotify_analytics import changes

    path = lake.state_path(changes.JOURNAL_FILE)
    journal = ChangeJournal(lake)
    journal.record("silver/plays", 1, frozenset({"a"}))
    journal.record("silver/plays", 2, frozenset({"b"}))
    assert len(path.read_text().splitlines()) == 2
    with path.open("a") as handle:
        handle.write('{"table": "silver/plays", "version": 3, "entr')  # killed mid-line
    reader = ChangeJournal(lake)
    assert reader.users_between("silver/plays", 0, 2) == {"a", "b"}
    assert reader.users_between("silver/plays", 2, 3) is None
    reader.record("silver/plays", 4, frozenset({"d"}))
    assert path.read_text().endswith("\n") and len(path.read_text().splitlines()) == 3
    assert ChangeJournal(lake).users_between("silver/plays", 3, 4) == {"d"}

    monkeypatch.setattr(changes, "KEEP_VERSIONS", 2)
    for version in range(5, 9):
        reader.record("silver/plays", version, frozenset({str(version)}))
    stored = [json.loads(line)["version"] for line in path.read_text().splitlines()]
    assert stored == [5, 6, 7, 8]  # at 6 (4 lines, 2 kept) rewritten as 5 and 6, then added to
    assert ChangeJournal(lake).users_between("silver/plays", 6, 8) == {"7", "8"}


def test_a_journal_of_an_earlier_version_is_read_then_replaced(lake) -> None:
    """changes.json, the one document earlier versions wrote, is read; the next
    record writes changes.jsonl with every entry and removes it."""
    from spotify_analytics import changes

    old = lake.state_path(changes.OLD_JOURNAL_FILE)
    old.write_text(json.dumps({"silver/plays": {"1": ["a"], "2": {"keys": ["k"]}}}))
    journal = ChangeJournal(lake)
    assert journal.users_between("silver/plays", 0, 1) == {"a"}
    journal.record("silver/plays", 3, frozenset({"c"}))
    assert not old.exists()
    fresh = ChangeJournal(lake)
    assert fresh.users_between("silver/plays", 0, 1) == {"a"}
    assert fresh.keys_between("silver/plays", 1, 2) == {"k"}
    assert fresh.users_between("silver/plays", 2, 3) == {"c"}


def test_a_per_user_step_that_returns_other_users_is_refused(lake, settings, tmp_path) -> None:
    rows = pa.table({"user_id": ["a", "b"], "x": [1, 2]})
    grains = tmp_path / "sql"
    (grains / "gold" / "descriptive").mkdir(parents=True)
    (grains / "gold" / "descriptive" / "leaky.yml").write_text(
        "table: leaky\ngrain: one row per user\nkeys: [user_id]\n"
    )

    def leaky(ctx: StepContext) -> dict[str, pa.Table]:
        return {"gold/descriptive/leaky": rows}  # ignores ctx.users

    step = python_step(
        leaky, inputs=[STREAMING_HISTORY.name], outputs=["gold/descriptive/leaky"], per_user=True
    )
    step = replace(step, root=str(grains))
    with pytest.raises(SpotifyAnalyticsError, match="users it was not asked to rebuild"):
        Runner(lake, settings, [step])._execute(step, frozenset({"a"}))
    assert not lake.exists("gold/descriptive/leaky")


def test_a_per_user_sql_model_that_returns_other_users_is_refused(lake, settings, tmp_path) -> None:
    """A per-user rebuild of a SQL model is written from the step's own DuckDB
    table, not through Arrow; its rows are checked there first: a model that
    ignores the users it was asked for is refused and nothing is written."""
    from spotify_analytics.dag import sql_models
    from spotify_analytics.schemas import USERS

    people = {"user_id": ["a", "b"], "timezone": ["UTC", "Europe/Berlin"]}
    lake.merge(USERS, pa.table({**people, "_source": ["t", "t"], "_batch_id": ["1", "1"]}))
    lake.overwrite("gold/descriptive/zones", pa.table({**people, "timezone": ["?", "?"]}))
    folder = tmp_path / "sql" / "gold" / "descriptive"
    folder.mkdir(parents=True)
    (folder / "zones.yml").write_text(
        "table: zones\ngrain: one row per user\nkeys: [user_id]\nper_user: true\n"
    )
    (folder / "zones.sql").write_text("select user_id, timezone from users")
    (step,) = sql_models(tmp_path / "sql")

    Runner(lake, settings, [step])._execute(step, frozenset({"a"}))  # a's rows alone
    assert sorted(lake.read("zones").to_pylist(), key=lambda row: row["user_id"]) == [
        {"user_id": "a", "timezone": "UTC"},
        {"user_id": "b", "timezone": "?"},
    ]
    version = lake.version("zones")
    leaky = replace(step, sql="select 'b' as user_id, 'UTC' as timezone")
    with pytest.raises(SpotifyAnalyticsError, match="users it was not asked to rebuild"):
        Runner(lake, settings, [leaky])._execute(leaky, frozenset({"a"}))
    assert lake.version("zones") == version


def test_the_keys_of_changed_users_come_from_before_and_after(lake, settings) -> None:
    """A user whose rows moved from one key to another changed both keys."""
    rows = pa.table({"user_id": ["a", "b"], "track_key": ["k1", "k2"]})
    lake.overwrite("silver/keyed", rows)
    lake.overwrite(
        "silver/keyed",
        pa.table({"user_id": ["a"], "track_key": ["k3"]}),
        predicate="user_id in ('a')",
    )
    runner_ = Runner(lake, settings, [])
    found = runner_._keys_of_users("keyed", "track_key", frozenset({"a"}), 0)
    assert found == {"k1", "k3"}
    # asked again in the run, the answer is kept until the runner rewrites the table
    lake.overwrite(
        "silver/keyed",
        pa.table({"user_id": ["a"], "track_key": ["k4"]}),
        predicate="user_id in ('a')",
    )
    assert runner_._keys_of_users("keyed", "track_key", frozenset({"a"}), 0) == {"k1", "k3"}
    runner_._forget_versions(["keyed"])
    assert runner_._keys_of_users("keyed", "track_key", frozenset({"a"}), 0) == {"k1", "k4"}


def test_user_track_plays_is_compared_once_and_the_track_lookups_read_track_plays(
    demo, tmp_path
) -> None:
    """track_plays takes the changed users' user_track_plays rows before and
    after (for its keys and for its counts: one comparison), and the track
    lookups rebuild the keys whose track_plays rows changed."""
    lake, settings = _copy(demo, tmp_path)
    _add_plays(lake, USER)
    asked: list[tuple] = []
    diff_rows = Runner._diff_rows

    def counted(self, name, users, old):
        asked.append((name, users, old))
        return diff_rows(self, name, users, old)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Runner, "_diff_rows", counted)
        report = run(lake, settings)
    built = {result.name: result.reason for result in report.results if result.status == "built"}
    for name in ("track_plays", "track_catalog_matches", "track_features"):
        assert built[name].endswith("keys)"), built[name]
    assert asked == [("user_track_plays", frozenset({USER}), asked[0][2])]


def test_the_users_of_changed_track_keys_are_looked_up_once_per_run(demo, tmp_path) -> None:
    """The users carrying the track keys track_features changed are looked up
    once per table that carries them, whichever steps ask (user_track_features
    and audio_to_valence both read user_track_plays; the readers of
    listening_with_features read plays), and those users are rebuilt."""
    lake, settings = _copy(demo, tmp_path)
    _add_plays(lake, USER)
    asked: list[tuple] = []
    carrying = Runner._carrying_users

    def counted(self, carrier, key, keys):
        found = carrying(self, carrier, key, keys)
        asked.append((carrier, found))
        return found

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Runner, "_carrying_users", counted)
        report = run(lake, settings)
    built = {result.name: result.reason for result in report.results if result.status == "built"}
    assert {"user_track_features", "audio_to_valence"} <= built.keys()
    # once per table that carries track keys: plays for the readers of the
    # listening_with_features view, user_track_plays for the two steps above,
    # user_track_features for the Gold models reading it
    assert sorted(asked) == [
        ("plays", frozenset({USER})),
        ("user_track_features", frozenset({USER})),
        ("user_track_plays", frozenset({USER})),
    ]
    for name in ("user_track_features", "audio_to_valence"):
        assert "1 user" in built[name], built[name]


def _recount(lake: Lake) -> pa.Table:
    from spotify_analytics.steps.track_plays import COLUMNS, COUNT_SQL, SCHEMA

    con = lake.connect(only={"user_track_plays"})
    try:
        counted = con.sql(COUNT_SQL).to_arrow_table().cast(SCHEMA)
    finally:
        con.close()
    return counted.sort_by([(name, "ascending") for name in COLUMNS])


def _stored_track_plays(lake: Lake) -> pa.Table:
    from spotify_analytics.steps.track_plays import COLUMNS, OUTPUT, SCHEMA

    stored = lake.read(OUTPUT).cast(SCHEMA)
    return stored.sort_by([(name, "ascending") for name in COLUMNS])


def test_track_plays_adds_the_changed_rows_and_equals_a_recount(demo, tmp_path) -> None:
    """New plays (of a new track and of known ones), a user whose records are
    all deleted and a track spelled anew: after each incremental run the
    stored counts equal user_track_plays counted again, and the run took them
    from the changed rows without counting user_track_plays."""
    from deltalake import DeltaTable

    from spotify_analytics.steps import track_plays

    lake, settings = _copy(demo, tmp_path)
    assert _stored_track_plays(lake).equals(_recount(lake))
    users = sorted(set(lake.read(STREAMING_HISTORY.name)["user_id"].to_pylist()))
    gone, renamed = (user for user in users if user != USER)

    def respell(lake: Lake) -> None:
        bronze = lake.read(STREAMING_HISTORY.name)
        mine = bronze.filter(pc.equal(bronze["user_id"], renamed)).slice(0, 3).to_pylist()
        for row in mine:
            row["track_name"] = "Respelled " + (row["track_name"] or "")
        lake.merge(STREAMING_HISTORY, pa.Table.from_pylist(mine, schema=bronze.schema), update=True)

    changes = [
        lambda lake: _add_plays(lake, USER),
        lambda lake: DeltaTable(str(lake.path(STREAMING_HISTORY.location))).delete(
            f"user_id = '{gone}'"
        ),
        respell,
    ]
    updated = track_plays._updated
    results: list[pa.Table | None] = []

    def watched(ctx, removed, added):
        results.append(updated(ctx, removed, added))
        return results[-1]

    for change in changes:
        before = _stored_track_plays(lake)
        change(lake)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(track_plays, "_updated", watched)
            report = run(lake, settings)
        built = {r.name: r.reason for r in report.results if r.status == "built"}
        assert re.search(r"\(\d+ keys?\)$", built["track_plays"]), built["track_plays"]
        assert results and results[-1] is not None
        after = _stored_track_plays(lake)
        assert not after.equals(before)
        assert after.equals(_recount(lake))
    assert gone not in set(lake.read("user_track_plays")["user_id"].to_pylist())
    assert len(results) == len(changes)


def test_track_plays_refuses_changes_that_would_count_below_zero(lake, settings) -> None:
    """Removed rows the stored counts never held mean the stored table is not
    what they were added to: no update, so the step counts the keys again."""
    from spotify_analytics.steps import track_plays

    stored = pa.table(
        {
            "track_key": ["a|x", "b|y"],
            "track_id": ["1", None],
            "artist_name": ["A", "B"],
            "track_name": ["X", "Y"],
            "n_plays": [1, 4],
        }
    ).cast(track_plays.SCHEMA)
    lake.overwrite(track_plays.OUTPUT, stored)
    row = {"user_id": "u", "n_skips": 0, "ms_played": 1, "ms_played_not_skipped": 1}
    three = pa.Table.from_pylist([{**stored.to_pylist()[0], **row, "n_plays": 3}])
    one = three.set_column(three.schema.get_field_index("n_plays"), "n_plays", [[1]])
    none = three.slice(0, 0)
    ctx = StepContext(lake, settings, keys=("track_key", frozenset({"a|x"})))
    assert track_plays._updated(ctx, three, none) is None
    assert track_plays._updated(ctx, one, none).num_rows == 0  # the spelling's last play
    assert track_plays._updated(ctx, none, one).to_pylist() == [
        {"track_key": "a|x", "track_id": "1", "artist_name": "A", "track_name": "X", "n_plays": 2}
    ]


def test_track_plays_recounts_its_keys_when_its_table_is_not_as_the_last_build_left_it(
    demo, tmp_path
) -> None:
    """A run that wrote track_plays but died before recording it: the next run
    finds the table newer than its record and counts the changed keys from
    user_track_plays instead of adding the same changes twice."""
    from spotify_analytics.steps import track_plays

    lake, settings = _copy(demo, tmp_path)
    steps_file = lake.state_path(runner.STATE_FILE)
    recorded = steps_file.read_text()
    _add_plays(lake, USER)
    run(lake, settings)
    steps_file.write_text(recorded)  # as if the run had stopped right after its writes
    updated: list[object] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(track_plays, "_updated", lambda *args: updated.append(args))
        report = run(lake, settings)
    assert "track_plays" in report.built
    assert updated == []
    assert _stored_track_plays(lake).equals(_recount(lake))


def test_a_lookup_step_that_returns_other_keys_is_refused(lake, settings, tmp_path) -> None:
    lake.overwrite("silver/leaky_keys", pa.table({"track_key": ["k1"], "n": [1]}))
    grains = tmp_path / "sql"
    (grains / "silver").mkdir(parents=True)
    (grains / "silver" / "leaky_keys.yml").write_text(
        "table: leaky_keys\ngrain: one row per key\nkeys: [track_key]\n"
    )

    def leaky_keys(ctx: StepContext) -> dict[str, pa.Table]:
        return {"silver/leaky_keys": pa.table({"track_key": ["k1", "k2"], "n": [5, 6]})}

    step = python_step(
        leaky_keys,
        inputs=[STREAMING_HISTORY.name],
        outputs=["silver/leaky_keys"],
        lookup_key="track_key",
    )
    step = replace(step, root=str(grains))
    with pytest.raises(SpotifyAnalyticsError, match="values it was not asked to rebuild"):
        Runner(lake, settings, [step])._execute(step, keys=frozenset({"k1"}))
    assert lake.read("silver/leaky_keys").to_pylist() == [{"track_key": "k1", "n": 1}]


@pytest.mark.parametrize("partitioned", [True, False])
def test_a_per_user_view_holds_exactly_those_users_rows(lake, partitioned) -> None:
    users = ["0042", "a b", "Björn O'Neil/x%", "plain"]
    rows = pa.table({"n": [1, 2, 3, 4, 5], "user_id": [*users, "plain"]})
    lake.overwrite("silver/odd_users", rows, partition_by=["user_id"] if partitioned else None)
    every = lake.connect().execute("select n, user_id from odd_users order by n").fetchall()
    assert every == list(zip([1, 2, 3, 4, 5], [*users, "plain"], strict=True))
    some = frozenset({"0042", "Björn O'Neil/x%", "nobody"})
    con = lake.connect(users=some)
    assert con.execute("select n, user_id from odd_users order by n").fetchall() == [
        (1, "0042"),
        (3, "Björn O'Neil/x%"),
    ]
    assert [c[0] for c in con.execute("describe odd_users").fetchall()] == ["n", "user_id"]


def test_track_matches_are_reused_when_only_plays_changed(demo, tmp_path) -> None:
    from spotify_analytics.steps.track_catalog_matches import OUTPUT, track_catalog_matches

    lake, settings = _copy(demo, tmp_path)
    stored = lake.read(OUTPUT)
    assert stored.num_rows > 0
    rows = stored.to_pylist()
    rows[0]["match_score"] = 12.34  # a value only the stored table can supply
    lake.overwrite(OUTPUT, pa.Table.from_pylist(rows, schema=stored.schema))

    reused = track_catalog_matches(StepContext(lake, settings, changed=frozenset({"track_plays"})))
    assert reused[OUTPUT].column("match_score")[0].as_py() == 12.34
    assert reused[OUTPUT].num_rows == stored.num_rows

    catalog_changed = frozenset({"plays", "catalog_tracks"})
    redone = track_catalog_matches(StepContext(lake, settings, changed=catalog_changed))
    assert redone[OUTPUT].equals(stored)


def test_per_user_tables_are_written_in_user_order(demo) -> None:
    """Each file of a per-user table holds a run of users, so a few users'
    rows live in a few files."""
    import pyarrow.parquet as pq

    ranges = []
    for path in Lake(demo).delta("plays").file_uris():
        users = pq.read_table(path, columns=["user_id"]).column("user_id")
        ranges.append((pc.min(users).as_py(), pc.max(users).as_py()))
    ranges.sort()
    assert len(ranges) > 1
    for (_, high), (low, _) in zip(ranges, ranges[1:], strict=False):
        assert high <= low


def test_a_python_steps_per_user_table_is_written_in_small_user_sorted_files(
    lake, settings, tmp_path
) -> None:
    """A per-user table is written in files of about USER_SORTED_FILE_ROWS rows
    in user order, so replacing one user rewrites only that user's files."""
    import pyarrow.parquet as pq

    users = [f"u{n:02d}" for n in range(60)]
    grains = tmp_path / "sql"
    (grains / "gold" / "descriptive").mkdir(parents=True)
    (grains / "gold" / "descriptive" / "wide.yml").write_text(
        "table: wide\ngrain: one row per user and n\nkeys: [user_id, n]\n"
    )
    n_rows = 300_000  # enough for DuckDB to write with several threads

    def wide(ctx: StepContext) -> dict[str, pa.Table]:
        chosen = sorted(ctx.users) if ctx.users is not None else users
        n = np.arange(n_rows)
        user = np.array(users)[n % len(users)]
        keep = np.isin(user, chosen)
        return {"gold/descriptive/wide": pa.table({"user_id": user[keep], "n": n[keep]})}

    step = replace(
        python_step(wide, inputs=[], outputs=["gold/descriptive/wide"], per_user=True),
        root=str(grains),
    )
    pipeline = Runner(lake, settings, [step])
    pipeline._execute(step)

    def ranges() -> dict[str, tuple[str, str, int]]:
        found = {}
        for path in lake.delta("gold/descriptive/wide").file_uris():
            column = pq.read_table(path, columns=["user_id"]).column("user_id")
            found[path] = (pc.min(column).as_py(), pc.max(column).as_py(), len(column))
        return found

    before = ranges()
    assert sum(n for _, _, n in before.values()) == n_rows
    assert len(before) >= n_rows // (2 * runner.USER_SORTED_FILE_ROWS) + 1
    assert max(n for _, _, n in before.values()) <= 2 * runner.USER_SORTED_FILE_ROWS
    spans = sorted((low, high) for low, high, _ in before.values())
    for (_, high), (low, _) in zip(spans, spans[1:], strict=False):
        assert high <= low

    pipeline._execute(step, frozenset({"u29"}))
    after = ranges()
    held = {path for path, (low, high, _) in before.items() if low <= "u29" <= high}
    assert len(held) <= 2
    assert set(before) - held <= set(after)  # the other files were not rewritten
    assert held.isdisjoint(after)
    assert sum(n for _, _, n in after.values()) == n_rows


def test_replacing_a_users_rows_rewrites_only_their_files(demo, tmp_path) -> None:
    """plays is written one file per user: a run for one user's new plays
    replaces that user's file and leaves every other file as it was."""
    import pyarrow.parquet as pq

    lake, settings = _copy(demo, tmp_path)

    def files_by_user() -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for path in lake.delta("plays").file_uris():
            users = pc.unique(pq.read_table(path, columns=["user_id"]).column("user_id"))
            assert len(users) == 1, path  # one user per file
            found.setdefault(users[0].as_py(), set()).add(path)
        return found

    before = files_by_user()
    _add_plays(lake, USER)
    run(lake, settings)
    after = files_by_user()
    assert after.keys() == before.keys() and len(before) > 1
    for user in before:
        assert (after[user] == before[user]) == (user != USER), user


def test_lookup_keys_changed_ignore_float_noise(lake, settings) -> None:
    stored = pa.table(
        {
            "k": ["a", "b", "c", "d"],
            "x": [135.3032721761305, 1.0, None, float("nan")],
            "g": [["x"], None, ["y"], []],
        }
    )
    lake.overwrite("silver/lookup", stored)
    rebuilt = pa.table(
        {
            "k": ["a", "b", "c", "e"],
            "x": [135.30327217613052, 2.0, None, 1.0],  # a: the same mean summed in another order
            "g": [["x"], None, ["z"], []],
        }
    )

    def lookup(ctx: StepContext) -> dict[str, pa.Table]:
        return {"silver/lookup": rebuilt}

    step = replace(python_step(lookup, inputs=[], outputs=["silver/lookup"]), lookup_key="k")
    runner = Runner(lake, settings, [step])
    assert runner._changed_keys(step, "silver/lookup", rebuilt) == {"b", "c", "d", "e"}
    assert runner._changed_keys(step, "silver/lookup", stored) == frozenset()
    # on the step's own connection, which keeps only its own tables afterwards
    con = lake.connect(aliases=False, only=set())
    tables_before = con.execute("show tables").fetchall()
    some = rebuilt.slice(0, 2)  # keys a and b, as a rebuild of those keys returns
    assert runner._changed_keys(step, "silver/lookup", some, frozenset({"a", "b"}), con) == {"b"}
    assert con.execute("show tables").fetchall() == tables_before
    con.close()
    # other columns than the stored ones: no comparison
    renamed = rebuilt.rename_columns(["k", "y", "g"])
    assert runner._changed_keys(step, "silver/lookup", renamed) is None


def test_a_full_build_in_shards_of_users_equals_the_whole_build(demo, tmp_path) -> None:
    lake, settings = _copy(demo, tmp_path)
    sharded = Runner(lake, settings, pipeline_steps(lake), shard_rows=300)
    plays = sharded.steps["plays"]
    assert len(sharded._shards(plays)) > 2
    models = sharded.steps["play_models"]  # a Python step: shards in worker processes
    assert models.processes and len(sharded._shards(models)) > 1
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(runner, "USER_SORTED_FILE_BYTES", 64 * 2**10)
        report = sharded.run(full=True)
    assert "plays" in report.built
    stored = Lake(demo)
    for location in stored.tables().values():
        if location.startswith("gold/quality/"):
            continue
        mine, full = _canonical(lake.read(location)), _canonical(stored.read(location))
        assert _same_rows(mine, full), (location, _difference(mine, full))
    for model in ("mood_predictions", "mood_classifications", "energy_forecasts"):
        mine = [_without_run(row) for row in read_manifest(lake.root, model)]
        assert mine == [_without_run(row) for row in read_manifest(demo, model)], model
        assert {row["user_id"] for row in mine} >= {USER}


def _without_run(row: dict) -> dict:
    return {name: value for name, value in row.items() if name not in RUN_COLUMNS}
