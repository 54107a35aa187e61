"""One settings object: defaults, then `.env`, then the environment, then CLI flags.

Nothing is read at import time; call :func:`load_settings` (the CLI does) and pass
the result down.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything configurable, in one place.

    Lake and pipeline settings use the ``SPOTIFY_ANALYTICS_`` prefix
    (``SPOTIFY_ANALYTICS_LAKE=/srv/lake``); Spotify credentials use the names
    the Spotify ecosystem uses (``SPOTIFY_CLIENT_ID``, ...).
    """

    model_config = SettingsConfigDict(
        env_prefix="SPOTIFY_ANALYTICS_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
    )

    lake: Path = Path("data")
    engine: Literal["duckdb", "spark"] = "duckdb"
    spark_remote: str | None = None
    allow_synthetic: bool = False
    timezone: str | None = None  # default IANA zone for new users; None = system zone

    session_gap_minutes: int = 30
    skip_threshold_ms: int = 30_000
    dedupe_tolerance_s: int = 30
    dedupe_tolerance_minute_precision_s: int = 60
    catalog_match_min_score: float = 90.0

    spotify_client_id: str | None = Field(
        None, validation_alias=AliasChoices("SPOTIFY_CLIENT_ID", "spotify_client_id")
    )
    spotify_client_secret: SecretStr | None = Field(
        None, validation_alias=AliasChoices("SPOTIFY_CLIENT_SECRET", "spotify_client_secret")
    )
    spotify_redirect_uri: str = Field(
        "http://127.0.0.1:8888/callback",
        validation_alias=AliasChoices("SPOTIFY_REDIRECT_URI", "spotify_redirect_uri"),
    )
    spotify_api_url: str = Field(
        "https://api.spotify.com/v1/",
        validation_alias=AliasChoices("SPOTIFY_API_URL", "spotify_api_url"),
    )
    spotify_accounts_url: str = Field(
        "https://accounts.spotify.com/",
        validation_alias=AliasChoices("SPOTIFY_ACCOUNTS_URL", "spotify_accounts_url"),
    )
    feature_providers: list[str] = ["spotify_api", "reccobeats"]
    reccobeats_url: str | None = None  # the reccobeats provider is off unless set
    max_retry_after_s: int = 300
    http_timeout_s: float = 10.0

    kaggle_dataset: str = "maharshipandya/-spotify-tracks-dataset"


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment and `.env`, with explicit overrides on top.

    ``None`` overrides are ignored so CLI flags that were not given keep the
    environment's value.
    """
    given = {key: value for key, value in overrides.items() if value is not None}
    return Settings(**given)
