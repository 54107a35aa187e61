"""Track metadata into ``tracks_bronze``: one ``GET /v1/tracks/{id}`` per unknown track.

``tracks_bronze`` is the cache: a track stored there is never looked up again.
A lookup that fails (unknown id, server trouble) stores nothing, so the track
is tried again on the next run; it is never recorded as "does not exist".
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pyarrow as pa

from ..errors import SpotifyAnalyticsError
from ..lake import Lake
from ..schemas import LISTENING_HISTORY, TRACKS
from .client import SpotifyClient
from .redact import LOGGER

log = logging.getLogger(LOGGER)
SPOTIFY_ID = re.compile(r"^[0-9A-Za-z]{22}$")


@dataclass
class TracksReport:
    wanted: int = 0
    fetched: int = 0
    not_found: list[str] = field(default_factory=list)


def unknown_track_ids(lake: Lake, table: str, *, provider: str | None = None) -> list[str]:
    """Track ids played (API history) but not yet in ``table``, sorted."""
    played = set(lake.read(LISTENING_HISTORY.name, columns=["track_id"]).column(0).to_pylist())
    known: set[str] = set()
    if lake.exists(table):
        data = lake.read(table, columns=["track_id"])
        known = set(data.column(0).to_pylist())
    return sorted(i for i in played - known if i and SPOTIFY_ID.match(i))


def track_row(track: dict, batch_id: str, now: datetime) -> dict:
    artists = track.get("artists") or []
    album = track.get("album") or {}
    names = [a.get("name") or "" for a in artists]
    return {
        "track_id": track.get("id"),
        "track_name": track.get("name"),
        "artist_name": names[0] if names else None,
        "artists": ";".join(names) if names else None,
        "artist_ids": ";".join(a.get("id") or "" for a in artists) or None,
        "album_name": album.get("name"),
        "album_id": album.get("id"),
        "release_date": album.get("release_date"),
        "duration_ms": track.get("duration_ms"),
        "popularity": track.get("popularity"),
        "explicit": track.get("explicit"),
        "isrc": (track.get("external_ids") or {}).get("isrc"),
        "_source": "spotify_api",
        "_ingested_at": now,
        "_batch_id": batch_id,
    }


def fetch_tracks(lake: Lake, client: SpotifyClient) -> TracksReport:
    """Look up every played track not in ``tracks_bronze`` yet.

    What was fetched before a failure is stored; the failure is then raised.
    """
    wanted = unknown_track_ids(lake, TRACKS.name)
    report = TracksReport(wanted=len(wanted))
    rows: list[dict] = []
    batch, now = uuid.uuid4().hex, datetime.now(UTC)
    try:
        for track_id in wanted:
            track = client.track(track_id)
            if track is None:
                report.not_found.append(track_id)
                continue
            rows.append({**track_row(track, batch, now), "track_id": track_id})
    except SpotifyAnalyticsError:
        _store(lake, rows, report)
        raise
    _store(lake, rows, report)
    if report.not_found:
        log.warning(
            f"{len(report.not_found)} track(s) not found on Spotify; will try again "
            f"next run: {', '.join(report.not_found[:5])}"
        )
    return report


def _store(lake: Lake, rows: list[dict], report: TracksReport) -> None:
    if rows:
        with lake.lock("tracks"):
            lake.merge(TRACKS, pa.Table.from_pylist(rows, schema=TRACKS.schema))
    report.fetched = len(rows)
