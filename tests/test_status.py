"""`status` per user agrees with what the raw export files say."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from typer.testing import CliRunner

from conftest import EXPORTS
from spotify_analytics.cli import app

ACCOUNT = EXPORTS / "account-data" / "vnegi10"
EXTENDED = EXPORTS / "extended" / "Khushi-203006"


def _records(folder: Path) -> list[dict]:
    return [r for path in sorted(folder.glob("*.json")) for r in json.loads(path.read_text())]


def _cli(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def test_status_matches_the_raw_exports(tmp_path: Path) -> None:
    lake = str(tmp_path / "lake")
    _cli("import", str(ACCOUNT), "--user", "vnegi10", "--tz", "Europe/Amsterdam", "--lake", lake)
    _cli("import", str(EXTENDED), "--user", "khushi", "--tz", "Asia/Kolkata", "--lake", lake)
    _cli("run", "--lake", lake)
    users = {u["user_id"]: u for u in json.loads(_cli("status", "--json", "--lake", lake))["users"]}

    account = _records(ACCOUNT)
    vnegi = users["vnegi10"]
    assert vnegi["export_records"] == vnegi["plays"] == len(account) == 11_931
    assert vnegi["timezone"] == "Europe/Amsterdam"
    assert vnegi["distinct_tracks"] == len(
        {(r["artistName"].lower(), r["trackName"].lower()) for r in account}
    )
    end_times = sorted(datetime.fromisoformat(r["endTime"] + "+00:00") for r in account)
    assert (_utc(vnegi["first_play"]), _utc(vnegi["last_play"])) == (end_times[0], end_times[-1])

    extended = _records(EXTENDED)
    music = [r for r in extended if r["spotify_track_uri"]]
    khushi = users["khushi"]
    assert khushi["export_records"] == len(extended)
    assert khushi["export_music_records"] == khushi["plays"] == len(music)
    assert khushi["distinct_track_ids"] == len({r["spotify_track_uri"] for r in music})
    stamps = sorted(datetime.fromisoformat(r["ts"].replace("Z", "+00:00")) for r in music)
    assert (_utc(khushi["first_play"]), _utc(khushi["last_play"])) == (stamps[0], stamps[-1])


def test_status_shows_the_last_vacuum_but_not_the_runners_bookkeeping(tmp_path: Path) -> None:
    lake = str(tmp_path / "lake")
    _cli("import", str(ACCOUNT), "--user", "vnegi10", "--tz", "Europe/Amsterdam", "--lake", lake)
    _cli("run", "--lake", lake)
    kept = {path.name for path in (tmp_path / "lake" / "_state").glob("*.json*")}
    assert {"steps.json", "changes.jsonl", "sql_tables.json"} <= kept
    assert (
        not {"steps", "changes", "sql_tables"}
        & json.loads(_cli("status", "--json", "--lake", lake))["state"].keys()
    )
    _cli("vacuum", "--lake", lake)
    state = json.loads(_cli("status", "--json", "--lake", lake))["state"]
    assert state["vacuum"]["keep_hours"] == 168 and state["vacuum"]["vacuumed_at"] > 0
    assert "vacuum:" in _cli("status", "--lake", lake)
