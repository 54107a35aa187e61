"""Shared fixtures: temporary lakes, settings, and the real sample data in ../shared."""

from __future__ import annotations

from pathlib import Path

import pytest

from spotify_analytics.lake import Lake
from spotify_analytics.settings import Settings

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
EXPORTS = SHARED / "data" / "exports"
API_SAMPLES = SHARED / "data" / "api-samples"
OPENAPI_SPEC = SHARED / "spotify-web-api-openapi.yml"


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake.open(tmp_path / "lake", create=True)


@pytest.fixture
def settings(lake: Lake) -> Settings:
    return Settings(lake=lake.root, timezone="UTC")


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's .env or environment settings."""
    monkeypatch.chdir(tmp_path)
    for name in ("SPOTIFY_ANALYTICS_LAKE", "SPOTIFY_CLIENT_ID", "SPOTIFY_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
