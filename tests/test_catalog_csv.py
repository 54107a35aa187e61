"""The Kaggle catalog file format: exact lines, quoting, and a read/write round trip."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spotify_analytics.catalog_csv import (
    COLUMNS,
    HEADER,
    CatalogFormatError,
    format_row,
    read_catalog_csv,
    write_catalog_csv,
)

# The three lines PROVENANCE.md quotes from the original dataset.csv.
HEADER_LINE = (
    ",track_id,artists,album_name,track_name,popularity,duration_ms,explicit,danceability,"
    "energy,key,loudness,mode,speechiness,acousticness,instrumentalness,liveness,valence,"
    "tempo,time_signature,track_genre"
)
FIRST_LINE = (
    "0,5SuOikwiRyPMVoIQDJUgSV,Gen Hoshino,Comedy,Comedy,73,230666,False,0.676,0.461,1,"
    "-6.746,0,0.143,0.0322,1.01e-06,0.358,0.715,87.917,4,acoustic"
)
LAST_LINE = (
    "113999,2hETkH7cOfqmz3LqZDHZf5,Cesária Evora,Miss Perfumado,Barbincor,22,241826,False,"
    "0.526,0.487,1,-10.204,0,0.0725,0.681,0.0,0.0893,0.708,79.198,4,world-music"
)
FIRST_ROW = [
    0, "5SuOikwiRyPMVoIQDJUgSV", "Gen Hoshino", "Comedy", "Comedy", 73, 230666, False,
    0.676, 0.461, 1, -6.746, 0, 0.143, 0.0322, 1.01e-06, 0.358, 0.715, 87.917, 4, "acoustic",
]  # fmt: skip
LAST_ROW = [
    113999,
    "2hETkH7cOfqmz3LqZDHZf5",
    "Cesária Evora",
    "Miss Perfumado",
    "Barbincor",
    22,
    241826,
    False,
    0.526,
    0.487,
    1,
    -10.204,
    0,
    0.0725,
    0.681,
    0,
    0.0893,
    0.708,
    79.198,
    4,
    "world-music",
]  # fmt: skip  (instrumentalness given as the int 0: still written as 0.0)


def test_writer_reproduces_the_original_lines(tmp_path: Path) -> None:
    path = tmp_path / "dataset.csv"
    write_catalog_csv(path, [FIRST_ROW, LAST_ROW])
    assert path.read_bytes() == f"{HEADER_LINE}\n{FIRST_LINE}\n{LAST_LINE}\n".encode()
    assert ",".join(HEADER) == HEADER_LINE
    assert format_row(dict(zip(COLUMNS, FIRST_ROW, strict=True))) == FIRST_LINE


def test_writer_quotes_like_rfc_4180(tmp_path: Path) -> None:
    row = list(FIRST_ROW)
    row[2] = "Simon & Garfunkel;Art, Paul"
    row[4] = 'She said "hi"\nthen left'
    line = format_row(row)
    assert ',"Simon & Garfunkel;Art, Paul",' in line
    assert ',"She said ""hi""\nthen left",' in line


def test_read_types_every_column(tmp_path: Path) -> None:
    path = tmp_path / "dataset.csv"
    write_catalog_csv(path, [FIRST_ROW, LAST_ROW])
    result = read_catalog_csv(path)
    assert result.rejected == []
    rows = result.table.to_pylist()
    assert list(rows[0].values()) == FIRST_ROW
    assert rows[1]["artists"] == "Cesária Evora"
    assert rows[1]["instrumentalness"] == 0.0
    assert result.record_nos.to_pylist() == [0, 1]


def test_header_errors_name_the_columns(tmp_path: Path) -> None:
    path = tmp_path / "dataset.csv"
    path.write_text(HEADER_LINE.replace("danceability", "dance") + "\n" + FIRST_LINE + "\n")
    with pytest.raises(CatalogFormatError, match="missing danceability; unexpected dance"):
        read_catalog_csv(path)
    path.write_text(HEADER_LINE.replace("energy,key", "key,energy") + "\n")
    with pytest.raises(CatalogFormatError, match="different order"):
        read_catalog_csv(path)


def test_crlf_line_ends_are_read_too(tmp_path: Path) -> None:
    path = tmp_path / "dataset.csv"
    path.write_bytes(f"{HEADER_LINE}\r\n{FIRST_LINE}\r\n{LAST_LINE}\r\n".encode())
    result = read_catalog_csv(path)
    assert result.rejected == []
    assert result.table.column("track_genre").to_pylist() == ["acoustic", "world-music"]


# -- property: anything the writer writes, the reader reads back exactly --------

_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    min_size=1,
    max_size=30,
)
_unit = st.floats(0, 1, allow_nan=False)
_row = st.tuples(
    st.text(alphabet="0123456789abcdefABCDEF", min_size=1, max_size=22),
    st.one_of(st.none(), _text),
    st.one_of(st.none(), _text),
    st.one_of(st.none(), _text),
    st.integers(0, 100),
    st.integers(1, 10**8),
    st.booleans(),
    _unit,
    _unit,
    st.integers(-1, 11),
    st.floats(-60, 5, allow_nan=False),
    st.integers(0, 1),
    _unit,
    _unit,
    _unit,
    _unit,
    _unit,
    st.one_of(st.just(0.0), st.floats(0, 250, allow_nan=False)),
    st.integers(0, 7),
    _text,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.lists(_row, min_size=1, max_size=8))
def test_any_rows_round_trip_exactly(tmp_path: Path, rows: list[tuple]) -> None:
    numbered = [[index, *row] for index, row in enumerate(rows)]
    path = tmp_path / "dataset.csv"
    write_catalog_csv(path, numbered)
    result = read_catalog_csv(path)
    assert result.rejected == []
    got = [list(row.values()) for row in result.table.to_pylist()]
    assert got == numbered
