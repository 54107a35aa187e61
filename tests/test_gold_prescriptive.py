"""Given/expected tests for the prescriptive Gold tables, on tiny Silver tables."""

from __future__ import annotations

import time

import pyarrow as pa
import pytest

from spotify_analytics.lake import Lake
from spotify_analytics.settings import Settings
from test_gold_diagnostic import FEATURES, at, build, by, play, write_listening

CATALOG_SCHEMA = pa.schema(
    [
        ("track_id", pa.string()),
        ("track_name", pa.string()),
        ("artist_name", pa.string()),
        ("artists", pa.string()),
        ("popularity", pa.int64()),
        ("genres", pa.list_(pa.string())),
        *[(name, pa.float64()) for name in FEATURES],
        ("n_catalog_rows", pa.int64()),
    ]
)


def track(track_id: str, genres: list[str], popularity: int = 50, **values) -> dict:
    """One Silver catalog_tracks row; features default to 0.5 (tempo 120, loudness -8)."""
    row = {
        "track_id": track_id,
        "track_name": f"Song {track_id}",
        "artist_name": f"artist {track_id}",
        "artists": f"artist {track_id}",
        "popularity": popularity,
        "genres": genres,
        **{name: 0.5 for name in FEATURES},
        "tempo": 120.0,
        "loudness": -8.0,
        "n_catalog_rows": len(genres),
    }
    row.update(values)
    return row


def write_catalog(lake: Lake, rows: list[dict]) -> None:
    lake.overwrite("silver/catalog_tracks", pa.Table.from_pylist(rows, CATALOG_SCHEMA))


# -- mood_improvement_recommendations ------------------------------------------------------


def lifting_history() -> list[dict]:
    """A user whose sessions go from sad tracks to 'up' (twice) and 'mid' (once)."""
    rows = []
    for day in range(2):
        session = {"session_id": f"s{day}", "genres": ["indie", "pop"]}
        rows.append(play(at=at(day, 8, 0), track="sad", valence=0.1, energy=0.3, **session))
        rows.append(play(at=at(day, 8, 4), track="up", valence=0.9, energy=0.8, **session))
    rows.append(play(at=at(2, 8, 0), track="sad", valence=0.1, energy=0.3, session_id="s2"))
    rows.append(play(at=at(2, 8, 4), track="mid", valence=0.7, energy=0.6, session_id="s2"))
    # a happy track that never followed a sadder one in its session
    rows.append(play(at=at(3, 8, 0), track="solo", valence=0.95, energy=0.9, session_id="s3"))
    # across sessions: 'cross' follows 'sad' in time but starts its own session
    rows.append(play(at=at(4, 8, 0), track="sad", valence=0.1, energy=0.3, session_id="s4"))
    rows.append(play(at=at(4, 8, 4), track="cross", valence=0.99, energy=0.9, session_id="s5"))
    return rows


def test_mood_improvement_history_and_catalog(lake: Lake, settings: Settings) -> None:
    write_listening(lake, [*lifting_history(), play(user="nofeatures", features=None)])
    write_catalog(
        lake,
        [
            track("up", ["indie"], valence=0.9, energy=0.8),  # heard
            track("near", ["indie"], popularity=10, valence=0.85, energy=0.75),
            track("far", ["indie"], popularity=90, valence=0.6, energy=0.1, danceability=0.9),
            track("sadder", ["indie"], valence=0.2, energy=0.8),  # below the user's mean
            track("jazz", ["jazz"], valence=0.9, energy=0.8),  # not the user's genre
        ],
    )
    rows = build(lake, settings, "mood_improvement_recommendations")
    recs = by(rows, "user_id", "source", "rank")
    assert {key[0] for key in recs} == {"u1"}
    history = [recs[("u1", "history", rank)]["track_key"] for rank in (1, 2)]
    assert history == ["artist up|up", "artist mid|mid"]
    assert ("u1", "history", 3) not in recs  # 'solo' and 'cross' never lifted within a session
    first = recs[("u1", "history", 1)]
    assert (first["lift_plays"], first["mean_valence_lift"]) == (2, pytest.approx(0.8))
    assert "+0.80" in first["reason"] and "2 time(s)" in first["reason"]
    catalog = [recs[("u1", "catalog", rank)]["track_id"] for rank in (1, 2)]
    assert catalog == ["near", "far"] and ("u1", "catalog", 3) not in recs
    near = recs[("u1", "catalog", 1)]
    assert near["genre"] == "indie" and near["profile_basis"] == "lift plays"
    assert near["distance"] < recs[("u1", "catalog", 2)]["distance"]
    assert near["reason"].startswith("unheard indie track close to your mood-lift profile")
    assert near["n_feature_plays"] == 9


def test_mood_improvement_ties_and_fallback_profile(lake: Lake, settings: Settings) -> None:
    # single-play sessions: no lifts, so the profile comes from above-mean plays
    write_listening(
        lake,
        [
            play(at=at(0, 8), track="a", valence=0.2, session_id="a"),
            play(at=at(0, 9), track="b", valence=0.8, session_id="b"),
        ],
    )
    write_catalog(
        lake,
        [track("y", ["pop"], valence=0.8), track("x", ["pop"], valence=0.8)],  # a tie
    )
    rows = by(build(lake, settings, "mood_improvement_recommendations"), "source", "rank")
    assert set(rows) == {("catalog", 1), ("catalog", 2)}
    assert [rows[("catalog", r)]["track_id"] for r in (1, 2)] == ["x", "y"]
    assert rows[("catalog", 1)]["profile_basis"] == "plays above mean valence"


def test_mood_improvement_is_fast_on_a_large_catalog(lake: Lake, settings: Settings) -> None:
    genres = [f"g{k}" for k in range(100)]
    write_catalog(
        lake,
        [
            track(f"c{k}", [genres[k % 100], genres[(k * 7) % 100]], valence=(k % 97) / 97)
            for k in range(20_000)
        ],
    )
    rows = []
    for user in range(50):
        for k in range(20):
            rows.append(
                play(user=f"u{user}", at=at(k, 8, user), track=f"c{user * 20 + k}",
                     valence=(k % 10) / 10, genres=[genres[(user + k) % 100]])
            )  # fmt: skip
    write_listening(lake, rows)
    started = time.perf_counter()
    result = build(lake, settings, "mood_improvement_recommendations")
    assert time.perf_counter() - started < 10
    catalog = [row for row in result if row["source"] == "catalog"]
    assert len({row["user_id"] for row in catalog}) == 50
    assert max(row["rank"] for row in catalog) == 10


# -- optimal_listening_times ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("valence", "energy", "state", "activity"),
    [
        (0.5, 0.8, "neutral", "workout"),
        (0.7, 0.6, "happy-energetic", "social"),
        (0.7, 0.3, "happy-calm", "wind-down"),
        (0.3, 0.5, "neutral", "mood-lift"),
        (0.5, 0.5, "neutral", "focus"),
        (0.2, 0.7, "sad-energetic", "workout"),
    ],
)
def test_optimal_listening_time_rules(
    lake: Lake, settings: Settings, valence: float, energy: float, state: str, activity: str
) -> None:
    rows = [play(at=at(d, 7), track=f"t{d}", valence=valence, energy=energy) for d in range(3)]
    write_listening(lake, rows)
    (row,) = build(lake, settings, "optimal_listening_times")
    assert (row["mood_state"], row["suggested_activity"]) == (state, activity)
    assert row["n_feature_plays"] == 3 and row["part_of_day"] == "morning"


def test_optimal_listening_times_thin_hours(lake: Lake, settings: Settings) -> None:
    write_listening(
        lake,
        [
            play(at=at(0, 7), track="a", valence=0.9, energy=0.9),
            play(at=at(0, 7, 30), track="b", features=None),
            play(user="nofeatures", at=at(0, 9), features=None),
        ],
    )
    rows = by(build(lake, settings, "optimal_listening_times"), "user_id")
    assert rows["u1"]["suggested_activity"] == "not enough data"
    assert rows["u1"]["mood_state"] == "happy-energetic" and rows["u1"]["plays"] == 2
    assert rows["nofeatures"]["mood_state"] is None
    assert rows["nofeatures"]["n_feature_plays"] == 0


# -- personalized_playlist_suggestions -------------------------------------------------------


def test_playlist_bands_history_then_catalog(lake: Lake, settings: Settings) -> None:
    boost = {"energy": 0.9, "danceability": 0.8, "tempo": 128.0, "valence": 0.5}
    calm = {"energy": 0.2, "acousticness": 0.8, "tempo": 80.0, "valence": 0.5}
    write_listening(
        lake,
        [
            play(at=at(0, 8), track="b1", genres=["edm"], **boost),
            play(at=at(1, 8), track="b2", genres=["edm"], **boost),
            play(at=at(2, 8), track="b2", genres=["edm"], **boost),
            play(at=at(3, 8), track="calm", genres=["edm"], **calm),
            play(at=at(4, 8), track="edge", genres=["edm"], **{**boost, "tempo": 114.9}),
            play(at=at(5, 8), track="skipped", is_skip=True, **boost),
            play(user="nofeatures", at=at(0, 8), track="nf", features=None),
        ],
    )
    write_catalog(
        lake,
        [
            track("b1", ["edm"], popularity=99, **boost),  # heard: never suggested
            track("cat_hi", ["edm"], popularity=80, **boost),
            track("cat_lo", ["edm"], popularity=20, **boost),
            track("cat_lo2", ["edm"], popularity=20, **boost),  # tie: track_id decides
            track("rock", ["rock"], popularity=100, **boost),  # not the user's genre
            track("lift", ["edm"], popularity=5, valence=0.7, energy=0.5),  # band bounds inclusive
        ],
    )
    built = build(lake, settings, "personalized_playlist_suggestions")
    assert {row["user_id"] for row in built} == {"u1"}  # nofeatures gets nothing
    rows = by(built, "playlist", "rank")
    boost_list = [(rows[("energy_boost", r)]["source"], rows[("energy_boost", r)]["track_name"])
                  for r in range(1, 5)]  # fmt: skip
    assert boost_list == [
        ("history", "Song b2"),
        ("history", "Song b1"),
        ("catalog", "Song cat_hi"),
        ("catalog", "Song cat_lo"),
    ]
    assert rows[("energy_boost", 5)]["track_id"] == "cat_lo2"
    assert ("energy_boost", 6) not in rows
    assert rows[("energy_boost", 1)]["user_plays"] == 2
    assert rows[("relaxation", 1)]["track_name"] == "Song calm"
    assert rows[("mood_lift", 1)]["track_id"] == "lift"
    assert not any(key[0] == "focus" for key in rows)
    assert {row["n_feature_plays"] for row in rows.values()} == {5}


# -- mood_intervention_triggers ---------------------------------------------------------------


def test_mood_intervention_triggers(lake: Lake, settings: Settings) -> None:
    write_listening(
        lake,
        [
            play(at=at(0, 6), track="a", valence=0.1),
            play(at=at(1, 6), track="b", valence=0.3),  # mean 0.2: High
            play(at=at(0, 7), track="c", valence=0.3),  # exactly 0.3: Medium
            play(at=at(0, 8), track="d", valence=0.4),  # exactly 0.4: no trigger
            play(at=at(0, 9), track="e", valence=0.35),
            play(at=at(0, 9, 30), track="f", valence=0.9, is_skip=True),  # skips ignored
            play(at=at(0, 10), track="g", valence=0.1, feature_source="synthetic"),
            play(user="nofeatures", at=at(0, 6), features=None),
        ],
    )
    rows = by(build(lake, settings, "mood_intervention_triggers"), "user_id", "hour_of_day")
    assert set(rows) == {("u1", 6), ("u1", 7), ("u1", 9)}
    assert rows[("u1", 6)]["priority"] == "High" and rows[("u1", 6)]["n_feature_plays"] == 2
    assert rows[("u1", 6)]["mean_valence"] == pytest.approx(0.2)
    assert rows[("u1", 7)]["priority"] == "Medium" and rows[("u1", 9)]["priority"] == "Medium"
    assert rows[("u1", 6)]["trigger_reason"] == "mean valence 0.20 < 0.3 over 2 play(s)"
    allowing = settings.model_copy(update={"allow_synthetic": True})
    assert ("u1", 10) in by(build(lake, allowing, "mood_intervention_triggers"), "user_id",
                            "hour_of_day")  # fmt: skip
