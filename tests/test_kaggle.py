"""`ingest kaggle`: the catalog CSV into kaggle_tracks_bronze, rejects, skips, downloads."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from spotify_analytics.catalog_csv import COLUMNS, HEADER, write_catalog_csv
from spotify_analytics.cli import app
from spotify_analytics.errors import InputError
from spotify_analytics.ingest.kaggle import ATTRIBUTION, KaggleReport, ingest_kaggle
from spotify_analytics.lake import Lake
from spotify_analytics.schemas import KAGGLE_TRACKS, REJECTS
from spotify_analytics.settings import Settings

TARGET = KAGGLE_TRACKS.name


def track(index: int, **values: object) -> dict:
    """A valid catalog row; ``values`` override columns by name."""
    row = {
        "row_index": index,
        "track_id": f"track{index:017d}",
        "artists": "Gen Hoshino",
        "album_name": "Comedy",
        "track_name": f"Song {index}",
        "popularity": 73,
        "duration_ms": 230666,
        "explicit": False,
        "danceability": 0.676,
        "energy": 0.461,
        "key": 1,
        "loudness": -6.746,
        "mode": 0,
        "speechiness": 0.143,
        "acousticness": 0.0322,
        "instrumentalness": 1.01e-06,
        "liveness": 0.358,
        "valence": 0.715,
        "tempo": 87.917,
        "time_signature": 4,
        "track_genre": "acoustic",
    }
    row.update(values)
    return row


def catalog(tmp_path: Path, rows: list[dict], name: str = "dataset.csv") -> Path:
    path = tmp_path / name
    write_catalog_csv(path, rows)
    return path


def ingest(lake: Lake, settings: Settings, path: Path, **options: object) -> KaggleReport:
    report = ingest_kaggle(lake, settings, path=path, **options)
    assert report.rows_read == report.rows_loaded + report.rows_rejected
    return report


def stored(lake: Lake) -> list[dict]:
    rows = lake.read(TARGET).sort_by("row_index").to_pylist()
    return [{name: row[name] for name in COLUMNS} for row in rows]


def rejects(lake: Lake) -> list[dict]:
    if not lake.exists(REJECTS.name):
        return []
    rows = lake.read(REJECTS.name).sort_by("record_no").to_pylist()
    return [row for row in rows if row["target_table"] == TARGET]


def snapshot(lake: Lake) -> dict:
    return {
        name: (lake.version(name), lake.read(name).to_pylist() if lake.exists(name) else None)
        for name in (TARGET, REJECTS.name)
    }


# -- loading --------------------------------------------------------------------


def test_round_trip_keeps_every_value(tmp_path: Path, lake: Lake, settings: Settings) -> None:
    rows = [
        track(0),
        track(1, track_name="Hello, Goodbye", artists="The Beatles;George Martin"),
        track(2, track_name='The "Real" Slim Shady', album_name='12" Mix, "Extended"'),
        track(3, track_name="Line one\nline two", album_name="Crlf\r\ninside"),
        track(4, artists="Cesária Evora", track_name="Sodade 🌊", album_name="Ми́р"),
        track(5, tempo=0.0, time_signature=0, instrumentalness=0.0, explicit=True),
        track(6, track_id="track00000000000000001", track_genre="anime"),  # same track, 2nd genre
        track(7, artists=None, album_name=None, track_name=None),  # the real file has one such row
        track(8, artists="NA", album_name="null", track_name="NaN"),  # text, not missing values
    ]
    report = ingest(lake, settings, catalog(tmp_path, rows))

    assert stored(lake) == rows
    assert (report.rows_read, report.rows_loaded, report.rows_rejected) == (9, 9, 0)
    assert (report.distinct_tracks, report.genres) == (8, 2)
    assert not report.skipped and not report.matches_reference
    table = lake.read(TARGET)
    assert table.schema.equals(KAGGLE_TRACKS.schema)
    assert set(table.column("_file_sha256").to_pylist()) == {report.sha256}
    assert set(table.column("_source").to_pylist()) == {"kaggle"}
    assert rejects(lake) == []
    state = json.loads(lake.state_path("kaggle.json").read_text())
    assert state["sha256"] == report.sha256 and state["rows_loaded"] == 9


def test_tempo_zero_is_real_and_kept(tmp_path: Path, lake: Lake, settings: Settings) -> None:
    report = ingest(lake, settings, catalog(tmp_path, [track(0, tempo=0.0), track(1)]))
    assert report.rows_loaded == 2
    assert [row["tempo"] for row in stored(lake)] == [0.0, 87.917]


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("danceability", 1.5, "danceability='1.5' is outside [0, 1]"),
        ("energy", -0.01, "energy='-0.01' is outside [0, 1]"),
        ("speechiness", 2.0, "speechiness='2.0' is outside"),
        ("acousticness", 1.0001, "acousticness='1.0001' is outside"),
        ("instrumentalness", -1e-06, "instrumentalness='-1e-06' is outside"),
        ("liveness", 7.0, "liveness='7.0' is outside"),
        ("valence", -0.5, "valence='-0.5' is outside"),
        ("tempo", -1.0, "tempo='-1.0' is below 0"),
        ("popularity", 101, "popularity='101' is outside [0, 100]"),
        ("popularity", -1, "popularity='-1' is outside"),
        ("duration_ms", 0, "duration_ms='0' is below 1"),
        ("mode", 2, "mode='2' is outside [0, 1]"),
        ("key", 12, "key='12' is outside [-1, 11]"),
        ("key", -2, "key='-2' is outside"),
        ("tempo", "fast", "tempo='fast' is not a number"),
        ("valence", "nan", "valence='nan' is not a finite number"),
        ("popularity", "7.5", "popularity='7.5' is not an integer"),
        ("explicit", "maybe", "explicit='maybe' is not True or False"),
        ("danceability", None, "danceability is empty"),
        ("track_id", None, "track_id is empty"),
    ],
)
def test_impossible_values_go_to_rejects(
    tmp_path: Path, lake: Lake, settings: Settings, column: str, value: object, reason: str
) -> None:
    rows = [track(0), track(1, **{column: value}), track(2)]
    report = ingest(lake, settings, catalog(tmp_path, rows))

    assert (report.rows_read, report.rows_loaded, report.rows_rejected) == (3, 2, 1)
    assert [row["row_index"] for row in stored(lake)] == [0, 2]
    [reject] = rejects(lake)
    assert reject["record_no"] == 1
    assert reason in reject["reason"]
    assert reject["raw"].startswith("1,")
    assert reject["_source"] == "kaggle" and reject["user_id"] is None


def test_shifted_column_rejects_that_row_only(
    tmp_path: Path, lake: Lake, settings: Settings
) -> None:
    path = catalog(tmp_path, [track(0), track(1)])
    with open(path, "a", encoding="utf-8", newline="") as handle:
        # an unquoted comma in the title shifts every later column by one
        handle.write(
            "2,track00000000000000002,Alice,Album,Hello, World,50,200000,False,0.5,0.5,"
            "5,-5.0,1,0.05,0.1,0.0,0.1,0.5,120.0,4,pop\n"
        )
        handle.write(
            '3,track00000000000000003,Bob,Album,"Quoted\nnewline, and comma",50,200000,True,'
            "0.5,0.5,5,-5.0,1,0.05,0.1,0.0,0.1,0.5,120.0,4,pop\n"
        )
    report = ingest(lake, settings, path)

    assert (report.rows_read, report.rows_loaded, report.rows_rejected) == (4, 3, 1)
    rows = stored(lake)
    assert [row["row_index"] for row in rows] == [0, 1, 3]
    assert rows[2]["track_name"] == "Quoted\nnewline, and comma"
    assert rows[2]["explicit"] is True
    [reject] = rejects(lake)
    assert reject["record_no"] == 2
    assert "wrong number of fields: 22 instead of 21" in reject["reason"]
    assert "Hello" in reject["raw"] and "World" in reject["raw"]


def test_duplicate_index_is_rejected(tmp_path: Path, lake: Lake, settings: Settings) -> None:
    report = ingest(lake, settings, catalog(tmp_path, [track(0), track(1), track(1)]))
    assert (report.rows_loaded, report.rows_rejected) == (2, 1)
    assert "repeats an earlier row's index" in rejects(lake)[0]["reason"]
    assert rejects(lake)[0]["record_no"] == 2


# -- idempotence ------------------------------------------------------------------


def test_same_file_is_skipped_and_force_reloads(
    tmp_path: Path, lake: Lake, settings: Settings
) -> None:
    path = catalog(tmp_path, [track(0), track(1, tempo=-5.0), track(2)])
    first = ingest(lake, settings, path)
    version = lake.version(TARGET)

    again = ingest(lake, settings, path)
    assert again.skipped and again.sha256 == first.sha256
    assert (again.rows_loaded, again.rows_rejected, again.distinct_tracks) == (2, 1, 2)
    assert lake.version(TARGET) == version

    forced = ingest(lake, settings, path, force=True)
    assert not forced.skipped and forced.rows_loaded == 2
    assert lake.version(TARGET) == version + 1
    assert len(stored(lake)) == 2 and len(rejects(lake)) == 1


def test_new_file_replaces_the_catalog_and_its_rejects(
    tmp_path: Path, lake: Lake, settings: Settings
) -> None:
    ingest(lake, settings, catalog(tmp_path, [track(0), track(1, mode=3)], "old.csv"))
    assert len(rejects(lake)) == 1
    report = ingest(lake, settings, catalog(tmp_path, [track(5), track(6)], "new.csv"))
    assert report.rows_loaded == 2
    assert [row["row_index"] for row in stored(lake)] == [5, 6]
    assert rejects(lake) == []


# -- whole-file problems -------------------------------------------------------------


def _bad_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    header = ",".join(HEADER)
    files = {
        "missing": (tmp_path / "nowhere.csv", "no such file"),
        "folder": (tmp_path, "not a file"),
        "empty": (tmp_path / "empty.csv", "the file is empty"),
        "binary": (tmp_path / "binary.csv", "not a CSV file"),
        "not utf-8": (tmp_path / "latin1.csv", "not a CSV file"),
        "header only": (tmp_path / "header.csv", "header but no rows"),
        "wrong header": (tmp_path / "wrong.csv", "wrong header (missing tempo; unexpected bpm)"),
        "headerless": (tmp_path / "headerless.csv", "wrong header"),
        "all rejected": (tmp_path / "all.csv", "every row was rejected"),
    }
    files["empty"][0].write_bytes(b"")
    files["binary"][0].write_bytes(b"PK\x03\x04\x00\x00binary\x00zip" * 50)
    files["not utf-8"][0].write_bytes(header.replace("track_id", "tr\xe4ck_id").encode("latin-1"))
    files["header only"][0].write_text(header + "\n")
    files["wrong header"][0].write_text(header.replace("tempo", "bpm") + "\n0,a\n")
    headerless = tmp_path / "body.csv"
    write_catalog_csv(headerless, [track(0)])
    files["headerless"][0].write_text(headerless.read_text().split("\n", 1)[1])
    write_catalog_csv(files["all rejected"][0], [track(0, energy=9.0), track(1, key=40)])
    return files


@pytest.mark.parametrize(
    "case",
    [
        "missing",
        "folder",
        "empty",
        "binary",
        "not utf-8",
        "header only",
        "wrong header",
        "headerless",
        "all rejected",
    ],
)
def test_unusable_file_changes_nothing(
    tmp_path: Path, lake: Lake, settings: Settings, case: str
) -> None:
    good = tmp_path / "good"
    good.mkdir()
    ingest(lake, settings, catalog(good, [track(0), track(1, valence=3.0)]))
    before = snapshot(lake)
    bad_dir = tmp_path / "bad"
    bad_dir.mkdir()
    path, message = _bad_files(bad_dir)[case]

    with pytest.raises(InputError) as raised:
        ingest_kaggle(lake, settings, path=path, force=True)
    assert str(path) in str(raised.value)
    assert message in str(raised.value)
    assert snapshot(lake) == before


# -- download ------------------------------------------------------------------------


def test_download_finds_dataset_csv(tmp_path: Path, lake: Lake, settings: Settings) -> None:
    folder = tmp_path / "kagglehub" / "datasets" / "maharshipandya" / "versions" / "1"
    folder.mkdir(parents=True)
    catalog(folder, [track(0), track(1)])
    asked: list[str] = []

    def fake_download(handle: str) -> Path:
        asked.append(handle)
        return tmp_path / "kagglehub"

    stages: list[str] = []
    report = ingest_kaggle(lake, settings, download=fake_download, progress=stages.append)
    assert asked == ["maharshipandya/-spotify-tracks-dataset"]
    assert stages[0] == "downloading maharshipandya/-spotify-tracks-dataset"
    assert "parsing dataset.csv" in stages and stages[-1] == "writing 2 rows"
    assert report.path == folder / "dataset.csv"
    assert report.rows_loaded == 2


def test_download_failure_names_the_dataset(tmp_path: Path, lake: Lake, settings: Settings) -> None:
    def offline(handle: str) -> Path:
        raise ConnectionError("Name or service not known")

    with pytest.raises(InputError, match=r"maharshipandya/-spotify-tracks-dataset.*--path"):
        ingest_kaggle(lake, settings, download=offline)
    with pytest.raises(InputError, match="has no dataset.csv"):
        ingest_kaggle(lake, settings, download=lambda handle: tmp_path)
    assert not lake.exists(TARGET)


# -- command -------------------------------------------------------------------------


def test_command_prints_summary_and_attribution(tmp_path: Path, lake: Lake) -> None:
    path = catalog(tmp_path, [track(0), track(1, danceability=-1.0)])
    runner = CliRunner()
    first = runner.invoke(app, ["ingest", "kaggle", "--path", str(path), "--lake", str(lake.root)])
    assert first.exit_code == 0, first.output
    assert "2 rows read, 1 loaded, 1 rejected" in first.output
    assert ATTRIBUTION in first.output
    assert "not the reference copy (20,118,244 bytes" in first.output

    again = runner.invoke(
        app, ["ingest", "kaggle", "--path", str(path), "--lake", str(lake.root), "--json"]
    )
    assert again.exit_code == 0, again.output
    assert json.loads(again.output)["skipped"] is True

    missing = runner.invoke(app, ["ingest", "kaggle", "--path", str(tmp_path / "no.csv")])
    assert missing.exit_code == 2


def test_reason_names_every_bad_column_once(tmp_path: Path, lake: Lake, settings: Settings) -> None:
    bad = track(1, popularity=None, danceability=1.5, tempo=-1.0)
    ingest(lake, settings, catalog(tmp_path, [track(0), bad]))
    [reject] = rejects(lake)
    assert reject["reason"] == (
        "popularity is empty; danceability='1.5' is outside [0, 1]; tempo='-1.0' is below 0"
    )


def test_unclosed_quote_is_reported_not_lost(
    tmp_path: Path, lake: Lake, settings: Settings
) -> None:
    path = catalog(tmp_path, [track(0), track(1), track(2), track(3)])
    lines = path.read_text().split("\n")
    lines[2] = lines[2].replace("Song 1", '"Song 1')  # row 1 opens a quote it never closes
    path.write_text("\n".join(lines))
    report = ingest(lake, settings, path)

    assert (report.rows_loaded, report.rows_rejected) == (1, 1)
    [reject] = rejects(lake)
    assert reject["record_no"] == 1
    assert "an unclosed quote joined 2 more line(s)" in reject["reason"]
    assert "track00000000000000003" in reject["raw"]


def test_unreadable_file_is_named(tmp_path: Path, lake: Lake, settings: Settings) -> None:
    if os.geteuid() == 0:  # root reads any mode: link to a file whose every read fails (EIO)
        path = tmp_path / "dataset.csv"
        path.symlink_to("/proc/self/mem")
    else:
        path = catalog(tmp_path, [track(0)])
        path.chmod(0)
    with pytest.raises(InputError, match=rf"{path}: cannot be read"):
        ingest_kaggle(lake, settings, path=path)
    assert not lake.exists(TARGET)
