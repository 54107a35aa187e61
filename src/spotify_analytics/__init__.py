"""spotify-analytics: a personal Spotify listening lakehouse.

The public API is deliberately small; everything else is private.
"""

from .errors import SpotifyAnalyticsError
from .lake import Lake
from .pipeline import run
from .query import query
from .settings import Settings, load_settings

__version__ = "0.1.0"

__all__ = [
    "Lake",
    "Settings",
    "SpotifyAnalyticsError",
    "load_settings",
    "query",
    "run",
]
