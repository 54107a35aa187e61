"""`spotify-analytics demo` end to end: real files through the real ingest paths and
pipeline, labelled as demo data, idempotent, and never mixed with real data."""

from __future__ import annotations

import contextlib
import json
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from spotify_analytics.catalog_csv import write_catalog_csv
from spotify_analytics.cli import app
from spotify_analytics.dag import package_views
from spotify_analytics.demo import build_demo, write_inputs
from spotify_analytics.demo.catalog import generate_catalog
from spotify_analytics.errors import LakeError
from spotify_analytics.ingest.kaggle import ingest_kaggle
from spotify_analytics.lake import Lake
from spotify_analytics.settings import Settings
from spotify_analytics.users import ensure_user

TIMEZONES = {
    "demo-alex": "Europe/Berlin",
    "demo-kim": "Asia/Tokyo",
    "demo-sam": "America/New_York",
}


@pytest.fixture(scope="module")
def demo_lake(tmp_path_factory) -> tuple[Path, dict]:
    """One demo build for the module, through the CLI, with --json."""
    home = tmp_path_factory.mktemp("demo")
    with contextlib.chdir(home):
        result = CliRunner().invoke(app, ["demo", "--lake", str(home / "lake"), "--json"])
    assert result.exit_code == 0, result.output
    return home / "lake", json.loads(result.stdout)


@pytest.fixture(scope="module")
def con(demo_lake):
    connection = Lake(demo_lake[0]).connect(views=package_views())
    yield connection
    connection.close()


def test_demo_builds_every_layer_from_its_own_input_files(demo_lake) -> None:
    root, summary = demo_lake
    assert summary["label"].startswith("DEMO DATA")
    assert summary["catalog_rows"] == 114_000 and not summary["catalog_reused"]
    assert {user["user_id"]: user["timezone"] for user in summary["users"]} == TIMEZONES
    assert all(2500 <= user["plays"] <= 4000 for user in summary["users"])
    assert all(user["top_genre"] for user in summary["users"])
    inputs = root / "demo_inputs"
    assert (inputs / "dataset.csv").stat().st_size > 15_000_000
    assert sorted(p.name for p in (inputs / "exports" / "demo-sam").iterdir()) == [
        "StreamingHistory_music_0.json",
        "Streaming_History_Audio_2025.json",
        "Streaming_History_Audio_2026.json",
    ]
    tables = Lake(root).tables()
    assert {"plays", "track_features", "catalog_tracks"} <= set(tables)
    assert "listening_with_features" not in tables  # a view: see test_sql
    assert any(location.startswith("gold/") for location in tables.values())
    assert any("status" in command for command in summary["next_commands"])
    assert any("default.plays" in command for command in summary["next_commands"])


def test_suggested_next_commands_run(demo_lake) -> None:
    root, summary = demo_lake
    runnable = [c for c in summary["next_commands"] if not c.startswith("spotify-analytics import")]
    assert len(runnable) >= 4
    for command in runnable:
        args = shlex.split(command.split("   #")[0])[1:]
        result = CliRunner().invoke(app, args, input=".quit\n")
        assert result.exit_code == 0, (command, result.output)
    hours = CliRunner().invoke(app, shlex.split(summary["next_commands"][1])[1:] + ["-f", "json"])
    valence = {row["hour_of_day"]: row["valence"] for row in json.loads(hours.stdout)}
    assert len(valence) >= 18
    afternoon = [valence[hour] for hour in range(12, 18)]
    morning = [valence[hour] for hour in range(6, 10)]
    assert min(afternoon) > max(morning) + 0.1  # the planted hour-of-day curve


def test_check_covers_the_listening_with_features_view(demo_lake) -> None:
    root, _ = demo_lake
    result = CliRunner().invoke(app, ["check", "--lake", str(root), "--json"])
    assert result.exit_code == 0, result.output
    checks = json.loads(result.stdout)["checks"]
    view = {
        c["check_name"]: c["status"] for c in checks if c["table_name"] == "listening_with_features"
    }
    assert view["unique_keys"] == "pass" and view["grain_file"] == "pass", view


def test_demo_users_and_stored_fields(con) -> None:
    assert dict(con.execute("select user_id, timezone from users").fetchall()) == TIMEZONES
    assert con.execute("select count(*) from kaggle_tracks_bronze").fetchall() == [(114_000,)]
    columns = {row[0] for row in con.execute("describe streaming_history_bronze").fetchall()}
    assert not columns & {"ip_addr", "ip_addr_decrypted", "username", "user_agent_decrypted"}
    query = "select count(*) from streaming_history_bronze where not is_music"
    podcasts = con.execute(query).fetchall()
    assert 30 <= podcasts[0][0] <= 90


def test_cross_format_plays_are_merged_and_matched(demo_lake, con) -> None:
    """demo-sam's Aug-Sep plays are in both export formats: one play each in Silver;
    October exists only in account data, so its features come from catalog matching."""
    root, _ = demo_lake
    exports = root / "demo_inputs" / "exports" / "demo-sam"
    extended = []
    for path in exports.glob("Streaming_History_Audio_*.json"):
        extended += [r for r in json.loads(path.read_text()) if r["spotify_track_uri"]]
    account = json.loads((exports / "StreamingHistory_music_0.json").read_text())
    only_account = [r for r in account if r["endTime"] >= "2026-10"]
    query = "select count(*) from plays where user_id = 'demo-sam' and is_music"
    [(plays,)] = con.execute(query).fetchall()
    assert plays == len(extended) + len(only_account)
    sources = dict(
        con.execute(
            """
            select coalesce(feature_source, 'none'), count(*)
            from listening_with_features
            where user_id = 'demo-sam' and played_at >= timestamptz '2026-10-01 00:00:00+00'
            group by all
            """
        ).fetchall()
    )
    assert sum(sources.values()) == len(only_account)
    # tracks first heard in October have no track id anywhere: matched on artist + title
    assert set(sources) == {"catalog_id", "catalog_match"}
    assert sources["catalog_match"] >= 20


def test_running_demo_again_adds_nothing(demo_lake) -> None:
    root, first = demo_lake
    lake = Lake(root)
    logs = {"quality_checks"}  # one row per check per run: a re-run adds its own rows
    counts = {name: lake.count(name) for name in lake.tables() if name not in logs}
    bronze = {n: lake.version(n) for n, loc in lake.tables().items() if loc.startswith("bronze")}
    inputs = {p: p.stat().st_mtime_ns for p in (root / "demo_inputs").rglob("*.json")}
    with contextlib.chdir(root.parent):
        result = CliRunner().invoke(app, ["demo", "--lake", str(root)])
    assert result.exit_code == 0, result.output
    assert "DEMO DATA" in result.stdout
    assert "0 new export records" in result.stdout and "already loaded" in result.stdout
    for user in TIMEZONES:
        assert user in result.stdout
    assert {name: lake.count(name) for name in lake.tables() if name not in logs} == counts
    assert {n: lake.version(n) for n in bronze} == bronze
    assert {p: p.stat().st_mtime_ns for p in inputs} == inputs  # unchanged inputs are reused


def test_changed_input_files_are_generated_again(demo_lake) -> None:
    root, _ = demo_lake
    steps: list[str] = []
    export = root / "demo_inputs" / "exports" / "demo-kim" / "Streaming_History_Audio_2026.json"
    original = export.read_bytes()
    write_inputs(Lake(root), lambda what, step, total: steps.append(what))
    assert steps == ["demo input files are up to date"]
    export.write_text("[]")
    write_inputs(Lake(root), lambda what, step, total: steps.append(what))
    assert export.read_bytes() == original
    assert "generating the demo catalog (114,000 rows)" in steps


def test_demo_refuses_a_lake_with_real_users(lake: Lake, settings: Settings) -> None:
    ensure_user(lake, "me", "Europe/Paris", settings)
    version = lake.version("users")
    with pytest.raises(LakeError, match="non-demo users \\(me\\)"):
        build_demo(lake.root, settings)
    assert not (lake.root / "demo_inputs").exists()
    assert lake.version("users") == version


def test_demo_refuses_a_lake_with_a_real_catalog(
    lake: Lake, settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "dataset.csv"
    write_catalog_csv(path, generate_catalog(n_per_genre=1, seed=5).rows())
    ingest_kaggle(lake, settings, path=path)
    version = lake.version("kaggle_tracks_bronze")
    with pytest.raises(LakeError, match="catalog that is not demo data"):
        build_demo(lake.root, settings)
    assert lake.version("kaggle_tracks_bronze") == version
    assert not (lake.root / "demo_inputs").exists()


def test_demo_cli_refuses_a_folder_that_is_not_a_lake(tmp_path: Path) -> None:
    folder = tmp_path / "documents"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    result = CliRunner().invoke(app, ["demo", "--lake", str(folder)])
    assert result.exit_code == 2
    assert "not a lake" in result.output
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]
