"""Keep secrets out of logs and error messages.

Tokens, the client secret and PKCE verifiers are registered as they are seen;
:func:`redact` replaces them (and anything shaped like a bearer token or a
token field) with ``[redacted]``. A logging filter applies it to the records of
spotipy, urllib3 and this package, whose debug output would otherwise carry
``Authorization`` headers and token request bodies.
"""

from __future__ import annotations

import logging
import re
import threading

MASK = "[redacted]"
_SCHEME = re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}")
_FIELD = re.compile(
    r"((?:access_token|refresh_token|code_verifier|client_secret)['\"]?\s*[:=]\s*['\"]?)"
    r"[A-Za-z0-9._~+/=-]{8,}"
)
LOGGER = "spotify_analytics.live"
_LOGGERS = (
    "spotipy",
    "spotipy.client",
    "spotipy.oauth2",
    "spotipy.cache_handler",
    "urllib3.connectionpool",
    LOGGER,
)

_known: set[str] = set()
_guard = threading.Lock()


def register(*secrets: str | None) -> None:
    """Remember values that must never be shown (short values are ignored)."""
    with _guard:
        _known.update(s for s in secrets if s and len(s) >= 8)


def redact(text: str) -> str:
    """``text`` with every registered secret and token-shaped value masked."""
    with _guard:
        known = sorted(_known, key=len, reverse=True)
    for secret in known:
        text = text.replace(secret, MASK)
    text = _SCHEME.sub(lambda m: f"{m.group(1)} {MASK}", text)
    return _FIELD.sub(lambda m: m.group(1) + MASK, text)


class RedactingFilter(logging.Filter):
    """Rewrites each record's message through :func:`redact`."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True
        if record.name.startswith("spotipy") and record.levelno >= logging.WARNING:
            return False  # HTTP errors: the retry layer reports each one, in its own words
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


def install_log_filter() -> None:
    """Attach the filter to the loggers that could see secrets (idempotent)."""
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())
