from __future__ import annotations

from dataclasses import replace
from pathlib import Path

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
