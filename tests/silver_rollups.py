"""Silver's per-track rollups of listening_with_features rows, for Gold tests.

Gold tests write ``listening_with_features`` rows directly. The models that
need only plays per user and track read ``user_track_features`` instead, so
the tests build it (and ``user_track_plays``) from the same rows with the
production SQL: the plays are the rows, and ``track_features`` holds one row
per music track_key with its features (the first play's, by play_id), and is
returned too (``audio_to_valence`` reads it with ``user_track_plays``).
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa

from spotify_analytics.lake import Lake
from spotify_analytics.runner import SQL_ROOT

SILVER_SQL = Path(str(SQL_ROOT)) / "silver"
UTP = "silver/user_track_plays"
UTF = "silver/user_track_features"
TF = "silver/track_features"
TRACK_COLUMNS = {
    "feature_source": "varchar",
    "feature_confidence": "varchar",
    "catalog_track_id": "varchar",
    "genres": "varchar[]",
    "danceability": "double",
    "energy": "double",
    "key": "bigint",
    "loudness": "double",
    "mode": "bigint",
    "speechiness": "double",
    "acousticness": "double",
    "instrumentalness": "double",
    "liveness": "double",
    "valence": "double",
    "tempo": "double",
    "time_signature": "bigint",
    "mood_quadrant": "varchar",
}


def rollups(listening: pa.Table) -> dict[str, pa.Table]:
    """``user_track_plays``, ``user_track_features`` and ``track_features`` of the
    rows, by location."""
    con = duckdb.connect()
    try:
        con.register("listening", listening)
        names = set(listening.column_names)

        def column(name: str, kind: str) -> str:
            return f'"{name}"' if name in names else f"cast(null as {kind}) as {name}"

        con.execute(
            "create temp table plays as select user_id, track_key, "
            f"{column('track_id', 'varchar')}, artist_name, track_name, is_music, is_skip, "
            f"ms_played, {column('played_at', 'timestamptz')} from listening"
        )
        picked = ", ".join(
            f"first({name} order by play_id) as {name}"
            if name in names
            else f"cast(null as {kind}) as {name}"
            for name, kind in TRACK_COLUMNS.items()
        )
        con.execute(
            f"create temp table track_features as select track_key, {picked} "
            "from listening where is_music group by track_key"
        )
        utp = con.sql((SILVER_SQL / "user_track_plays.sql").read_text()).to_arrow_table()
        con.register("user_track_plays", utp)
        utf = con.sql((SILVER_SQL / "user_track_features.sql").read_text()).to_arrow_table()
        return {UTP: utp, UTF: utf, TF: con.sql("select * from track_features").to_arrow_table()}
    finally:
        con.close()


def write_rollups(lake: Lake, listening: pa.Table) -> None:
    for location, table in rollups(listening).items():
        lake.overwrite(location, table)
