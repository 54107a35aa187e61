from __future__ import annotations

import multiprocessing
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from spotify_analytics import lake as lake_module
from spotify_analytics.errors import LakeError, LockedError
from spotify_analytics.lake import Lake
from spotify_analytics.query import query
from spotify_analytics.schemas import USERS


def _users(*pairs: tuple[str, str]) -> pa.Table:
    return pa.table(
        {
            "user_id": [u for u, _ in pairs],
            "timezone": [tz for _, tz in pairs],
            "_source": ["test"] * len(pairs),
            "_batch_id": ["b1"] * len(pairs),
        }
    )


def test_merge_inserts_only_new_keys(lake: Lake) -> None:
    first = lake.merge(USERS, _users(("ana", "UTC"), ("bo", "Europe/Berlin")))
    again = lake.merge(USERS, _users(("ana", "Asia/Tokyo"), ("cy", "UTC")))
    assert (first.inserted, again.inserted, again.updated) == (2, 1, 0)
    stored = {r["user_id"]: r["timezone"] for r in lake.read("users").to_pylist()}
    assert stored == {"ana": "UTC", "bo": "Europe/Berlin", "cy": "UTC"}


def test_merge_with_update_replaces_matched_rows(lake: Lake) -> None:
    lake.merge(USERS, _users(("ana", "UTC")))
    result = lake.merge(USERS, _users(("ana", "Asia/Tokyo")), update=True)
    assert result.updated == 1
    assert lake.read("users").column("timezone").to_pylist() == ["Asia/Tokyo"]


def test_merge_dedupes_source_keys_keeping_last(lake: Lake) -> None:
    lake.merge(USERS, _users(("ana", "UTC"), ("ana", "Europe/Paris")))
    assert lake.read("users").column("timezone").to_pylist() == ["Europe/Paris"]


def test_bronze_is_written_in_user_order_in_small_row_groups(lake: Lake, monkeypatch) -> None:
    monkeypatch.setattr(lake_module, "BRONZE_ROW_GROUP_ROWS", 4)
    zones = ["UTC", "Asia/Tokyo"]
    scrambled = [(f"user{(i * 7) % 12:02d}", zones[i % 2]) for i in range(12)]
    lake.merge(USERS, _users(*scrambled[:6]))
    lake.merge(USERS, _users(*scrambled[6:]))
    files = []
    for path in lake.path(USERS.location).glob("*.parquet"):
        meta = pq.ParquetFile(path).metadata
        column = meta.schema.names.index("user_id")
        groups = [meta.row_group(number) for number in range(meta.num_row_groups)]
        stats = [group.column(column).statistics for group in groups]
        files.append(
            [(group.num_rows, s.min, s.max) for group, s in zip(groups, stats, strict=True)]
        )
    assert sorted([rows for rows, _, _ in groups] for groups in files) == [[4, 2], [4, 2]]
    for groups in files:  # in user order: each group's users come after the last group's
        for (_, _, high), (_, low, _) in zip(groups, groups[1:], strict=False):
            assert high < low
    users = frozenset({"user03"})
    con = lake.connect(only={"users"}, users=users)
    assert con.execute("select user_id, timezone from users").fetchall() == [
        ("user03", "Asia/Tokyo")
    ]


def test_replacing_users_keeps_other_users_rows_and_refuses_a_new_schema(lake: Lake) -> None:
    rows = pa.table({"user_id": ["a", "b", "c"], "n": pa.array([1, 2, 3], pa.int32())})
    lake.overwrite("silver/counts", rows)
    con = lake.connect(only=set())
    con.register("new_rows", pa.table({"user_id": ["b", "b"], "n": pa.array([7, 8], pa.int32())}))
    assert lake.replace_users(
        "silver/counts", con, "select * from new_rows", frozenset({"b"}), file_bytes=2**20
    )
    stored = lake.read("silver/counts").sort_by([("user_id", "ascending"), ("n", "ascending")])
    assert stored.to_pylist() == [
        {"user_id": u, "n": n} for u, n in [("a", 1), ("b", 7), ("b", 8), ("c", 3)]
    ]
    version = lake.version("silver/counts")
    on_disk = sorted(lake.path("silver/counts").rglob("*.parquet"))
    con.register("wider", pa.table({"user_id": ["a"], "n": pa.array([9], pa.int64())}))
    assert not lake.replace_users(
        "silver/counts", con, "select * from wider", frozenset({"a"}), file_bytes=2**20
    )
    assert lake.version("silver/counts") == version  # nothing written: the caller falls back
    assert sorted(lake.path("silver/counts").rglob("*.parquet")) == on_disk  # none left staged


def test_a_table_first_written_without_nulls_takes_nulls_later(lake: Lake) -> None:
    # DuckDB marks columns it knows hold no NULL as required in the Parquet files
    con = lake.connect(only=set())
    query = "select 'u' || (i % 2) as user_id, i, [i] as items, 'x' as tag from range(4) t(i)"
    staged = lake.stage(con, query, "silver/filled", file_bytes=2**20)
    assert staged is not None
    written = pq.read_schema(staged.files[0])
    assert not written.field("items").nullable and not written.field("tag").nullable
    lake.commit(staged, con)
    stored = pa.schema(lake.delta("silver/filled").schema().to_arrow())
    assert all(field.nullable for field in stored)
    with_nulls = "select 'u1' as user_id, null::bigint as i, [null::bigint] as items, null as tag"
    assert lake.replace_users("silver/filled", con, with_nulls, frozenset({"u1"}), file_bytes=2**20)
    rows = lake.read("silver/filled").sort_by("user_id").to_pylist()
    assert [r["user_id"] for r in rows] == ["u0", "u0", "u1"]
    assert rows[-1] == {"user_id": "u1", "i": None, "items": [None], "tag": None}


@pytest.mark.parametrize(
    ("user", "per_user_files"),
    [("'u' || (i % 7)", False), ("'u' || (i % 7)", True), ("repeat('x', 300) || (i % 7)", False)],
    ids=["files", "per-user-files", "ids-longer-than-the-writers-statistics"],
)
def test_committed_files_carry_their_rows_and_user_range(lake, user, per_user_files) -> None:
    """The add actions' statistics (rows, lowest and highest user_id, nulls)
    are those of the files, whether DuckDB's writer reported them or, for ids
    longer than its statistics keep, a query read them."""
    from deltalake import DeltaTable

    con = lake.connect(only=set())
    query = (
        f"select case when i % 11 = 0 then null else {user} end as user_id, i "
        "from range(20000) t(i) order by user_id"
    )
    staged = lake.stage(
        con, query, "silver/ranged", file_bytes=2**20, file_rows=4096, per_user_files=per_user_files
    )
    assert staged is not None
    lake.commit(staged, con)
    folder = lake.path("silver/ranged")
    actions = pa.table(DeltaTable(str(folder)).get_add_actions(flatten=True)).to_pylist()
    assert len(actions) == len(staged.files) > 1
    for action in actions:
        data = pq.read_table(folder / action["path"])
        users = [u for u in data.column("user_id").to_pylist() if u is not None]
        assert action["num_records"] == data.num_rows
        assert action["null_count.user_id"] == data.num_rows - len(users)
        assert (action.get("min.user_id"), action.get("max.user_id")) == (
            (min(users), max(users)) if users else (None, None)
        )
    assert lake.count("ranged") == 20000


@pytest.mark.parametrize(
    ("per_user_files", "nulls", "filtered"),
    [(True, False, False), (True, True, True), (False, False, True)],
    ids=["a-file-per-user", "and-a-file-of-null-users", "shared-files"],
)
def test_a_users_view_filters_only_files_that_hold_other_rows(
    lake, per_user_files, nulls, filtered
) -> None:
    """Reading some users' rows of a table stored a file per user needs no
    ``user_id in (...)`` filter (whose misestimated output made DuckDB build
    joins on the big side); files that may hold other users' rows or NULL
    users keep it. The rows are the same either way."""
    con = lake.connect(only=set())
    null = "i % 50 = 0" if nulls else "false"
    query = (
        f"select case when {null} then null else 'u' || (i % 7) end as user_id, i "
        "from range(7000) t(i) order by user_id"
    )
    staged = lake.stage(
        con, query, "silver/ranged", file_bytes=2**20, file_rows=1000, per_user_files=per_user_files
    )
    lake.commit(staged, con)
    snapshot = lake.snapshot("ranged")
    sql = snapshot.sql(frozenset({"u1", "u3"}))
    assert ("user_id in" in sql) is filtered
    rows = con.execute(f"select user_id, count(*) from ({sql}) group by all order by 1").fetchall()
    expected = (
        "select user_id, count(*) from ({}) where user_id in ('u1', 'u3') group by all order by 1"
    )
    assert rows == con.execute(expected.format(snapshot.sql())).fetchall()
    assert [row[0] for row in rows] == ["u1", "u3"]
    con.close()


# a query that fails part-way through its rows (row 5,000 of 10,000 does not cast)
FAILING = (
    "select range as n, cast(case when range = 5000 then 'x' else '1' end as int) as v "
    "from range(10000)"
)


def test_a_failing_stage_leaves_no_files(lake: Lake) -> None:
    con = lake.connect(only=set())
    with pytest.raises(duckdb.ConversionException):
        lake.stage(con, FAILING, "silver/never", file_bytes=2**20)
    assert not any(lake.path("silver/never").rglob("*"))


def _fail_stages(root: str, times: int) -> None:  # runs in a child process
    lake = Lake(root)
    for _ in range(times):  # a database each, as each step of a run has
        with lake.connect(only=set()) as con, pytest.raises(duckdb.ConversionException):
            lake.stage(con, FAILING, "silver/never", file_bytes=2**20)


def test_failing_stages_return_their_error_every_time(lake: Lake) -> None:
    """DuckDB 2.0.0 could deadlock aborting a failed parallel COPY (this loop hung
    on it in each of four runs): each of these must come back with its error."""
    ctx = multiprocessing.get_context("spawn")
    child = ctx.Process(target=_fail_stages, args=(str(lake.root), 300))
    child.start()
    child.join(120)
    if child.is_alive():
        child.kill()
        child.join(30)
        pytest.fail("a failing stage never returned: its COPY hung aborting the writes")
    assert child.exitcode == 0
    assert not any(lake.path("silver/never").rglob("*"))


def test_a_sweep_removes_staged_folders_that_were_never_committed(lake: Lake) -> None:
    """A process killed between staging and commit leaves a staged folder; the
    next run's sweep deletes it and keeps every folder a commit references,
    even one whose marker a kill after the commit left behind."""
    con = lake.connect(only=set())
    query = "select 'u' || (i % 7) as user_id, i from range(100) t(i)"

    def stage() -> lake_module.Staged:
        staged = lake.stage(con, query, "silver/swept", file_bytes=2**20)
        assert staged is not None
        return staged

    first = stage()
    lake.commit(first, con)
    markers = lake.root / "_state" / "staging"
    assert not any(markers.iterdir())  # a commit drops its marker
    orphan = stage()  # never committed: the process "died" here
    late = stage()
    lake.commit(late, con)
    (markers / late.folders[0].name).write_text("silver/swept")  # killed before dropping it

    assert lake.sweep_staged() == [orphan.folders[0]]
    assert not orphan.folders[0].exists()
    assert late.folders[0].exists() and first.folders[0].exists()  # the log references them
    assert not any(markers.iterdir())
    assert lake.count("swept") == 100
    assert lake.sweep_staged() == []


def test_declared_bronze_table_reads_empty_before_first_write(lake: Lake) -> None:
    result = query(lake, "select count(*) as n from default.listening_history_bronze")
    assert result.to_pylist() == [{"n": 0}]


def test_open_refuses_a_folder_that_is_not_a_lake(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(LakeError, match="not a lake"):
        Lake.open(tmp_path, create=True)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_open_missing_lake_without_create(tmp_path: Path) -> None:
    with pytest.raises(LakeError, match="no lake here yet"):
        Lake.open(tmp_path / "absent")


def _hold_lock(root: str, ready, release) -> None:  # runs in a child process
    with Lake(root).lock("holder"):
        ready.set()
        release.wait(30)


def test_second_process_is_refused_while_lock_held(lake: Lake) -> None:
    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    child = ctx.Process(target=_hold_lock, args=(str(lake.root), ready, release))
    child.start()
    try:
        assert ready.wait(30)
        with pytest.raises(LockedError, match="busy .*running holder"), lake.lock():
            pass
    finally:
        release.set()
        child.join(30)
    with lake.lock():  # released when the holder ends
        pass


def test_lock_is_released_when_holder_is_killed(lake: Lake) -> None:
    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    child = ctx.Process(target=_hold_lock, args=(str(lake.root), ready, release))
    child.start()
    assert ready.wait(30)
    child.kill()
    child.join(30)
    with lake.lock():
        pass


def test_connections_spill_to_their_own_folders(lake, monkeypatch) -> None:
    """Two steps spilling at once: one closing must not delete the other's files."""
    import threading

    from spotify_analytics import lake as lake_module

    monkeypatch.setattr(lake_module, "DUCKDB_MEMORY_LIMIT", "48MB")
    spilling = "select count(*) from (select md5(i::varchar) as s from range({n}) t(i) order by s)"
    first, second = lake.connect(), lake.connect()
    failures: list[Exception] = []

    def long_sort() -> None:
        try:
            assert first.execute(spilling.format(n=3_000_000)).fetchall()[0] == (3_000_000,)
        except Exception as error:  # reported below
            failures.append(error)

    worker = threading.Thread(target=long_sort)
    worker.start()
    assert second.execute(spilling.format(n=1_000_000)).fetchall()[0] == (1_000_000,)
    second.close()
    worker.join()
    first.close()
    assert failures == []
    assert not any((lake.root / "_state" / "duckdb_tmp").glob("*/*"))


def test_shared_connections_are_cursors_of_their_threads_database(lake: Lake) -> None:
    """Views stay each cursor's own (each sees its users), one database per thread."""
    import threading

    lake.merge(USERS, _users(("ana", "UTC"), ("bo", "Europe/Berlin")))
    ana = lake.connect(aliases=False, users=frozenset({"ana"}), shared=True, threads=1)
    bo = lake.connect(aliases=False, users=frozenset({"bo"}), shared=True)
    folder = "select current_setting('temp_directory')"
    assert ana.execute("select user_id from users").fetchall() == [("ana",)]
    assert bo.execute("select user_id from users").fetchall() == [("bo",)]
    assert ana.execute(folder).fetchall() == bo.execute(folder).fetchall()
    assert bo.execute("select current_setting('threads')").fetchall()[0][0] >= 1
    own = lake.connect(aliases=False)
    assert own.execute(folder).fetchall() != ana.execute(folder).fetchall()
    other: list = []
    thread = threading.Thread(
        target=lambda: other.extend(
            lake.connect(aliases=False, shared=True).execute(folder).fetchall()
        )
    )
    thread.start()
    thread.join()
    assert other and other != ana.execute(folder).fetchall()
    ana.close()
    assert bo.execute("select count(*) from users").fetchall() == [(1,)]  # still open
    with pytest.raises(ValueError, match="aliases"):
        lake.connect(shared=True)


def test_count_sums_the_row_counts_in_the_delta_log_or_reads_the_footer(lake: Lake) -> None:
    from deltalake import Schema as DeltaSchema
    from deltalake.transaction import AddAction, create_table_with_add_actions

    lake.merge(USERS, _users(("ana", "UTC"), ("bo", "Europe/Berlin"), ("cy", "UTC")))
    lake.merge(USERS, _users(("di", "UTC")))
    assert lake.count("users") == lake.read("users").num_rows == 4
    assert lake.count("streaming_history_bronze") == 0  # declared, never written

    # a file whose add action carries no statistics: counted from its footer
    folder = lake.path("silver/counted")
    folder.mkdir(parents=True)
    data = pa.table({"user_id": ["a", "b", "c", "d", "e"]})
    pq.write_table(data, folder / "part-0.parquet")
    pq.write_table(data.slice(0, 2), folder / "part-1.parquet")
    actions = [
        AddAction(name, (folder / name).stat().st_size, {}, 0, True, stats)
        for name, stats in [("part-0.parquet", '{"numRecords": 5}'), ("part-1.parquet", "{}")]
    ]
    create_table_with_add_actions(str(folder), DeltaSchema.from_arrow(data.schema), actions)
    assert lake.count("counted") == 7


def test_the_version_comes_from_the_newest_commit_in_the_log(lake: Lake) -> None:
    from deltalake import DeltaTable

    for n in range(3):
        lake.overwrite("silver/plays", pa.table({"n": [n]}))
    table = DeltaTable(str(lake.path("silver/plays")))
    table.create_checkpoint()
    lake.overwrite("silver/plays", pa.table({"n": [9]}))
    assert lake.version("plays") == DeltaTable(str(lake.path("silver/plays"))).version() == 3


def test_every_tenth_commit_writes_a_checkpoint(lake: Lake) -> None:
    """Loading a table replays its log from the last checkpoint: the lake
    writes one every CHECKPOINT_INTERVAL commits, whichever write made them."""
    import json

    every = lake_module.CHECKPOINT_INTERVAL
    log = lake.path(USERS.location) / "_delta_log"
    for n in range(every - 1):  # versions 0 .. every - 2
        lake.merge(USERS, _users((f"u{n}", "UTC")))
    assert not (log / "_last_checkpoint").exists()
    lake.merge(USERS, _users(("last", "UTC")))  # the tenth commit
    assert json.loads((log / "_last_checkpoint").read_text())["version"] == every - 1
    assert lake.count("users") == every

    location = "silver/checkpointed"
    con = lake.connect(only=set())
    rows = "select 'u' || (i % 3) as user_id, i from range(30) t(i)"
    for _ in range(every - 1):
        staged = lake.stage(con, rows, location, file_bytes=2**20)
        assert staged is not None
        lake.commit(staged, con)
    one = "select 'u1' as user_id, 7::bigint as i"
    assert lake.replace_users(location, con, one, frozenset({"u1"}), file_bytes=2**20)
    pointer = lake.path(location) / "_delta_log" / "_last_checkpoint"
    assert json.loads(pointer.read_text())["version"] == every - 1
    stored = lake.read(location).to_pylist()
    assert len(stored) == 21 and [r["i"] for r in stored if r["user_id"] == "u1"] == [7]


def test_a_kept_table_follows_every_writer_and_a_replaced_table(lake: Lake) -> None:
    """The lake keeps each table it loaded and reads only the commits since, from
    whichever writer made them; a table deleted and made again is loaded anew."""
    import shutil

    from deltalake import DeltaTable

    location = "silver/kept"
    lake.overwrite(location, pa.table({"user_id": ["a", "b"], "n": [1, 2]}))
    assert len(lake.snapshot("kept").files) == 1
    loads = []
    real = lake.delta

    def counted(name: str) -> DeltaTable:
        loads.append(name)
        return real(name)

    lake.delta = counted  # type: ignore[method-assign]
    con = lake.connect(only=set())
    con.register("new_rows", pa.table({"user_id": ["b"], "n": [7]}))
    assert lake.replace_users(
        location, con, "select * from new_rows", frozenset({"b"}), file_bytes=2**20
    )
    lake.overwrite(location, pa.table({"user_id": ["c"], "n": [3]}), predicate="user_id = 'c'")
    snapshot = lake.snapshot("kept")
    assert loads == []  # both commits read from the log, not a new load
    assert pq.ParquetDataset([path for path, _, _ in snapshot.files]).read().sort_by(
        "user_id"
    ).to_pylist() == [{"user_id": u, "n": n} for u, n in [("a", 1), ("b", 7), ("c", 3)]]

    shutil.rmtree(lake.path(location))
    lake.overwrite(location, pa.table({"user_id": ["z"], "n": [9]}))
    assert [user for _, user, _ in lake.snapshot("kept").files] == ["z"]
    assert loads == [location]


def test_tables_loaded_ahead_are_kept_for_their_readers(lake: Lake) -> None:
    """keep_loaded loads each table once, skips missing and broken ones, and
    loads nothing once told to stop; the readers then use the kept tables."""
    import threading

    from deltalake import DeltaTable

    for name in ("first", "second", "broken"):
        lake.overwrite(f"silver/{name}", pa.table({"user_id": ["a"], "n": [1]}))
    for commit in (lake.path("silver/broken") / "_delta_log").glob("*.json"):
        commit.write_text("not json")
    loads = []
    real = lake.delta

    def counted(name: str, version: int | None = None) -> DeltaTable:
        loads.append(name)
        return real(name, version)

    lake.delta = counted  # type: ignore[method-assign]
    stopped = threading.Event()
    stopped.set()
    lake.keep_loaded(["silver/first"], stopped)
    assert loads == []
    every = ["silver/first", "silver/missing", "silver/broken", "silver/second", "silver/first"]
    lake.keep_loaded(every, threading.Event())
    assert loads == ["silver/first", "silver/broken", "silver/second"]
    assert lake.snapshot("first").files and lake.snapshot("second").files
    assert loads == ["silver/first", "silver/broken", "silver/second"]  # kept: no new load
    with pytest.raises(LakeError, match="broken"):
        lake.snapshot("broken")  # the reader reports what the preload passed over


def test_a_name_resolves_to_where_its_table_is_now(lake: Lake) -> None:
    import shutil

    lake.overwrite("silver/moved", pa.table({"n": [1]}))
    assert lake.location("moved") == "silver/moved"
    shutil.rmtree(lake.path("silver/moved"))
    lake.overwrite("gold/descriptive/moved", pa.table({"n": [2]}))
    assert lake.location("moved") == "gold/descriptive/moved"
    assert lake.read("moved").column("n").to_pylist() == [2]
    shutil.rmtree(lake.path("gold/descriptive/moved"))
    with pytest.raises(LakeError, match="no table named 'moved'"):
        lake.location("moved")
