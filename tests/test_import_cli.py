"""`spotify-analytics import`: exit codes, one-line messages, JSON output."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from exports_fixtures import (
    PLANTED_AGENT,
    PLANTED_IP,
    PLANTED_USERNAME,
    account_record,
    endsong_record,
    extended_record,
    lake_bytes,
    snapshot,
    write_json,
    write_zip,
)
from spotify_analytics.cli import app
from spotify_analytics.lake import Lake

runner = CliRunner()


def _invoke(*args: str | Path):
    return runner.invoke(app, ["import", *map(str, args)])


def _export(folder: Path) -> Path:
    write_json(
        folder / "StreamingHistory0.json", [account_record("2021-01-01 10:00", "A", "T", 10)]
    )
    write_json(folder / "endsong_0.json", [endsong_record("2019-01-01T00:10:00Z", 5)])
    write_json(folder / "Userdata.json", {"username": PLANTED_USERNAME})
    return folder


def test_import_prints_a_summary_and_stores_the_user(tmp_path: Path) -> None:
    lake_dir = tmp_path / "lake"
    result = _invoke(
        _export(tmp_path / "e"), "--lake", lake_dir, "--user", "ana", "--tz", "Europe/Berlin"
    )
    assert result.exit_code == 0, result.output
    assert "ana (Europe/Berlin): 2 file(s) read, 2 records (2 music): 2 new" in result.stdout
    assert "skipped Userdata.json: not listening history" in result.stdout
    lake = Lake.open(lake_dir)
    assert lake.count("streaming_history_bronze") == 2
    assert lake.read("users").to_pylist()[0]["timezone"] == "Europe/Berlin"


def test_json_output_is_the_report(tmp_path: Path) -> None:
    args = (_export(tmp_path / "e"), "--lake", tmp_path / "lake", "--json")
    first = json.loads(_invoke(*args).stdout)
    again = json.loads(_invoke(*args).stdout)
    assert (first["ok"], first["user"], first["records_read"], first["inserted"]) == (
        True,
        "me",
        2,
        2,
    )
    assert (again["inserted"], again["already_present"]) == (0, 2)
    assert again["files_skipped"] == [{"file": "Userdata.json", "reason": "not listening history"}]


def test_rejected_file_exits_2_with_one_line_each_after_landing_the_rest(tmp_path: Path) -> None:
    folder = _export(tmp_path / "e")
    (folder / "StreamingHistory1.json").write_text('[{"endTime": "2021-01-01 10:0')
    (folder / "endsong_1.json").write_text('{"not": "plays"}')
    result = _invoke(folder, "--lake", tmp_path / "lake")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [
        f"rejected: {folder}: StreamingHistory1.json: truncated JSON at line 1, column 14: "
        "unterminated string",
        f"rejected: {folder}: endsong_1.json: not listening history: expected a list of plays, "
        "found a JSON dict",
        f"error: {folder}: 2 file(s) rejected; the other files were imported",
    ]
    assert Lake.open(tmp_path / "lake").count("streaming_history_bronze") == 2


def test_missing_path_exits_2_with_one_line(tmp_path: Path) -> None:
    result = _invoke(tmp_path / "nope.zip", "--lake", tmp_path / "lake")
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: {tmp_path / 'nope.zip'}: no such file or folder"


def test_corrupt_zip_exits_2_and_leaves_the_lake_unchanged(tmp_path: Path) -> None:
    lake_dir = tmp_path / "lake"
    assert _invoke(_export(tmp_path / "e"), "--lake", lake_dir).exit_code == 0
    before = snapshot(Lake.open(lake_dir))
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"PK\x03\x04 cut short")
    result = _invoke(bad, "--lake", lake_dir)
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith(f"error: {bad}: not a readable zip file")
    assert snapshot(Lake.open(lake_dir)) == before


def test_bad_time_zone_exits_2_naming_it(tmp_path: Path) -> None:
    result = _invoke(_export(tmp_path / "e"), "--lake", tmp_path / "lake", "--tz", "Moon/Base")
    assert result.exit_code == 2
    assert (
        result.stderr.strip()
        == "error: time zone 'Moon/Base': not a known IANA time zone (e.g. Europe/Berlin, UTC)"
    )


def test_personal_fields_never_reach_output_or_storage(tmp_path: Path) -> None:
    folder = _export(tmp_path / "e")
    write_json(
        folder / "Streaming_History_Audio_2023.json",
        [extended_record("2023-09-25T12:26:38Z", 1), extended_record("bad", 1)],
    )
    (folder / "endsong_9.json").write_text(
        json.dumps([endsong_record("2019-02-01T00:00:00Z", 1)])[:-40]
    )
    zipped = write_zip(
        tmp_path / "x.zip", {f"MyData/{p.name}": p.read_bytes() for p in folder.iterdir()}
    )
    outputs = []
    for extra in ([], ["--json"]):
        result = _invoke(zipped, "--lake", tmp_path / "lake", *extra)
        assert result.exit_code == 2  # endsong_9.json is truncated
        outputs.append(result.stdout + result.stderr)
    stored = lake_bytes(Lake.open(tmp_path / "lake"))
    for planted in (PLANTED_IP, PLANTED_USERNAME, PLANTED_AGENT):
        assert all(planted not in text for text in outputs)
        assert planted.encode() not in stored
    assert "MyData/endsong_9.json: truncated JSON" in outputs[0]
