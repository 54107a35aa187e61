"""The SQL shell: one-shot formats, Trino-style names, read-only, interactive mode."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from spotify_analytics.cli import app
from spotify_analytics.errors import InputError
from spotify_analytics.lake import Lake
from spotify_analytics.query import named_tables, query, quote_default_schema
from spotify_analytics.schemas import USERS


@pytest.fixture
def users_lake(lake: Lake) -> Lake:
    lake.merge(USERS, pa.table({"user_id": ["ana", "bo"], "timezone": ["UTC", "Asia/Tokyo"]}))
    return lake


def _sql(lake: Lake, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "spotify_analytics.cli", "sql", *args, "--lake", str(lake.root)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_default_schema_and_bare_names_read_the_same_table(users_lake: Lake) -> None:
    bare = query(users_lake, "select user_id from users order by 1")
    trino = query(users_lake, "select user_id from default.users order by 1")
    assert bare.to_pylist() == trino.to_pylist() == [{"user_id": "ana"}, {"user_id": "bo"}]


def test_a_one_shot_query_shows_only_the_lake_tables_it_names(users_lake: Lake) -> None:
    assert named_tables(users_lake, "select * from users") == {"users"}
    both = 'with u as (select * from default.USERS) select * from u, "Streaming_History_Bronze"'
    assert named_tables(users_lake, both) == {"users", "streaming_history_bronze"}
    assert named_tables(users_lake, "select 1") == set()
    anything_else = [
        "select * from information_schema.tables",  # a catalog view
        "select * from duckdb_tables()",  # a table function
        "select * from nope",  # not in the lake: DuckDB says so, over every table
        "explain select * from users",
        "select 1; select 2",
        "selec oops",
    ]
    for sql in anything_else:
        assert named_tables(users_lake, sql) is None, sql
    # those still see every table
    listed = query(users_lake, "select table_name from information_schema.tables")
    names = set(listed.column("table_name").to_pylist())
    assert {"users", "streaming_history_bronze", "listening_history_bronze"} <= names
    assert query(users_lake, "select count(*) as n from default.users").to_pylist() == [{"n": 2}]


def test_default_is_quoted_only_where_it_names_the_schema() -> None:
    sql = "select 'default.x' as s, default.users.user_id from default.users"
    assert quote_default_schema(sql) == (
        """select 'default.x' as s, "default".users.user_id from "default".users"""
    )


@pytest.mark.parametrize(
    "statement",
    [
        "insert into users values ('x', 'UTC', null, null, null)",
        "delete from users",
        "create table t as select 1",
        "copy users to '/tmp/out.csv'",
        "select 1; select 2",
    ],
)
def test_writes_and_scripts_are_refused(users_lake: Lake, statement: str) -> None:
    version = users_lake.version("users")
    with pytest.raises(InputError, match="SQL: "):
        query(users_lake, statement)
    assert users_lake.version("users") == version
    assert users_lake.count("users") == 2


def test_cli_formats(users_lake: Lake) -> None:
    runner = CliRunner()
    base = ["sql", "select user_id, timezone from default.users order by 1"]
    lake = ["--lake", str(users_lake.root)]
    as_json = runner.invoke(app, [*base, "--format", "json", *lake])
    assert json.loads(as_json.stdout) == [
        {"user_id": "ana", "timezone": "UTC"},
        {"user_id": "bo", "timezone": "Asia/Tokyo"},
    ]
    as_csv = runner.invoke(app, [*base, "--format", "csv", *lake])
    assert as_csv.stdout.splitlines() == ["user_id,timezone", "ana,UTC", "bo,Asia/Tokyo"]
    as_table = runner.invoke(app, [*base, *lake])
    assert "Asia/Tokyo" in as_table.stdout and "user_id" in as_table.stdout


def test_cli_error_is_one_line_with_exit_code_2(users_lake: Lake) -> None:
    result = _sql(users_lake, "select nope from users")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "nope" in result.stderr


def test_interactive_shell_runs_statements_until_quit(users_lake: Lake) -> None:
    session = (
        "select count(*) as n\nfrom users;\nselect bad from users;\n"
        "select 41 + 1 as answer;\n.quit\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "spotify_analytics.cli", "sql", "--format", "csv"]
        + ["--lake", str(users_lake.root)],
        input=session,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["n", "2", "answer", "42"]
    assert "bad" in result.stderr  # the failing statement is reported, the shell goes on


def test_not_a_lake_is_refused(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "notes.txt").write_text("mine")
    result = CliRunner().invoke(app, ["sql", "select 1", "--lake", str(tmp_path / "x")])
    assert result.exit_code == 2
    assert "not a lake" in result.output
