"""Users of the lake and their IANA time zones (Bronze ``users``).

A user's zone decides local-time fields in Silver (hour of day, weekday, ...).
Resolution order when a user is stored: an explicit zone wins (and replaces a
stored one), else the stored zone is kept, else ``settings.timezone``, else the
system's zone, else UTC.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pyarrow as pa

from .errors import InputError
from .lake import Lake
from .schemas import USERS
from .settings import Settings

DEFAULT_USER = "me"


def validate_timezone(zone: str, *, source: str = "time zone") -> str:
    """Return ``zone`` if zoneinfo knows it; otherwise raise :class:`InputError`."""
    name = zone.strip()
    try:
        if not name or name.startswith(("/", ".")) or ".." in name:
            raise ValueError(name)
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError(
            f"{source} {zone!r}: not a known IANA time zone (e.g. Europe/Berlin, UTC)"
        ) from None
    return name


def system_timezone(environ: Mapping[str, str] | None = None, etc: Path = Path("/etc")) -> str:
    """The machine's IANA zone: ``$TZ``, ``/etc/timezone``, the ``/etc/localtime``
    symlink, else ``"UTC"``. Values zoneinfo does not know are passed over."""
    environ = os.environ if environ is None else environ
    candidates = [environ.get("TZ", "").lstrip(":"), _read_text(etc / "timezone")]
    candidates.append(_zone_from_link(etc / "localtime"))
    for candidate in candidates:
        if candidate and _is_zone(candidate):
            return candidate
    return "UTC"


def stored_timezone(lake: Lake, user_id: str) -> str | None:
    """The zone stored for ``user_id``, or None if the user is not stored."""
    if not lake.exists(USERS.name):
        return None
    rows = lake.read(USERS.name, columns=["user_id", "timezone"]).to_pylist()
    return next((row["timezone"] for row in rows if row["user_id"] == user_id), None)


def resolve_timezone(lake: Lake, user_id: str, timezone: str | None, settings: Settings) -> str:
    """The zone ``ensure_user`` would store, without writing anything."""
    return _resolve(lake, user_id, timezone, settings)[0]


def _resolve(lake: Lake, user_id: str, timezone: str | None, settings: Settings) -> tuple[str, str]:
    """The zone and where it came from: explicit, stored, settings or system."""
    if timezone is not None:
        return validate_timezone(timezone), "explicit"
    stored = stored_timezone(lake, user_id)
    if stored:
        return stored, "stored"
    if settings.timezone:
        return validate_timezone(settings.timezone, source="configured time zone"), "settings"
    return system_timezone(), "system"


def ensure_user(lake: Lake, user_id: str, timezone: str | None, settings: Settings) -> str:
    """Store ``user_id`` in Bronze ``users`` with its zone and return the zone.

    Writes only when the user is new or an explicit ``timezone`` changes the
    stored one (one commit).
    """
    user_id = validate_user_id(user_id)
    zone, origin = _resolve(lake, user_id, timezone, settings)
    if stored_timezone(lake, user_id) == zone:
        return zone
    row = {
        "user_id": [user_id],
        "timezone": [zone],
        "_source": [f"timezone:{origin}"],
        "_ingested_at": [datetime.now(UTC)],
        "_batch_id": [None],
    }
    lake.merge(USERS, pa.table(row), update=True)
    return zone


def validate_user_id(user_id: str) -> str:
    """User names are short, printable and not blank."""
    name = user_id.strip()
    if not name or len(name) > 200 or not name.isprintable():
        raise InputError(f"user {user_id!r}: give a short, printable, non-empty name")
    return name


def _is_zone(name: str) -> bool:
    try:
        validate_timezone(name)
    except InputError:
        return False
    return True


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return ""


def _zone_from_link(path: Path) -> str:
    try:
        target = os.readlink(path)
    except OSError:
        return ""
    marker = "zoneinfo/"
    return target.split(marker, 1)[1] if marker in target else ""
