"""poll: recently-played into Bronze against the fake Spotify; no play lost or doubled."""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from conftest import API_SAMPLES
from spotify_analytics.cli import app
from spotify_analytics.fake_spotify import FakeSpotify, spotify_id
from spotify_analytics.lake import Lake
from spotify_analytics.settings import Settings
from spotify_analytics.spotify import SpotifyClient, poll_user
from spotify_analytics.spotify.auth import TokenCache, token_path
from spotify_analytics.spotify.poll import play_rows, to_ms
from spotify_analytics.spotify.state import LiveState
from spotify_analytics.spotify.tracks import fetch_tracks

NOW = 1_763_700_000_000
CONTRACT = [
    "user_id",
    "played_at",
    "track_id",
    "track_name",
    "artist_name",
    "artists",
    "album_name",
    "duration_ms",
]


@pytest.fixture(scope="module")
def server() -> Iterator[FakeSpotify]:
    with FakeSpotify(now_ms=NOW) as fake:
        yield fake


@pytest.fixture
def fake(server: FakeSpotify) -> FakeSpotify:
    server.reset()
    server.now_ms = NOW
    return server


def point_at(settings: Settings, fake: FakeSpotify) -> Settings:
    return settings.model_copy(
        update={
            "spotify_client_id": fake.client_id,
            "spotify_api_url": fake.api_url,
            "spotify_accounts_url": fake.accounts_url,
        }
    )


def log_in(lake: Lake, fake: FakeSpotify, user: str = "ana", account: str = "fake-account") -> None:
    TokenCache(token_path(lake, user)).save_token_to_cache(fake.grant(account))


def env_for(live: Settings) -> dict[str, str]:
    return {
        "SPOTIFY_ANALYTICS_LAKE": str(live.lake),
        "SPOTIFY_CLIENT_ID": live.spotify_client_id or "",
        "SPOTIFY_API_URL": live.spotify_api_url,
        "SPOTIFY_ACCOUNTS_URL": live.spotify_accounts_url,
    }


def stored_keys(lake: Lake) -> list[tuple[str, int, str]]:
    rows = lake.read("listening_history_bronze", columns=["user_id", "played_at", "track_id"])
    return [(r["user_id"], to_ms(r["played_at"]), r["track_id"]) for r in rows.to_pylist()]


def test_sample_items_become_contract_rows() -> None:
    sample = json.loads((API_SAMPLES / "recently-played.spotify-web-api-java.json").read_text())
    rows = play_rows("ana", sample["items"], "b1")
    assert len(rows) == 2
    first = rows[0]
    assert set(CONTRACT) <= set(first)
    assert to_ms(first["played_at"]) == 1695397413750
    assert first["artist_name"] == "Maceo Plex" and first["artists"] == "Maceo Plex;Gabriel Ananda"
    assert first["context_type"] is None and first["duration_ms"] > 0


def test_overlapping_polls_add_nothing(lake: Lake, settings: Settings, fake: FakeSpotify) -> None:
    live = point_at(settings, fake)
    log_in(lake, fake)
    fake.add_plays((NOW - n * 240_000, spotify_id(f"t{n % 9}")) for n in range(30))
    client = SpotifyClient(lake, live, "ana")
    first = poll_user(lake, live, "ana", client)
    again = poll_user(lake, live, "ana", client)
    assert (first.items, first.new, first.inserted) == (30, 30, 30)
    assert (again.items, again.new, again.inserted) == (30, 0, 0)
    assert LiveState(lake).cursor_ms("ana") == NOW
    table = lake.read("listening_history_bronze")
    assert set(CONTRACT) <= set(table.column_names) and table.num_rows == 30
    assert table.column("_source").unique().to_pylist() == ["spotify_api"]
    assert [r["user_id"] for r in lake.read("users").to_pylist()] == ["ana"]


def test_full_window_is_reported_as_possible_gap(
    lake: Lake, settings: Settings, fake: FakeSpotify
) -> None:
    live = point_at(settings, fake)
    log_in(lake, fake)
    fake.add_plays((NOW - 100 * 60_000 + n * 60_000, spotify_id(f"t{n % 5}")) for n in range(10))
    fake.now_ms = NOW - 90 * 60_000
    runner = CliRunner()
    assert runner.invoke(app, ["poll", "--user", "ana"], env=env_for(live)).exit_code == 0
    fake.add_plays((NOW - 80 * 60_000 + n * 60_000, spotify_id(f"u{n % 5}")) for n in range(70))
    fake.now_ms = NOW
    result = runner.invoke(app, ["poll", "--user", "ana"], env=env_for(live))
    assert result.exit_code == 0, result.output
    assert "warning:" in result.output and "may be missing" in result.output
    assert LiveState(lake).user("ana")["last_poll"]["warning"].startswith("user ana: all 50")
    assert lake.count("listening_history_bronze") == 60  # 20 of the 70 were never shown


@hypothesis_settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    bursts=st.lists(
        st.lists(st.integers(min_value=1, max_value=400_000), max_size=80),  # ms between plays
        min_size=1,
        max_size=4,
    ),
    repeat_tracks=st.integers(min_value=1, max_value=60),
)
def test_polls_never_lose_or_double_a_play_the_window_showed(
    server: FakeSpotify, settings: Settings, bursts: list[list[int]], repeat_tracks: int
) -> None:
    server.reset()
    with tempfile.TemporaryDirectory() as folder:
        lake = Lake.open(Path(folder) / "lake", create=True)
        live = point_at(settings.model_copy(update={"lake": lake.root}), server)
        log_in(lake, server)
        client = SpotifyClient(lake, live, "ana")
        clock, played, shown, n = NOW, [], set(), 0
        reported_gaps, first_seen = [], None
        for burst in bursts:
            previous_cursor = LiveState(lake).cursor_ms("ana")
            for gap in burst:
                clock += gap
                played.append((clock, spotify_id(f"t{n % repeat_tracks}")))
                n += 1
            server.add_plays(played[len(played) - len(burst) :])
            server.now_ms = clock
            window = sorted(played)[-50:]
            shown.update(("ana", ms, track) for ms, track in window)
            first_seen = first_seen or (window[0][0] if window else None)
            report = poll_user(lake, live, "ana", client)
            new = [p for p in window if previous_cursor is None or p[0] > previous_cursor]
            assert (report.warning is not None) == (previous_cursor is not None and len(new) == 50)
            if report.warning:
                reported_gaps.append((previous_cursor, window[0][0]))
        keys = stored_keys(lake)
        assert len(keys) == len(set(keys))  # nothing doubled
        assert set(keys) == shown  # nothing Spotify showed was lost
        for _, ms, _ in {("ana", ms, t) for ms, t in played} - shown:
            # a play Spotify never showed is older than the first poll, or in a reported gap
            assert ms < first_seen or any(low < ms < high for low, high in reported_gaps)


def test_tracks_are_looked_up_once_and_failures_retried(
    lake: Lake, settings: Settings, fake: FakeSpotify
) -> None:
    live = point_at(settings, fake)
    log_in(lake, fake)
    fake.add_plays((NOW - n * 240_000, spotify_id(f"t{n % 5}")) for n in range(12))
    fake.unknown_tracks.add(spotify_id("t3"))
    client = SpotifyClient(lake, live, "ana")
    poll_user(lake, live, "ana", client)
    first = fetch_tracks(lake, client)
    assert (first.wanted, first.fetched, first.not_found) == (5, 4, [spotify_id("t3")])
    assert fake.count("/v1/tracks/") == 5
    fake.unknown_tracks.clear()
    second = fetch_tracks(lake, client)
    assert (second.wanted, second.fetched) == (1, 1)  # the failed one is asked again
    assert fake.count("/v1/tracks/") == 6
    third = fetch_tracks(lake, client)
    assert third.wanted == 0 and fake.count("/v1/tracks/") == 6  # never twice
    rows = {r["track_id"]: r for r in lake.read("tracks_bronze").to_pylist()}
    assert len(rows) == 5 and rows[spotify_id("t0")]["isrc"].startswith("QZ")


def test_poll_logs_warning_through_logging(
    lake: Lake, settings: Settings, fake: FakeSpotify, caplog: pytest.LogCaptureFixture
) -> None:
    live = point_at(settings, fake)
    log_in(lake, fake)
    fake.add_plays((NOW - n * 1000, spotify_id(f"t{n}")) for n in range(60))
    LiveState(lake).record_poll("ana", cursor_ms=NOW - 3_600_000, summary={})
    with caplog.at_level(logging.WARNING):
        report = poll_user(lake, live, "ana", SpotifyClient(lake, live, "ana"))
    assert report.warning and report.warning in caplog.text
