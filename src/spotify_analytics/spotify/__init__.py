"""Live Spotify ingestion: login, polling recently-played, track metadata, audio features."""

from __future__ import annotations

from .auth import logged_in_users
from .client import SpotifyClient
from .live import live_status, refresh_user
from .login import login
from .poll import poll_user
from .retry import RetryPolicy, ServiceError

__all__ = [
    "RetryPolicy",
    "ServiceError",
    "SpotifyClient",
    "live_status",
    "logged_in_users",
    "login",
    "poll_user",
    "refresh_user",
]
