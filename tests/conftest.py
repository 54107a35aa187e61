"""Shared fixtures: temporary lakes, settings, and the real sample data in ../shared."""

from __future__ import annotations

from pathlib import Path

import pytest

from spotify_analytics import runner
from spotify_analytics.demo import build_demo
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


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    """The demo lake, with per-user tables in files small enough that the big
    ones span several files, as at scale."""
    root = tmp_path_factory.mktemp("incremental") / "demo"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(runner, "USER_SORTED_FILE_BYTES", 64 * 2**10)
        build_demo(root, Settings(lake=root))
    files = Lake(root).delta("plays").file_uris()
    assert len(files) > 1
    return root
