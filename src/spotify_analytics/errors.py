"""Errors that reach the user, each with its own exit code.

The CLI prints ``str(error)`` on one line and exits with ``error.exit_code``.
Messages name the input and the problem; they never carry secrets or personal
fields.
"""

from __future__ import annotations


class SpotifyAnalyticsError(Exception):
    """Base class: a failure the user can act on."""

    exit_code = 1


class InputError(SpotifyAnalyticsError):
    """An input file, folder or argument is unusable; nothing was written for it."""

    exit_code = 2


class LakeError(SpotifyAnalyticsError):
    """The lake folder is missing, not a lake, or a table in it is unreadable."""

    exit_code = 2


class LockedError(SpotifyAnalyticsError):
    """Another run holds the lake's lock."""

    exit_code = 3


class QualityError(SpotifyAnalyticsError):
    """A critical data-quality check failed; the run stopped."""

    exit_code = 4


class AuthError(SpotifyAnalyticsError):
    """Spotify credentials are missing, expired or revoked: `login` is needed."""

    exit_code = 77


class CooldownError(SpotifyAnalyticsError):
    """A remote service asked us to wait longer than we will; retry after the cooldown."""

    exit_code = 75
