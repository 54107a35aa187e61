"""The one retry policy for every remote call (spotipy's own retries are off).

- 429: wait ``Retry-After`` when it is at most ``settings.max_retry_after_s``;
  longer waits are stored as a cooldown in ``_state/`` and end the command with
  :class:`~spotify_analytics.errors.CooldownError` (exit 75). While a cooldown
  runs, calls are refused before anything is sent.
- 5xx, timeouts, refused connections and truncated JSON: bounded exponential
  backoff, then :class:`ServiceError` (exit 69).
- 401: one refresh of the access token, then
  :class:`~spotify_analytics.errors.AuthError` (exit 77).
- Other statuses are raised as :class:`HttpStatusError` for the caller to judge.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import requests
from spotipy.exceptions import SpotifyException

from ..errors import AuthError, CooldownError, SpotifyAnalyticsError
from ..settings import Settings
from .redact import LOGGER, redact
from .state import LiveState, format_duration

log = logging.getLogger(LOGGER)
T = TypeVar("T")


class ServiceError(SpotifyAnalyticsError):
    """A remote service kept failing (5xx, timeouts, broken answers); try again later."""

    exit_code = 69


class HttpStatusError(Exception):
    """A non-retryable HTTP status, for the caller to interpret."""

    def __init__(self, status: int, message: str, headers: dict | None = None):
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message
        self.headers = headers or {}


class MalformedResponse(Exception):
    """A 2xx answer whose body is not the JSON expected (e.g. truncated)."""


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    base_s: float = 0.5
    cap_s: float = 8.0

    def delay(self, attempt: int) -> float:
        return min(self.cap_s, self.base_s * 2**attempt)


DEFAULT_POLICY = RetryPolicy()


@dataclass(frozen=True)
class Failure:
    """One failed attempt: HTTP status (None for network trouble), headers, message."""

    status: int | None
    headers: dict
    message: str

    def describe(self) -> str:
        return self.message if self.status is None else f"HTTP {self.status} ({self.message})"


class Retrier:
    """Runs calls to one service under the retry policy and its cooldown."""

    def __init__(
        self,
        service: str,
        state: LiveState,
        settings: Settings,
        *,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.service = service
        self.state = state
        self.settings = settings
        self.policy = policy or DEFAULT_POLICY
        self.sleep = sleep

    def check_cooldown(self) -> None:
        cooldown = self.state.cooldown(self.service)
        if cooldown is not None:
            raise CooldownError(
                f"{self.service}: cooling down {cooldown.describe()} after {cooldown.reason}; "
                "nothing was requested; run again after that"
            )

    def call(
        self,
        what: str,
        function: Callable[[], T],
        *,
        on_unauthorized: Callable[[], None] | None = None,
    ) -> T:
        """``function()`` under the policy; ``what`` names the call in messages."""
        self.check_cooldown()
        refreshed, problem = False, "no answer"
        for attempt in range(self.policy.attempts):
            try:
                return _checked(function())
            except (
                SpotifyException,
                HttpStatusError,
                MalformedResponse,
                requests.Timeout,
                requests.ConnectionError,
            ) as error:
                failure = self._failure(error)
            if failure.status == 429:
                problem = "HTTP 429 (rate limited)"
                self._wait_or_cool_down(what, failure.headers)
            elif failure.status == 401 and on_unauthorized is not None and not refreshed:
                refreshed = True
                on_unauthorized()
            elif failure.status == 401:
                raise AuthError(
                    f"{what}: Spotify refused the access token (401) even after a refresh; "
                    "run `spotify-analytics login` again"
                )
            elif failure.status is not None and failure.status < 500:
                raise HttpStatusError(failure.status, failure.message, failure.headers)
            else:
                problem = failure.describe()
                self._back_off(what, problem, attempt)
        raise ServiceError(
            redact(
                f"{what}: {self.service} kept failing ({problem}) after "
                f"{self.policy.attempts} attempts; nothing more was stored; try again later"
            )
        )

    def _failure(self, error: Exception) -> Failure:
        if isinstance(error, SpotifyException):
            return Failure(error.http_status, dict(error.headers or {}), _spotify_message(error))
        if isinstance(error, HttpStatusError):
            return Failure(error.status, error.headers, error.message)
        if isinstance(error, requests.Timeout):
            return Failure(None, {}, f"no answer within {self.settings.http_timeout_s:g} s")
        if isinstance(error, requests.ConnectionError):
            return Failure(None, {}, "connection failed")
        return Failure(None, {}, str(error))

    def _back_off(self, what: str, problem: str, attempt: int) -> None:
        log.warning(redact(f"{what}: {problem}; attempt {attempt + 1} of {self.policy.attempts}"))
        if attempt + 1 < self.policy.attempts:
            self.sleep(self.policy.delay(attempt))

    def _wait_or_cool_down(self, what: str, headers: dict) -> None:
        wait = retry_after_s(headers)
        if wait <= self.settings.max_retry_after_s:
            log.warning(f"{what}: rate limited (429); waiting {wait:g} s as asked")
            self.sleep(wait)
            return
        reason = f"429 with Retry-After {wait:g} s ({format_duration(wait)}) on {what}"
        cooldown = self.state.set_cooldown(self.service, wait, reason)
        raise CooldownError(
            f"{what}: {self.service} rate limit: Retry-After is {wait:g} s, more than the "
            f"{self.settings.max_retry_after_s} s we wait; stopped, cooling down "
            f"{cooldown.describe()}; the next run resumes after that"
        )


def retry_after_s(headers: dict) -> float:
    """Seconds from a ``Retry-After`` header (1 s when missing or unreadable)."""
    for name, value in headers.items():
        if name.lower() == "retry-after":
            try:
                return max(0.0, float(value))
            except (TypeError, ValueError):
                return 1.0
    return 1.0


def _checked(result: T) -> T:
    if result is None:
        raise MalformedResponse("the answer was not complete JSON (truncated or empty)")
    return result


def _spotify_message(error: SpotifyException) -> str:
    text = str(error.msg or "").split("\n")[-1].strip()
    return redact(text or "no message")
