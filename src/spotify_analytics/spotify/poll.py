"""Poll recently-played into ``listening_history_bronze``.

Spotify returns only the 50 newest plays and paging back returns nothing, so
each poll reads that whole window (everything already stored in it is the
overlap) and MERGEs on (user_id, played_at, track_id): overlapping polls add
nothing. The cursor is the newest ``played_at`` seen, in ms, kept per user in
``_state/spotify.json``. When all 50 plays returned are newer than the cursor,
the window was full and older plays may have been lost: that is reported.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

import pyarrow as pa

from ..lake import Lake
from ..schemas import LISTENING_HISTORY
from ..settings import Settings
from .client import SpotifyClient
from .redact import LOGGER
from .state import LiveState, ms_iso

log = logging.getLogger(LOGGER)
WINDOW = 50
SOURCE = "spotify_api"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class PollReport:
    user: str
    items: int
    new: int
    inserted: int
    cursor_ms: int | None
    previous_cursor_ms: int | None
    warning: str | None

    def summary(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k not in ("user", "cursor_ms")}


def parse_played_at(value: str) -> datetime:
    """``2023-09-22T15:43:33.750Z`` (milliseconds optional) as an aware UTC datetime."""
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def to_ms(stamp: datetime) -> int:
    return (stamp - EPOCH) // timedelta(milliseconds=1)


def play_rows(user: str, items: list[dict], batch_id: str) -> list[dict]:
    """Bronze rows from PlayHistoryObjects (items without a track are skipped)."""
    now = datetime.now(UTC)
    rows = []
    for item in items:
        track = item.get("track") or {}
        track_id = track.get("id") or track.get("uri")
        if not track_id or not item.get("played_at"):
            continue
        artists = [a.get("name") or "" for a in track.get("artists") or []]
        context = item.get("context") or {}
        rows.append(
            {
                "user_id": user,
                "played_at": parse_played_at(item["played_at"]),
                "track_id": track_id,
                "track_name": track.get("name"),
                "artist_name": artists[0] if artists else None,
                "artists": ";".join(artists) if artists else None,
                "album_name": (track.get("album") or {}).get("name"),
                "duration_ms": track.get("duration_ms"),
                "context_type": context.get("type"),
                "context_uri": context.get("uri"),
                "_source": SOURCE,
                "_ingested_at": now,
                "_batch_id": batch_id,
            }
        )
    return rows


def gap_warning(user: str, previous_ms: int | None, played_ms: list[int]) -> str | None:
    """A warning when the window was full of plays newer than the cursor."""
    if previous_ms is None or len(played_ms) < WINDOW:
        return None
    if min(played_ms) <= previous_ms:
        return None
    return (
        f"user {user}: all {len(played_ms)} plays returned are newer than the last poll's "
        f"newest play ({ms_iso(previous_ms)}); plays between then and {ms_iso(min(played_ms))} "
        "may be missing (Spotify keeps only the 50 newest): poll more often, or import the "
        "privacy export to fill the gap"
    )


def poll_user(lake: Lake, settings: Settings, user: str, client: SpotifyClient) -> PollReport:
    """One poll of ``user``: fetch, MERGE, move the cursor. Tables change only on success."""
    state = LiveState(lake)
    previous = state.cursor_ms(user)
    page = client.recently_played()
    rows = play_rows(user, list(page.get("items") or []), uuid.uuid4().hex)
    played = [to_ms(row["played_at"]) for row in rows]
    warning = gap_warning(user, previous, played)
    with lake.lock("poll"):
        ensure_user(lake, user, settings)
        table = pa.Table.from_pylist(rows, schema=LISTENING_HISTORY.schema)
        result = lake.merge(LISTENING_HISTORY, table)
    newest = max([*played, previous or 0]) or None
    report = PollReport(
        user=user,
        items=len(rows),
        new=sum(1 for ms in played if previous is None or ms > previous),
        inserted=result.inserted,
        cursor_ms=newest,
        previous_cursor_ms=previous,
        warning=warning,
    )
    state.record_poll(user, cursor_ms=newest, summary=report.summary())
    if warning:
        log.warning(warning)
    return report


def ensure_user(lake: Lake, user: str, settings: Settings) -> None:
    """The polled user must exist in Bronze ``users``."""
    from ..users import ensure_user as ensure

    ensure(lake, user, None, settings)
