"""The Spotify Web API client: spotipy, pointed where settings say, under our retry policy.

spotipy gets a plain ``requests.Session`` (no retry adapter) and ``retries=0``,
its ``prefix`` is ``settings.spotify_api_url`` and its auth manager is
:class:`~spotify_analytics.spotify.auth.LakeAuth`; every call goes through
:class:`~spotify_analytics.spotify.retry.Retrier`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import requests
import spotipy

from ..errors import AuthError
from ..lake import Lake
from ..settings import Settings
from .auth import LakeAuth
from .redact import install_log_filter
from .retry import HttpStatusError, Retrier, RetryPolicy, ServiceError
from .state import LiveState

SERVICE = "spotify_api"


class SpotifyClient:
    """One user's view of the Spotify Web API."""

    def __init__(
        self,
        lake: Lake,
        settings: Settings,
        user: str,
        *,
        session: requests.Session | None = None,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        install_log_filter()
        self.user = user
        self.session = session or requests.Session()
        self.auth = LakeAuth(lake, settings, user, self.session)
        self.spotipy = spotipy.Spotify(
            auth_manager=self.auth,
            requests_session=self.session,
            requests_timeout=settings.http_timeout_s,
            retries=0,
            status_retries=0,
        )
        self.spotipy.prefix = settings.spotify_api_url.rstrip("/") + "/"
        self.state = LiveState(lake)
        self.retrier = Retrier(SERVICE, self.state, settings, policy=policy, sleep=sleep)

    def call(self, what: str, function: Callable[[], object]) -> object:
        return self.retrier.call(what, function, on_unauthorized=self.auth.force_refresh)

    def me(self) -> dict:
        return self._checked("GET /v1/me", self.spotipy.me)

    def recently_played(self) -> dict:
        """The newest plays (at most 50: all Spotify keeps)."""
        return self._checked(
            "GET /v1/me/player/recently-played",
            lambda: self.spotipy.current_user_recently_played(limit=50),
        )

    def track(self, track_id: str) -> dict | None:
        """A TrackObject, or None when Spotify does not know the id (404/400)."""
        try:
            return self.call(f"GET /v1/tracks/{track_id}", lambda: self.spotipy.track(track_id))
        except HttpStatusError as error:
            if error.status in (400, 404):
                return None
            raise ServiceError(
                f"GET /v1/tracks/{track_id}: HTTP {error.status} ({error.message})"
            ) from None

    def audio_features(self, track_ids: list[str]) -> list[dict | None]:
        """Spotify's audio features; raises :class:`HttpStatusError` (403 since 2024-11-27)."""
        ids = ",".join(track_ids)
        # spotipy's audio_features() fails on an empty body; its _get returns None instead
        result = self.call(
            "GET /v1/audio-features", lambda: self.spotipy._get("audio-features", ids=ids)
        )
        features = result.get("audio_features") if isinstance(result, dict) else None
        return list(features) if isinstance(features, list) else []

    def _checked(self, what: str, function: Callable[[], object]) -> dict:
        try:
            result = self.call(what, function)
        except HttpStatusError as error:
            if error.status == 403:
                raise AuthError(
                    f"{what}: Spotify refused access (403: {error.message}) for user "
                    f"{self.user}; in development mode the Spotify account must be added "
                    "to the app's users in the developer dashboard"
                ) from None
            raise ServiceError(f"{what}: HTTP {error.status} ({error.message})") from None
        if not isinstance(result, dict):
            raise ServiceError(f"{what}: the answer was not a JSON object")
        return result
