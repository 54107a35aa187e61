"""Live-ingestion state in ``<lake>/_state/spotify.json``: cursors, cooldowns, errors.

Format (JSON, one object)::

    {
      "users": {
        "<user>": {
          "logged_in_at": "2026-11-21T10:00:00+00:00",
          "cursor_ms": 1763719200000,            # newest played_at seen, ms since epoch
          "cursor": "2026-11-21T10:00:00+00:00",  # the same, readable
          "last_poll_at": "...", "last_poll": {"items": 50, "new": 3, "inserted": 3,
                                               "warning": null},
          "errors": {"<step>": {"at": "...", "message": "...", "exit_code": 75}}
        }
      },
      "cooldowns": {
        "<service>": {"until": "...", "until_epoch": 1763726493.0, "reason": "...",
                      "set_at": "..."}
      },
      "errors": {"run": {...}}                     # steps that are not per user
    }

Every change is a read-modify-write under an ``flock`` and lands with an atomic
rename, so concurrent processes never see half a file.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from ..lake import Lake
from .redact import redact

STATE_FILE = "spotify.json"


def now_iso(epoch: float | None = None) -> str:
    stamp = datetime.fromtimestamp(time.time() if epoch is None else epoch, tz=UTC)
    return stamp.isoformat(timespec="seconds")


def ms_iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class Cooldown:
    service: str
    until_epoch: float
    reason: str

    def remaining_s(self, now: float | None = None) -> float:
        return max(0.0, self.until_epoch - (time.time() if now is None else now))

    def describe(self) -> str:
        return f"until {now_iso(self.until_epoch)} ({format_duration(self.remaining_s())} left)"


def format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours >= 48:
        return f"{hours // 24} d {hours % 24} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


class LiveState:
    """Reads and updates ``_state/spotify.json`` of one lake."""

    def __init__(self, lake: Lake):
        self.path = lake.state_path(STATE_FILE)
        self._lock_path = lake.state_path("spotify.lock")

    def read(self) -> dict:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    @contextlib.contextmanager
    def update(self) -> Iterator[dict]:
        """Yield the state for changing in place; written back atomically."""
        with open(self._lock_path, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                data = self.read()
                yield data
                temporary = self.path.with_suffix(".json.tmp")
                temporary.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
                os.replace(temporary, self.path)
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # -- users ------------------------------------------------------------------

    def user(self, user: str) -> dict:
        return self.read().get("users", {}).get(user, {})

    def cursor_ms(self, user: str) -> int | None:
        value = self.user(user).get("cursor_ms")
        return int(value) if value is not None else None

    def record_login(self, user: str) -> None:
        with self.update() as data:
            entry = data.setdefault("users", {}).setdefault(user, {})
            entry["logged_in_at"] = now_iso()
            entry.get("errors", {}).pop("login", None)

    def record_poll(self, user: str, *, cursor_ms: int | None, summary: dict) -> None:
        with self.update() as data:
            entry = data.setdefault("users", {}).setdefault(user, {})
            if cursor_ms is not None:  # never moves back, even if two polls race
                cursor_ms = max(cursor_ms, int(entry.get("cursor_ms") or 0))
                entry["cursor_ms"] = cursor_ms
                entry["cursor"] = ms_iso(cursor_ms)
            entry["last_poll_at"] = now_iso()
            entry["last_poll"] = summary

    # -- errors -----------------------------------------------------------------

    def record_error(self, user: str | None, step: str, message: str, exit_code: int) -> None:
        """Remember the last failure of ``step`` (for ``user``, or lake-wide)."""
        with self.update() as data:
            holder = data if user is None else data.setdefault("users", {}).setdefault(user, {})
            holder.setdefault("errors", {})[step] = {
                "at": now_iso(),
                "message": redact(message),
                "exit_code": exit_code,
            }

    def clear_error(self, user: str | None, step: str) -> None:
        with self.update() as data:
            holder = data if user is None else data.get("users", {}).get(user, {})
            errors = holder.get("errors", {})
            errors.pop(step, None)
            if not errors:
                holder.pop("errors", None)

    # -- cooldowns --------------------------------------------------------------

    def cooldown(self, service: str, now: float | None = None) -> Cooldown | None:
        """The cooldown on ``service`` if it is still running."""
        entry = self.read().get("cooldowns", {}).get(service)
        if not entry:
            return None
        cooldown = Cooldown(service, float(entry["until_epoch"]), entry.get("reason", ""))
        return cooldown if cooldown.remaining_s(now) > 0 else None

    def set_cooldown(self, service: str, seconds: float, reason: str) -> Cooldown:
        until = time.time() + seconds
        with self.update() as data:
            data.setdefault("cooldowns", {})[service] = {
                "until": now_iso(until),
                "until_epoch": until,
                "reason": redact(reason),
                "set_at": now_iso(),
            }
        return Cooldown(service, until, reason)
