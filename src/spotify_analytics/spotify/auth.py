"""Tokens: a 0600 cache per user and a PKCE auth manager that never turns interactive.

The cache lives at ``<lake>/_state/tokens/<user>.json`` (folder 0700, file 0600)
and holds spotipy's token info plus ``consented_at`` (when ``login`` ran), which
tells an expired refresh token (Spotify ends them 6 months after consent) from a
revoked one.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from urllib.parse import urljoin

import requests
from spotipy.cache_handler import CacheHandler
from spotipy.exceptions import SpotifyOauthError
from spotipy.oauth2 import SpotifyPKCE

from ..errors import AuthError, InputError
from ..lake import Lake
from ..settings import Settings
from .redact import install_log_filter, register
from .retry import ServiceError

SCOPE = "user-read-recently-played"
TOKEN_DIR = "tokens"
REFRESH_TOKEN_LIFETIME_S = 182 * 86400  # Spotify: six months after consent
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def token_path(lake: Lake, user: str) -> Path:
    """Where ``user``'s tokens are cached (the name must be file-safe)."""
    if not _SAFE_NAME.match(user):
        raise InputError(
            f"user {user!r}: for live polling use letters, digits, '.', '_' or '-' (max 100)"
        )
    return lake.root / "_state" / TOKEN_DIR / f"{user}.json"


def logged_in_users(lake: Lake) -> list[str]:
    """Users with a token cache, sorted."""
    folder = lake.root / "_state" / TOKEN_DIR
    return sorted(path.stem for path in folder.glob("*.json")) if folder.is_dir() else []


class TokenCache(CacheHandler):
    """spotipy's cache interface over one 0600 JSON file, written atomically."""

    def __init__(self, path: Path):
        self.path = path

    def get_cached_token(self) -> dict | None:
        try:
            token_info = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(token_info, dict):
            return None
        register(token_info.get("access_token"), token_info.get("refresh_token"))
        return token_info

    def save_token_to_cache(self, token_info: dict) -> None:
        register(token_info.get("access_token"), token_info.get("refresh_token"))
        previous = self.get_cached_token() or {}
        token_info.setdefault("consented_at", previous.get("consented_at", time.time()))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(self.path.parent, 0o700)
        temporary = self.path.with_suffix(".json.tmp")
        temporary.unlink(missing_ok=True)
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(token_info, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.path)
        os.chmod(self.path, 0o600)


class LakeAuth(SpotifyPKCE):
    """PKCE auth manager bound to one lake user.

    ``get_access_token`` reads the cache and refreshes when needed; with no
    usable token it raises :class:`AuthError` instead of starting spotipy's
    interactive flow, so a scheduled run never waits on a browser.
    """

    def __init__(self, lake: Lake, settings: Settings, user: str, session: requests.Session):
        if not settings.spotify_client_id:
            raise AuthError(
                "SPOTIFY_CLIENT_ID is not set: create an app at "
                "developer.spotify.com and set it in the environment or .env"
            )
        install_log_filter()
        secret = settings.spotify_client_secret
        register(secret.get_secret_value() if secret else None)
        super().__init__(
            client_id=settings.spotify_client_id,
            redirect_uri=settings.spotify_redirect_uri,
            scope=SCOPE,
            cache_handler=TokenCache(token_path(lake, user)),
            requests_session=session,
            requests_timeout=settings.http_timeout_s,
            open_browser=False,
        )
        self.user = user
        self.OAUTH_AUTHORIZE_URL = urljoin(settings.spotify_accounts_url, "authorize")
        self.OAUTH_TOKEN_URL = urljoin(settings.spotify_accounts_url, "api/token")

    def get_access_token(
        self, code: str | None = None, check_cache: bool = True, as_dict: bool = False
    ) -> str:
        token_info = self.cache_handler.get_cached_token()
        if not token_info or "refresh_token" not in token_info:
            raise AuthError(
                f"user {self.user}: not logged in; run `spotify-analytics login --user {self.user}`"
            )
        if self.is_token_expired(token_info):
            token_info = self.refresh_access_token(token_info["refresh_token"])
        return token_info["access_token"]

    def force_refresh(self) -> None:
        token_info = self.cache_handler.get_cached_token() or {}
        if "refresh_token" not in token_info:
            raise AuthError(
                f"user {self.user}: not logged in; run `spotify-analytics login --user {self.user}`"
            )
        self.refresh_access_token(token_info["refresh_token"])

    def refresh_access_token(self, refresh_token: str) -> dict:
        consented_at = (self.cache_handler.get_cached_token() or {}).get("consented_at")
        try:
            return _token_call(lambda: super(LakeAuth, self).refresh_access_token(refresh_token))
        except SpotifyOauthError as error:
            if error.error not in {"invalid_grant", "invalid_client", "invalid_request"}:
                raise ServiceError(
                    "Spotify accounts service: the token refresh failed (no usable answer); "
                    "try again later"
                ) from None
            raise AuthError(self._refresh_refused(error, consented_at)) from None

    def exchange_code(self, code: str) -> None:
        """Trade an authorization code (plus the PKCE verifier) for tokens, cached."""
        try:
            _token_call(lambda: SpotifyPKCE.get_access_token(self, code=code, check_cache=False))
        except SpotifyOauthError as error:
            raise AuthError(
                f"user {self.user}: Spotify refused the authorization code "
                f"({error.error}: {error.error_description}); run login again"
            ) from None

    def _refresh_refused(self, error: SpotifyOauthError, consented_at: float | None) -> str:
        again = f"run `spotify-analytics login --user {self.user}` again"
        said = f"Spotify said {error.error}: {error.error_description}"
        if error.error != "invalid_grant":
            return f"user {self.user}: token refresh failed ({said}); {again}"
        age_days = (time.time() - consented_at) / 86400 if consented_at else None
        if age_days is not None and age_days * 86400 >= REFRESH_TOKEN_LIFETIME_S:
            cause = (
                f"has expired (Spotify ends refresh tokens 6 months after consent; "
                f"this one is {age_days:.0f} days old)"
            )
        else:
            cause = (
                "was revoked or has expired (access removed in the Spotify account, "
                "or 6 months since consent)"
            )
        return f"user {self.user}: the refresh token {cause}; {said}; {again}"


def _token_call(function):  # noqa: ANN001, ANN202 - a thin wrapper
    """Token endpoint calls: network trouble and broken bodies become ServiceError."""
    try:
        return function()
    except (requests.Timeout, requests.ConnectionError):
        raise ServiceError(
            "Spotify accounts service: no answer from the token endpoint; try again later"
        ) from None
    except ValueError:
        raise ServiceError(
            "Spotify accounts service: the token answer was not valid JSON; try again later"
        ) from None
