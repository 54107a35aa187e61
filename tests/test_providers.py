"""Audio-feature providers: spotify_api (403 -> cooldown), reccobeats, order and enablement."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from spotify_analytics.fake_spotify import FakeSpotify, spotify_id
from spotify_analytics.lake import Lake
from spotify_analytics.schemas import FEATURE_COLUMNS
from spotify_analytics.settings import Settings
from spotify_analytics.spotify import SpotifyClient, poll_user, retry
from spotify_analytics.spotify.auth import TokenCache, token_path
from spotify_analytics.spotify.providers import AUDIO_FEATURES_SERVICE, fetch_features
from spotify_analytics.spotify.state import LiveState

NOW = 1_763_700_000_000
TRACKS = [spotify_id(f"t{n}") for n in range(5)]


@pytest.fixture(scope="module")
def server() -> Iterator[FakeSpotify]:
    with FakeSpotify(now_ms=NOW) as fake:
        yield fake


@pytest.fixture
def fake(server: FakeSpotify) -> FakeSpotify:
    server.reset()
    server.audio_features_status = 403
    server.reccobeats_missing = set()
    server.add_plays((NOW - n * 300_000, TRACKS[n % 5]) for n in range(10))
    return server


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retry, "DEFAULT_POLICY", retry.RetryPolicy(base_s=0.01, cap_s=0.05))


@pytest.fixture
def polled(lake: Lake, settings: Settings, fake: FakeSpotify) -> tuple[Settings, SpotifyClient]:
    live = settings.model_copy(
        update={
            "spotify_client_id": fake.client_id,
            "spotify_api_url": fake.api_url,
            "spotify_accounts_url": fake.accounts_url,
            "reccobeats_url": fake.reccobeats_url,
        }
    )
    TokenCache(token_path(lake, "ana")).save_token_to_cache(fake.grant())
    client = SpotifyClient(lake, live, "ana")
    poll_user(lake, live, "ana", client)
    return live, client


def features(lake: Lake) -> dict[str, dict]:
    return {r["track_id"]: r for r in lake.read("my_tracks_features_bronze").to_pylist()}


def test_403_closes_spotify_api_and_reccobeats_fills_in(
    lake: Lake, fake: FakeSpotify, polled: tuple[Settings, SpotifyClient]
) -> None:
    live, client = polled
    report = fetch_features(lake, live, client)
    assert "2024-11-27" in report.skipped["spotify_api"]
    assert "scope" in report.skipped["spotify_api"]  # ...as in "not a scope problem"
    assert report.found == {"reccobeats": 5} and report.missing == 0
    cooldown = LiveState(lake).cooldown(AUDIO_FEATURES_SERVICE)
    assert cooldown is not None and cooldown.remaining_s() > 29 * 86400
    stored = features(lake)
    assert set(stored) == set(TRACKS)
    assert {r["provider"] for r in stored.values()} == {"reccobeats"}
    assert all(0 <= stored[t]["valence"] <= 1 and stored[t]["tempo"] > 0 for t in TRACKS)
    fake.add_plays([(NOW - 1, spotify_id("late"))])
    poll_user(lake, live, "ana", client)
    again = fetch_features(lake, live, client)
    assert fake.count("/v1/audio-features") == 1  # never asked again during the cooldown
    assert again.found == {"reccobeats": 1} and "cooling down" in again.skipped["spotify_api"]


def test_spotify_api_first_when_open(
    lake: Lake, fake: FakeSpotify, polled: tuple[Settings, SpotifyClient]
) -> None:
    live, client = polled
    fake.audio_features_status = 200
    report = fetch_features(lake, live, client)
    assert report.found == {"spotify_api": 5}
    assert fake.count("/reccobeats") == 0
    row = features(lake)[TRACKS[0]]
    assert row["provider"] == "spotify_api" and row["time_signature"] == 4
    assert set(FEATURE_COLUMNS) <= set(row)


def test_order_and_enablement_come_from_settings(
    lake: Lake, fake: FakeSpotify, polled: tuple[Settings, SpotifyClient]
) -> None:
    live, client = polled
    fake.audio_features_status = 200
    reccobeats_first = live.model_copy(update={"feature_providers": ["reccobeats", "spotify_api"]})
    fake.reccobeats_missing = {TRACKS[0]}
    report = fetch_features(lake, reccobeats_first, client)
    assert report.found == {"reccobeats": 4, "spotify_api": 1}
    assert features(lake)[TRACKS[0]]["provider"] == "spotify_api"


def test_reccobeats_off_without_url_and_misses_are_asked_again(
    lake: Lake, fake: FakeSpotify, polled: tuple[Settings, SpotifyClient]
) -> None:
    live, client = polled
    off = fetch_features(lake, live.model_copy(update={"reccobeats_url": None}), client)
    assert "off" in off.skipped["reccobeats"] and off.missing == 5
    assert fake.count("/reccobeats") == 0
    fake.reccobeats_missing = {TRACKS[1]}
    partial = fetch_features(lake, live, client)
    assert partial.found == {"reccobeats": 4} and partial.missing == 1
    assert TRACKS[1] not in features(lake)  # a miss is not recorded as "no features"
    fake.reccobeats_missing = set()
    assert fetch_features(lake, live, client).found == {"reccobeats": 1}


def test_reccobeats_trouble_backs_off_and_stores_nothing(
    lake: Lake, fake: FakeSpotify, polled: tuple[Settings, SpotifyClient]
) -> None:
    live, client = polled
    fake.fault("/reccobeats", status=500, times=None)
    with pytest.raises(retry.ServiceError, match="reccobeats kept failing"):
        fetch_features(lake, live, client)
    assert fake.count("/reccobeats") == 4 and not lake.exists("my_tracks_features_bronze")
