from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from spotify_analytics.errors import SpotifyAnalyticsError
from spotify_analytics.lake import Lake
from spotify_analytics.runner import Runner, build_dag, select_steps, sql_models, upstream_tables
from spotify_analytics.schemas import USERS
from spotify_analytics.settings import Settings


def _models(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "sql"
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_upstream_tables_ignores_ctes() -> None:
    sql = "with a as (select * from users) select * from a join plays p using (user_id)"
    assert upstream_tables(sql) == {"users", "plays"}


def test_dag_order_and_incremental_rebuild(tmp_path: Path, lake: Lake) -> None:
    root = _models(
        tmp_path,
        {
            "silver/user_zones.sql": "select user_id, timezone from users",
            "gold/demo/zone_counts.sql": (
                "select timezone, count(*)::bigint as n from user_zones group by timezone"
            ),
            "gold/demo/zone_counts.yml": (
                "table: zone_counts\ngrain: one row per zone\nkeys: [timezone]\n"
            ),
        },
    )
    lake.merge(USERS, pa.table({"user_id": ["a", "b"], "timezone": ["UTC", "UTC"]}))
    runner = Runner(lake, Settings(lake=lake.root), sql_models(root))
    assert runner.order() == ["user_zones", "zone_counts"]

    first = runner.run()
    assert first.built == ["user_zones", "zone_counts"]
    assert lake.read("zone_counts").to_pylist() == [{"timezone": "UTC", "n": 2}]
    assert runner.run().built == []

    lake.merge(USERS, pa.table({"user_id": ["c"], "timezone": ["Asia/Tokyo"]}))
    assert runner.run().built == ["user_zones", "zone_counts"]
    assert runner.run(full=True).built == ["user_zones", "zone_counts"]


def test_select_descendants(tmp_path: Path) -> None:
    root = _models(
        tmp_path,
        {
            "silver/a.sql": "select * from users",
            "silver/b.sql": "select * from a",
            "silver/c.sql": "select * from users",
        },
    )
    graph = build_dag(sql_models(root))
    assert select_steps(graph, "a+") == {"a", "b"}
    assert select_steps(graph, "+b") == {"a", "b"}
    with pytest.raises(SpotifyAnalyticsError, match="no step or table named"):
        select_steps(graph, "zzz+")
    # a table built by a step with several outputs selects that step
    assert select_steps(graph, "a_copy+", {"a_copy": "a"}) == {"a", "b"}


def test_unknown_table_is_reported(tmp_path: Path) -> None:
    root = _models(tmp_path, {"silver/a.sql": "select * from nowhere"})
    with pytest.raises(SpotifyAnalyticsError, match="unknown table.*nowhere"):
        build_dag(sql_models(root))


def test_a_model_ending_in_a_comment_builds(tmp_path: Path, lake: Lake) -> None:
    root = _models(
        tmp_path,
        {
            "silver/one.sql": "select 1 as a -- the last line is a comment",
            "silver/one.yml": "table: one\ngrain: one row\nkeys: []\n",
        },
    )
    runner = Runner(lake, Settings(lake=lake.root), sql_models(root))
    assert runner.run(full=True).built == ["one"]
    assert lake.read("one").to_pylist() == [{"a": 1}]


def test_parsed_inputs_are_cached_by_sql_text(tmp_path: Path) -> None:
    import hashlib
    import json

    root = _models(tmp_path, {"silver/b.sql": "select * from a_bronze join c on true"})
    cache = tmp_path / "sql_tables.json"
    [parsed] = sql_models(root, cache=cache)
    assert parsed.inputs == {"a_bronze", "c"}
    text = (root / "silver" / "b.sql").read_text()
    digest = hashlib.sha256(text.encode()).hexdigest()
    assert json.loads(cache.read_text()) == {digest: ["a_bronze", "c"]}
    cache.write_text(json.dumps({digest: ["from_the_cache"]}))  # read, not parsed again
    assert sql_models(root, cache=cache)[0].inputs == {"from_the_cache"}
    (root / "silver" / "b.sql").write_text(text + "\n")  # a new text is parsed
    assert sql_models(root, cache=cache)[0].inputs == {"a_bronze", "c"}
    cache.write_text("{torn")
    assert sql_models(root, cache=cache)[0].inputs == {"a_bronze", "c"}


def test_the_shipped_dependencies_are_the_parsed_ones(tmp_path: Path) -> None:
    """sql/dependencies.json holds every package model's upstream tables as parsing
    finds them, and nothing else, so a new lake's first run reads them from it
    without importing sqlglot."""
    import json
    import subprocess
    import sys

    from spotify_analytics.dag import SHIPPED_DEPENDENCIES, parse_dependencies

    hint = "run `python tests/golden/regenerate.py` and commit sql/dependencies.json"
    shipped = json.loads(Path(str(SHIPPED_DEPENDENCIES)).read_text())
    assert shipped == parse_dependencies(), hint
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from spotify_analytics.dag import sql_models\n"
        f"steps = sql_models(cache=Path({str(tmp_path / 'cache.json')!r}))\n"
        "print(len(steps), 'sqlglot' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == [str(len(shipped)), "False"]


def test_warm_up_runs_once_a_run_has_something_to_build(tmp_path: Path, lake: Lake) -> None:
    from spotify_analytics.runner import python_step

    calls: list[str] = []
    (tmp_path / "sql" / "gold" / "x").mkdir(parents=True)
    (tmp_path / "sql" / "gold" / "x" / "count_users.yml").write_text(
        "table: count_users\ngrain: one row\nkeys: []\n"
    )

    def count_users(ctx) -> dict[str, pa.Table]:
        n = ctx.sql("select count(*) as n from users").column("n")[0].as_py()
        return {"gold/x/count_users": pa.table({"n": [n]})}

    def steps() -> list:
        step = python_step(
            count_users,
            inputs=["users"],
            outputs=["gold/x/count_users"],
            warm_up=lambda: calls.append("warmed"),
        )
        return [replace(step, root=str(tmp_path / "sql"))]

    settings = Settings(lake=lake.root)
    lake.merge(USERS, pa.table({"user_id": ["a"], "timezone": ["UTC"]}))
    runner = Runner(lake, settings, steps())
    assert runner.run().built == ["count_users"]
    runner._warming.join()
    assert calls == ["warmed"]
    idle = Runner(lake, settings, steps())
    assert idle.run().built == [] and idle._warming is None
    assert calls == ["warmed"]


def test_a_run_with_something_to_build_loads_its_tables_ahead(tmp_path: Path, lake: Lake) -> None:
    """While a run's first step builds, the preload thread loads the tables
    of the steps after it; a run with nothing to build loads none."""
    import threading
    import time

    from spotify_analytics.runner import python_step

    root = _models(tmp_path, {"silver/zone_names.sql": "select distinct timezone from zones"})
    (root / "silver" / "zones.yml").write_text(
        "table: zones\ngrain: one row per user\nkeys: [user_id]\n"
    )
    seen_ahead: list[bool] = []

    def zones(ctx) -> dict[str, pa.Table]:
        if (ctx.lake.path("silver/zone_names") / "_delta_log").is_dir():  # not in the first run
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not ctx.lake._tables.get("silver/zone_names"):
                time.sleep(0.01)
            seen_ahead.append(bool(ctx.lake._tables.get("silver/zone_names")))
        return {"silver/zones": ctx.sql("select user_id, timezone from users")}

    def steps() -> list:
        first = python_step(zones, inputs=["users"], outputs=["silver/zones"])
        return [replace(first, root=str(root)), *sql_models(root)]

    lake.merge(USERS, pa.table({"user_id": ["a"], "timezone": ["UTC"]}))
    settings = Settings(lake=lake.root)
    Runner(lake, settings, steps()).run()
    lake.merge(USERS, pa.table({"user_id": ["b"], "timezone": ["Asia/Tokyo"]}))
    loads: list[tuple[str, str]] = []

    def counting(lake: Lake) -> Lake:
        real = lake.delta

        def delta(name: str, version: int | None = None):
            loads.append((threading.current_thread().name, name))
            return real(name, version)

        lake.delta = delta  # type: ignore[method-assign]
        return lake

    seen_ahead.clear()
    fresh = counting(Lake(lake.root))
    assert Runner(fresh, settings, steps()).run().built == ["zones", "zone_names"]
    assert seen_ahead == [True]
    assert sorted(name for thread, name in loads if thread == "preload") == [
        "silver/zone_names",
        "silver/zones",
    ]
    assert [name for thread, name in loads if thread != "preload"] == ["bronze/users"]
    loads.clear()
    idle = counting(Lake(lake.root))
    assert Runner(idle, settings, steps()).run().built == []
    assert [thread for thread, _ in loads if thread == "preload"] == []


def test_user_shards_are_contiguous_balanced_and_cover_every_user() -> None:
    from spotify_analytics.shards import user_shards

    rows = {f"u{n:03d}": 10 + n % 7 for n in range(100)}
    shards = user_shards(rows, 200)
    total = sum(rows.values())
    assert len(shards) == -(-total // 200)
    assert set().union(*shards) == set(rows)
    assert sum(len(shard) for shard in shards) == len(rows)  # disjoint
    ordered = [sorted(shard) for shard in shards]
    assert all(a[-1] < b[0] for a, b in zip(ordered, ordered[1:], strict=False))
    sizes = [sum(rows[user] for user in shard) for shard in shards]
    assert max(sizes) - min(sizes) <= 2 * max(rows.values())
    assert user_shards(rows, total) == [frozenset(rows)]
    assert user_shards({}, 10) == []
    assert user_shards({"only": 50}, 10) == [frozenset({"only"})]


def test_worker_processes_load_native_thread_pools_with_one_thread(monkeypatch) -> None:
    """SciPy's OpenBLAS, loaded inside a worker (as a model's first fit loads
    it), starts with one thread: a second one would spin beside the shard."""
    import threadpoolctl

    from spotify_analytics.shards import ONE_THREAD_ENV, worker_pool

    for name in ONE_THREAD_ENV:
        monkeypatch.delenv(name, raising=False)
    with worker_pool(1) as pool:
        pool.submit(exec, "import scipy.linalg, numpy").result()
        pools = pool.submit(threadpoolctl.threadpool_info).result()
    blas = [p for p in pools if p["internal_api"] == "openblas"]
    assert len(blas) >= 1, pools  # numpy's and SciPy's own
    assert all(p["num_threads"] == 1 for p in blas), pools


def _per_user_models(tmp_path: Path, body: str) -> Path:
    return _models(
        tmp_path,
        {
            "silver/user_hours.sql": body,
            "silver/user_hours.yml": (
                "table: user_hours\ngrain: one row per user and zone\n"
                "keys: [user_id, timezone]\nper_user: true\n"
            ),
        },
    )


def test_a_large_per_user_build_runs_in_shards_with_the_same_rows(
    tmp_path: Path, lake: Lake
) -> None:
    users = [f"user-{n:02d}" for n in range(12)]
    lake.merge(USERS, pa.table({"user_id": users, "timezone": ["UTC", "Asia/Tokyo"] * 6}))
    root = _per_user_models(
        tmp_path,
        "select user_id, timezone, count(*)::bigint as n from users group by all",
    )
    sharded = Runner(lake, Settings(lake=lake.root), sql_models(root), shard_rows=4)
    assert len(sharded._shards(sharded.steps["user_hours"])) == 3
    assert sharded.run(full=True).built == ["user_hours"]
    files = lake.delta("user_hours").file_uris()
    assert len(files) == 3  # one staged part per shard, committed together
    rows = sorted(lake.read("user_hours").to_pylist(), key=lambda row: row["user_id"])
    assert [row["user_id"] for row in rows] == users
    assert {row["n"] for row in rows} == {1}
    whole = Runner(lake, Settings(lake=lake.root), sql_models(root))
    assert whole._shards(whole.steps["user_hours"]) == []  # smaller than a shard: not split
    whole.run(full=True)
    assert sorted(lake.read("user_hours").to_pylist(), key=lambda row: row["user_id"]) == rows


def test_a_failing_shard_leaves_the_table_and_folder_as_they_were(
    tmp_path: Path, lake: Lake
) -> None:
    users = [f"user-{n:02d}" for n in range(8)]
    lake.merge(USERS, pa.table({"user_id": users, "timezone": ["UTC"] * 8}))
    good = "select user_id, timezone, count(*)::bigint as n from users group by all"
    Runner(lake, Settings(lake=lake.root), sql_models(_per_user_models(tmp_path / "a", good))).run()
    before = lake.read("user_hours")
    version = lake.version("user_hours")
    folder = lake.path("silver/user_hours")
    entries = sorted(path.name for path in folder.iterdir())
    bad = (
        "select user_id, timezone, count(*)::bigint as n from users "
        "where case when user_id = 'user-06' then error('no zone for user-06') else true end "
        "group by all"
    )
    runner = Runner(
        lake,
        Settings(lake=lake.root),
        sql_models(_per_user_models(tmp_path / "b", bad)),
        shard_rows=2,
    )
    with pytest.raises(SpotifyAnalyticsError, match="step user_hours: .*no zone for user-06"):
        runner.run(full=True)
    assert lake.version("user_hours") == version
    assert lake.read("user_hours").equals(before)
    assert sorted(path.name for path in folder.iterdir()) == entries  # shards' files removed


def test_ready_steps_start_longest_remaining_path_first() -> None:
    from spotify_analytics.runner import critical_paths

    graph = {"silver": set(), "models": {"silver"}, "small": {"silver"}, "after": {"models"}}
    state = {"silver": {"seconds": 2.0}, "models": {"seconds": 3.0}, "small": {"seconds": 0.5}}
    paths = critical_paths(graph, set(graph), state)
    assert paths == {"after": 1.0, "models": 4.0, "small": 0.5, "silver": 6.0}  # after: unknown
    assert critical_paths(graph, {"silver", "small"}, state) == {"silver": 2.5, "small": 0.5}


def test_steps_side_by_side_use_one_duckdb_thread_each(tmp_path: Path, lake: Lake) -> None:
    """DuckDB's threads go to a step only when it has the machine to itself."""
    from spotify_analytics.runner import python_step

    seen: dict[str, int] = {}
    grains = tmp_path / "sql" / "gold" / "x"
    grains.mkdir(parents=True)

    def make(name: str, inputs: list[str]):
        (grains / f"{name}.yml").write_text(f"table: {name}\ngrain: one row\nkeys: []\n")

        def build(ctx) -> dict[str, pa.Table]:
            con = ctx.connect(only=set())
            seen[name] = con.execute("select current_setting('threads')").fetchall()[0][0]
            con.close()
            return {f"gold/x/{name}": pa.table({"n": [1]})}

        build.__name__ = name
        step = python_step(build, inputs=inputs, outputs=[f"gold/x/{name}"])
        return replace(step, root=str(tmp_path / "sql"))

    steps = [make("left", ["users"]), make("right", ["users"]), make("last", ["left", "right"])]
    Runner(lake, Settings(lake=lake.root), steps).run(workers=2)
    assert seen["left"] == seen["right"] == 1
    default = duckdb.connect().execute("select current_setting('threads')").fetchall()[0][0]
    assert seen["last"] == default


def _view_models(tmp_path: Path, view_sql: str = "select user_id, upper(timezone) as zone") -> Path:
    return _models(
        tmp_path,
        {
            "silver/user_zones.sql": "select user_id, timezone from users",
            "silver/user_zones.yml": (
                "table: user_zones\ngrain: one row per user\nkeys: [user_id]\nper_user: true\n"
            ),
            "silver/zones.sql": f"{view_sql} from user_zones",
            "silver/zones.yml": (
                "table: zones\ngrain: one row per user\nkeys: [user_id]\n"
                "per_user: true\nview: true\n"
            ),
            "gold/demo/zone_counts.sql": (
                "select zone, count(*)::bigint as n from zones group by zone"
            ),
            "gold/demo/zone_counts.yml": (
                "table: zone_counts\ngrain: one row per zone\nkeys: [zone]\n"
            ),
        },
    )


def test_a_view_is_defined_where_it_is_read_and_never_stored(tmp_path: Path, lake: Lake) -> None:
    root = _view_models(tmp_path)
    lake.merge(USERS, pa.table({"user_id": ["a", "b"], "timezone": ["UTC", "Asia/Tokyo"]}))
    runner = Runner(lake, Settings(lake=lake.root), sql_models(root))
    assert runner.order() == ["user_zones", "zone_counts"]
    reader = runner.steps["zone_counts"]
    assert reader.inputs == {"user_zones"} and reader.views == {"zones"}
    assert runner.run().built == ["user_zones", "zone_counts"]
    assert "zones" not in lake.tables()
    counts = {row["zone"]: row["n"] for row in lake.read("zone_counts").to_pylist()}
    assert counts == {"UTC": 1, "ASIA/TOKYO": 1}

    # the readers follow the tables under the view
    lake.merge(USERS, pa.table({"user_id": ["c"], "timezone": ["UTC"]}))
    assert runner.run().built == ["user_zones", "zone_counts"]
    assert {r["zone"]: r["n"] for r in lake.read("zone_counts").to_pylist()}["UTC"] == 2
    # a connection that names the view shows it, limited like the tables under it
    con = lake.connect(only={"zones"}, users=frozenset({"a"}), views=runner.views)
    try:
        assert con.execute("select user_id, zone from zones").fetchall() == [("a", "UTC")]
    finally:
        con.close()
    with pytest.raises(SpotifyAnalyticsError, match="zones is a view"):
        runner.run(select="zones+")


def test_a_changed_view_rebuilds_its_readers(tmp_path: Path, lake: Lake) -> None:
    lake.merge(USERS, pa.table({"user_id": ["a"], "timezone": ["UTC"]}))
    settings = Settings(lake=lake.root)
    Runner(lake, settings, sql_models(_view_models(tmp_path / "one"))).run()
    lower = _view_models(tmp_path / "two", "select user_id, lower(timezone) as zone")
    report = Runner(lake, settings, sql_models(lower)).run()
    assert report.built == ["zone_counts"]
    assert lake.read("zone_counts").to_pylist() == [{"zone": "utc", "n": 1}]


def test_a_stored_copy_of_a_view_is_dropped_once_its_inputs_exist(
    tmp_path: Path, lake: Lake
) -> None:
    """A lake from before the model became a view holds a table of its name: the
    run deletes it, so nothing reads a copy that no longer follows its inputs."""
    root = _view_models(tmp_path)
    lake.overwrite("silver/zones", pa.table({"user_id": ["old"], "zone": ["STALE"]}))
    runner = Runner(lake, Settings(lake=lake.root), sql_models(root))
    runner.run()  # no user_zones when it starts: the copy is kept, but not read
    assert "zones" in lake.tables()
    assert lake.read("zone_counts").to_pylist() == []
    lake.merge(USERS, pa.table({"user_id": ["a"], "timezone": ["UTC"]}))
    runner.run()
    assert "zones" not in lake.tables()
    assert lake.read("zone_counts").to_pylist() == [{"zone": "UTC", "n": 1}]
