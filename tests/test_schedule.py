"""schedule: poll every logged-in user then run; failures reported and stored; lock; SIGTERM."""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from spotify_analytics import pipeline
from spotify_analytics.cli import app
from spotify_analytics.errors import InputError, LakeError
from spotify_analytics.fake_spotify import FakeSpotify, spotify_id
from spotify_analytics.lake import Lake
from spotify_analytics.schedule import parse_every, parse_vacuum_every, schedule, tick
from spotify_analytics.settings import Settings
from spotify_analytics.spotify import retry
from spotify_analytics.spotify.auth import TokenCache, token_path
from spotify_analytics.spotify.state import LiveState
from spotify_analytics.vacuum import last_vacuum, vacuum_lake

NOW = 1_763_700_000_000
DOCS = Path(__file__).resolve().parents[1] / "docs" / "schedule.md"


@pytest.fixture(scope="module")
def server() -> Iterator[FakeSpotify]:
    with FakeSpotify(now_ms=NOW) as fake:
        yield fake


@pytest.fixture
def fake(server: FakeSpotify) -> FakeSpotify:
    server.reset()
    server.add_plays(((NOW - n * 300_000, spotify_id(f"a{n % 3}")) for n in range(6)), "acc-ana")
    server.add_plays(((NOW - n * 200_000, spotify_id(f"b{n % 2}")) for n in range(4)), "acc-bo")
    return server


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retry, "DEFAULT_POLICY", retry.RetryPolicy(base_s=0.01, cap_s=0.05))


@pytest.fixture
def live(lake: Lake, settings: Settings, fake: FakeSpotify) -> Settings:
    for user in ("ana", "bo"):
        TokenCache(token_path(lake, user)).save_token_to_cache(fake.grant(f"acc-{user}"))
    return settings.model_copy(
        update={
            "spotify_client_id": fake.client_id,
            "spotify_api_url": fake.api_url,
            "spotify_accounts_url": fake.accounts_url,
        }
    )


class Runs:
    """A pipeline stand-in that counts calls and can be told to fail."""

    def __init__(self) -> None:
        self.calls = 0
        self.fail = False

    def __call__(self, lake: Lake, settings: Settings) -> None:
        self.calls += 1
        if self.fail:
            raise RuntimeError("model exploded")


def test_parse_every() -> None:
    assert [parse_every(t) for t in ("20m", "1h", "90s", "5", "0.5m")] == [1200, 3600, 90, 300, 30]
    with pytest.raises(InputError, match="--every"):
        parse_every("soon")
    vacuum_every = [parse_vacuum_every(t) for t in ("1d", "12h", "off", " OFF ")]
    assert vacuum_every == [86400, 43200, None, None]
    with pytest.raises(InputError, match="--vacuum-every 'never'"):
        parse_vacuum_every("never")


def test_tick_polls_every_logged_in_user_then_runs(lake: Lake, live: Settings) -> None:
    runs = Runs()
    report = tick(lake, live, run_pipeline=runs)
    assert report.failures == [] and runs.calls == 1
    assert {u: r.poll.inserted for u, r in report.refreshed.items()} == {"ana": 6, "bo": 4}
    users = lake.read("listening_history_bronze", columns=["user_id"]).column(0).to_pylist()
    assert sorted(set(users)) == ["ana", "bo"]


def test_failures_are_stored_reported_and_survived(
    lake: Lake, live: Settings, fake: FakeSpotify
) -> None:
    runs = Runs()
    runs.fail = True
    fake.fault("/v1/me/player/recently-played", status=403)  # bo is polled second: ana fails
    reports = schedule(lake, live, every_s=0.01, max_runs=2, run_pipeline=runs)
    assert len(reports) == 2 and runs.calls == 2  # the loop went on
    first = {(f.user, f.step, f.exit_code) for f in reports[0].failures}
    assert first == {("ana", "poll", 77), (None, "run", 1)}
    state = LiveState(lake).read()
    assert state["errors"]["run"]["message"] == "RuntimeError: model exploded"
    assert "errors" not in state["users"]["ana"]  # the second tick's poll worked: cleared
    assert [f.step for f in reports[1].failures] == ["run"]
    runs.fail = False
    assert tick(lake, live, run_pipeline=runs).failures == []
    assert "run" not in LiveState(lake).read().get("errors", {})


def _hold_lock(root: str, ready: multiprocessing.Event, release: multiprocessing.Event) -> None:
    with Lake(root).lock("a manual run"):
        ready.set()
        release.wait(20)


def test_a_held_lock_skips_the_tick_and_says_so(
    lake: Lake, live: Settings, fake: FakeSpotify
) -> None:
    ready, release = multiprocessing.Event(), multiprocessing.Event()
    holder = multiprocessing.Process(target=_hold_lock, args=(str(lake.root), ready, release))
    holder.start()
    try:
        assert ready.wait(20)
        runs = Runs()
        report = tick(lake, live, run_pipeline=runs)
    finally:
        release.set()
        holder.join(20)
    assert [(f.step, f.exit_code) for f in report.failures] == [("schedule", 3)]
    assert "busy" in report.failures[0].message and runs.calls == 0
    assert fake.count("/v1/") == 0
    assert LiveState(lake).read()["errors"]["schedule"]["exit_code"] == 3


def test_once_exits_with_the_failure_and_status_shows_it(
    lake: Lake, live: Settings, fake: FakeSpotify, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline, "run", Runs())
    fake.revoke_refresh_tokens()
    fake.expire_access_tokens()
    fake.fault("/v1/me/player/recently-played", status=401, times=None)
    env = {
        "SPOTIFY_ANALYTICS_LAKE": str(lake.root),
        "SPOTIFY_CLIENT_ID": fake.client_id,
        "SPOTIFY_API_URL": fake.api_url,
        "SPOTIFY_ACCOUNTS_URL": fake.accounts_url,
    }
    result = CliRunner().invoke(app, ["schedule", "--once"], env=env)
    assert result.exit_code == 77, result.output
    assert "poll (ana)" in result.output and "revoked" in result.output
    status = CliRunner().invoke(app, ["status", "--json"], env=env)
    assert '"exit_code": 77' in status.output and '"logged_in": true' in status.output


def test_tick_feeds_silver_plays(lake: Lake, live: Settings) -> None:
    def plays_only(the_lake: Lake, settings: Settings) -> object:
        return pipeline.run(the_lake, settings, select="plays")

    report = tick(lake, live, run_pipeline=plays_only)
    assert report.failures == [] and report.built == ["plays"]
    plays = lake.read("plays", columns=["user_id", "track_name"]).to_pylist()
    assert len(plays) == 10 and {p["user_id"] for p in plays} == {"ana", "bo"}


SCRIPT = """
import sys
from spotify_analytics import pipeline
pipeline.run = lambda lake, settings: print("run", flush=True)
from spotify_analytics.cli import main
sys.argv = ["spotify-analytics", "schedule", "--every", "1h", "--lake", sys.argv[1]]
main()
"""


def test_sigterm_stops_the_loop_cleanly(lake: Lake) -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(lake.root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "run"  # the first tick is done; now it waits
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    _, errors = process.communicate(timeout=30)
    assert process.returncode == 0, errors
    assert "stopped (SIGTERM)" in errors and time.monotonic() - started < 10


def test_docs_show_cron_and_systemd() -> None:
    text = DOCS.read_text()
    for needle in (
        "crontab",
        "schedule --once",
        "[Timer]",
        "OnCalendar",
        "[Service]",
        "KillSignal=SIGTERM",
        "75",
        "77",
    ):
        assert needle in text


def test_commands_in_the_docs_exist_with_their_options() -> None:
    runner = CliRunner()
    pattern = r"(?:^\s*|bin/)spotify-analytics ([a-z]+)([^\n#`]*)"
    lines = re.findall(pattern, DOCS.read_text(), re.M)
    assert {command for command, _ in lines} >= {"login", "poll", "schedule", "status"}
    for command, rest in lines:
        shown = runner.invoke(app, [command, "--help"], terminal_width=200)
        assert shown.exit_code == 0, command
        for option in re.findall(r"(--[a-z-]+)", rest):
            assert option in shown.output, f"{command} {option}"


class Rewrites:
    """A pipeline stand-in that rewrites one small table, replacing its file."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, lake: Lake, settings: Settings) -> None:
        self.calls += 1
        rows = pa.table({"user_id": ["ana"], "n": [self.calls]})
        lake.overwrite("gold/descriptive/top_genres", rows)


def _files(lake: Lake) -> set[Path]:
    return set(lake.path("gold/descriptive/top_genres").glob("*.parquet"))


def test_a_tick_vacuums_when_the_last_vacuum_is_older_than_vacuum_every(
    lake: Lake, settings: Settings
) -> None:
    rewrites = Rewrites()
    options = {"run_pipeline": rewrites, "vacuum_every_s": 3600, "keep_hours": 0}
    first = tick(lake, settings, **options)
    assert first.vacuumed == [] and last_vacuum(lake) is not None  # never vacuumed: due at once
    second = tick(lake, settings, **options)
    assert second.vacuumed is None and len(_files(lake)) == 2  # vacuumed an hour ago: not due
    record = lake.state_path("vacuum.json")
    data = json.loads(record.read_text())
    record.write_text(json.dumps({**data, "vacuumed_at": data["vacuumed_at"] - 7200}))
    third = tick(lake, settings, **options)
    assert [(v.table, v.files) for v in third.vacuumed] == [("top_genres", 2)]
    assert len(_files(lake)) == 1 and lake.read("top_genres").column("n").to_pylist() == [3]
    assert time.time() - last_vacuum(lake) < 60
    vacuum_lake(lake, 0)  # a vacuum by hand counts too
    tick(lake, settings, **options)
    assert tick(lake, settings, **options).vacuumed is None and len(_files(lake)) == 3
    never = tick(lake, settings, **{**options, "vacuum_every_s": None})
    assert never.vacuumed is None and rewrites.calls == 6


def test_a_failing_vacuum_is_reported_and_stored_and_the_run_still_happened(
    lake: Lake, settings: Settings
) -> None:
    rewrites = Rewrites()
    report = tick(lake, settings, run_pipeline=rewrites, keep_hours=-1)
    assert rewrites.calls == 1 and [(f.step, f.exit_code) for f in report.failures] == [
        ("vacuum", LakeError.exit_code)
    ]
    assert "keep hours" in LiveState(lake).read()["errors"]["vacuum"]["message"]
    assert tick(lake, settings, run_pipeline=rewrites).failures == []
    assert "errors" not in LiveState(lake).read()  # cleared once a vacuum worked


def test_schedule_once_vacuums_and_says_so(lake: Lake, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline, "run", Rewrites())
    env = {"SPOTIFY_ANALYTICS_LAKE": str(lake.root)}
    cli = CliRunner()
    off = cli.invoke(app, ["schedule", "--once", "--vacuum-every", "off"], env=env)
    assert off.exit_code == 0, off.output
    assert "vacuum" not in off.output and last_vacuum(lake) is None
    on = cli.invoke(app, ["schedule", "--once", "--keep-hours", "0"], env=env)
    assert on.exit_code == 0 and "run 1: vacuum deleted 1 file(s)" in on.output, on.output
    wrong = cli.invoke(app, ["schedule", "--once", "--vacuum-every", "weekly"], env=env)
    assert wrong.exit_code == InputError.exit_code and "--vacuum-every 'weekly'" in wrong.output
