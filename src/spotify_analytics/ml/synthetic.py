"""Synthetic listening with planted structure, for tests and benchmarks.

Never used for a user's analytics. The generator plants what the demo data
plants, so a model that learns something has something to learn:

- a mood curve over the local hour of day (valence peaks mid-afternoon, energy
  late morning) and a weekend lift;
- within-session AR(1) momentum: each play's deviation from the time target is
  ``phi`` times the previous play's deviation plus noise;
- tracks drawn from five mood families (one per quadrant, each with its own
  acousticness, tempo, loudness...), so distinct tracks form clusters.

``shuffle=True`` permutes the tracks across each user's plays: same marginal
distribution, no time or sequence structure (for "no pattern, no lift" tests).
Everything is vectorised so 10M plays take seconds.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy.spatial import cKDTree

from .quadrants import QUADRANTS

FAMILIES = {
    # name: (valence, energy, danceability, acousticness, instrumentalness,
    #        speechiness, liveness, loudness, tempo, genre)
    "happy-energetic": (0.8, 0.8, 0.78, 0.10, 0.05, 0.10, 0.25, -5.0, 126.0, "dance"),
    "happy-calm": (0.8, 0.25, 0.55, 0.80, 0.45, 0.04, 0.12, -14.0, 88.0, "acoustic"),
    "sad-energetic": (0.2, 0.8, 0.45, 0.12, 0.15, 0.18, 0.35, -6.0, 142.0, "metal"),
    "sad-calm": (0.2, 0.2, 0.30, 0.88, 0.70, 0.03, 0.10, -17.0, 74.0, "ambient"),
    "neutral": (0.5, 0.5, 0.62, 0.40, 0.20, 0.06, 0.18, -9.0, 108.0, "indie"),
}
FEATURES = ("danceability", "acousticness", "instrumentalness", "speechiness", "liveness")
START = np.datetime64("2025-01-06T00:00:00", "us")  # a Monday


def track_pool(n_tracks: int = 600, seed: int = 7) -> dict[str, np.ndarray]:
    """``n_tracks`` tracks from the five mood families (columns as arrays)."""
    rng = np.random.default_rng(seed)
    family = rng.integers(0, len(FAMILIES), n_tracks)
    spec = np.array([row[:9] for row in FAMILIES.values()], dtype=float)[family]
    noise = rng.normal(0.0, 1.0, (n_tracks, 9))
    scale = np.array([0.1, 0.1, 0.04, 0.04, 0.04, 0.015, 0.03, 1.0, 5.0])
    values = spec + noise * scale
    values[:, :7] = np.clip(values[:, :7], 0.0, 1.0)
    pool = {
        "valence": values[:, 0],
        "energy": values[:, 1],
        **{name: values[:, 2 + i] for i, name in enumerate(FEATURES)},
        "loudness": values[:, 7],
        "tempo": values[:, 8],
        "key": rng.integers(0, 12, n_tracks),
        "mode": rng.integers(0, 2, n_tracks),
        "time_signature": np.full(n_tracks, 4),
        "family": family,
    }
    return pool


def time_targets(hour: np.ndarray, weekend: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The planted valence and energy targets for a local hour and weekend flag."""
    valence = 0.5 + 0.22 * np.sin(2 * np.pi * (hour - 9) / 24) + 0.08 * weekend
    energy = 0.5 + 0.25 * np.sin(2 * np.pi * (hour - 5) / 24) + 0.05 * weekend
    return valence, energy


def planted_listening(
    users: int = 3,
    days: int = 90,
    sessions_per_day: float = 4.0,
    *,
    seed: int = 0,
    phi: float = 0.7,
    skip_rate: float = 0.1,
    shuffle: bool = False,
    pool_size: int = 600,
) -> pa.Table:
    """A ``listening_with_features`` table (docs/tables.md contract) with planted structure."""
    rng = np.random.default_rng(seed)
    pool = track_pool(pool_size, seed + 1)
    sessions = _sessions(rng, users, days, sessions_per_day)
    plays = _expand(rng, sessions)
    hour = ((plays["start"] - START) // np.timedelta64(1, "h")) % 24
    dow = _iso_weekday(plays["start"])
    weekend = (dow >= 6).astype(float)
    target_v, target_e = time_targets(hour.astype(float), weekend)
    dev_v, dev_e = _ar1(rng, plays["position"], phi)
    wanted = np.column_stack([np.clip(target_v + dev_v, 0, 1), np.clip(target_e + dev_e, 0, 1)])
    track = cKDTree(np.column_stack([pool["valence"], pool["energy"]])).query(wanted)[1]
    if shuffle:
        track = _shuffle_within(rng, track, plays["user"])
    return _to_table(rng, plays, track, pool, skip_rate)


def _sessions(rng: np.random.Generator, users: int, days: int, per_day: float) -> dict:
    counts = rng.poisson(per_day, (users, days))
    user = np.repeat(np.repeat(np.arange(users), days), counts.ravel())
    day = np.repeat(np.tile(np.arange(days), users), counts.ravel())
    peak = (np.arange(users) * 7 + 9) % 24  # each user has their own favourite hour
    hour = (peak[user] + np.round(rng.normal(0, 4, user.size))).astype(int) % 24
    minute = rng.integers(0, 60, user.size)
    start = START + (day * 1440 + hour * 60 + minute).astype("timedelta64[m]")
    length = 1 + rng.geometric(1 / 8, user.size)
    return {"user": user, "start": start, "length": length}


def _expand(rng: np.random.Generator, sessions: dict) -> dict:
    length = sessions["length"]
    session = np.repeat(np.arange(length.size), length)
    first = np.repeat(np.cumsum(length) - length, length)
    position = np.arange(session.size) - first
    gap = (position * 210 + rng.integers(-20, 20, session.size)).astype("timedelta64[s]")
    start = sessions["start"][session].astype("datetime64[us]") + gap
    return {
        "user": sessions["user"][session],
        "session": session,
        "position": position,
        "start": start,
    }


def _ar1(rng: np.random.Generator, position: np.ndarray, phi: float):
    n = position.size
    shock = rng.normal(0, 1, (2, n))
    dev = np.where(position == 0, 0.15 * shock, 0.0)
    innovation = 0.11 * shock
    for step in range(1, int(position.max()) + 1 if n else 0):
        at = np.flatnonzero(position == step)
        dev[:, at] = phi * dev[:, at - 1] + innovation[:, at]
    return dev[0], dev[1]


def _shuffle_within(rng: np.random.Generator, track: np.ndarray, user: np.ndarray) -> np.ndarray:
    order = np.lexsort((rng.random(user.size), user))
    shuffled = track.copy()
    shuffled[np.sort(order)] = track[order]
    return shuffled


def _iso_weekday(moments: np.ndarray) -> np.ndarray:
    days = moments.astype("datetime64[D]").astype(np.int64)
    return (days + 3) % 7 + 1


def _to_table(rng, plays: dict, track: np.ndarray, pool: dict, skip_rate: float) -> pa.Table:
    order = np.lexsort((plays["start"], plays["user"]))
    plays = {name: values[order] for name, values in plays.items()}
    track = track[order]
    n = track.size
    ended = plays["start"] + np.timedelta64(200, "s")
    is_skip = rng.random(n) < skip_rate
    ms_played = np.where(is_skip, rng.integers(2_000, 29_000, n), rng.integers(150_000, 240_000, n))
    user_id = pc.binary_join_element_wise("u", pa.array(plays["user"]).cast(pa.string()), "")
    number = pa.array(np.arange(n)).cast(pa.string())
    session, position = _gap_sessions(plays["user"], ended)
    session_no = pa.array(session).cast(pa.string())
    track_text = pa.array(track).cast(pa.string())
    hour = ((ended - START) // np.timedelta64(1, "h")) % 24
    dow = _iso_weekday(ended)
    features = {name: pool[name][track] for name in pool if name != "family"}
    family = pa.array(pool["family"][track])
    family_names = pa.array(list(FAMILIES)).take(family)
    genre = pa.array([row[9] for row in FAMILIES.values()]).take(family)
    real = rng.random(n) >= 0.1
    columns = {
        "play_id": pc.binary_join_element_wise("p", number, ""),
        "user_id": user_id,
        "played_at": pa.array(ended, pa.timestamp("us", tz="UTC")),
        "played_at_local": pa.array(ended, pa.timestamp("us")),
        "date": pa.array(ended.astype("datetime64[D]"), pa.date32()),
        "hour_of_day": pa.array(hour.astype(np.int32)),
        "day_of_week": pa.array(dow.astype(np.int32)),
        "is_weekend": pa.array(dow >= 6),
        "part_of_day": _part_of_day(hour),
        "session_id": pc.binary_join_element_wise(user_id, session_no, "-s"),
        "session_play_no": pa.array((position + 1).astype(np.int32)),
        "track_key": pc.binary_join_element_wise("artist ", track_text, "|title ", track_text, ""),
        "track_id": pc.binary_join_element_wise("syn", track_text, ""),
        "track_name": pc.binary_join_element_wise("title ", track_text, ""),
        "artist_name": pc.binary_join_element_wise("artist ", track_text, ""),
        "ms_played": pa.array(ms_played.astype(np.int64)),
        "is_skip": pa.array(is_skip),
        "is_music": pa.array(np.ones(n, dtype=bool)),
        **{name: pa.array(values) for name, values in features.items()},
        "feature_source": _pick(real, "catalog_id", "artist_profile"),
        "catalog_track_id": pc.if_else(
            pa.array(real), pc.binary_join_element_wise("syn", track_text, ""), None
        ),
        "feature_confidence": _pick(real, "high", "low"),
        "genres": pa.ListArray.from_arrays(pa.array(np.arange(n + 1, dtype=np.int32)), genre),
        "mood_quadrant": _quadrants(features["valence"], features["energy"]),
        "planted_family": family_names,
    }
    return pa.table(columns)


def _gap_sessions(user: np.ndarray, ended: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sessions as Silver defines them: a gap of more than 30 minutes starts one."""
    gap = np.diff(ended) > np.timedelta64(30, "m")
    new = np.concatenate([[True], gap | (np.diff(user) != 0)])
    session = np.cumsum(new) - 1
    first = np.flatnonzero(new)
    position = np.arange(user.size) - first[session]
    return session, position


def _part_of_day(hour: np.ndarray) -> pa.Array:
    labels = ["night"] * 6 + ["morning"] * 6 + ["afternoon"] * 6 + ["evening"] * 5 + ["night"]
    return pa.array(labels).take(pa.array(hour.astype(np.int8)))


def _pick(condition: np.ndarray, yes: str, no: str) -> pa.Array:
    return pa.array([no, yes]).take(pa.array(condition.astype(np.int8)))


def _quadrants(valence: np.ndarray, energy: np.ndarray) -> pa.Array:
    """The quadrant rule as indices into QUADRANTS (fast for millions of rows)."""
    high_v, low_v = valence >= 0.6, valence < 0.4
    high_e, low_e = energy >= 0.6, energy < 0.4
    index = np.select(
        [high_v & high_e, high_v & low_e, low_v & high_e, low_v & low_e], [0, 1, 2, 3], 4
    )
    return pa.array(list(QUADRANTS)).take(pa.array(index.astype(np.int8)))


def synthetic_catalog(n_tracks: int = 4000, *, seed: int = 3, duplicate_share: float = 0.2):
    """A ``catalog_tracks``-like table whose valence depends on the other features.

    ``duplicate_share`` of the tracks reappear under another genre with the same
    track_id (as in the Kaggle file) and some under a new id with the same
    artist and title (re-releases), to test that the split groups them.
    """
    rng = np.random.default_rng(seed)
    dance, energy, acoustic = rng.random((3, n_tracks))
    mode = rng.integers(0, 2, n_tracks)
    valence = np.clip(
        0.1
        + 0.5 * dance
        + 0.25 * energy * (1 - acoustic)
        + 0.1 * mode
        + rng.normal(0, 0.08, n_tracks),
        0,
        1,
    )
    ids = np.array([f"cat{i:06d}" for i in range(n_tracks)])
    genres = np.array(["pop", "rock", "jazz", "folk", "edm"])[rng.integers(0, 5, n_tracks)]
    base = {
        "track_id": ids,
        "track_name": np.char.add("song ", ids),
        "artist_name": np.char.add("band ", (np.arange(n_tracks) % 500).astype(str)),
        "danceability": dance,
        "energy": energy,
        "acousticness": acoustic,
        "mode": mode,
        "valence": valence,
        "key": rng.integers(0, 12, n_tracks),
        "loudness": -20 + 15 * energy + rng.normal(0, 1, n_tracks),
        "speechiness": rng.random(n_tracks) * 0.2,
        "instrumentalness": rng.random(n_tracks),
        "liveness": rng.random(n_tracks) * 0.5,
        "tempo": 70 + 80 * energy,
        "time_signature": np.full(n_tracks, 4),
        "genre": genres,
    }
    again = np.flatnonzero(rng.random(n_tracks) < duplicate_share)
    reissued = np.flatnonzero(rng.random(n_tracks) < 0.05)
    rows = np.concatenate([np.arange(n_tracks), again, reissued])
    kind = np.repeat([0, 1, 2], [n_tracks, again.size, reissued.size])
    table = {name: values[rows] for name, values in base.items()}
    table["genre"] = np.where(kind == 1, "chill", table["genre"])
    table["track_id"] = np.where(kind == 2, np.char.add(table["track_id"], "r"), table["track_id"])
    genres_col = pa.array([[g] for g in table.pop("genre").tolist()], pa.list_(pa.string()))
    return pa.table({**{k: pa.array(v) for k, v in table.items()}, "genres": genres_col})


def write_planted_lake(lake, *, catalog_tracks: int = 3000, **options) -> None:
    """Write planted ``listening_with_features`` and ``catalog_tracks`` into ``lake``
    (a :class:`~spotify_analytics.lake.Lake`), as Silver would."""
    lake.overwrite("silver/listening_with_features", planted_listening(**options))
    lake.overwrite("silver/catalog_tracks", synthetic_catalog(catalog_tracks))
