"""A fake Spotify (accounts + Web API + ReccoBeats) on 127.0.0.1, for tests and demos.

A real HTTP server (stdlib ``ThreadingHTTPServer``) whose responses follow the
Spotify Web API OpenAPI description:

- ``GET /authorize``: redirects back to ``redirect_uri`` with ``code`` and ``state``;
- ``POST /api/token``: ``authorization_code`` (PKCE verifier checked against the
  challenge) and ``refresh_token`` (expired or revoked refresh tokens answer
  ``invalid_grant``); refresh tokens rotate;
- ``GET /v1/me``, ``GET /v1/me/player/recently-played`` (the 50 newest plays of
  a scripted timeline at the server's "now"; ``after``/``before``/``limit``),
  ``GET /v1/tracks/{id}``, ``GET /v1/audio-features`` (403 by default, as for
  apps created after 2024-11-27);
- ``GET /reccobeats/v1/audio-features?ids=...`` in ReccoBeats' shape.

Faults are scriptable per path prefix: any status (401, 403, 429 with
``Retry-After``, 500), slow responses and truncated JSON bodies.

Run it alone with ``python -m spotify_analytics.fake_spotify --port 8899``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
WINDOW = 50  # Spotify keeps only the 50 newest plays
DEFAULT_CLIENT_ID = "fake-client-id"
DEFAULT_ACCOUNT = "fake-account"


def spotify_id(seed: str) -> str:
    """A deterministic 22-character base62 id."""
    number = int.from_bytes(hashlib.sha256(seed.encode()).digest(), "big")
    chars = []
    for _ in range(22):
        number, digit = divmod(number, 62)
        chars.append(BASE62[digit])
    return "".join(chars)


def iso_ms(ms: int) -> str:
    stamp = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


@dataclass
class Play:
    played_at_ms: int
    track_id: str
    context_uri: str | None = None


@dataclass
class Fault:
    """What the next matching request(s) get instead of a normal answer."""

    status: int | None = None  # None: the normal answer (possibly slow or truncated)
    retry_after: int | None = None
    delay_s: float = 0.0
    truncate: bool = False
    times: int | None = 1  # None: forever
    message: str | None = None


@dataclass
class Account:
    plays: list[Play] = field(default_factory=list)


@dataclass
class Grant:
    account: str
    scope: str
    expires_at: float
    revoked: bool = False


class FakeSpotify:
    """The fake's state and scripting API; :meth:`start` serves it on a free port."""

    def __init__(
        self,
        *,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str | None = None,
        now_ms: int | None = None,
        access_token_ttl_s: int = 3600,
    ):
        self.client_id = client_id
        self.client_secret = client_secret
        self.now_ms = now_ms  # None: the real clock
        self.access_token_ttl_s = access_token_ttl_s
        self.accounts: dict[str, Account] = {DEFAULT_ACCOUNT: Account()}
        self.authorizing_account = DEFAULT_ACCOUNT
        self.audio_features_status = 403
        self.reccobeats_missing: set[str] = set()
        self.unknown_tracks: set[str] = set()
        self.faults: dict[str, list[Fault]] = {}
        self.requests: list[tuple[str, str]] = []  # (method, path with query)
        self._codes: dict[str, dict] = {}
        self._access: dict[str, Grant] = {}
        self._refresh: dict[str, Grant] = {}
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- scripting ------------------------------------------------------------

    def add_plays(self, plays: Iterable[tuple[int, str]], account: str = DEFAULT_ACCOUNT) -> None:
        """Add ``(played_at_ms, track_id)`` plays to an account's timeline."""
        with self._lock:
            timeline = self.accounts.setdefault(account, Account()).plays
            timeline.extend(Play(ms, track) for ms, track in plays)
            timeline.sort(key=lambda play: play.played_at_ms)

    def fault(self, path: str, **kwargs: object) -> Fault:
        """Queue a fault for requests whose path starts with ``path``."""
        fault = Fault(**kwargs)  # type: ignore[arg-type]
        with self._lock:
            self.faults.setdefault(path, []).append(fault)
        return fault

    def expire_access_tokens(self) -> None:
        with self._lock:
            for grant in self._access.values():
                grant.expires_at = 0

    def expire_refresh_tokens(self) -> None:
        with self._lock:
            for grant in self._refresh.values():
                grant.expires_at = 0

    def revoke_refresh_tokens(self) -> None:
        with self._lock:
            for grant in self._refresh.values():
                grant.revoked = True

    def grant(
        self, account: str = DEFAULT_ACCOUNT, scope: str = "user-read-recently-played"
    ) -> dict:
        """Tokens for ``account`` as the token endpoint would issue them (skips consent)."""
        token_info = self._issue(account, scope)
        token_info["expires_at"] = int(time.time()) + token_info["expires_in"]
        return token_info

    def consent(self, authorize_url: str) -> str:
        """Follow ``/authorize`` like a browser whose user clicks "Agree"; the redirect URL."""
        query = {k: v[-1] for k, v in parse_qs(urlsplit(authorize_url).query).items()}
        status, headers = self.authorize(query)
        if status != 302:
            raise ValueError(f"authorize refused: HTTP {status}")
        return headers["Location"]

    def reset(self) -> None:
        """Forget timelines, faults and the request log (tokens stay valid)."""
        with self._lock:
            self.accounts = {DEFAULT_ACCOUNT: Account()}
            self.faults.clear()
            self.requests.clear()

    def issued_tokens(self) -> list[str]:
        """Every access and refresh token handed out (for leak checks)."""
        with self._lock:
            return [*self._access, *self._refresh]

    def count(self, path: str) -> int:
        """How many requests started with ``path``."""
        with self._lock:
            return sum(1 for _, target in self.requests if target.startswith(path))

    # -- serving --------------------------------------------------------------

    def start(self, port: int = 0) -> FakeSpotify:
        handler = type("Handler", (_Handler,), {"fake": self})
        server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        server.daemon_threads = True
        server.block_on_close = False
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeSpotify:
        return self.start() if self._server is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "start() the server first"
        return self._server.server_address[1]

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.root_url}/v1/"

    @property
    def accounts_url(self) -> str:
        return f"{self.root_url}/"

    @property
    def reccobeats_url(self) -> str:
        return f"{self.root_url}/reccobeats"

    # -- behaviour ------------------------------------------------------------

    def take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for prefix, queue in self.faults.items():
                if path.startswith(prefix) and queue:
                    fault = queue[0]
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            queue.pop(0)
                    return fault
        return None

    def authorize(self, query: dict[str, str]) -> tuple[int, dict[str, str]]:
        """The consent screen, already accepted: a redirect with code and state."""
        redirect = query.get("redirect_uri", "")
        if query.get("client_id") != self.client_id or not redirect:
            return 400, {}
        params = {"state": query["state"]} if "state" in query else {}
        if query.get("response_type") != "code" or query.get("code_challenge_method") != "S256":
            return 302, {
                "Location": f"{redirect}?{urlencode({**params, 'error': 'invalid_request'})}"
            }
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = {
                "challenge": query.get("code_challenge", ""),
                "redirect_uri": redirect,
                "scope": query.get("scope", ""),
                "account": self.authorizing_account,
            }
        return 302, {"Location": f"{redirect}?{urlencode({'code': code, **params})}"}

    def token(self, form: dict[str, str], basic: str | None) -> tuple[int, dict]:
        if form.get("client_id", self._basic_client(basic)) != self.client_id:
            return 400, {"error": "invalid_client", "error_description": "Invalid client"}
        if basic is not None and basic != self._basic_expected():
            return 400, {"error": "invalid_client", "error_description": "Invalid client secret"}
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            return self._exchange_code(form)
        if grant_type == "refresh_token":
            return self._refresh_grant(form.get("refresh_token", ""))
        return 400, {"error": "unsupported_grant_type", "error_description": "grant_type"}

    def _exchange_code(self, form: dict[str, str]) -> tuple[int, dict]:
        with self._lock:
            issued = self._codes.pop(form.get("code", ""), None)
        if issued is None:
            return 400, {
                "error": "invalid_grant",
                "error_description": "Invalid authorization code",
            }
        if form.get("redirect_uri") != issued["redirect_uri"]:
            return 400, {"error": "invalid_grant", "error_description": "Invalid redirect URI"}
        digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
        if base64.urlsafe_b64encode(digest).decode().rstrip("=") != issued["challenge"]:
            return 400, {
                "error": "invalid_grant",
                "error_description": "code_verifier was incorrect",
            }
        return 200, self._issue(issued["account"], issued["scope"])

    def _refresh_grant(self, refresh_token: str) -> tuple[int, dict]:
        with self._lock:
            grant = self._refresh.get(refresh_token)
            if grant is None or grant.expires_at < time.time():
                return 400, {"error": "invalid_grant", "error_description": "Invalid refresh token"}
            if grant.revoked:
                return 400, {"error": "invalid_grant", "error_description": "Refresh token revoked"}
            del self._refresh[refresh_token]  # rotation: the old one is spent
        return 200, self._issue(grant.account, grant.scope)

    def _issue(self, account: str, scope: str) -> dict:
        access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        with self._lock:
            self._access[access] = Grant(account, scope, time.time() + self.access_token_ttl_s)
            self._refresh[refresh] = Grant(account, scope, time.time() + 182 * 86400)
        return {
            "access_token": access,
            "token_type": "Bearer",
            "scope": scope,
            "expires_in": self.access_token_ttl_s,
            "refresh_token": refresh,
        }

    def _basic_client(self, basic: str | None) -> str | None:
        if basic is None:
            return None
        try:
            return base64.b64decode(basic).decode().split(":", 1)[0]
        except ValueError:
            return None

    def _basic_expected(self) -> str:
        pair = f"{self.client_id}:{self.client_secret or ''}"
        return base64.b64encode(pair.encode()).decode()

    def account_for(self, bearer: str | None) -> str | None:
        with self._lock:
            grant = self._access.get(bearer or "")
            if grant is None or grant.expires_at < time.time():
                return None
            return grant.account

    def recently_played(self, account: str, query: dict[str, str]) -> tuple[int, dict]:
        limit = int(query.get("limit", "20"))
        if not 1 <= limit <= 50 or ("after" in query and "before" in query):
            return 400, error_body(400, "Invalid limit, after or before")
        with self._lock:
            timeline = [p for p in self.accounts.get(account, Account()).plays]
            now = self.now_ms if self.now_ms is not None else int(time.time() * 1000)
        window = [p for p in timeline if p.played_at_ms <= now][-WINDOW:]
        if "after" in query:
            after = int(query["after"])
            chosen = [p for p in window if p.played_at_ms > after][:limit]
        elif "before" in query:
            before = int(query["before"])
            chosen = [p for p in window if p.played_at_ms < before][-limit:]
        else:
            chosen = window[-limit:]
        chosen = sorted(chosen, key=lambda p: p.played_at_ms, reverse=True)
        return 200, self._play_page(chosen, limit, query)

    def _play_page(self, chosen: list[Play], limit: int, query: dict[str, str]) -> dict:
        href = f"{self.api_url}me/player/recently-played?{urlencode(query)}"
        page: dict = {"href": href, "limit": limit, "items": [], "cursors": None, "next": None}
        page["items"] = [
            {
                "track": track_object(p.track_id, self.api_url),
                "played_at": iso_ms(p.played_at_ms),
                "context": context_object(p.context_uri, self.api_url),
            }
            for p in chosen
        ]
        if chosen:
            newest, oldest = chosen[0].played_at_ms, chosen[-1].played_at_ms
            page["cursors"] = {"after": str(newest), "before": str(oldest)}
            page["next"] = f"{self.api_url}me/player/recently-played?before={oldest}&limit={limit}"
        return page

    def known_track(self, track_id: str) -> bool:
        with self._lock:
            if track_id in self.unknown_tracks:
                return False
            return any(
                play.track_id == track_id
                for account in self.accounts.values()
                for play in account.plays
            )

    def audio_features(self, ids: list[str]) -> tuple[int, dict]:
        if self.audio_features_status != 200:
            return self.audio_features_status, error_body(self.audio_features_status, "Forbidden")
        return 200, {
            "audio_features": [
                spotify_features(i, self.api_url) if self.known_track(i) else None for i in ids
            ]
        }

    def reccobeats(self, ids: list[str]) -> tuple[int, dict]:
        content = []
        for track_id in ids:
            if self.known_track(track_id) and track_id not in self.reccobeats_missing:
                content.append(reccobeats_features(track_id))
        return 200, {"content": content}


def error_body(status: int, message: str) -> dict:
    return {"error": {"status": status, "message": message}}


def _pick(seed: str, low: float, high: float, digits: int = 3) -> float:
    fraction = int(hashlib.sha256(seed.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return round(low + fraction * (high - low), digits)


def _urls(kind: str, item_id: str, api_url: str) -> dict:
    return {
        "external_urls": {"spotify": f"https://open.spotify.com/{kind}/{item_id}"},
        "href": f"{api_url}{kind}s/{item_id}",
        "id": item_id,
        "uri": f"spotify:{kind}:{item_id}",
    }


def track_object(track_id: str, api_url: str) -> dict:
    """A full TrackObject, deterministic from the id."""
    number = int(_pick(track_id, 0, 40, 0))
    artist_id = spotify_id(f"artist-{number % 12}")
    artist = {
        **_urls("artist", artist_id, api_url),
        "name": f"Artist {number % 12}",
        "type": "artist",
    }
    album_id = spotify_id(f"album-{number % 20}")
    album = {
        **_urls("album", album_id, api_url),
        "album_type": "album",
        "total_tracks": 10,
        "available_markets": ["DE", "US"],
        "images": [{"url": f"https://i.scdn.co/image/{album_id}", "height": 640, "width": 640}],
        "name": f"Album {number % 20}",
        "release_date": f"{2000 + number % 24}-05-01",
        "release_date_precision": "day",
        "type": "album",
        "artists": [artist],
    }
    return {
        **_urls("track", track_id, api_url),
        "album": album,
        "artists": [artist],
        "available_markets": ["DE", "US"],
        "disc_number": 1,
        "duration_ms": int(_pick(track_id + "d", 120_000, 360_000, 0)),
        "explicit": number % 7 == 0,
        "external_ids": {"isrc": f"QZ{track_id[:10].upper()}"},
        "is_local": False,
        "name": f"Song {track_id[:6]}",
        "popularity": number * 2,
        "preview_url": None,
        "track_number": number % 10 + 1,
        "type": "track",
    }


def context_object(uri: str | None, api_url: str) -> dict | None:
    if uri is None:
        return None
    kind, item_id = uri.split(":")[1:3]
    return {**{k: v for k, v in _urls(kind, item_id, api_url).items() if k != "id"}, "type": kind}


def _features(track_id: str) -> dict:
    return {
        "acousticness": _pick(track_id + "a", 0, 1),
        "danceability": _pick(track_id + "dn", 0, 1),
        "energy": _pick(track_id + "e", 0, 1),
        "instrumentalness": _pick(track_id + "i", 0, 1),
        "key": int(_pick(track_id + "k", 0, 11, 0)),
        "liveness": _pick(track_id + "l", 0, 1),
        "loudness": _pick(track_id + "lo", -30, 0),
        "mode": int(_pick(track_id + "m", 0, 1, 0)),
        "speechiness": _pick(track_id + "s", 0, 1),
        "tempo": _pick(track_id + "t", 60, 180),
        "valence": _pick(track_id + "v", 0, 1),
    }


def spotify_features(track_id: str, api_url: str) -> dict:
    return {
        **_features(track_id),
        "analysis_url": f"{api_url}audio-analysis/{track_id}",
        "duration_ms": int(_pick(track_id + "d", 120_000, 360_000, 0)),
        "id": track_id,
        "time_signature": 4,
        "track_href": f"{api_url}tracks/{track_id}",
        "type": "audio_features",
        "uri": f"spotify:track:{track_id}",
    }


def reccobeats_features(track_id: str) -> dict:
    return {
        "id": spotify_id("reccobeats-" + track_id),
        "href": f"https://open.spotify.com/track/{track_id}",
        **_features(track_id),
    }


class _Handler(BaseHTTPRequestHandler):
    fake: FakeSpotify
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass  # quiet: request lines carry codes and tokens

    def do_GET(self) -> None:  # noqa: N802
        self._serve("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._serve("POST")

    def _serve(self, method: str) -> None:
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        with self.fake._lock:
            self.fake.requests.append((method, self.path))
        fault = self.fake.take_fault(parts.path)
        if fault is not None and fault.delay_s:
            time.sleep(fault.delay_s)
        if fault is not None and fault.status is not None:
            headers = (
                {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            )
            body = error_body(fault.status, fault.message or _REASONS.get(fault.status, "Error"))
            self._send(fault.status, body, headers)
            return
        status, body, headers = self._route(method, parts.path, query)
        self._send(status, body, headers, truncate=fault is not None and fault.truncate)

    def _route(self, method: str, path: str, query: dict[str, str]) -> tuple[int, object, dict]:
        fake = self.fake
        if method == "GET" and path == "/authorize":
            status, headers = fake.authorize(query)
            return status, None if status == 302 else error_body(400, "Invalid request"), headers
        if method == "POST" and path == "/api/token":
            return (*fake.token(self._form(), self._basic()), {})
        if method == "GET" and path.startswith("/reccobeats/v1/audio-features"):
            return (*fake.reccobeats(_ids(query)), {})
        if not path.startswith("/v1/") or method != "GET":
            return 404, error_body(404, "Service not found"), {}
        account = fake.account_for(self._bearer())
        if account is None:
            return 401, error_body(401, "The access token expired"), {}
        return (*self._api(account, path[len("/v1/") :].rstrip("/"), query), {})

    def _api(self, account: str, path: str, query: dict[str, str]) -> tuple[int, object]:
        fake = self.fake
        if path == "me":
            return 200, {
                **_urls("user", spotify_id(account), fake.api_url),
                "type": "user",
                "display_name": "Fake Listener",
            }
        if path == "me/player/recently-played":
            return fake.recently_played(account, query)
        if path.startswith("tracks/"):
            track_id = path.split("/", 1)[1]
            if fake.known_track(track_id):
                return 200, track_object(track_id, fake.api_url)
            return 404, error_body(404, "Resource not found")
        if path == "audio-features":
            return fake.audio_features(_ids(query))
        return 404, error_body(404, "Service not found")

    def _form(self) -> dict[str, str]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode()
        return {k: v[-1] for k, v in parse_qs(raw).items()}

    def _basic(self) -> str | None:
        header = self.headers.get("Authorization", "")
        return header[len("Basic ") :] if header.startswith("Basic ") else None

    def _bearer(self) -> str | None:
        header = self.headers.get("Authorization", "")
        return header[len("Bearer ") :] if header.startswith("Bearer ") else None

    def _send(self, status: int, body: object, headers: dict, *, truncate: bool = False) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        if truncate:
            data = data[: max(1, len(data) // 2)]
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if body is not None:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


_REASONS = {
    401: "The access token expired",
    403: "Forbidden",
    404: "Resource not found",
    429: "API rate limit exceeded",
    500: "Server error",
    502: "Bad gateway",
    503: "Service unavailable",
}


def _ids(query: dict[str, str]) -> list[str]:
    return [i for i in query.get("ids", "").split(",") if i]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A fake Spotify on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=8899)
    parser.add_argument("--plays", type=int, default=120, help="plays in the demo timeline")
    parser.add_argument("--client-id", default=DEFAULT_CLIENT_ID)
    args = parser.parse_args(argv)
    fake = FakeSpotify(client_id=args.client_id)
    step, start = 4 * 60_000, int(time.time() * 1000)
    fake.add_plays(
        (start - (args.plays - n) * step, spotify_id(f"track-{n % 60}")) for n in range(args.plays)
    )
    fake.start(args.port)
    print(f"fake Spotify on {fake.root_url} (demo data, not a real account)")
    print(f"  SPOTIFY_CLIENT_ID={fake.client_id}")
    print(f"  SPOTIFY_API_URL={fake.api_url}")
    print(f"  SPOTIFY_ACCOUNTS_URL={fake.accounts_url}")
    print(f"  SPOTIFY_ANALYTICS_RECCOBEATS_URL={fake.reccobeats_url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        fake.stop()


if __name__ == "__main__":
    main()
