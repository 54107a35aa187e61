"""login: PKCE against the fake Spotify, browser and headless; token cache 0600; no leaks."""

from __future__ import annotations

import json
import logging
import os
import socket
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from pydantic import SecretStr
from typer.testing import CliRunner

from spotify_analytics.cli import app
from spotify_analytics.errors import AuthError, InputError
from spotify_analytics.fake_spotify import FakeSpotify, spotify_id
from spotify_analytics.lake import Lake
from spotify_analytics.settings import Settings
from spotify_analytics.spotify import login, refresh_user
from spotify_analytics.spotify.auth import token_path
from spotify_analytics.spotify.login import check_redirect_uri
from spotify_analytics.status import lake_status

SECRET = "client-secret-never-shown-0123456789"
NOW = 1_763_700_000_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server() -> Iterator[FakeSpotify]:
    with FakeSpotify(now_ms=NOW) as fake:
        yield fake


@pytest.fixture
def fake(server: FakeSpotify) -> FakeSpotify:
    server.reset()
    server.add_plays((NOW - n * 300_000, spotify_id(f"t{n % 4}")) for n in range(6))
    return server


@pytest.fixture
def live(settings: Settings, fake: FakeSpotify) -> Settings:
    return settings.model_copy(
        update={
            "spotify_client_id": fake.client_id,
            "spotify_client_secret": SecretStr(SECRET),
            "spotify_api_url": fake.api_url,
            "spotify_accounts_url": fake.accounts_url,
            "spotify_redirect_uri": f"http://127.0.0.1:{free_port()}/callback",
        }
    )


def env_for(live: Settings) -> dict[str, str]:
    return {
        "SPOTIFY_ANALYTICS_LAKE": str(live.lake),
        "SPOTIFY_CLIENT_ID": live.spotify_client_id or "",
        "SPOTIFY_CLIENT_SECRET": SECRET,
        "SPOTIFY_API_URL": live.spotify_api_url,
        "SPOTIFY_ACCOUNTS_URL": live.spotify_accounts_url,
        "SPOTIFY_REDIRECT_URI": live.spotify_redirect_uri,
    }


def headless_login(lake: Lake, live: Settings, fake: FakeSpotify, user: str = "ana") -> dict:
    shown: list[str] = []
    return login(
        lake,
        live,
        user,
        headless=True,
        say=shown.append,
        read_line=lambda prompt: fake.consent(shown[-1].split()[-1]),
    )


def test_headless_login_caches_tokens_0600(lake: Lake, live: Settings, fake: FakeSpotify) -> None:
    summary = headless_login(lake, live, fake)
    path = token_path(lake, "ana")
    assert summary["token_file"] == str(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    cached = json.loads(path.read_text())
    assert cached["access_token"] in fake.issued_tokens()
    assert cached["scope"] == "user-read-recently-played"
    assert [row["user_id"] for row in lake.read("users").to_pylist()] == ["ana"]
    assert lake_status(lake)["live"]["users"][0]["logged_in"] is True


def test_browser_login_receives_the_callback(lake: Lake, live: Settings, fake: FakeSpotify) -> None:
    opened: list[str] = []

    def browser(url: str) -> None:  # a browser: follows /authorize to the callback server
        opened.append(url)
        threading.Thread(target=requests.get, args=(url,), kwargs={"timeout": 5}).start()

    login(lake, live, "bo", open_url=browser, say=lambda text: None, timeout_s=10)
    assert opened and "code_challenge_method=S256" in opened[0] and "state=" in opened[0]
    assert token_path(lake, "bo").exists()


def test_state_mismatch_and_refusal_store_nothing(
    lake: Lake, live: Settings, fake: FakeSpotify
) -> None:
    shown: list[str] = []

    def forged(prompt: str) -> str:
        return fake.consent(shown[-1].split()[-1]).replace("state=", "state=x")

    def denied(prompt: str) -> str:
        state = shown[-1].split("state=")[1].split()[0]
        return f"http://127.0.0.1/callback?error=access_denied&state={state}"

    with pytest.raises(AuthError, match="state does not match") as caught:
        login(lake, live, "ana", headless=True, say=shown.append, read_line=forged)
    assert caught.value.exit_code == 77
    with pytest.raises(AuthError, match="access_denied"):
        login(lake, live, "ana", headless=True, say=shown.append, read_line=denied)
    assert not token_path(lake, "ana").exists()
    assert not lake.exists("users")


def test_redirect_uri_rules() -> None:
    assert check_redirect_uri("http://127.0.0.1:8888/callback", headless=False) == (
        "127.0.0.1",
        8888,
        "/callback",
    )
    with pytest.raises(InputError, match="localhost"):
        check_redirect_uri("http://localhost:8888/callback", headless=False)
    with pytest.raises(InputError, match="loopback"):
        check_redirect_uri("http://192.168.1.5:8888/callback", headless=True)
    assert check_redirect_uri("https://example.org/cb", headless=True)[0] == "example.org"
    with pytest.raises(InputError, match="--headless"):
        check_redirect_uri("https://example.org/cb", headless=False)


def test_unsafe_user_name_and_missing_client_id(lake: Lake, live: Settings) -> None:
    with pytest.raises(InputError, match="letters, digits"):
        token_path(lake, "../evil")
    with pytest.raises(AuthError, match="SPOTIFY_CLIENT_ID"):
        login(lake, live.model_copy(update={"spotify_client_id": None}), "ana", headless=True)


@pytest.mark.parametrize(
    ("script", "consent_age_days", "expected"),
    [
        ("revoke_refresh_tokens", 10, "revoked or has expired"),
        ("expire_refresh_tokens", 200, "6 months after consent"),
    ],
)
def test_dead_refresh_token_asks_for_login_without_prompting(
    lake: Lake,
    live: Settings,
    fake: FakeSpotify,
    script: str,
    consent_age_days: int,
    expected: str,
) -> None:
    headless_login(lake, live, fake)
    path = token_path(lake, "ana")
    cached = json.loads(path.read_text())
    cached["expires_at"] = 0  # the access token is stale: a refresh is due
    cached["consented_at"] -= consent_age_days * 86400
    path.write_text(json.dumps(cached))
    getattr(fake, script)()
    result = CliRunner().invoke(app, ["poll", "--user", "ana"], env=env_for(live), input="")
    assert result.exit_code == 77, result.output
    assert expected in result.output and "login --user ana" in result.output
    assert "Paste" not in result.output and "Enter the URL" not in result.output
    assert not lake.exists("listening_history_bronze")


def test_no_secret_or_token_in_output_logs_or_state(
    lake: Lake,
    live: Settings,
    fake: FakeSpotify,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    headless_login(lake, live, fake)
    fake.fault("/v1/me/player/recently-played", status=401)  # forces a refresh
    fake.fault("/v1/tracks", status=500)
    refresh_user(lake, live, "ana")
    fake.expire_access_tokens()
    fake.fault("/v1/me/player/recently-played", status=401, times=None)
    runner = CliRunner()
    failed = runner.invoke(app, ["poll", "--user", "ana"], env=env_for(live))
    assert failed.exit_code == 77
    status = runner.invoke(app, ["status", "--json"], env=env_for(live))
    captured = capfd.readouterr()
    state_files = [
        p for p in (lake.root / "_state").rglob("*") if p.is_file() and "tokens" not in p.parts
    ]
    seen = "\n".join(
        [
            caplog.text,
            failed.output,
            status.output,
            captured.out,
            captured.err,
            *(p.read_text(errors="replace") for p in state_files),
        ]
    )
    secrets = [SECRET, *fake.issued_tokens()]
    assert len(secrets) >= 5 and "Bearer" in caplog.text  # spotipy did log its headers
    assert [s for s in secrets if s in seen] == []


def test_cli_headless_login_in_a_real_process(live: Settings, fake: FakeSpotify) -> None:
    env = {**os.environ, **env_for(live)}
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from spotify_analytics.cli import main; main()",
            "login",
            "--user",
            "cy",
            "--headless",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stdout is not None and process.stdin is not None
    url = ""
    while not url:
        line = process.stdout.readline()
        assert line, process.stderr.read() if process.stderr else "no output"
        url = line.strip() if line.startswith("http") else ""
    process.stdin.write(fake.consent(url) + "\n")
    process.stdin.flush()
    _, errors = process.communicate(timeout=60)
    assert process.returncode == 0, errors
    assert "logged in as user cy" in errors
    assert stat.S_IMODE(token_path(Lake(live.lake), "cy").stat().st_mode) == 0o600
    assert Path(live.lake, "_state", "spotify.json").exists()


def test_expired_access_token_refreshes_and_cache_stays_0600(
    lake: Lake, live: Settings, fake: FakeSpotify
) -> None:
    headless_login(lake, live, fake)
    path = token_path(lake, "ana")
    cached = json.loads(path.read_text())
    cached["expires_at"] = 0
    path.write_text(json.dumps(cached))
    os.chmod(path, 0o644)  # loosened by hand: the next write tightens it again
    fake.requests.clear()
    refresh_user(lake, live, "ana")
    assert fake.count("/api/token") == 1
    renewed = json.loads(path.read_text())
    assert renewed["access_token"] != cached["access_token"]
    assert renewed["refresh_token"] != cached["refresh_token"]  # rotated, and kept
    assert renewed["consented_at"] == cached["consented_at"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
