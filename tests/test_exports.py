"""Privacy-export import: both formats, files in zips and folders, errors, idempotence."""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings as settings_for_hypothesis
from hypothesis import strategies as st

from conftest import EXPORTS
from exports_fixtures import (
    PLANTED_AGENT,
    PLANTED_IP,
    PLANTED_USERNAME,
    account_podcast_record,
    account_record,
    audiobook_fields,
    bronze_rows,
    endsong_record,
    episode_fields,
    extended_record,
    lake_bytes,
    lake_text,
    snapshot,
    write_json,
    write_zip,
)
from spotify_analytics.errors import InputError
from spotify_analytics.ingest.exports import (
    Collected,
    ExportFile,
    ImportReport,
    RecordError,
    collect,
    import_export,
    parse_record,
)
from spotify_analytics.lake import Lake
from spotify_analytics.query import query
from spotify_analytics.settings import Settings


def _import(lake: Lake, path: Path, settings: Settings, user: str = "ana") -> ImportReport:
    return import_export(lake, path, user=user, timezone=None, settings=settings)


def _balanced(report: ImportReport) -> bool:
    explained = report.inserted + report.already_present + report.rejected_records
    return report.records_read == explained


# -- records ---------------------------------------------------------------------


def test_account_data_record_maps_to_minute_precision_track() -> None:
    row = parse_record(
        account_record("2020-08-11 12:47", "Prefuse 73", "Perverted Undertone", 31101)
    )
    assert row["record_format"] == "account_data"
    assert row["ts"] == datetime(2020, 8, 11, 12, 47, tzinfo=UTC)
    assert (row["ts_precision_s"], row["ms_played"]) == (60, 31101)
    assert (row["artist_name"], row["track_name"]) == ("Prefuse 73", "Perverted Undertone")
    assert (row["content_type"], row["is_music"], row.get("spotify_track_uri")) == (
        "track",
        True,
        None,
    )


def test_account_data_podcast_record_is_an_episode_not_music() -> None:
    row = parse_record(account_podcast_record("2022-01-02 08:00", "The Show", "Ep 3", 600000))
    assert (row["content_type"], row["is_music"]) == ("episode", False)
    assert (row["episode_show_name"], row["episode_name"]) == ("The Show", "Ep 3")


def test_extended_record_keeps_every_field_and_reads_offline_seconds() -> None:
    row = parse_record(extended_record("2023-09-25T12:26:38Z", 228000))
    assert row["record_format"] == "extended"
    assert row["ts"] == datetime(2023, 9, 25, 12, 26, 38, tzinfo=UTC)
    assert row["ts_precision_s"] == 1
    assert row["spotify_track_uri"] == "spotify:track:4uLU6hMCjMI75M1A2tKUQC"
    assert (row["track_name"], row["artist_name"], row["album_name"]) == ("Song", "Artist", "Album")
    assert row["offline_timestamp"] == datetime.fromtimestamp(1695644471, UTC)
    assert (row["platform"], row["conn_country"], row["reason_end"]) == (
        "android",
        "DE",
        "trackdone",
    )
    assert (row["shuffle"], row["skipped"], row["incognito_mode"]) == (False, False, False)
    assert (row["content_type"], row["is_music"]) == ("track", True)


def test_old_endsong_record_reads_offline_milliseconds_and_drops_personal_fields() -> None:
    row = parse_record(endsong_record("2019-01-01T00:10:00Z", 1234))
    assert row["offline_timestamp"] == datetime(2019, 1, 1, 0, 0, 0, 123000, tzinfo=UTC)
    assert row["skipped"] is None
    assert row["shuffle"] is True
    text = json.dumps(row, default=str)
    for planted in (PLANTED_IP, PLANTED_USERNAME, PLANTED_AGENT):
        assert planted not in text
    assert not {"ip_addr_decrypted", "username", "user_agent_decrypted"} & row.keys()


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (10**400, "ms_played '1000000000000000000000000000000000000000' is not a number"),
        ("1" * 500, "is not a whole, non-negative number"),
        (2.5, "ms_played '2.5' is not a whole, non-negative number"),
        (True, "ms_played missing or not a number"),
        (None, "ms_played missing or not a number"),
    ],
)
def test_unusable_ms_played_is_a_short_reason(value: object, reason: str) -> None:
    with pytest.raises(RecordError, match=None) as raised:
        parse_record(extended_record("2023-09-25T12:26:38Z", value))
    assert reason in str(raised.value) and len(str(raised.value)) < 100


def test_numeric_text_ms_played_is_accepted() -> None:
    assert parse_record(extended_record("2023-09-25T12:26:38Z", "1200"))["ms_played"] == 1200


@pytest.mark.parametrize("offline", [0, None])
def test_offline_timestamp_zero_or_null_means_none(offline: int | None) -> None:
    row = parse_record(extended_record("2023-09-25T12:26:38Z", 1, offline_timestamp=offline))
    assert row["offline_timestamp"] is None


def test_episode_and_audiobook_records_are_kept_and_not_music() -> None:
    episode = parse_record(extended_record("2023-07-10T15:53:29Z", 5000, **episode_fields()))
    book = parse_record(extended_record("2024-02-01T10:00:00Z", 9000, **audiobook_fields()))
    assert (episode["content_type"], episode["is_music"]) == ("episode", False)
    assert episode["spotify_episode_uri"] == "spotify:episode:27QDZ74Xoq3cwjd7lG3Lgm"
    assert (book["content_type"], book["is_music"]) == ("audiobook", False)
    assert (book["audiobook_title"], book["audiobook_chapter_title"]) == ("A Book", "Chapter 1")


def test_record_without_any_item_is_unknown_content() -> None:
    empty = {**episode_fields(), "episode_name": None, "spotify_episode_uri": None}
    row = parse_record(extended_record("2023-07-10T15:53:29Z", 0, **empty))
    assert (row["content_type"], row["is_music"]) == ("unknown", False)


def test_record_id_depends_on_identity_only() -> None:
    one = parse_record(extended_record("2023-09-25T12:26:38Z", 228000, platform="ios"))
    same = parse_record(extended_record("2023-09-25T12:26:38+00:00", 228000, ip_addr="10.0.0.1"))
    later = parse_record(extended_record("2023-09-25T12:26:39Z", 228000))
    assert one["record_id"] == same["record_id"] != later["record_id"]


# -- files and folders -------------------------------------------------------------


def test_zip_with_nested_folders_skips_other_files_and_lands_both_formats(
    lake: Lake, settings: Settings, tmp_path: Path
) -> None:
    zipped = write_zip(
        tmp_path / "my_spotify_data.zip",
        {
            "MyData/StreamingHistory_music_0.json": [
                account_record("2021-01-01 10:00", "A", "T1", 1000),
                account_record("2021-01-01 10:05", "A", "T2", 2000),
            ],
            "MyData/StreamingHistory_podcast_0.json": [
                account_podcast_record("2021-01-02 10:00", "Show", "Ep", 3000)
            ],
            "MyData/Userdata.json": {"username": PLANTED_USERNAME, "country": "DE"},
            "MyData/Playlist1.json": {"playlists": []},
            "MyData/ReadMeFirst.pdf": b"%PDF-1.4 not json",
            "Spotify Extended Streaming History/Streaming_History_Audio_2023.json": [
                extended_record("2023-09-25T12:26:38Z", 228000)
            ],
            "Spotify Extended Streaming History/Streaming_History_Video_2024.json": [
                extended_record("2024-04-11T10:11:49Z", 5000, **episode_fields())
            ],
        },
    )
    report = _import(lake, zipped, settings)
    assert report.ok and report.files_read == 4
    assert dict(report.files_skipped) == {
        "MyData/Userdata.json": "not listening history",
        "MyData/Playlist1.json": "not listening history",
        "MyData/ReadMeFirst.pdf": "not a JSON file",
    }
    assert (report.records_read, report.inserted, report.music_records) == (5, 5, 3)
    rows = bronze_rows(lake)
    kinds = sorted((r["record_format"], r["content_type"], r["is_music"]) for r in rows)
    assert kinds == [
        ("account_data", "episode", False),
        ("account_data", "track", True),
        ("account_data", "track", True),
        ("extended", "episode", False),
        ("extended", "track", True),
    ]
    assert {r["user_id"] for r in rows} == {"ana"}


def test_format_is_detected_by_content_not_name(
    lake: Lake, settings: Settings, tmp_path: Path
) -> None:
    write_json(tmp_path / "export" / "plays-2019.json", [endsong_record("2019-01-01T00:10:00Z", 5)])
    write_json(tmp_path / "export" / "mine.json", [account_record("2021-01-01 10:00", "A", "T", 1)])
    report = _import(lake, tmp_path / "export", settings)
    assert (report.files_read, report.inserted) == (2, 2)
    assert sorted(r["record_format"] for r in bronze_rows(lake)) == ["account_data", "extended"]


def test_single_json_file_is_imported(lake: Lake, settings: Settings, tmp_path: Path) -> None:
    path = write_json(tmp_path / "endsong_0.json", [endsong_record("2019-01-01T00:10:00Z", 5)])
    report = _import(lake, path, settings)
    assert (report.files_read, report.inserted) == (1, 1)


def test_bad_records_go_to_rejects_with_a_reason(
    lake: Lake, settings: Settings, tmp_path: Path
) -> None:
    records = [
        extended_record("2023-09-25T12:26:38Z", 1000),
        extended_record("yesterday", 1000),
        extended_record(None, 1000),
        extended_record("2023-09-25T12:30:00Z", "lots"),
        extended_record("2023-09-25T12:31:00Z", -5),
        "a string",
        {"ts": "2023-09-25T12:32:00Z", "ms_played": 1, "ip_addr": PLANTED_IP},
    ]
    report = _import(
        lake, write_json(tmp_path / "x" / "Streaming_History_Audio_1.json", records), settings
    )
    assert (report.records_read, report.inserted, report.rejected_records) == (7, 2, 5)
    assert _balanced(report)
    rejects = {r["record_no"]: r for r in lake.read("_rejects").to_pylist()}
    assert sorted(rejects) == [1, 2, 3, 4, 5]
    assert "ts 'yesterday' is not a date and time" in rejects[1]["reason"]
    assert "ts missing" in rejects[2]["reason"]
    assert "ms_played" in rejects[3]["reason"] and "ms_played" in rejects[4]["reason"]
    assert "not a JSON object" in rejects[5]["reason"]
    assert {r["target_table"] for r in rejects.values()} == {"streaming_history_bronze"}
    assert all(PLANTED_IP not in r["raw"] for r in rejects.values())
    assert json.loads(rejects[3]["raw"])["ms_played"] == "lots"
    again = _import(lake, tmp_path / "x", settings)
    assert (again.inserted, lake.count("_rejects")) == (0, 5)


def test_exact_duplicates_collapse_and_are_counted(
    lake: Lake, settings: Settings, tmp_path: Path
) -> None:
    play = extended_record("2023-09-25T12:26:38Z", 228000)
    write_json(tmp_path / "e" / "Streaming_History_Audio_1.json", [play, play])
    write_json(tmp_path / "e" / "Streaming_History_Audio_2.json", [play])
    report = _import(lake, tmp_path / "e", settings)
    assert (report.records_read, report.inserted, report.duplicates) == (3, 1, 2)
    assert report.already_present == 2 and _balanced(report)
    assert lake.count("streaming_history_bronze") == 1


def test_records_sharing_an_id_keep_the_same_winner_whatever_the_file_order() -> None:
    ios = extended_record("2023-09-25T12:26:38Z", 228000, platform="ios")
    web = extended_record("2023-09-25T12:26:38Z", 228000, platform="web")
    other = extended_record("2023-09-25T12:30:00Z", 1000)
    stored = []
    for order in ([ios, other], [web]), ([web], [other, ios]):
        collected, _ = collect(_files(list(order)))
        table = collected.table()
        assert (collected.records_read, table.num_rows) == (3, 2)
        stored.append(table.drop_columns(["_source"]).to_pylist())
    assert stored[0] == stored[1]
    assert [row["platform"] for row in stored[0]] == ["ios", "android"]


def test_reimport_adds_nothing_and_makes_no_commit(
    lake: Lake, settings: Settings, tmp_path: Path
) -> None:
    path = write_json(
        tmp_path / "StreamingHistory0.json", [account_record("2021-01-01 10:00", "A", "T", 1)]
    )
    _import(lake, path, settings)
    before = snapshot(lake)
    again = _import(lake, path, settings)
    assert (again.inserted, again.already_present) == (0, 1)
    assert snapshot(lake) == before


def test_personal_fields_are_never_stored(lake: Lake, settings: Settings, tmp_path: Path) -> None:
    kept_marker = "KeptMarkerTitle-5d1e"
    records = [
        endsong_record("2019-01-01T00:10:00Z", 5, master_metadata_track_name=kept_marker),
        endsong_record("not a time", 5),  # rejected: its raw text is stored without them
        extended_record("2023-09-25T12:26:38Z", 228000),
    ]
    _import(lake, write_json(tmp_path / "endsong_0.json", records), settings)
    stored_bytes, stored_text = lake_bytes(lake), lake_text(lake)
    assert kept_marker in stored_text and kept_marker.encode() in stored_bytes  # the probe works
    for planted in (PLANTED_IP, PLANTED_USERNAME, PLANTED_AGENT):
        assert planted not in stored_text
        assert planted.encode() not in stored_bytes
    assert lake.count("_rejects") == 1


def test_one_commit_per_table_per_import(lake: Lake, settings: Settings, tmp_path: Path) -> None:
    for n in range(3):
        write_json(
            tmp_path / "e" / f"StreamingHistory{n}.json",
            [
                account_record(f"2021-01-0{n + 1} 10:00", "A", "T", 1),
                {"endTime": "x", "msPlayed": 1},
            ],
        )
    _import(lake, tmp_path / "e", settings)
    assert {name: lake.version(name) for name in lake.tables()} == {
        "_rejects": 0,
        "streaming_history_bronze": 0,
        "users": 0,
    }


# -- rejected files and unusable inputs ----------------------------------------------


@pytest.fixture
def stored(lake: Lake, settings: Settings, tmp_path: Path) -> dict:
    """A lake that already holds one import, and its snapshot."""
    path = write_json(
        tmp_path / "first" / "StreamingHistory0.json",
        [account_record("2020-01-01 00:00", "A", "T", 9)],
    )
    _import(lake, path, settings)
    return {"snapshot": snapshot(lake), "rows": bronze_rows(lake)}


def _good_and(folder: Path, name: str, content: bytes) -> Path:
    write_json(folder / "StreamingHistory0.json", [account_record("2021-05-05 05:05", "B", "U", 7)])
    (folder / name).write_bytes(content)
    return folder


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "StreamingHistory1.json",
            b'[{"endTime": "2021-05-05 05:06", "artistName": "B"',
            "truncated JSON at line 1",
        ),
        ("StreamingHistory1.json", b'[{"endTime": ] }', "invalid JSON at line 1"),
        (
            "StreamingHistory1.json",
            b'{"playlists": []}',
            "not listening history: expected a list of plays",
        ),
        ("endsong_3.json", b'[{"name": "x"}, 3]', "not listening history: a list of dict/int"),
        ("Userdata.json", b'{"username": "truncated', "truncated JSON"),
        ("StreamingHistory2.json", b"\xff\xfe\x00garbage", "not UTF-8 text"),
    ],
)
def test_a_broken_file_is_rejected_whole_and_the_others_land(
    lake: Lake,
    settings: Settings,
    tmp_path: Path,
    stored: dict,
    name: str,
    content: bytes,
    message: str,
) -> None:
    report = _import(lake, _good_and(tmp_path / "export", name, content), settings)
    assert not report.ok
    assert report.files_rejected == [(name, report.files_rejected[0][1])]
    assert message in report.files_rejected[0][1]
    assert report.inserted == 1 and lake.count("streaming_history_bronze") == 2


def test_an_unreadable_file_is_rejected(lake: Lake, settings: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "export"
    write_json(folder / "StreamingHistory0.json", [account_record("2021-05-05 05:05", "B", "U", 7)])
    os.symlink(tmp_path / "gone", folder / "StreamingHistory1.json")  # root ignores chmod 000
    report = _import(lake, folder, settings)
    assert report.files_rejected == [
        ("StreamingHistory1.json", "cannot read the file (No such file or directory)")
    ]
    assert report.inserted == 1


def test_a_pipe_named_like_history_is_rejected_without_blocking(
    lake: Lake, settings: Settings, tmp_path: Path
) -> None:
    folder = tmp_path / "export"
    write_json(folder / "StreamingHistory0.json", [account_record("2021-05-05 05:05", "B", "U", 7)])
    os.mkfifo(folder / "StreamingHistory1.json")
    report = _import(lake, folder, settings)
    assert report.files_rejected == [
        ("StreamingHistory1.json", "cannot read the file (not a regular file)")
    ]
    with pytest.raises(InputError, match="not a regular file, folder or zip"):
        _import(lake, folder / "StreamingHistory1.json", settings)


def test_a_damaged_zip_entry_is_rejected_and_the_others_land(
    lake: Lake, settings: Settings, tmp_path: Path
) -> None:
    good = [account_record("2021-05-05 05:05", "B", "U", 7)]
    bad = [account_record(f"2021-05-06 05:{m:02}", "C", "V", m) for m in range(60)]
    zipped = write_zip(
        tmp_path / "e.zip", {"a/StreamingHistory0.json": good, "a/StreamingHistory1.json": bad}
    )
    with zipfile.ZipFile(zipped) as archive:
        info = archive.getinfo("a/StreamingHistory1.json")
    data = bytearray(zipped.read_bytes())
    start = info.header_offset + 30 + len(info.filename) + len(info.extra) + 5
    data[start : start + 20] = bytes(20)
    zipped.write_bytes(bytes(data))
    report = _import(lake, zipped, settings)
    assert [name for name, _ in report.files_rejected] == ["a/StreamingHistory1.json"]
    assert "cannot read the file (damaged zip entry" in report.files_rejected[0][1]
    assert report.inserted == 1


def _zip_cut_in_half(tmp_path: Path) -> Path:
    whole = write_zip(
        tmp_path / "whole.zip",
        {"StreamingHistory0.json": [account_record("2021-01-01 00:00", "A", "T", 1)]},
    )
    cut = tmp_path / "cut.zip"
    cut.write_bytes(whole.read_bytes()[:60])
    return cut


UNUSABLE = {
    "missing path": (lambda p: p / "nope.zip", "no such file or folder"),
    "empty zip": (lambda p: write_zip(p / "empty.zip", {}), "the zip file is empty"),
    "corrupt zip": (
        lambda p: _write(p / "bad.zip", b"PK\x03\x04 this is not a zip"),
        "not a readable zip file",
    ),
    "truncated zip": (_zip_cut_in_half, "not a readable zip file"),
    "empty folder": (lambda p: _mkdir(p / "empty"), "the folder has no files"),
    "folder without history": (
        lambda p: write_json(p / "f" / "Userdata.json", {"country": "DE"}).parent,
        "no listening history found (skipped Userdata.json)",
    ),
    "single file of another shape": (
        lambda p: write_json(p / "Playlist1.json", {"playlists": []}),
        "not listening history",
    ),
    "single history file of another shape": (
        lambda p: write_json(p / "StreamingHistory0.json", {"a": 1}),
        "not listening history: expected a list of plays, found a JSON dict",
    ),
    "single truncated file": (
        lambda p: _write(p / "endsong_0.json", b'[{"ts": "2019-01-01T00:00:00Z", "ms_pla'),
        "truncated JSON at line 1, column",
    ),
    "single directory named like a file": (
        lambda p: _mkdir(p / "endsong_0.json"),
        "the folder has no files",
    ),
}


def _write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path


@pytest.mark.parametrize("case", sorted(UNUSABLE))
def test_unusable_input_raises_naming_it_and_changes_nothing(
    lake: Lake, settings: Settings, tmp_path: Path, stored: dict, case: str
) -> None:
    make, message = UNUSABLE[case]
    path = make(tmp_path)
    with pytest.raises(InputError) as raised:
        _import(lake, path, settings, user="bo")
    assert str(raised.value).startswith(f"{path}: ") and message in str(raised.value)
    assert "\n" not in str(raised.value)
    assert snapshot(lake) == stored["snapshot"] and bronze_rows(lake) == stored["rows"]


def test_every_file_rejected_writes_nothing(
    lake: Lake, settings: Settings, tmp_path: Path, stored: dict
) -> None:
    (tmp_path / "e").mkdir()
    (tmp_path / "e" / "StreamingHistory0.json").write_bytes(b"[{")
    report = _import(lake, tmp_path / "e", settings, user="bo")
    assert not report.ok and report.files_read == 0
    assert snapshot(lake) == stored["snapshot"]


def test_bad_time_zone_raises_before_writing(
    lake: Lake, settings: Settings, tmp_path: Path, stored: dict
) -> None:
    path = write_json(
        tmp_path / "StreamingHistory5.json", [account_record("2021-01-01 00:00", "A", "T", 1)]
    )
    with pytest.raises(InputError, match="Mars/Olympus_Mons"):
        import_export(lake, path, user="bo", timezone="Mars/Olympus_Mons", settings=settings)
    assert snapshot(lake) == stored["snapshot"]


def test_progress_reports_each_file(lake: Lake, settings: Settings, tmp_path: Path) -> None:
    for n in range(3):
        write_json(
            tmp_path / "e" / f"StreamingHistory{n}.json",
            [account_record(f"2021-01-0{n + 1} 10:00", "A", "T", 1)],
        )
    seen: list[tuple[str, int, int]] = []
    import_export(
        lake,
        tmp_path / "e",
        user="ana",
        timezone=None,
        settings=settings,
        progress=lambda *a: seen.append(a),
    )
    files = [(f"StreamingHistory{n}.json", n + 1, 3) for n in range(3)]
    assert seen == [*files, ("writing to Bronze", 3, 3)]


# -- real exports (shared/data/exports, see PROVENANCE.md) ---------------------------

REAL_ACCOUNT = EXPORTS / "account-data" / "vnegi10"
REAL_EXTENDED = EXPORTS / "extended" / "Khushi-203006"


def _raw_counts(folder: Path) -> dict[str, int]:
    return {p.name: len(json.loads(p.read_text())) for p in sorted(folder.glob("*.json"))}


def _account_for_everything(report: ImportReport, raw: dict[str, int], lake: Lake) -> None:
    assert report.records_read == sum(raw.values())
    assert report.inserted + report.duplicates + report.rejected_records == sum(raw.values())
    assert _balanced(report) and report.already_present == report.duplicates
    assert lake.count("streaming_history_bronze") == report.inserted
    assert lake.count("_rejects") == report.rejected_records


def test_real_account_data_export_lands_every_record(lake: Lake, settings: Settings) -> None:
    raw = _raw_counts(REAL_ACCOUNT)
    assert raw == {"StreamingHistory0.json": 10_000, "StreamingHistory1.json": 1_931}
    report = _import(lake, REAL_ACCOUNT, settings)
    _account_for_everything(report, raw, lake)
    assert (report.inserted, report.duplicates, report.rejected_records) == (11_931, 0, 0)
    summary = query(
        lake,
        "select min(ts) as first, max(ts) as last,"
        " count(distinct (artist_name, track_name)) as pairs,"
        " count(distinct (lower(artist_name), lower(track_name))) as folded_pairs,"
        " count(*) filter (where is_music and ts_precision_s = 60) as music"
        " from streaming_history_bronze",
    ).to_pylist()[0]
    assert summary["first"] == datetime(2020, 8, 11, 12, 47, tzinfo=UTC)
    assert summary["last"] == datetime(2021, 10, 25, 23, 55, tzinfo=UTC)
    records = [r for p in sorted(REAL_ACCOUNT.glob("*.json")) for r in json.loads(p.read_text())]
    assert summary["pairs"] == len({(r["artistName"], r["trackName"]) for r in records})
    # PROVENANCE.md's 4,150 distinct pairs ignores case (4,151 with case kept)
    assert (summary["folded_pairs"], summary["music"]) == (4_150, 11_931)
    before = snapshot(lake)
    again = _import(lake, REAL_ACCOUNT, settings)
    assert (again.inserted, again.already_present) == (0, 11_931)
    assert snapshot(lake) == before


def test_real_extended_export_in_a_nested_zip_lands_every_record(
    lake: Lake, settings: Settings, tmp_path: Path
) -> None:
    raw = _raw_counts(REAL_EXTENDED)
    assert sorted(raw.values()) == [1, 4, 43, 4_067, 4_477]
    folder = "my_spotify_data/Spotify Extended Streaming History/"
    members = {folder + name: (REAL_EXTENDED / name).read_bytes() for name in raw}
    members[folder + "ReadMeFirst_ExtendedStreamingHistory.pdf"] = b"%PDF-1.4"
    members["my_spotify_data/Spotify Account Data/Userdata.json"] = b'{"country": "IN"}'
    report = _import(lake, write_zip(tmp_path / "my_spotify_data.zip", members), settings)
    _account_for_everything(report, raw, lake)
    assert report.files_read == 5 and len(report.files_skipped) == 2
    assert (report.inserted, report.duplicates, report.rejected_records) == (8_592, 0, 0)
    per_file = query(
        lake,
        "select split_part(_source, '@', 1) as file, count(*) as n,"
        " min(ts) as first, max(ts) as last, count(distinct spotify_track_uri) as uris,"
        " count(*) filter (where content_type = 'episode') as episodes"
        " from streaming_history_bronze group by all order by file",
    ).to_pylist()
    by_file = {row.pop("file").removeprefix("export:"): row for row in per_file}
    assert {name: row["n"] for name, row in by_file.items()} == raw
    audio_2023, audio_2026 = (
        by_file["Streaming_History_Audio_2023.json"],
        by_file["Streaming_History_Audio_2026.json"],
    )
    assert (audio_2023["first"].date().isoformat(), audio_2023["last"].date().isoformat()) == (
        "2023-07-03",
        "2023-12-26",
    )
    assert (audio_2026["first"].date().isoformat(), audio_2026["last"].date().isoformat()) == (
        "2026-01-01",
        "2026-06-02",
    )
    assert (audio_2023["uris"], audio_2023["episodes"], audio_2026["uris"]) == (812, 6, 1_442)
    stored = lake.read("streaming_history_bronze")
    assert not {"ip_addr", "username", "ip_addr_decrypted", "user_agent_decrypted"} & set(
        stored.column_names
    )
    music = query(
        lake, "select count(*) filter (where is_music) as m from streaming_history_bronze"
    )
    assert music.to_pylist() == [{"m": report.music_records}]
    again = _import(lake, REAL_EXTENDED, settings)
    assert (again.inserted, again.already_present) == (0, 8_592)


# -- properties: the same plays, however they are split or repeated, give the same rows -----

_TS = st.datetimes(min_value=datetime(2019, 1, 1), max_value=datetime(2026, 12, 31))
_NAMES = st.sampled_from(["Ana", "Bo", "Cy", "Dé", "E|F"])


def _extended_play(ts: datetime, n: int, ms: int, offline: int | None, kind: str) -> dict:
    fields = {
        "track": {"spotify_track_uri": f"spotify:track:{n:022d}"},
        "episode": episode_fields(f"spotify:episode:{n}"),
        "book": audiobook_fields(),
    }[kind]
    stamp = ts.strftime("%Y-%m-%dT%H:%M:%SZ")
    return extended_record(stamp, ms, offline_timestamp=offline, **fields)


_EXTENDED = st.builds(
    _extended_play,
    _TS,
    st.integers(0, 5),
    st.integers(0, 400_000),
    st.sampled_from([0, None, 1_695_644_471, 1_546_300_800_123]),
    st.sampled_from(["track", "episode", "book"]),
)
_ENDSONG = st.builds(
    lambda ts, ms: endsong_record(ts.strftime("%Y-%m-%dT%H:%M:%SZ"), ms), _TS, st.integers(0, 9)
)
_ACCOUNT = st.builds(
    lambda ts, artist, title, ms: account_record(ts.strftime("%Y-%m-%d %H:%M"), artist, title, ms),
    _TS,
    _NAMES,
    _NAMES,
    st.integers(0, 400_000),
)
_BAD_RECORDS = [extended_record("never", 1), {"endTime": "2021-01-01 00:00", "msPlayed": "x"}]
_BAD = st.sampled_from(_BAD_RECORDS)


@st.composite
def exports(draw: st.DrawFn) -> list:
    """Plays in both formats (distinct plays differ in identity), a few exact
    duplicates and bad records, shuffled."""
    plays = draw(st.lists(st.one_of(_EXTENDED, _ENDSONG, _ACCOUNT), min_size=1, max_size=25))
    unique = list({parse_record(p)["record_id"]: p for p in plays}.values())
    repeats = draw(st.lists(st.sampled_from(unique), max_size=5))
    bad = draw(st.lists(_BAD, max_size=2))
    return draw(st.permutations(unique + repeats + bad))


@st.composite
def splits(draw: st.DrawFn, records: list) -> list[list]:
    cuts = sorted(draw(st.lists(st.integers(0, len(records)), max_size=4)))
    bounds = [0, *cuts, len(records)]
    return [records[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


def _files(parts: list[list]) -> list[ExportFile]:
    return [
        ExportFile(f"Streaming_History_Audio_{n}.json", lambda part=part: json.dumps(part).encode())
        for n, part in enumerate(parts)
    ]


def _rows(collected: Collected) -> list[dict]:
    rows = [
        {k: v for k, v in row.items() if k != "_source"} for row in collected.table().to_pylist()
    ]
    return sorted(rows, key=lambda row: row["record_id"])


@settings_for_hypothesis(max_examples=50, deadline=None)
@given(data=st.data())
def test_any_split_into_files_collects_the_same_rows(data: st.DataObject) -> None:
    records = data.draw(exports())
    whole, _ = collect(_files([records]))
    split, _ = collect(_files(data.draw(splits(records))))
    assert _rows(split) == _rows(whole)
    assert split.records_read == whole.records_read == len(records)
    good = [r for r in records if r not in _BAD_RECORDS]
    assert split.table().num_rows == len({parse_record(r)["record_id"] for r in good})
    assert len(split.rejects) == len(records) - len(good)


def _folder(root: Path, parts: list[list]) -> Path:
    root.mkdir()
    for n, part in enumerate(parts):
        write_json(root / f"part{n}" / f"endsong_{n}.json", part)
    return root


@settings_for_hypothesis(max_examples=20, deadline=None)
@given(data=st.data())
def test_reimports_splits_and_overlapping_slices_store_the_same_rows(data: st.DataObject) -> None:
    records = data.draw(exports())
    low = data.draw(st.integers(0, len(records)))
    high = data.draw(st.integers(low, len(records)))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        config = Settings(lake=root / "lake", timezone="UTC")
        ways = {
            "twice": [[records], [records]],
            "split": [data.draw(splits(records))],
            "overlap": [[records[:high]], [records[low:]]],
        }
        stored = {}
        for way, imports in ways.items():
            lake = Lake.open(root / way, create=True)
            for n, parts in enumerate(imports):
                report = _import(lake, _folder(root / f"{way}{n}", parts), config)
                assert _balanced(report)
            stored[way] = bronze_rows(lake)
            if way == "twice":
                assert report.inserted == 0
        assert stored["split"] == stored["twice"] == stored["overlap"]
        assert len(stored["twice"]) == len(
            {parse_record(r)["record_id"] for r in records if r not in _BAD_RECORDS}
        )
