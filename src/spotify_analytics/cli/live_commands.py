"""Live commands: login, poll, schedule."""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from ..errors import AuthError, SpotifyAnalyticsError
from ..lake import Lake
from ..users import DEFAULT_USER
from .app import JsonOption, LakeOption, app, err, handle_errors, out, print_json, settings_for

if TYPE_CHECKING:  # the Spotify client (requests, spotipy) loads only for these commands
    from ..schedule import TickReport
    from ..spotify.live import UserRefresh

UserOption = Annotated[str, typer.Option("--user", help="Local user name in the lake.")]


class _LevelFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"{record.levelname.lower()}: {record.getMessage()}"


@contextlib.contextmanager
def log_to_stderr() -> Iterator[None]:
    """Warnings and errors of live ingestion (retries, gaps, failed steps) on stderr."""
    from ..spotify.redact import LOGGER, install_log_filter

    install_log_filter()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_LevelFormatter())
    handler.setLevel(logging.WARNING)
    logger = logging.getLogger(LOGGER)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


@app.command()
@handle_errors
def login(
    user: UserOption = DEFAULT_USER,
    headless: Annotated[
        bool, typer.Option("--headless", help="Print the URL; paste the redirect URL back.")
    ] = False,
    redirect_uri: Annotated[
        str | None, typer.Option("--redirect-uri", help="Default http://127.0.0.1:8888/callback.")
    ] = None,
    lake: LakeOption = None,
) -> None:
    """Log a Spotify account in (OAuth with PKCE); tokens are cached 0600 in the lake."""
    from ..spotify import login as live_login
    from ..spotify.redact import install_log_filter

    settings = settings_for(lake, spotify_redirect_uri=redirect_uri)
    the_lake = Lake.open(settings.lake, create=True)
    install_log_filter()
    summary = live_login(
        the_lake,
        settings,
        user,
        headless=headless,
        say=typer.echo,
        read_line=lambda prompt: input(prompt),
    )
    err.print(f"logged in as user {summary['user']}; next: `spotify-analytics poll`")


@app.command()
@handle_errors
def poll(
    user: Annotated[
        list[str] | None, typer.Option("--user", help="Poll this user (default: all logged in).")
    ] = None,
    lake: LakeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Read recently-played (plus track metadata and audio features) into Bronze."""
    from ..spotify import logged_in_users, refresh_user
    from ..spotify.redact import redact

    settings = settings_for(lake)
    the_lake = Lake.open(settings.lake)
    users = user or logged_in_users(the_lake)
    if not users:
        raise AuthError("no user is logged in; run `spotify-analytics login --user NAME` first")
    failures: list[SpotifyAnalyticsError] = []
    results = []
    with log_to_stderr():
        for name in users:
            try:
                results.append(refresh_user(the_lake, settings, name))
            except SpotifyAnalyticsError as error:
                if len(users) == 1:
                    raise
                failures.append(error)
                err.print(f"[bold red]error:[/] {escape(redact(str(error)))}", highlight=False)
                continue
            if not as_json:
                _show_refresh(results[-1])
    if as_json:
        print_json([_refresh_dict(r) for r in results])
    if failures:
        raise typer.Exit(failures[0].exit_code)


def _show_refresh(result: UserRefresh) -> None:
    poll_report = result.poll
    if poll_report is not None:
        out.print(
            f"{result.user}: {poll_report.items} plays read, {poll_report.new} new, "
            f"{poll_report.inserted} stored",
            highlight=False,
        )
    if result.tracks is not None:
        out.print(
            f"  tracks: {result.tracks.fetched} of {result.tracks.wanted} looked up",
            highlight=False,
        )
    if result.features is not None:
        found = ", ".join(f"{k} {v}" for k, v in result.features.found.items()) or "none new"
        out.print(
            f"  audio features: {found}; {result.features.missing} still missing", highlight=False
        )
        for provider, reason in result.features.skipped.items():
            err.print(f"  [dim]{provider} skipped: {escape(reason)}[/]", highlight=False)


def _refresh_dict(result: UserRefresh) -> dict:
    return {
        "user": result.user,
        "poll": result.poll.summary() if result.poll else None,
        "tracks": vars(result.tracks) if result.tracks else None,
        "features": vars(result.features) if result.features else None,
    }


@app.command()
@handle_errors
def schedule(
    every: Annotated[str, typer.Option("--every", help="Interval: 20m, 1h, 90s.")] = "20m",
    once: Annotated[bool, typer.Option("--once", help="One pass, then exit (for cron).")] = False,
    max_runs: Annotated[int | None, typer.Option("--max-runs", min=1)] = None,
    vacuum_every: Annotated[
        str,
        typer.Option(
            "--vacuum-every",
            help="Vacuum after a pass when the last vacuum is this old: 1d, 12h; or off.",
        ),
    ] = "1d",
    keep_hours: Annotated[
        int,
        typer.Option("--keep-hours", min=0, help="A vacuum keeps the versions of these hours."),
    ] = 168,
    lake: LakeOption = None,
) -> None:
    """Poll every logged-in user, then an incremental run; repeat. SIGTERM stops cleanly."""
    from ..schedule import parse_every, parse_vacuum_every
    from ..schedule import schedule as run_schedule

    settings = settings_for(lake)
    the_lake = Lake.open(settings.lake)
    every_s = parse_every(every)
    vacuum_every_s = parse_vacuum_every(vacuum_every)
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        with log_to_stderr():
            reports = run_schedule(
                the_lake,
                settings,
                every_s=every_s,
                once=once,
                max_runs=max_runs,
                stop=stop,
                on_tick=_show_tick,
                vacuum_every_s=vacuum_every_s,
                keep_hours=keep_hours,
            )
    finally:
        signal.signal(signal.SIGTERM, previous)
    if stop.is_set():
        err.print("stopped (SIGTERM); every table is at its last committed version")
        return
    if once and reports and reports[-1].exit_code:
        raise typer.Exit(reports[-1].exit_code)


def _show_tick(number: int, report: TickReport) -> None:
    if not report.refreshed and not any(f.user for f in report.failures):
        err.print(
            f"run {number}: no user is logged in (`spotify-analytics login`); "
            "only the pipeline ran",
            highlight=False,
        )
    for user, refreshed in report.refreshed.items():
        poll_report = refreshed.poll
        if poll_report is not None:
            err.print(f"run {number}: {user}: {poll_report.new} new plays", highlight=False)
    if report.vacuumed is not None:
        files = sum(entry.files for entry in report.vacuumed)
        freed = sum(entry.bytes for entry in report.vacuumed) / 1e6
        err.print(f"run {number}: vacuum deleted {files} file(s), {freed:,.1f} MB", highlight=False)
    err.print(
        f"run {number}: {len(report.built)} tables built, {len(report.failures)} step(s) failed",
        highlight=False,
    )
