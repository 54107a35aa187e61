"""``login``: Authorization Code with PKCE, in a browser or headless.

Browser flow: a one-shot HTTP server on the redirect URI's loopback address and
port receives Spotify's redirect. Headless flow: print the authorize URL, read
the redirect URL the user pastes back. Either way the ``state`` must match the
one sent, the code is traded (with the PKCE verifier) for tokens cached 0600 in
``_state/tokens/<user>.json``, and ``/v1/me`` proves they work.
"""

from __future__ import annotations

import ipaddress
import secrets
import socket
import time
import webbrowser
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlsplit

import requests

from ..errors import AuthError, InputError
from ..lake import Lake
from ..settings import Settings
from .auth import LakeAuth
from .client import SpotifyClient
from .poll import ensure_user
from .state import LiveState

PAGE = b"<html><body><h1>Logged in.</h1><p>You can close this window.</p></body></html>"


def check_redirect_uri(uri: str, *, headless: bool) -> tuple[str, int, str]:
    """(host, port, path) of a redirect URI Spotify accepts.

    Spotify rejects ``localhost`` and plain http to anything but a loopback IP.
    """
    parts = urlsplit(uri)
    host = parts.hostname or ""
    if host == "localhost":
        raise InputError(
            f"redirect URI {uri}: Spotify rejects 'localhost'; use http://127.0.0.1:8888/callback"
        )
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if parts.scheme == "http" and not loopback:
        raise InputError(
            f"redirect URI {uri}: plain http is only accepted for a loopback IP "
            "(127.0.0.1 or [::1]); use https or a loopback address"
        )
    if parts.scheme not in ("http", "https"):
        raise InputError(f"redirect URI {uri}: must be http(s)")
    if not headless and not (parts.scheme == "http" and loopback and parts.port):
        raise InputError(
            f"redirect URI {uri}: the browser flow needs http://127.0.0.1:PORT/...; "
            "use --headless for other redirect URIs"
        )
    return host, parts.port or 0, parts.path or "/"


def code_from_redirect(url: str, state: str) -> str:
    """The authorization code in a redirect URL, after checking ``state``."""
    query = {k: v[-1] for k, v in parse_qs(urlsplit(url.strip()).query).items()}
    if query.get("state") != state:
        raise AuthError(
            "login: the redirect's state does not match this login attempt "
            "(stale or forged redirect); nothing was stored; run login again"
        )
    if "error" in query:
        raise AuthError(
            f"login: Spotify refused authorization ({query['error']}); nothing was stored"
        )
    if not query.get("code"):
        raise AuthError(
            "login: the redirect URL has no code; paste the whole URL the browser was sent to"
        )
    return query["code"]


class _HTTPServerV6(HTTPServer):
    address_family = socket.AF_INET6


class CallbackServer:
    """A one-shot HTTP server for the OAuth redirect on a loopback address."""

    def __init__(self, host: str, port: int, path: str):
        captured: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                if urlsplit(self.path).path != path:
                    self.send_error(404)
                    return
                captured.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(PAGE)))
                self.end_headers()
                self.wfile.write(PAGE)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass  # the request line carries the authorization code

        try:
            bare = host.strip("[]")
            server_class = _HTTPServerV6 if ":" in bare else HTTPServer
            self.server = server_class((bare, port), Handler)
        except OSError as error:
            raise AuthError(
                f"login: cannot listen on {host}:{port} ({error.strerror}); "
                "free the port, set SPOTIFY_REDIRECT_URI, or use --headless"
            ) from None
        self.captured = captured
        self.base = f"http://{host}:{port}"

    def wait(self, timeout_s: float) -> str:
        deadline = time.monotonic() + timeout_s
        while not self.captured:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AuthError(
                    f"login: no redirect arrived within {timeout_s:g} s; "
                    "nothing was stored; run login again (or use --headless)"
                )
            self.server.timeout = min(remaining, 1.0)
            self.server.handle_request()
        return self.base + self.captured[0]

    def close(self) -> None:
        self.server.server_close()


def login(
    lake: Lake,
    settings: Settings,
    user: str,
    *,
    headless: bool = False,
    open_url: Callable[[str], object] = webbrowser.open,
    read_line: Callable[[str], str] = input,
    say: Callable[[str], None] = print,
    timeout_s: float = 300.0,
    session: requests.Session | None = None,
) -> dict:
    """Log ``user`` in; returns a small summary (no tokens)."""
    host, port, path = check_redirect_uri(settings.spotify_redirect_uri, headless=headless)
    session = session or requests.Session()
    auth = LakeAuth(lake, settings, user, session)
    state = secrets.token_urlsafe(16)
    url = auth.get_authorize_url(state=state)
    if headless:
        say(f"Open this URL in a browser, log in and allow access:\n\n{url}\n")
        redirect = read_line("Paste the full URL the browser was redirected to: ")
    else:
        server = CallbackServer(host, port, path)
        try:
            say(f"Opening the browser; if it does not open, visit:\n\n{url}\n")
            open_url(url)
            redirect = server.wait(timeout_s)
        finally:
            server.close()
    auth.exchange_code(code_from_redirect(redirect, state))
    SpotifyClient(lake, settings, user, session=session).me()
    with lake.lock("login"):
        ensure_user(lake, user, settings)
    LiveState(lake).record_login(user)
    return {"user": user, "token_file": str(auth.cache_handler.path)}
