"""``schedule``: every N minutes, poll each logged-in user, then an incremental run.

One tick holds the lake's lock, so two schedulers (or a scheduler and a manual
``run``) never overlap: the second reports the lock and tries again next tick.
Every failing step is logged and stored in ``_state/spotify.json`` (per user for
``poll``/``tracks``/``features``, lake-wide for ``run``, ``vacuum`` and
``schedule``); the loop goes on. A stop event (set by SIGTERM in the CLI) ends
the loop between ticks.

Every run rewrites the changed users' files and Delta keeps the replaced ones,
so a lake refreshed every 20 minutes grows without end unless vacuumed: a tick
also vacuums (``vacuum.py``) when the last vacuum, by a tick or by hand, is
older than ``vacuum_every_s`` (default a day; the time is kept in the lake, so
``--once`` from cron vacuums daily too).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .errors import InputError, LockedError, SpotifyAnalyticsError
from .lake import Lake
from .settings import Settings
from .spotify.auth import logged_in_users
from .spotify.live import UserRefresh, refresh_user
from .spotify.redact import LOGGER, redact
from .spotify.retry import RetryPolicy
from .spotify.state import LiveState
from .vacuum import DEFAULT_KEEP_HOURS, Vacuumed, last_vacuum, vacuum_lake

log = logging.getLogger(LOGGER)
_EVERY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
DEFAULT_VACUUM_EVERY_S = 86_400.0


def parse_every(text: str, option: str = "--every") -> float:
    """``20m``, ``1h``, ``90s``, ``1d`` (a bare number is minutes) as seconds."""
    match = _EVERY.match(text.lower())
    if not match or float(match.group(1)) <= 0:
        raise InputError(f"{option} {text!r}: give a positive duration like 20m, 1h or 90s")
    unit = {"s": 1, "m": 60, "h": 3600, "d": 86_400}[match.group(2) or "m"]
    return float(match.group(1)) * unit


def parse_vacuum_every(text: str) -> float | None:
    """``--vacuum-every``: a duration as for ``--every``, or ``off`` (None)."""
    if text.strip().lower() == "off":
        return None
    return parse_every(text, "--vacuum-every")


@dataclass
class Failure:
    user: str | None
    step: str
    message: str
    exit_code: int


@dataclass
class TickReport:
    refreshed: dict[str, UserRefresh] = field(default_factory=dict)
    built: list[str] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    vacuumed: list[Vacuumed] | None = None  # None: no vacuum was due

    @property
    def exit_code(self) -> int:
        return self.failures[0].exit_code if self.failures else 0


def _fail(
    report: TickReport,
    state: LiveState,
    user: str | None,
    step: str,
    error: BaseException,
    *,
    record: bool = True,
) -> None:
    code = error.exit_code if isinstance(error, SpotifyAnalyticsError) else 1
    message = redact(
        str(error)
        if isinstance(error, SpotifyAnalyticsError)
        else f"{type(error).__name__}: {error}"
    )
    if record:
        state.record_error(user, step, message, code)
    report.failures.append(Failure(user, step, message, code))
    log.error(f"{step}{f' ({user})' if user else ''} failed: {message}")


def tick(
    lake: Lake,
    settings: Settings,
    *,
    run_pipeline: Callable[[Lake, Settings], object] | None = None,
    policy: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
    vacuum_every_s: float | None = DEFAULT_VACUUM_EVERY_S,
    keep_hours: int = DEFAULT_KEEP_HOURS,
) -> TickReport:
    """One scheduled pass: every logged-in user, then the pipeline, then a vacuum
    if one is due (``vacuum_every_s`` None: never)."""
    if run_pipeline is None:
        from .pipeline import run as run_pipeline
    state, report = LiveState(lake), TickReport()
    try:
        with lake.lock("schedule"):
            for user in logged_in_users(lake):
                _refresh(lake, settings, user, report, state, policy, sleep)
            try:
                result = run_pipeline(lake, settings)
                report.built = list(getattr(result, "built", []))
                state.clear_error(None, "run")
            except Exception as error:  # noqa: BLE001 - reported, stored, loop goes on
                _fail(report, state, None, "run", error)
            _vacuum_if_due(lake, report, state, vacuum_every_s, keep_hours)
        state.clear_error(None, "schedule")
    except LockedError as error:
        _fail(report, state, None, "schedule", error)
    return report


def _vacuum_if_due(
    lake: Lake,
    report: TickReport,
    state: LiveState,
    every_s: float | None,
    keep_hours: int,
) -> None:
    """Vacuum when the last vacuum is older than ``every_s`` (or there was none)."""
    last = last_vacuum(lake)
    if every_s is None or (last is not None and time.time() - last < every_s):
        return
    try:
        report.vacuumed = vacuum_lake(lake, keep_hours)
        state.clear_error(None, "vacuum")
    except Exception as error:  # noqa: BLE001 - reported, stored, loop goes on
        _fail(report, state, None, "vacuum", error)


def _refresh(
    lake: Lake,
    settings: Settings,
    user: str,
    report: TickReport,
    state: LiveState,
    policy: RetryPolicy | None,
    sleep: Callable[[float], None],
) -> None:
    try:
        report.refreshed[user] = refresh_user(lake, settings, user, policy=policy, sleep=sleep)
    except SpotifyAnalyticsError as error:  # refresh_user stored it under its step
        step = getattr(error, "live_step", "poll")
        _fail(report, state, user, step, error, record=False)
    except Exception as error:  # noqa: BLE001 - an unexpected bug must not stop the loop
        _fail(report, state, user, "poll", error)


def schedule(
    lake: Lake,
    settings: Settings,
    *,
    every_s: float,
    once: bool = False,
    max_runs: int | None = None,
    stop: threading.Event | None = None,
    on_tick: Callable[[int, TickReport], None] | None = None,
    **tick_options: object,
) -> list[TickReport]:
    """Tick now and then every ``every_s`` seconds until ``once``/``max_runs``/``stop``."""
    stop = stop or threading.Event()
    reports: list[TickReport] = []
    while not stop.is_set():
        report = tick(lake, settings, **tick_options)  # type: ignore[arg-type]
        reports.append(report)
        if on_tick is not None:
            on_tick(len(reports), report)
        if once or (max_runs is not None and len(reports) >= max_runs):
            break
        stop.wait(every_s)
    return reports
