"""Silver `catalog_tracks`: one row per catalog track_id, genres as a sorted list."""

from __future__ import annotations

from pathlib import Path

import sqlglot
import yaml

from spotify_analytics.catalog_csv import write_catalog_csv
from spotify_analytics.ingest.kaggle import ingest_kaggle
from spotify_analytics.lake import Lake
from spotify_analytics.runner import SQL_ROOT, Runner, sql_models
from spotify_analytics.settings import Settings

MODEL = Path(str(SQL_ROOT)) / "silver" / "catalog_tracks.sql"


def _row(index: int, track_id: str, genre: str, **values: object) -> dict:
    row = {
        "row_index": index,
        "track_id": track_id,
        "artists": "Main Artist;Guest",
        "album_name": "Album",
        "track_name": f"Title {track_id}",
        "popularity": 50,
        "duration_ms": 200000,
        "explicit": False,
        "danceability": 0.5,
        "energy": 0.6,
        "key": 5,
        "loudness": -7.0,
        "mode": 1,
        "speechiness": 0.05,
        "acousticness": 0.2,
        "instrumentalness": 0.0,
        "liveness": 0.1,
        "valence": 0.4,
        "tempo": 120.0,
        "time_signature": 4,
        "track_genre": genre,
    }
    row.update(values)
    return row


def _build(tmp_path: Path, lake: Lake, settings: Settings, rows: list[dict]) -> list[dict]:
    path = tmp_path / "dataset.csv"
    write_catalog_csv(path, rows)
    ingest_kaggle(lake, settings, path=path)
    steps = [step for step in sql_models() if step.name == "catalog_tracks"]
    report = Runner(lake, settings, steps).run(select="catalog_tracks")
    assert report.built == ["catalog_tracks"]
    checks = lake.read("quality_checks").to_pylist()
    assert {c["check_name"] for c in checks if c["table_name"] == "catalog_tracks"} >= {
        "unique_keys",
        "not_null:track_id",
        "unit_interval:valence",
    }
    assert all(c["status"] != "fail" for c in checks)
    return lake.read("catalog_tracks").sort_by("track_id").to_pylist()


def test_one_row_per_track_with_sorted_genres(
    tmp_path: Path, lake: Lake, settings: Settings
) -> None:
    given = [
        _row(0, "aaa", "acoustic", popularity=61),
        _row(1, "bbb", "acoustic", artists="Solo"),
        _row(1000, "ccc", "blues", artists=None),
        _row(2000, "aaa", "pop", popularity=62),  # the same track under a 2nd genre
        _row(2001, "bbb", "pop", artists="Solo"),
        _row(3000, "aaa", "chill", popularity=63),  # and a 3rd
    ]
    got = _build(tmp_path, lake, settings, given)

    expected = {
        "aaa": (0, "Main Artist", ["acoustic", "chill", "pop"], 3, 61, "acoustic"),
        "bbb": (1, "Solo", ["acoustic", "pop"], 2, 50, "acoustic"),
        "ccc": (1000, None, ["blues"], 1, 50, "blues"),
    }
    assert {
        row["track_id"]: (
            row["row_index"],
            row["artist_name"],
            row["genres"],
            row["n_catalog_rows"],
            row["popularity"],
            row["track_genre"],
        )
        for row in got
    } == expected
    schema = lake.read("catalog_tracks").schema
    assert str(schema.field("genres").type) in ("list<element: string>", "list<item: string>")
    assert (str(schema.field("n_catalog_rows").type), str(schema.field("key").type)) == (
        "int64",
        "int64",
    )
    aaa = got[0]
    assert aaa["artists"] == "Main Artist;Guest" and aaa["track_name"] == "Title aaa"
    assert (aaa["tempo"], aaa["valence"], aaa["explicit"]) == (120.0, 0.4, False)


def test_first_row_wins_even_when_rows_are_out_of_order(
    tmp_path: Path, lake: Lake, settings: Settings
) -> None:
    given = [_row(7, "ddd", "rock", energy=0.9), _row(3, "ddd", "metal", energy=0.1)]
    [row] = _build(tmp_path, lake, settings, given)
    assert (row["row_index"], row["energy"], row["genres"]) == (3, 0.1, ["metal", "rock"])


def test_grain_file_and_spark_transpile() -> None:
    grain = yaml.safe_load(MODEL.with_suffix(".yml").read_text())
    assert grain["table"] == "catalog_tracks" and grain["keys"] == ["track_id"]
    spark = sqlglot.transpile(MODEL.read_text(), read="duckdb", write="spark")[0]
    assert "ARRAY_SORT(COLLECT_LIST(DISTINCT track_genre)" in spark
    assert "SPLIT_PART(" in spark
