"""Declared schemas and natural keys of the Bronze tables.

Every Bronze table carries ``user_id`` (where it is per user), ``_source``,
``_ingested_at`` and ``_batch_id``. Writes MERGE on ``keys``; a table that is a
full snapshot (the Kaggle catalog) is overwritten instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

UTC_TS = pa.timestamp("us", tz="UTC")

LINEAGE = [
    pa.field("_source", pa.string()),
    pa.field("_ingested_at", UTC_TS),
    pa.field("_batch_id", pa.string()),
]


@dataclass(frozen=True)
class BronzeTable:
    """A Bronze table: where it lives, its columns and its natural key."""

    location: str
    schema: pa.Schema
    keys: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.location.rsplit("/", 1)[-1]


def _schema(*fields: tuple[str, pa.DataType]) -> pa.Schema:
    return pa.schema([pa.field(name, dtype) for name, dtype in fields] + LINEAGE)


USERS = BronzeTable(
    "bronze/users",
    _schema(("user_id", pa.string()), ("timezone", pa.string())),
    ("user_id",),
)

STREAMING_HISTORY = BronzeTable(
    "bronze/streaming_history_bronze",
    _schema(
        ("user_id", pa.string()),
        ("record_id", pa.string()),  # hash of the record's identifying fields
        ("record_format", pa.string()),  # account_data | extended
        ("ts", UTC_TS),  # end of play, UTC
        ("ts_precision_s", pa.int32()),  # 60 for minute-precision account data, else 1
        ("ms_played", pa.int64()),
        ("content_type", pa.string()),  # track | episode | audiobook | unknown
        ("is_music", pa.bool_()),
        ("track_name", pa.string()),
        ("artist_name", pa.string()),
        ("album_name", pa.string()),
        ("spotify_track_uri", pa.string()),
        ("episode_name", pa.string()),
        ("episode_show_name", pa.string()),
        ("spotify_episode_uri", pa.string()),
        ("audiobook_title", pa.string()),
        ("audiobook_uri", pa.string()),
        ("audiobook_chapter_uri", pa.string()),
        ("audiobook_chapter_title", pa.string()),
        ("reason_start", pa.string()),
        ("reason_end", pa.string()),
        ("shuffle", pa.bool_()),
        ("skipped", pa.bool_()),
        ("offline", pa.bool_()),
        ("offline_timestamp", UTC_TS),
        ("incognito_mode", pa.bool_()),
        ("platform", pa.string()),
        ("conn_country", pa.string()),
    ),
    ("user_id", "record_id"),
)

LISTENING_HISTORY = BronzeTable(
    "bronze/listening_history_bronze",
    _schema(
        ("user_id", pa.string()),
        ("played_at", UTC_TS),
        ("track_id", pa.string()),
        ("track_name", pa.string()),
        ("artist_name", pa.string()),  # primary artist
        ("artists", pa.string()),  # all artists, ';'-separated as in the catalog
        ("album_name", pa.string()),
        ("duration_ms", pa.int64()),
        ("context_type", pa.string()),
        ("context_uri", pa.string()),
    ),
    ("user_id", "played_at", "track_id"),
)

TRACKS = BronzeTable(
    "bronze/tracks_bronze",
    _schema(
        ("track_id", pa.string()),
        ("track_name", pa.string()),
        ("artist_name", pa.string()),
        ("artists", pa.string()),
        ("artist_ids", pa.string()),
        ("album_name", pa.string()),
        ("album_id", pa.string()),
        ("release_date", pa.string()),
        ("duration_ms", pa.int64()),
        ("popularity", pa.int64()),
        ("explicit", pa.bool_()),
        ("isrc", pa.string()),
    ),
    ("track_id",),
)

FEATURE_COLUMNS = (
    "danceability",
    "energy",
    "key",
    "loudness",
    "mode",
    "speechiness",
    "acousticness",
    "instrumentalness",
    "liveness",
    "valence",
    "tempo",
    "time_signature",
)

CONTINUOUS_FEATURES = (
    "danceability",
    "energy",
    "loudness",
    "speechiness",
    "acousticness",
    "instrumentalness",
    "liveness",
    "valence",
    "tempo",
)

MY_TRACKS_FEATURES = BronzeTable(
    "bronze/my_tracks_features_bronze",
    _schema(
        ("track_id", pa.string()),
        ("provider", pa.string()),  # spotify_api | reccobeats
        ("danceability", pa.float64()),
        ("energy", pa.float64()),
        ("key", pa.int64()),
        ("loudness", pa.float64()),
        ("mode", pa.int64()),
        ("speechiness", pa.float64()),
        ("acousticness", pa.float64()),
        ("instrumentalness", pa.float64()),
        ("liveness", pa.float64()),
        ("valence", pa.float64()),
        ("tempo", pa.float64()),
        ("time_signature", pa.int64()),
    ),
    ("track_id", "provider"),
)

KAGGLE_TRACKS = BronzeTable(
    "bronze/kaggle_tracks_bronze",
    _schema(
        ("row_index", pa.int64()),  # the file's unnamed first column
        ("track_id", pa.string()),
        ("artists", pa.string()),
        ("album_name", pa.string()),
        ("track_name", pa.string()),
        ("popularity", pa.int64()),
        ("duration_ms", pa.int64()),
        ("explicit", pa.bool_()),
        ("danceability", pa.float64()),
        ("energy", pa.float64()),
        ("key", pa.int64()),
        ("loudness", pa.float64()),
        ("mode", pa.int64()),
        ("speechiness", pa.float64()),
        ("acousticness", pa.float64()),
        ("instrumentalness", pa.float64()),
        ("liveness", pa.float64()),
        ("valence", pa.float64()),
        ("tempo", pa.float64()),
        ("time_signature", pa.int64()),
        ("track_genre", pa.string()),
        ("_file_sha256", pa.string()),
    ),
    ("row_index",),
)

REJECTS = BronzeTable(
    "bronze/_rejects",
    _schema(
        ("user_id", pa.string()),
        ("target_table", pa.string()),  # the Bronze table the record was meant for
        ("record_no", pa.int64()),  # row or element number in the input, 0-based
        ("raw", pa.string()),  # the record as read (personal fields removed)
        ("reason", pa.string()),
    ),
    ("target_table", "_source", "record_no"),
)

BRONZE_TABLES: dict[str, BronzeTable] = {
    table.name: table
    for table in (
        USERS,
        STREAMING_HISTORY,
        LISTENING_HISTORY,
        TRACKS,
        MY_TRACKS_FEATURES,
        KAGGLE_TRACKS,
        REJECTS,
    )
}
