"""Every fault: its message, its exit code, and stored tables left as they were."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from spotify_analytics.cli import app
from spotify_analytics.fake_spotify import FakeSpotify, spotify_id
from spotify_analytics.lake import Lake
from spotify_analytics.settings import Settings
from spotify_analytics.spotify import retry
from spotify_analytics.spotify.auth import TokenCache, token_path
from spotify_analytics.spotify.state import LiveState

NOW = 1_763_700_000_000
RECENT = "/v1/me/player/recently-played"
TABLES = ("listening_history_bronze", "tracks_bronze", "my_tracks_features_bronze", "users")


@pytest.fixture(scope="module")
def server() -> Iterator[FakeSpotify]:
    with FakeSpotify(now_ms=NOW) as fake:
        yield fake


@pytest.fixture
def fake(server: FakeSpotify) -> FakeSpotify:
    server.reset()
    server.now_ms = NOW - 3_600_000
    server.add_plays((NOW - n * 600_000, spotify_id(f"t{n % 4}")) for n in range(12))
    return server


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retry, "DEFAULT_POLICY", retry.RetryPolicy(base_s=0.01, cap_s=0.05))


@pytest.fixture
def env(lake: Lake, settings: Settings, fake: FakeSpotify) -> dict[str, str]:
    """A lake with user ana logged in and polled once; the timeline then moves on."""
    TokenCache(token_path(lake, "ana")).save_token_to_cache(fake.grant())
    variables = {
        "SPOTIFY_ANALYTICS_LAKE": str(lake.root),
        "SPOTIFY_CLIENT_ID": fake.client_id,
        "SPOTIFY_API_URL": fake.api_url,
        "SPOTIFY_ACCOUNTS_URL": fake.accounts_url,
        "SPOTIFY_ANALYTICS_TIMEZONE": "UTC",
    }
    assert poll(variables).exit_code == 0
    fake.now_ms = NOW
    fake.requests.clear()
    return variables


def poll(env: dict[str, str], *extra: str):  # noqa: ANN201 - click's Result
    return CliRunner().invoke(app, ["poll", "--user", "ana", *extra], env=env)


def snapshot(lake: Lake) -> tuple:
    versions = tuple(lake.version(name) for name in TABLES)
    return versions, LiveState(lake).cursor_ms("ana")


@pytest.mark.parametrize("retry_after", [7293, 74214])
def test_long_retry_after_stores_a_cooldown_and_exits_75(
    lake: Lake, fake: FakeSpotify, env: dict[str, str], retry_after: int
) -> None:
    before = snapshot(lake)
    fake.fault(RECENT, status=429, retry_after=retry_after)
    result = poll(env)
    assert result.exit_code == 75, result.output
    assert f"Retry-After is {retry_after} s" in result.output and "cooling down" in result.output
    assert snapshot(lake) == before
    cooldown = LiveState(lake).cooldown("spotify_api")
    assert cooldown is not None and abs(cooldown.remaining_s() - retry_after) < 30
    sent = len(fake.requests)
    refused = poll(env)  # the next run refuses before sending anything
    assert refused.exit_code == 75 and "left" in refused.output
    assert len(fake.requests) == sent and snapshot(lake) == before
    with LiveState(lake).update() as data:  # time passes: the cooldown is over
        data["cooldowns"]["spotify_api"]["until_epoch"] = time.time() - 1
    resumed = poll(env)
    assert resumed.exit_code == 0, resumed.output
    assert LiveState(lake).cursor_ms("ana") == NOW


def test_short_retry_after_is_waited_out(lake: Lake, fake: FakeSpotify, env: dict) -> None:
    fake.fault(RECENT, status=429, retry_after=1)
    started = time.monotonic()
    result = poll(env)
    assert result.exit_code == 0, result.output
    assert time.monotonic() - started >= 1.0
    assert fake.count(RECENT) == 2 and LiveState(lake).cursor_ms("ana") == NOW


@pytest.mark.parametrize(
    ("fault", "extra_env", "message"),
    [
        ({"status": 500, "times": None}, {}, "kept failing (HTTP 500"),
        ({"status": 503, "times": None}, {}, "kept failing (HTTP 503"),
        (
            {"delay_s": 0.6, "times": None},
            {"SPOTIFY_ANALYTICS_HTTP_TIMEOUT_S": "0.2"},
            "no answer within 0.2 s",
        ),
        ({"truncate": True, "times": None}, {}, "not complete JSON"),
    ],
)
def test_server_trouble_backs_off_then_exits_69(
    lake: Lake, fake: FakeSpotify, env: dict, fault: dict, extra_env: dict, message: str
) -> None:
    before = snapshot(lake)
    fake.fault(RECENT, **fault)
    result = poll({**env, **extra_env})
    assert result.exit_code == 69, result.output
    assert message in result.output and "after 4 attempts" in result.output
    assert fake.count(RECENT) == 4  # bounded
    assert snapshot(lake) == before
    assert LiveState(lake).user("ana")["errors"]["poll"]["exit_code"] == 69


@pytest.mark.parametrize("fault", [{"status": 500, "times": 2}, {"truncate": True, "times": 1}])
def test_transient_trouble_recovers(lake: Lake, fake: FakeSpotify, env: dict, fault: dict) -> None:
    fake.fault(RECENT, **fault)
    result = poll(env)
    assert result.exit_code == 0, result.output
    assert LiveState(lake).cursor_ms("ana") == NOW


def test_refused_connection_exits_69(lake: Lake, env: dict) -> None:
    before = snapshot(lake)
    result = poll({**env, "SPOTIFY_API_URL": "http://127.0.0.1:9/v1/"})
    assert result.exit_code == 69 and "connection failed" in result.output
    assert snapshot(lake) == before


def test_401_refreshes_once(lake: Lake, fake: FakeSpotify, env: dict) -> None:
    old = json.loads(token_path(lake, "ana").read_text())["access_token"]
    fake.fault(RECENT, status=401)
    assert poll(env).exit_code == 0
    assert json.loads(token_path(lake, "ana").read_text())["access_token"] != old
    assert fake.count("/api/token") == 1


def test_401_after_refresh_exits_77(lake: Lake, fake: FakeSpotify, env: dict) -> None:
    before = snapshot(lake)
    fake.fault(RECENT, status=401, times=None)
    result = poll(env)
    assert result.exit_code == 77
    assert "even after a refresh" in result.output and "login" in result.output
    assert fake.count("/api/token") == 1 and snapshot(lake) == before


def test_403_on_history_is_an_access_problem(lake: Lake, fake: FakeSpotify, env: dict) -> None:
    before = snapshot(lake)
    fake.fault(RECENT, status=403)
    result = poll(env)
    assert result.exit_code == 77 and "development mode" in result.output
    assert snapshot(lake) == before


def test_not_logged_in_exits_77(lake: Lake, env: dict) -> None:
    result = CliRunner().invoke(app, ["poll", "--user", "bo"], env=env)
    assert result.exit_code == 77 and "login --user bo" in result.output


def test_cooldown_during_track_lookups_keeps_history_and_records_step(
    lake: Lake, fake: FakeSpotify, env: dict
) -> None:
    fake.add_plays([(NOW - 1000, spotify_id("new-track"))])
    fake.fault("/v1/tracks/", status=429, retry_after=7293)
    result = poll(env)
    assert result.exit_code == 75
    assert LiveState(lake).cursor_ms("ana") == NOW  # the poll itself landed
    errors = LiveState(lake).user("ana")["errors"]
    assert list(errors) == ["tracks"] and errors["tracks"]["exit_code"] == 75
