"""Tiny privacy exports for tests: records in both formats and ways to write them."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

from spotify_analytics.lake import Lake

PLANTED_IP = "203.0.113.77"
PLANTED_USERNAME = "planted-username-7f3a"
PLANTED_AGENT = "PlantedAgent/9.9 (leak-check)"
LINEAGE = ("_source", "_ingested_at", "_batch_id")


def account_record(end_time: str, artist: str, track: str, ms: int) -> dict[str, Any]:
    return {"endTime": end_time, "artistName": artist, "trackName": track, "msPlayed": ms}


def account_podcast_record(end_time: str, show: str, episode: str, ms: int) -> dict[str, Any]:
    return {"endTime": end_time, "podcastName": show, "episodeName": episode, "msPlayed": ms}


def extended_record(ts: str, ms: int, **fields: Any) -> dict[str, Any]:
    """A post-2023 extended-history record (offline_timestamp in seconds, ip_addr)."""
    record: dict[str, Any] = {
        "ts": ts,
        "platform": "android",
        "ms_played": ms,
        "conn_country": "DE",
        "ip_addr": PLANTED_IP,
        "master_metadata_track_name": "Song",
        "master_metadata_album_artist_name": "Artist",
        "master_metadata_album_album_name": "Album",
        "spotify_track_uri": "spotify:track:4uLU6hMCjMI75M1A2tKUQC",
        "episode_name": None,
        "episode_show_name": None,
        "spotify_episode_uri": None,
        "audiobook_title": None,
        "audiobook_uri": None,
        "audiobook_chapter_uri": None,
        "audiobook_chapter_title": None,
        "reason_start": "trackdone",
        "reason_end": "trackdone",
        "shuffle": False,
        "skipped": False,
        "offline": False,
        "offline_timestamp": 1695644471,
        "incognito_mode": False,
    }
    record.update(fields)
    return record


def episode_fields(uri: str = "spotify:episode:27QDZ74Xoq3cwjd7lG3Lgm") -> dict[str, Any]:
    return {
        "master_metadata_track_name": None,
        "master_metadata_album_artist_name": None,
        "master_metadata_album_album_name": None,
        "spotify_track_uri": None,
        "episode_name": "Episode 1",
        "episode_show_name": "The Show",
        "spotify_episode_uri": uri,
    }


def audiobook_fields() -> dict[str, Any]:
    return {
        "master_metadata_track_name": None,
        "master_metadata_album_artist_name": None,
        "master_metadata_album_album_name": None,
        "spotify_track_uri": None,
        "audiobook_title": "A Book",
        "audiobook_uri": "spotify:show:book1",
        "audiobook_chapter_uri": "spotify:episode:chapter1",
        "audiobook_chapter_title": "Chapter 1",
    }


def endsong_record(ts: str, ms: int, **fields: Any) -> dict[str, Any]:
    """A pre-2023 ``endsong_N.json`` record: personal fields, offline_timestamp in ms."""
    record: dict[str, Any] = {
        "ts": ts,
        "username": PLANTED_USERNAME,
        "platform": "Android OS 9 API 28 (samsung, SM-G960F)",
        "ms_played": ms,
        "conn_country": "NL",
        "ip_addr_decrypted": PLANTED_IP,
        "user_agent_decrypted": PLANTED_AGENT,
        "master_metadata_track_name": "Old Song",
        "master_metadata_album_artist_name": "Old Artist",
        "master_metadata_album_album_name": "Old Album",
        "spotify_track_uri": "spotify:track:0old0000000000000000001",
        "episode_name": None,
        "episode_show_name": None,
        "spotify_episode_uri": None,
        "reason_start": "clickrow",
        "reason_end": "endplay",
        "shuffle": True,
        "skipped": None,
        "offline": False,
        "offline_timestamp": 1546300800123,
        "incognito_mode": False,
    }
    record.update(fields)
    return record


def write_json(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def write_zip(path: Path, members: dict[str, Any]) -> Path:
    """A zip of ``name -> data`` (bytes or str stored as is, anything else as JSON)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            if not isinstance(data, bytes | str):
                data = json.dumps(data)
            archive.writestr(name, data)
    return path


def bronze_rows(lake: Lake) -> list[dict[str, Any]]:
    """Stored streaming-history rows without lineage, sorted by record_id."""
    if not lake.exists("streaming_history_bronze"):
        return []
    rows = lake.read("streaming_history_bronze").to_pylist()
    rows = [{k: v for k, v in row.items() if k not in LINEAGE} for row in rows]
    return sorted(rows, key=lambda row: row["record_id"])


def snapshot(lake: Lake) -> dict[str, tuple[int | None, int]]:
    """Version and row count of every table in the lake."""
    return {name: (lake.version(name), lake.count(name)) for name in lake.tables()}


def lake_bytes(lake: Lake) -> bytes:
    """Every byte stored under the lake root (Delta logs and parquet files)."""
    return b"".join(p.read_bytes() for p in sorted(lake.root.rglob("*")) if p.is_file())


def lake_text(lake: Lake) -> str:
    """Every value of every table, decoded, as one JSON text."""
    tables = {name: lake.read(name).to_pylist() for name in lake.tables()}
    return json.dumps(tables, default=str, ensure_ascii=False)
