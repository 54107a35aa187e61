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
    ts = _iso_seconds(listening.end_ms)
    offline_ts = ((listening.end_ms - listening.ms_played) // 1000).tolist()
    platforms = np.array(listener.platforms)[listening.platform].tolist()
    records = []
    for i, row in enumerate(listening.track.tolist()):
        record = {
            "ts": ts[i],
            "platform": platforms[i],
            "ms_played": int(listening.ms_played[i]),
            "conn_country": listener.country,
            "ip_addr": None,
            **(_track_fields(tracks, row) if row >= 0 else _episode_fields(listener.user_id, row)),
            "audiobook_title": None,
            "audiobook_uri": None,
            "audiobook_chapter_uri": None,
            "audiobook_chapter_title": None,
            "reason_start": str(listening.reason_start[i]),
            "reason_end": str(listening.reason_end[i]),
            "shuffle": bool(listening.shuffle[i]),
            "skipped": bool(listening.skipped[i]),
            "offline": bool(listening.offline[i]),
            "offline_timestamp": offline_ts[i],
            "incognito_mode": False,
        }
        records.append(record)
    return records


def _track_fields(tracks: dict[str, np.ndarray], row: int) -> dict:
    return {
        "master_metadata_track_name": tracks["track_name"][row],
        "master_metadata_album_artist_name": tracks["artists"][row].split(";")[0],
        "master_metadata_album_album_name": tracks["album_name"][row],
        "spotify_track_uri": f"spotify:track:{tracks['track_id'][row]}",
        "episode_name": None,
        "episode_show_name": None,
        "spotify_episode_uri": None,
    }


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
