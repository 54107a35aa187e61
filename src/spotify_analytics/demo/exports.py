"""Write generated listening as Spotify privacy-export files (DEMO DATA).

- Extended streaming history, the post-2023 field set: ``Streaming_History_Audio_YYYY.json``
  (one file per UTC year), with ``ip_addr: null`` like the shared samples.
- Account data: ``StreamingHistory_music_0.json`` (``endTime`` UTC to the minute,
  ``artistName``, ``trackName``, ``msPlayed``), only for ``demo-sam``: his extended
  history stops at :data:`EXTENDED_UNTIL`, the account-data file starts at
  :data:`ACCOUNT_FROM`, so two months are in both formats (the same plays) and
  one month only in the account format.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from .catalog import BASE62, Catalog
from .listeners import SHOWS, Listening

ACCOUNT_USER = "demo-sam"
EXTENDED_UNTIL = datetime(2026, 10, 1, tzinfo=UTC)  # demo-sam's extended export ends here
ACCOUNT_FROM = datetime(2026, 8, 1, tzinfo=UTC)  # his account-data export starts here
EPISODE_WORDS = ("Tides", "Signals", "Maps", "Clocks", "Bridges", "Gardens", "Engines", "Stars")


def write_exports(folder: Path, catalog: Catalog, listenings: list[Listening]) -> dict[str, Path]:
    """One export folder per listener under ``folder``; returns user id -> folder."""
    tracks = catalog.tracks()
    folders = {}
    for listening in listenings:
        user = listening.listener.user_id
        target = folder / user
        target.mkdir(parents=True, exist_ok=True)
        for stale in target.glob("*.json"):
            stale.unlink()
        extended = listening
        if user == ACCOUNT_USER:
            extended = listening.take(np.flatnonzero(listening.end_ms < _ms(EXTENDED_UNTIL)))
            account = listening.take(
                np.flatnonzero((listening.end_ms >= _ms(ACCOUNT_FROM)) & listening.is_music)
            )
            _write_json(
                target / "StreamingHistory_music_0.json", account_records(account, tracks), indent=2
            )
        records = extended_records(extended, tracks)
        for year, chunk in _by_year(records).items():
            _write_json(target / f"Streaming_History_Audio_{year}.json", chunk)
        folders[user] = target
    return folders


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _iso_seconds(end_ms: np.ndarray) -> list[str]:
    stamps = np.datetime_as_string((end_ms // 1000).astype("datetime64[s]"), unit="s")
    return [f"{stamp}Z" for stamp in stamps.tolist()]


def extended_records(listening: Listening, tracks: dict[str, np.ndarray]) -> list[dict]:
    """The plays as extended-history records, field for field as Spotify writes them."""
    listener = listening.listener
    rows = listening.track.tolist()
    music = _music_fields(tracks, np.maximum(listening.track, 0))
    columns = zip(
        rows,
        _iso_seconds(listening.end_ms),
        np.array(listener.platforms)[listening.platform].tolist(),
        listening.ms_played.tolist(),
        listening.reason_start.tolist(),
        listening.reason_end.tolist(),
        listening.shuffle.tolist(),
        listening.skipped.tolist(),
        listening.offline.tolist(),
        ((listening.end_ms - listening.ms_played) // 1000).tolist(),
        music,
        strict=True,
    )
    return [
        {
            "ts": ts,
            "platform": platform,
            "ms_played": ms_played,
            "conn_country": listener.country,
            "ip_addr": None,
            **(fields if row >= 0 else _episode_fields(listener.user_id, row)),
            "audiobook_title": None,
            "audiobook_uri": None,
            "audiobook_chapter_uri": None,
            "audiobook_chapter_title": None,
            "reason_start": reason_start,
            "reason_end": reason_end,
            "shuffle": shuffle,
            "skipped": skipped,
            "offline": offline,
            "offline_timestamp": offline_timestamp,
            "incognito_mode": False,
        }
        for (
            row,
            ts,
            platform,
            ms_played,
            reason_start,
            reason_end,
            shuffle,
            skipped,
            offline,
            offline_timestamp,
            fields,
        ) in columns
    ]


def _music_fields(tracks: dict[str, np.ndarray], rows: np.ndarray) -> list[dict]:
    return [
        {
            "master_metadata_track_name": name,
            "master_metadata_album_artist_name": artists.split(";")[0],
            "master_metadata_album_album_name": album,
            "spotify_track_uri": f"spotify:track:{track_id}",
            "episode_name": None,
            "episode_show_name": None,
            "spotify_episode_uri": None,
        }
        for name, artists, album, track_id in zip(
            tracks["track_name"][rows].tolist(),
            tracks["artists"][rows].tolist(),
            tracks["album_name"][rows].tolist(),
            tracks["track_id"][rows].tolist(),
            strict=True,
        )
    ]


def _episode_fields(user_id: str, row: int) -> dict:
    number = -1 - row
    return {
        "master_metadata_track_name": None,
        "master_metadata_album_artist_name": None,
        "master_metadata_album_album_name": None,
        "spotify_track_uri": None,
        "episode_name": f"Episode {number + 1}: {EPISODE_WORDS[number % len(EPISODE_WORDS)]}",
        "episode_show_name": SHOWS[number % len(SHOWS)],
        "spotify_episode_uri": f"spotify:episode:{_stable_id(f'{user_id}/{number}')}",
    }


def _stable_id(text: str) -> str:
    """A 22-character base62 id derived from ``text``."""
    digest = hashlib.sha256(text.encode()).digest()
    return bytes(BASE62[np.frombuffer(digest[:22], dtype=np.uint8) % 62]).decode()


def account_records(listening: Listening, tracks: dict[str, np.ndarray]) -> list[dict]:
    """Music plays as account-data records: end time in UTC, to the minute."""
    minutes = np.datetime_as_string((listening.end_ms // 60_000).astype("datetime64[m]"))
    return [
        {
            "endTime": stamp.replace("T", " "),
            "artistName": tracks["artists"][row].split(";")[0],
            "trackName": tracks["track_name"][row],
            "msPlayed": ms,
        }
        for stamp, row, ms in zip(
            minutes.tolist(), listening.track.tolist(), listening.ms_played.tolist(), strict=True
        )
    ]


def _by_year(records: list[dict]) -> dict[str, list[dict]]:
    years: dict[str, list[dict]] = {}
    for record in records:
        years.setdefault(record["ts"][:4], []).append(record)
    return years


def _write_json(path: Path, records: list[dict], indent: int | None = None) -> None:
    """Extended files are one line (``", "`` and ``": "``); account-data files are pretty
    printed with ``" : "`` like Spotify's."""
    separators = (",", " : ") if indent else (", ", ": ")
    text = json.dumps(records, ensure_ascii=False, indent=indent, separators=separators)
    path.write_text(text, encoding="utf-8")
