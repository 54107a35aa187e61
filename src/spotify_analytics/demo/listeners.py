"""Three generated listeners whose plays carry known patterns (DEMO DATA).

Each listener lives in an IANA zone (``demo-alex`` Europe/Berlin, ``demo-sam``
America/New_York, ``demo-kim`` Asia/Tokyo). Sessions are drawn day by day in
*local* time (daily and weekly rhythms), then converted to UTC with the zone's
rules, so DST is handled the way Spotify's own timestamps are.

Planted patterns (docs/demo.md has the measured sizes):

- **Target mood** per play = user base + hour-of-day offset (calm, low-valence
  mornings: valence -0.16 / energy -0.20 at 06-09; happier afternoons: valence
  +0.13 at 12-17) + weekend valence +0.07 + Friday/Saturday evening energy
  +0.25 (19:00-01:59 local, valence +0.05 too).
- **Momentum** inside a session: ``desired = target + 0.5 * (previous - target)
  + N(0, 0.08)``, per valence and energy (the previous non-skipped play of the
  session; the first play is ``target + N(0, 0.12)``).
- Tracks are drawn from a per-user pool (favourite genres, Zipf-like favourite
  weights) with weight ``exp(-d^2 / (2 * 0.05^2))`` around ``desired``.
- **Skips** (< 30 s) get likelier the further a track is from the target:
  ``p = min(0.7, 0.06 + 1.1 * max(0, d_target - 0.12))``; a skip does not move
  the momentum. **Repeats**: 5% of plays replay the previous track.
- A few podcast episodes per user (``is_music`` false).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from .catalog import Catalog
from .genres import GENRES

SEED = 20260102
FIRST_DAY = date(2025, 10, 1)
LAST_DAY = date(2026, 10, 31)
SESSION_GAP_S = 31 * 60  # more than the pipeline's 30-minute session gap
POOL_SIZE = 2500
MOMENTUM = 0.5
STEP_SD = 0.08
FIRST_SD = 0.12
KERNEL_SD = 0.05
REPEAT_P = 0.05
SKIP_BASE, SKIP_SLOPE, SKIP_FREE, SKIP_MAX = 0.06, 1.1, 0.12, 0.7
WEEKEND_VALENCE = 0.07
PARTY_ENERGY, PARTY_VALENCE = 0.25, 0.05

# local hour -> (valence, energy) offset
HOUR_VALENCE = np.array(
    [-0.10] * 5 + [-0.13] + [-0.16] * 4 + [-0.06] * 2 + [0.13] * 6 + [0.04] * 4 + [-0.04] * 2
)
HOUR_ENERGY = np.array(
    [-0.13] * 5 + [-0.20] + [-0.20] * 4 + [-0.06] * 2 + [0.06] * 6 + [0.06] * 4 + [-0.06] * 2
)


def _hours(text: str) -> np.ndarray:
    weights = np.array(text.split(), dtype=float)
    return weights / weights.sum()


@dataclass(frozen=True)
class Listener:
    """One demo user's tastes and rhythms."""

    user_id: str
    timezone: str
    country: str
    platforms: tuple[str, ...]
    genres: dict[str, float]
    base_valence: float
    base_energy: float
    sessions_per_day: tuple[float, float]  # weekday, weekend
    weekday_hours: np.ndarray = field(repr=False)
    weekend_hours: np.ndarray = field(repr=False)


def _genres(text: str) -> dict[str, float]:
    """``"techno:5 house:4"`` -> ``{"techno": 5.0, "house": 4.0}`` (relative pool shares)."""
    return {name: float(share) for name, share in (item.split(":") for item in text.split())}


LISTENERS: tuple[Listener, ...] = (
    Listener(
        user_id="demo-alex",
        timezone="Europe/Berlin",
        country="DE",
        platforms=("android", "windows"),
        genres=_genres(
            "techno:5 house:4 electronic:4 indie:3 alt-rock:3 deep-house:2 ambient:2 chill:2 "
            "synth-pop:1"
        ),
        base_valence=0.48,
        base_energy=0.62,
        sessions_per_day=(0.95, 1.2),
        weekday_hours=_hours("1 0 0 0 0 0 2 6 6 3 2 2 4 3 2 3 3 5 6 6 6 5 4 2"),
        weekend_hours=_hours("3 2 1 0 0 0 0 1 2 4 6 6 5 5 5 5 5 5 5 6 7 7 6 5"),
    ),
    Listener(
        user_id="demo-sam",
        timezone="America/New_York",
        country="US",
        platforms=("ios", "osx"),
        genres=_genres("hip-hop:5 r-n-b:4 soul:3 pop:3 jazz:2 rock:2 acoustic:2 funk:1 sad:1"),
        base_valence=0.55,
        base_energy=0.58,
        sessions_per_day=(0.9, 1.15),
        weekday_hours=_hours("1 0 0 0 0 1 3 6 5 3 2 2 4 3 2 2 3 5 5 6 6 6 4 2"),
        weekend_hours=_hours("2 1 0 0 0 0 0 1 2 4 5 6 6 5 5 5 5 5 5 6 6 6 5 4"),
    ),
    Listener(
        user_id="demo-kim",
        timezone="Asia/Tokyo",
        country="JP",
        platforms=("android", "windows"),
        genres=_genres(
            "j-pop:5 j-rock:3 anime:3 k-pop:3 piano:2 classical:2 j-idol:1 study:1 happy:1"
        ),
        base_valence=0.45,
        base_energy=0.50,
        sessions_per_day=(1.0, 1.2),
        weekday_hours=_hours("3 2 1 0 0 0 1 4 5 3 2 2 4 3 2 3 4 5 5 6 7 7 6 5"),
        weekend_hours=_hours("4 3 2 1 0 0 0 0 1 2 4 5 5 5 5 5 5 5 6 6 7 7 6 5"),
    ),
)


@dataclass
class Listening:
    """One listener's generated plays (music and podcasts), sorted by end time.

    ``track`` indexes :meth:`Catalog.tracks` (-1 for a podcast episode).
    """

    listener: Listener
    end_ms: np.ndarray  # UTC epoch milliseconds, end of play
    ms_played: np.ndarray
    track: np.ndarray
    session: np.ndarray
    skipped: np.ndarray
    reason_start: np.ndarray
    reason_end: np.ndarray
    shuffle: np.ndarray
    offline: np.ndarray
    platform: np.ndarray  # index into listener.platforms

    @property
    def is_music(self) -> np.ndarray:
        return self.track >= 0

    def take(self, rows: np.ndarray) -> Listening:
        fields = {name: getattr(self, name)[rows] for name in _COLUMNS}
        return Listening(self.listener, **fields)


_COLUMNS = (
    "end_ms",
    "ms_played",
    "track",
    "session",
    "skipped",
    "reason_start",
    "reason_end",
    "shuffle",
    "offline",
    "platform",
)


def generate_listening(
    catalog: Catalog, listener: Listener, number: int, seed: int = SEED
) -> Listening:
    """All plays of one listener between :data:`FIRST_DAY` and :data:`LAST_DAY` (local)."""
    rng = np.random.default_rng([seed, number])
    tracks = catalog.tracks()
    pool, weight = _pool(rng, tracks, listener)
    sessions = _sessions(rng, listener)
    plays = _walk(rng, listener, sessions, tracks, pool, weight)
    podcast_sessions, podcasts = _podcasts(rng, len(sessions.length))
    return _finish(listener, _concat(sessions, podcast_sessions), _concat(plays, podcasts))


def _concat(first, second):
    """Join two dataclasses of arrays column by column."""
    return type(first)(
        **{
            name: np.concatenate([getattr(first, name), getattr(second, name)])
            for name in first.__dataclass_fields__
        }
    )


# -- taste ----------------------------------------------------------------------------


def _pool(
    rng: np.random.Generator, tracks: dict[str, np.ndarray], listener: Listener
) -> tuple[np.ndarray, np.ndarray]:
    """Track indexes the listener draws from, and their log favourite weights."""
    genre_of = {name: g for g, name in enumerate(GENRES)}
    genre = np.array([genre_of[name] for name in tracks["track_genre"].tolist()])
    total = sum(listener.genres.values())
    chosen = []
    for name, share in listener.genres.items():
        candidates = np.flatnonzero(genre == genre_of[name])
        size = min(len(candidates), round(POOL_SIZE * share / total))
        chosen.append(rng.choice(candidates, size, replace=False))
    pool = rng.permutation(np.concatenate(chosen))
    log_weight = -0.8 * np.log1p(np.arange(len(pool)))
    return pool, log_weight


# -- when -----------------------------------------------------------------------------


@dataclass
class _Sessions:
    start_local_s: np.ndarray  # naive local wall-clock seconds since 1970-01-01
    length: np.ndarray
    platform: np.ndarray  # index into the listener's platforms
    shuffle: np.ndarray
    offline: np.ndarray


def _sessions(rng: np.random.Generator, listener: Listener) -> _Sessions:
    first = (FIRST_DAY - date(1970, 1, 1)).days
    days = np.arange(first, (LAST_DAY - date(1970, 1, 1)).days + 1)
    weekend = _weekday(days) >= 5
    rate = np.where(weekend, listener.sessions_per_day[1], listener.sessions_per_day[0])
    day = np.repeat(days, rng.poisson(rate))
    on_weekend = _weekday(day) >= 5
    hour = np.where(
        on_weekend,
        rng.choice(24, len(day), p=listener.weekend_hours),
        rng.choice(24, len(day), p=listener.weekday_hours),
    )
    start = day * 86400 + hour * 3600 + rng.integers(0, 3600, len(day))
    start.sort()
    n = len(start)
    return _Sessions(
        start_local_s=start,
        length=np.minimum(rng.geometric(1 / 8, n), 60),
        platform=(rng.random(n) < 0.3).astype(np.int64),
        shuffle=rng.random(n) < 0.35,
        offline=rng.random(n) < 0.02,
    )


def _weekday(days: np.ndarray) -> np.ndarray:
    """ISO weekday index, Monday = 0, of days since 1970-01-01 (a Thursday)."""
    return (days + 3) % 7


def target_mood(listener: Listener, local_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The planted target (valence, energy) at naive local times (seconds since 1970)."""
    hour = (local_s // 3600) % 24
    weekday = _weekday(local_s // 86400)
    weekend = weekday >= 5
    party = ((weekday == 4) | (weekday == 5)) & (hour >= 19) | ((weekday == 5) | (weekday == 6)) & (
        hour < 2
    )
    valence = (
        listener.base_valence
        + HOUR_VALENCE[hour]
        + WEEKEND_VALENCE * weekend
        + PARTY_VALENCE * party
    )
    energy = listener.base_energy + HOUR_ENERGY[hour] + PARTY_ENERGY * party
    return valence, energy


# -- what -----------------------------------------------------------------------------


@dataclass
class _Plays:
    session: np.ndarray
    start_local_s: np.ndarray  # float, naive local seconds
    offset_ms: np.ndarray  # start of the play after the session's start
    ms_played: np.ndarray
    track: np.ndarray
    skipped: np.ndarray
    reason_start: np.ndarray
    reason_end: np.ndarray


def _walk(rng, listener, sessions, tracks, pool, log_weight) -> _Plays:
    """Play every session step by step (vectorised across sessions)."""
    n_sessions = len(sessions.length)
    pool_v, pool_e = tracks["valence"][pool], tracks["energy"][pool]
    duration = tracks["duration_ms"][pool]
    state_v, state_e = np.zeros(n_sessions), np.zeros(n_sessions)
    elapsed_ms = np.zeros(n_sessions)
    previous = np.full(n_sessions, -1)
    previous_skip = np.zeros(n_sessions, dtype=bool)
    out: dict[str, list[np.ndarray]] = {
        k: [] for k in ("session", "offset", "ms", "pick", "skip", "start")
    }
    for k in range(int(sessions.length.max())):
        live = np.flatnonzero(sessions.length > k)
        local = sessions.start_local_s[live] + elapsed_ms[live] / 1000
        target_v, target_e = target_mood(listener, local.astype(np.int64))
        want_v = _wanted(rng, k, target_v, state_v[live])
        want_e = _wanted(rng, k, target_e, state_e[live])
        pick = _draw(rng, want_v, want_e, pool_v, pool_e, log_weight)
        repeat = (k > 0) & (rng.random(len(live)) < REPEAT_P)
        pick = np.where(repeat, previous[live], pick)
        skip = _skips(rng, np.hypot(pool_v[pick] - target_v, pool_e[pick] - target_e))
        ms = _ms_played(rng, duration[pick], skip, sessions.length[live] == k + 1)
        kept = live[~skip]
        state_v[kept], state_e[kept] = pool_v[pick[~skip]], pool_e[pick[~skip]]
        code = np.where(repeat, 2, np.where(previous_skip[live], 1, 0))
        for name, values in (
            ("session", live),
            ("offset", elapsed_ms[live].copy()),
            ("ms", ms),
            ("pick", pick),
            ("skip", skip),
            ("start", code if k > 0 else np.full(len(live), -1)),
        ):
            out[name].append(values)
        elapsed_ms[live] += ms + _gaps_ms(rng, len(live))
        previous[live], previous_skip[live] = pick, skip
    return _assemble(rng, sessions, pool, duration, out)


def _wanted(rng, step: int, target: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """The mood a session wants next: AR(1) momentum pulled towards the target."""
    if step == 0:
        return target + rng.normal(0, FIRST_SD, len(target))
    return target + MOMENTUM * (previous - target) + rng.normal(0, STEP_SD, len(target))


def _skips(rng, distance: np.ndarray) -> np.ndarray:
    """Skip draws: likelier the further a track is from the time-of-day target."""
    p_skip = np.minimum(SKIP_MAX, SKIP_BASE + SKIP_SLOPE * np.maximum(0.0, distance - SKIP_FREE))
    return rng.random(len(distance)) < p_skip


def _gaps_ms(rng, n: int) -> np.ndarray:
    """Between tracks: 0-2.5 s, and 3% of the time a 2-20 minute pause."""
    gap = rng.uniform(0, 2500, n)
    return gap + np.where(rng.random(n) < 0.03, rng.uniform(120e3, 1200e3, n), 0.0)


def _draw(rng, want_v, want_e, pool_v, pool_e, log_weight) -> np.ndarray:
    """For each wanted (valence, energy): a pool index drawn with probability proportional
    to a Gaussian kernel times the favourite weight (inverse-CDF sampling per row)."""
    d2 = (pool_v[None, :] - want_v[:, None]) ** 2 + (pool_e[None, :] - want_e[:, None]) ** 2
    score = log_weight[None, :] - d2 / (2 * KERNEL_SD**2)
    score -= score.max(axis=1, keepdims=True)
    cumulative = np.cumsum(np.exp(score), axis=1)
    threshold = rng.random(len(want_v)) * cumulative[:, -1]
    return np.minimum((cumulative < threshold[:, None]).sum(axis=1), len(pool_v) - 1)


def _ms_played(rng, duration: np.ndarray, skip: np.ndarray, last: np.ndarray) -> np.ndarray:
    """Skips last 1.5-29 s; half of the sessions' last plays stop part-way; the rest play
    to the end."""
    n = len(duration)
    partial = last & (rng.random(n) < 0.5)
    ms = np.where(partial, rng.uniform(30_000, np.maximum(duration, 30_001)), duration)
    return np.where(skip, rng.uniform(1_500, 29_000, n), ms).astype(np.int64)


START_REASONS = np.array(["trackdone", "fwdbtn", "backbtn"])
OPENING_REASONS = np.array(["clickrow", "playbtn", "appload"])


def _assemble(rng, sessions: _Sessions, pool: np.ndarray, duration, out) -> _Plays:
    """Flatten the per-step arrays into plays ordered by session and time."""
    session = np.concatenate(out["session"])
    offset = np.concatenate(out["offset"])
    order = np.lexsort((offset, session))
    session, offset = session[order], offset[order]
    pick = np.concatenate(out["pick"])[order]
    ms = np.concatenate(out["ms"])[order]
    skip = np.concatenate(out["skip"])[order]
    start_code = np.concatenate(out["start"])[order]
    opening = OPENING_REASONS[rng.integers(0, 3, len(session))]
    reason_start = np.where(start_code < 0, opening, START_REASONS[np.maximum(start_code, 0)])
    reason_end = np.where(skip, "fwdbtn", np.where(ms < duration[pick], "endplay", "trackdone"))
    return _Plays(
        session=session,
        start_local_s=sessions.start_local_s[session] + offset / 1000,
        offset_ms=offset.astype(np.int64),
        ms_played=ms,
        track=pool[pick],
        skipped=skip,
        reason_start=reason_start,
        reason_end=reason_end,
    )


# -- podcasts, UTC and the final order --------------------------------------------------------

SHOWS = ("The Demo Morning Brief", "Synthetic Science Hour", "Made-Up Stories")


def _podcasts(rng: np.random.Generator, n_sessions: int) -> tuple[_Sessions, _Plays]:
    """About two dozen podcast episodes on weekday mornings, one per session."""
    first = (FIRST_DAY - date(1970, 1, 1)).days
    days = np.arange(first, (LAST_DAY - date(1970, 1, 1)).days + 1)
    days = days[_weekday(days) < 5]
    day = np.sort(rng.choice(days, 24, replace=False))
    start = day * 86400 + 7 * 3600 + rng.integers(0, 1800, len(day))
    n = len(day)
    sessions = _Sessions(
        start,
        np.ones(n, dtype=np.int64),
        np.zeros(n, dtype=np.int64),
        np.zeros(n, dtype=bool),
        np.zeros(n, dtype=bool),
    )
    plays = _Plays(
        session=np.arange(n_sessions, n_sessions + n),
        start_local_s=start.astype(float),
        offset_ms=np.zeros(n, dtype=np.int64),
        ms_played=rng.integers(12 * 60_000, 45 * 60_000, n),
        track=-1 - np.arange(n),  # -1 - episode number
        skipped=np.zeros(n, dtype=bool),
        reason_start=np.full(n, "playbtn"),
        reason_end=np.full(n, "endplay"),
    )
    return sessions, plays


def _utc_starts_ms(listener: Listener, start_local_s: np.ndarray) -> np.ndarray:
    """Naive local wall-clock seconds -> UTC epoch milliseconds, with the zone's DST rules."""
    zone = ZoneInfo(listener.timezone)
    epoch = datetime(1970, 1, 1)
    return np.array(
        [
            int((epoch + timedelta(seconds=int(s))).replace(tzinfo=zone).timestamp()) * 1000
            for s in start_local_s.tolist()
        ],
        dtype=np.int64,
    )


def _finish(listener: Listener, sessions: _Sessions, plays: _Plays) -> Listening:
    """Convert to UTC, drop sessions that would start within 31 minutes of the previous
    one's end (so a session is a session), and sort by end time."""
    start_ms = _utc_starts_ms(listener, sessions.start_local_s)
    end_ms = start_ms[plays.session] + plays.offset_ms + plays.ms_played
    session_end = np.zeros(len(start_ms), dtype=np.int64)
    np.maximum.at(session_end, plays.session, end_ms)
    keep = np.zeros(len(start_ms), dtype=bool)
    free_from = np.iinfo(np.int64).min
    for s in np.argsort(start_ms, kind="stable").tolist():
        if start_ms[s] >= free_from:
            keep[s] = True
            free_from = session_end[s] + SESSION_GAP_S * 1000
    rows = np.flatnonzero(keep[plays.session])
    rows = rows[np.argsort(end_ms[rows], kind="stable")]
    session = plays.session[rows]
    return Listening(
        listener=listener,
        end_ms=end_ms[rows],
        ms_played=plays.ms_played[rows],
        track=plays.track[rows],
        session=session,
        skipped=plays.skipped[rows],
        reason_start=plays.reason_start[rows],
        reason_end=plays.reason_end[rows],
        shuffle=sessions.shuffle[session],
        offline=sessions.offline[session],
        platform=sessions.platform[session],
    )
