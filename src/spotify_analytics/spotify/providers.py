"""Audio-feature providers feeding ``my_tracks_features_bronze``.

Providers run in ``settings.feature_providers`` order; each is asked only for
the played tracks that no provider has answered yet. Names this module does not
know (catalog matching happens in Silver) are passed over.

- ``spotify_api``: ``GET /v1/audio-features``. Since 2024-11-27 Spotify answers
  403 to apps created after that date: the endpoint is closed to the app (not a
  scope problem). The 403 is recorded as a 30-day cooldown in ``_state/`` and
  the endpoint is not asked again until it ends.
- ``reccobeats``: ReccoBeats' ``GET {url}/v1/audio-features?ids=...`` keyed by
  Spotify id (``{"content": [{"href": ".../track/<id>", "danceability": ...}]}``);
  off unless ``settings.reccobeats_url`` is set.

A track a provider does not answer for is not recorded: it is asked again next run.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pyarrow as pa
import requests

from ..lake import Lake
from ..schemas import FEATURE_COLUMNS, MY_TRACKS_FEATURES
from ..settings import Settings
from .client import SpotifyClient
from .redact import LOGGER
from .retry import HttpStatusError, MalformedResponse, Retrier, RetryPolicy
from .state import LiveState
from .tracks import unknown_track_ids

log = logging.getLogger(LOGGER)
AUDIO_FEATURES_SERVICE = "spotify_api:audio-features"
AUDIO_FEATURES_CLOSED_S = 30 * 86400
SPOTIFY_BATCH = 100
RECCOBEATS_BATCH = 40
INTEGER_COLUMNS = ("key", "mode", "time_signature")


@dataclass
class FeaturesReport:
    wanted: int = 0
    found: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    missing: int = 0


def feature_row(track_id: str, provider: str, values: dict, batch: str, now: datetime) -> dict:
    row = {column: values.get(column) for column in FEATURE_COLUMNS}
    for column in INTEGER_COLUMNS:
        if isinstance(row[column], int | float):
            row[column] = int(row[column])
    return {
        **row,
        "track_id": track_id,
        "provider": provider,
        "_source": provider,
        "_ingested_at": now,
        "_batch_id": batch,
    }


def spotify_api_features(ids: list[str], client: SpotifyClient) -> dict[str, dict] | str:
    """Features by track id, or the reason the endpoint is unusable."""
    found: dict[str, dict] = {}
    for start in range(0, len(ids), SPOTIFY_BATCH):
        try:
            answer = client.audio_features(ids[start : start + SPOTIFY_BATCH])
        except HttpStatusError as error:
            if error.status != 403:
                return f"HTTP {error.status} ({error.message})"
            reason = (
                "audio-features answered 403: Spotify closed the endpoint to apps "
                "created after 2024-11-27 (deprecated, not a scope problem)"
            )
            client.state.set_cooldown(AUDIO_FEATURES_SERVICE, AUDIO_FEATURES_CLOSED_S, reason)
            log.warning(f"{reason}; not asking again for 30 days")
            return reason
        found.update({item["id"]: item for item in answer if item and item.get("id")})
    return found


def reccobeats_features(
    ids: list[str], url: str, retrier: Retrier, session: requests.Session, timeout_s: float
) -> dict[str, dict] | str:
    """ReccoBeats features by Spotify track id, or the reason it is unusable."""
    endpoint = url.rstrip("/") + "/v1/audio-features"
    wanted, found = set(ids), {}
    for start in range(0, len(ids), RECCOBEATS_BATCH):
        batch = ids[start : start + RECCOBEATS_BATCH]
        try:
            body = retrier.call(
                "GET reccobeats audio-features",
                lambda b=batch: _get_json(session, endpoint, {"ids": ",".join(b)}, timeout_s),
            )
        except HttpStatusError as error:
            return f"HTTP {error.status} ({error.message})"
        for item in body.get("content") or [] if isinstance(body, dict) else []:
            track_id = str(item.get("href") or "").rstrip("/").rsplit("/", 1)[-1]
            if track_id in wanted:
                found[track_id] = item
    return found


def _get_json(session: requests.Session, url: str, params: dict, timeout_s: float) -> object:
    response = session.get(url, params=params, timeout=timeout_s)
    if response.status_code >= 400:
        raise HttpStatusError(
            response.status_code, response.reason or "error", dict(response.headers)
        )
    try:
        return response.json()
    except ValueError:
        raise MalformedResponse("the answer was not complete JSON (truncated or empty)") from None


def fetch_features(
    lake: Lake,
    settings: Settings,
    client: SpotifyClient,
    *,
    session: requests.Session | None = None,
    policy: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> FeaturesReport:
    """Ask each enabled provider, in order, for the played tracks still without features."""
    remaining = unknown_track_ids(lake, MY_TRACKS_FEATURES.name)
    report = FeaturesReport(wanted=len(remaining))
    state = LiveState(lake)
    for name in settings.feature_providers:
        if not remaining:
            break
        if name == "spotify_api":
            result = _spotify(remaining, client, state)
        elif name == "reccobeats":
            result = _reccobeats(
                remaining, settings, state, session or client.session, policy, sleep
            )
        else:
            continue
        if isinstance(result, str):
            report.skipped[name] = result
            continue
        _store(lake, name, result)
        report.found[name] = len(result)
        remaining = [i for i in remaining if i not in result]
    report.missing = len(remaining)
    return report


def _spotify(ids: list[str], client: SpotifyClient, state: LiveState) -> dict | str:
    cooldown = state.cooldown(AUDIO_FEATURES_SERVICE)
    if cooldown is not None:
        return f"{cooldown.reason}; cooling down {cooldown.describe()}"
    return spotify_api_features(ids, client)


def _reccobeats(
    ids: list[str],
    settings: Settings,
    state: LiveState,
    session: requests.Session,
    policy: RetryPolicy | None,
    sleep: Callable[[float], None],
) -> dict | str:
    if not settings.reccobeats_url:
        return "off (set SPOTIFY_ANALYTICS_RECCOBEATS_URL to use it)"
    cooldown = state.cooldown("reccobeats")
    if cooldown is not None:
        return f"{cooldown.reason}; cooling down {cooldown.describe()}"
    retrier = Retrier("reccobeats", state, settings, policy=policy, sleep=sleep)
    return reccobeats_features(
        ids, settings.reccobeats_url, retrier, session, settings.http_timeout_s
    )


def _store(lake: Lake, provider: str, found: dict[str, dict]) -> None:
    if not found:
        return
    batch, now = uuid.uuid4().hex, datetime.now(UTC)
    rows = [feature_row(i, provider, values, batch, now) for i, values in sorted(found.items())]
    with lake.lock("features"):
        lake.merge(MY_TRACKS_FEATURES, pa.Table.from_pylist(rows, schema=MY_TRACKS_FEATURES.schema))
