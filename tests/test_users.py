"""Users and their time zones: explicit wins, stored kept, then settings, then the system."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from spotify_analytics.errors import InputError
from spotify_analytics.lake import Lake
from spotify_analytics.settings import Settings
from spotify_analytics.users import ensure_user, stored_timezone, system_timezone


def _stored(lake: Lake) -> dict[str, str]:
    return {row["user_id"]: row["timezone"] for row in lake.read("users").to_pylist()}


def test_explicit_zone_is_stored_for_a_new_user(lake: Lake, settings: Settings) -> None:
    assert ensure_user(lake, "ana", "Europe/Berlin", settings) == "Europe/Berlin"
    assert _stored(lake) == {"ana": "Europe/Berlin"}


def test_stored_zone_is_kept_without_a_new_commit(lake: Lake, settings: Settings) -> None:
    ensure_user(lake, "ana", "Asia/Tokyo", settings)
    version = lake.version("users")
    assert ensure_user(lake, "ana", None, settings) == "Asia/Tokyo"
    assert ensure_user(lake, "ana", "Asia/Tokyo", settings) == "Asia/Tokyo"
    assert lake.version("users") == version


def test_explicit_zone_replaces_the_stored_one(lake: Lake, settings: Settings) -> None:
    ensure_user(lake, "ana", "Asia/Tokyo", settings)
    ensure_user(lake, "bo", "UTC", settings)
    assert ensure_user(lake, "ana", "America/New_York", settings) == "America/New_York"
    assert _stored(lake) == {"ana": "America/New_York", "bo": "UTC"}


def test_new_user_without_zone_gets_the_configured_zone(lake: Lake) -> None:
    configured = Settings(lake=lake.root, timezone="Australia/Sydney")
    assert ensure_user(lake, "cy", None, configured) == "Australia/Sydney"
    assert stored_timezone(lake, "cy") == "Australia/Sydney"
    assert lake.read("users").to_pylist()[0]["_source"] == "timezone:settings"


def test_new_user_without_any_zone_gets_the_system_zone(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TZ", "Pacific/Auckland")
    assert ensure_user(lake, "dee", None, Settings(lake=lake.root)) == "Pacific/Auckland"


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "", "../../etc/passwd", "/etc/localtime"])
def test_unknown_zone_is_refused_naming_it_and_nothing_is_written(
    lake: Lake, settings: Settings, zone: str
) -> None:
    with pytest.raises(InputError, match="not a known IANA time zone") as raised:
        ensure_user(lake, "ana", zone, settings)
    assert repr(zone) in str(raised.value)
    assert not lake.exists("users")


def test_bad_configured_zone_is_refused(lake: Lake) -> None:
    with pytest.raises(InputError, match="configured time zone 'Nowhere/Town'"):
        ensure_user(lake, "ana", None, Settings(lake=lake.root, timezone="Nowhere/Town"))


def test_blank_user_name_is_refused(lake: Lake, settings: Settings) -> None:
    with pytest.raises(InputError, match="user '  '"):
        ensure_user(lake, "  ", "UTC", settings)


def test_system_zone_reads_tz_first(tmp_path: Path) -> None:
    (tmp_path / "timezone").write_text("Europe/Paris\n")
    assert system_timezone({"TZ": ":America/Chicago"}, tmp_path) == "America/Chicago"


def test_system_zone_reads_etc_timezone(tmp_path: Path) -> None:
    (tmp_path / "timezone").write_text("Europe/Paris\n")
    assert system_timezone({}, tmp_path) == "Europe/Paris"


def test_system_zone_reads_the_localtime_link(tmp_path: Path) -> None:
    os.symlink("/usr/share/zoneinfo/Asia/Kolkata", tmp_path / "localtime")
    assert system_timezone({"TZ": "Not/AZone"}, tmp_path) == "Asia/Kolkata"


def test_system_zone_falls_back_to_utc(tmp_path: Path) -> None:
    (tmp_path / "timezone").write_text("garbage zone\n")
    assert system_timezone({}, tmp_path) == "UTC"
