"""One user's live refresh (poll, track metadata, audio features) and its status.

Each step's failure is recorded in ``_state/spotify.json`` (``errors.<step>``)
and raised; a step that succeeds clears its recorded error.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import requests

from ..errors import SpotifyAnalyticsError
from ..lake import Lake
from ..settings import Settings
from .auth import logged_in_users
from .client import SpotifyClient
from .poll import PollReport, poll_user
from .providers import FeaturesReport, fetch_features
from .retry import RetryPolicy
from .state import Cooldown, LiveState, format_duration
from .tracks import TracksReport, fetch_tracks

STEPS = ("poll", "tracks", "features")


@dataclass
class UserRefresh:
    user: str
    poll: PollReport | None = None
    tracks: TracksReport | None = None
    features: FeaturesReport | None = None


def refresh_user(
    lake: Lake,
    settings: Settings,
    user: str,
    *,
    session: requests.Session | None = None,
    policy: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> UserRefresh:
    """Poll ``user``, then fetch unknown tracks, then audio features; stop at a failure."""
    state = LiveState(lake)
    result = UserRefresh(user)
    step = "poll"
    try:
        client = SpotifyClient(lake, settings, user, session=session, policy=policy, sleep=sleep)
        result.poll = poll_user(lake, settings, user, client)
        state.clear_error(user, step)
        step = "tracks"
        result.tracks = fetch_tracks(lake, client)
        state.clear_error(user, step)
        step = "features"
        result.features = fetch_features(lake, settings, client, policy=policy, sleep=sleep)
        state.clear_error(user, step)
    except SpotifyAnalyticsError as error:
        state.record_error(user, step, str(error), error.exit_code)
        error.live_step = step  # type: ignore[attr-defined]  # for the scheduler's report
        raise
    return result


def live_status(lake: Lake) -> dict:
    """Per user: logged in, last poll, cursor, last errors; plus running cooldowns."""
    data = LiveState(lake).read()
    users = data.get("users", {})
    logged_in = set(logged_in_users(lake))
    now = time.time()
    cooldowns = {}
    for service, entry in data.get("cooldowns", {}).items():
        cooldown = Cooldown(service, float(entry.get("until_epoch", 0)), entry.get("reason", ""))
        if cooldown.remaining_s(now) > 0:
            cooldowns[service] = {
                "until": entry.get("until"),
                "reason": cooldown.reason,
                "remaining": format_duration(cooldown.remaining_s(now)),
            }
    return {
        "users": [
            {
                "user": user,
                "logged_in": user in logged_in,
                "last_poll_at": users.get(user, {}).get("last_poll_at"),
                "cursor": users.get(user, {}).get("cursor"),
                "last_poll": users.get(user, {}).get("last_poll"),
                "errors": users.get(user, {}).get("errors", {}),
            }
            for user in sorted(logged_in | set(users))
        ],
        "cooldowns": cooldowns,
        "errors": data.get("errors", {}),
    }
