"""Silver `track_features`, `track_catalog_matches`, `listening_with_features`,
`user_track_plays` and `user_track_features`."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from spotify_analytics.lake import Lake
from spotify_analytics.pipeline import python_steps
from spotify_analytics.query import query
from spotify_analytics.runner import Runner, Step, sql_models
from spotify_analytics.schemas import (
    FEATURE_COLUMNS,
    KAGGLE_TRACKS,
    MY_TRACKS_FEATURES,
    STREAMING_HISTORY,
    USERS,
)
from spotify_analytics.settings import Settings

T0 = datetime(2024, 5, 6, 12, 0, 0, tzinfo=UTC)
SQL_STEPS = (
    "catalog_tracks",
    "plays",
    "user_track_plays",
    "track_features",
    "listening_with_features",
    "user_track_features",
)


@functools.cache
def silver_steps() -> tuple[Step, ...]:
    sql = [step for step in sql_models() if step.name in SQL_STEPS]
    python = [
        step for step in python_steps() if step.name in ("track_plays", "track_catalog_matches")
    ]
    return (*sql, *python)


def features(valence: float, energy: float = 0.5, **extra: float) -> dict:
    base = {name: 0.5 for name in FEATURE_COLUMNS}
    base.update(key=5, mode=1, loudness=-7.0, tempo=120.0, time_signature=4)
    return {**base, "valence": valence, "energy": energy, **extra}


def catalog_row(
    n: int,
    track_id: str,
    artists: str,
    title: str,
    genre: str = "pop",
    popularity: int = 50,
    **feats: float,
) -> dict:
    return {
        "row_index": n,
        "track_id": track_id,
        "artists": artists,
        "album_name": "Album",
        "track_name": title,
        "popularity": popularity,
        "duration_ms": 200_000,
        "explicit": False,
        "track_genre": genre,
        **features(0.5),
        **feats,
    }


def play(
    n: int,
    artist: str,
    title: str,
    track_id: str | None,
    *,
    user: str = "u",
    ms: int = 200_000,
    **extra: object,
) -> dict:
    ts = T0 + timedelta(minutes=10 * n)
    return {
        "user_id": user,
        "record_id": f"r{user}{n}",
        "record_format": "extended",
        "ts": ts,
        "ts_precision_s": 1,
        "ms_played": ms,
        "content_type": "track",
        "is_music": True,
        "track_name": title,
        "artist_name": artist,
        "spotify_track_uri": f"spotify:track:{track_id}" if track_id else None,
        **extra,
    }


def build(
    lake: Lake,
    *,
    plays: list[dict],
    catalog: list[dict] = (),
    provided: list[dict] = (),
    allow_synthetic: bool = False,
) -> dict[str, list[dict]]:
    users = sorted({row["user_id"] for row in plays})
    lake.merge(
        USERS,
        pa.Table.from_pylist([{"user_id": u, "timezone": "UTC"} for u in users], USERS.schema),
    )
    lake.merge(STREAMING_HISTORY, pa.Table.from_pylist(plays, STREAMING_HISTORY.schema))
    if catalog:
        lake.merge(KAGGLE_TRACKS, pa.Table.from_pylist(list(catalog), KAGGLE_TRACKS.schema))
    if provided:
        lake.merge(
            MY_TRACKS_FEATURES, pa.Table.from_pylist(list(provided), MY_TRACKS_FEATURES.schema)
        )
    settings = Settings(lake=lake.root, allow_synthetic=allow_synthetic)
    Runner(lake, settings, list(silver_steps())).run(full=True)
    tables = {
        # listening_with_features is a view: read as the SQL shell reads it
        name: query(lake, f"select * from {name}").to_pylist()
        for name in (
            "plays",
            "track_features",
            "listening_with_features",
            "track_catalog_matches",
            "user_track_plays",
            "track_plays",
            "user_track_features",
        )
    }
    _assert_unique(tables["track_features"], "track_key")
    _assert_unique(tables["track_catalog_matches"], "track_key")
    _assert_unique(tables["listening_with_features"], "play_id")
    assert len(tables["listening_with_features"]) == len(tables["plays"])
    return tables


def _assert_unique(rows: list[dict], key: str) -> None:
    values = [row[key] for row in rows]
    assert len(values) == len(set(values)), f"{key} is not unique"


def by_key(rows: list[dict]) -> dict[str, dict]:
    return {row["track_key"]: row for row in rows}


CATALOG = [
    catalog_row(0, "sp1", "Artist A", "First", valence=0.11),
    catalog_row(1, "cat2", "Artist B;Guest", "Second", genre="rock", valence=0.22),
    catalog_row(2, "cat2", "Artist B;Guest", "Second", genre="indie", valence=0.22),
    catalog_row(3, "cat2", "Artist B;Guest", "Second", genre="alt-rock", valence=0.22),
    catalog_row(4, "c3", "Artist C", "Song Three", genre="soul", valence=0.33, key=7),
    catalog_row(
        5, "c5", "Artist C", "Something Else", genre="soul", valence=0.55, key=2, energy=0.9
    ),
]
PROVIDED = [
    {"track_id": "sp1", "provider": "spotify_api", **features(0.99)},
    {"track_id": "x4", "provider": "reccobeats", **features(0.44)},
    {"track_id": "x3", "provider": "reccobeats", **features(0.01)},
]
PLAYS = [
    play(0, "Artist A", "First", "sp1"),
    play(1, "Artist B", "Second", "cat2"),
    play(2, "Artist B", "Second", "cat2"),
    play(3, "Artist C", "Song Three (feat. Z) - Remastered 2011", "x3"),
    play(4, "Artist D", "Fourth", "x4"),
    play(5, "Artist C", "Unknown Song", "x5"),
    play(6, "Nobody", "Nothing", "x6"),
    play(7, "Other Artist", "Song Three", "x7"),  # the title exists, by another artist
]


def test_resolution_order_whole_rows(lake: Lake) -> None:
    tables = build(lake, plays=PLAYS, catalog=CATALOG, provided=PROVIDED)
    tf = by_key(tables["track_features"])
    first, second = tf["artist a|first"], tf["artist b|second"]
    assert (first["feature_source"], first["feature_confidence"]) == ("spotify_api", "high")
    assert first["valence"] == 0.99 and first["catalog_track_id"] == "sp1"  # not 0.11
    assert (second["feature_source"], second["feature_confidence"]) == ("catalog_id", "high")
    assert second["genres"] == ["alt-rock", "indie", "rock"] and second["valence"] == 0.22
    assert "n_plays" not in second  # a count over every user would change with any new play

    third = tf["artist c|song three (feat. z) - remastered 2011"]
    assert (third["feature_source"], third["feature_confidence"]) == ("catalog_match", "medium")
    assert third["match_score"] == 100.0 and third["catalog_track_id"] == "c3"
    assert (third["valence"], third["key"], third["genres"]) == (0.33, 7, ["soul"])  # not 0.01

    fourth = tf["artist d|fourth"]
    assert (fourth["feature_source"], fourth["valence"]) == ("reccobeats", 0.44)
    assert fourth["catalog_track_id"] is None and fourth["match_score"] is None

    profile = tf["artist c|unknown song"]
    assert (profile["feature_source"], profile["feature_confidence"]) == ("artist_profile", "low")
    assert profile["valence"] == pytest.approx(0.44) and profile["energy"] == pytest.approx(0.7)
    assert profile["key"] is None and profile["catalog_track_id"] is None

    for key in ("nobody|nothing", "other artist|song three"):
        assert tf[key]["feature_source"] is None
        assert all(tf[key][name] is None for name in FEATURE_COLUMNS)


def test_no_row_multiplication_and_mood_quadrants(lake: Lake) -> None:
    cases = {  # track id -> (valence, energy, expected quadrant)
        "q1": (0.6, 0.6, "happy-energetic"),
        "q2": (0.6, 0.39, "happy-calm"),
        "q3": (0.39, 0.6, "sad-energetic"),
        "q4": (0.39, 0.39, "sad-calm"),
        "q5": (0.5, 0.5, "neutral"),
        "q6": (0.6, 0.5, "neutral"),
        "q7": (0.4, 0.4, "neutral"),
    }
    plays = [play(n, "X", track_id, track_id) for n, track_id in enumerate(cases)]
    plays.append(play(20, "Artist B", "Second", "cat2"))  # 3 catalog genres, one play
    plays.append(play(21, "Nobody", "Nothing", "none"))
    provided = [
        {"track_id": t, "provider": "spotify_api", **features(v, e)}
        for t, (v, e, _) in cases.items()
    ]
    tables = build(lake, plays=plays, catalog=CATALOG, provided=provided)
    quadrants = {r["track_id"]: r["mood_quadrant"] for r in tables["listening_with_features"]}
    assert quadrants == {
        **{t: q for t, (_, _, q) in cases.items()},
        "cat2": "neutral",
        "none": None,
    }


def test_plays_per_user_and_track_sum_the_spellings_with_the_track_features(lake: Lake) -> None:
    """user_track_plays counts plays, skips and milliseconds per spelling;
    user_track_features sums them per track and carries the track's features,
    so it agrees with listening_with_features summed per user and track."""
    plays = [
        play(0, "Artist A", "First", "sp1"),
        play(1, "artist a", "First", "sp1", ms=10_000),  # a skip, spelled another way
        play(2, "Artist A", "First", "sp1", ms=100_000),
        play(3, "Artist B", "Second", "cat2", user="v"),
        play(4, "Artist B", "Second", "cat2", user="v", ms=None),  # no length: no minutes
        play(
            5, None, None, None, content_type="episode", is_music=False,
            episode_name="Ep", episode_show_name="Show",
        ),
    ]  # fmt: skip
    tables = build(lake, plays=plays, catalog=CATALOG, provided=PROVIDED)
    spellings = {(r["user_id"], r["artist_name"]): r for r in tables["user_track_plays"]}
    assert set(spellings) == {("u", "Artist A"), ("u", "artist a"), ("v", "Artist B")}
    counts = {k: (r["n_plays"], r["n_skips"], r["ms_played"], r["ms_played_not_skipped"])
              for k, r in spellings.items()}  # fmt: skip
    assert counts == {
        ("u", "Artist A"): (2, 0, 300_000, 300_000),
        ("u", "artist a"): (1, 1, 10_000, None),
        ("v", "Artist B"): (2, 0, 200_000, 200_000),
    }
    tracks = {(r["user_id"], r["track_key"]): r for r in tables["user_track_features"]}
    assert set(tracks) == {("u", "artist a|first"), ("v", "artist b|second")}
    first = tracks[("u", "artist a|first")]
    assert (first["n_plays"], first["n_skips"], first["ms_played"]) == (3, 1, 310_000)
    assert first["ms_played_not_skipped"] == 300_000
    assert first["feature_source"] == "spotify_api" and first["valence"] == 0.99
    second = tracks[("v", "artist b|second")]
    assert second["genres"] == ["alt-rock", "indie", "rock"] and second["valence"] == 0.22
    for (user, key), row in tracks.items():
        mine = [r for r in tables["listening_with_features"]
                if (r["user_id"], r["track_key"]) == (user, key)]  # fmt: skip
        assert row["n_plays"] == len(mine)
        assert row["n_skips"] == sum(r["is_skip"] for r in mine)
        assert row["ms_played"] == sum(r["ms_played"] or 0 for r in mine)
        for name in (*FEATURE_COLUMNS, "feature_source", "genres", "catalog_track_id"):
            assert all(r[name] == row[name] for r in mine), name


def test_track_plays_sums_every_users_plays_per_spelling(lake: Lake) -> None:
    plays = [
        play(0, "Artist A", "First", "sp1"),
        play(1, "Artist A", "First", "sp1"),
        play(2, "Artist A", "First", "sp1", user="v"),
        play(3, "artist a", "First", "sp1", user="v"),  # the same track, spelled another way
        play(4, "Artist C", "Third", None),  # no track id
        play(5, "Artist C", "Third", None, user="v", ms=1_000),  # a skip still counts
        play(
            6, None, None, None, content_type="episode", is_music=False,
            episode_name="Ep", episode_show_name="Show",
        ),
    ]  # fmt: skip
    tables = build(lake, plays=plays, catalog=CATALOG, provided=PROVIDED)
    counted = {
        (r["track_key"], r["track_id"], r["artist_name"], r["track_name"]): r["n_plays"]
        for r in tables["track_plays"]
    }
    assert counted == {
        ("artist a|first", "sp1", "Artist A", "First"): 3,
        ("artist a|first", "sp1", "artist a", "First"): 1,
        ("artist c|third", None, "Artist C", "Third"): 2,
    }


def test_podcasts_and_a_user_without_features(lake: Lake) -> None:
    episode = play(
        0,
        None,
        None,
        None,
        content_type="episode",
        is_music=False,
        episode_name="Ep",
        episode_show_name="Show",
    )
    plays = [
        episode,
        play(1, "Artist A", "First", "sp1"),
        play(2, "Nobody", "Nothing", None, user="v"),
    ]
    tables = build(lake, plays=plays, catalog=CATALOG)
    assert {r["track_key"] for r in tables["track_features"]} == {
        "artist a|first",
        "nobody|nothing",
    }
    rows = {(r["user_id"], r["track_key"]): r for r in tables["listening_with_features"]}
    pod = rows[("u", "show|ep")]
    assert pod["is_music"] is False and pod["valence"] is None and pod["mood_quadrant"] is None
    assert rows[("u", "artist a|first")]["feature_source"] == "catalog_id"
    nothing = rows[("v", "nobody|nothing")]
    assert nothing["feature_source"] is None and nothing["mood_quadrant"] is None


def test_synthetic_only_on_request_and_deterministic(lake: Lake, tmp_path) -> None:
    plays = [play(0, "Nobody", "Nothing", None), play(1, "Artist A", "First", "sp1")]
    off = build(lake, plays=plays, catalog=CATALOG)
    assert all(r["feature_source"] != "synthetic" for r in off["track_features"])
    assert by_key(off["track_features"])["nobody|nothing"]["valence"] is None

    on = by_key(build(lake, plays=plays, catalog=CATALOG, allow_synthetic=True)["track_features"])
    fake = on["nobody|nothing"]
    assert (fake["feature_source"], fake["feature_confidence"]) == ("synthetic", "synthetic")
    assert on["artist a|first"]["feature_source"] == "catalog_id"  # real features still win
    for name in ("danceability", "energy", "valence", "acousticness", "speechiness"):
        assert 0.0 <= fake[name] <= 1.0
    assert 0 <= fake["key"] <= 11 and 60 <= fake["tempo"] <= 200

    other = Lake.open(tmp_path / "other", create=True)
    again = build(other, plays=plays, catalog=CATALOG, allow_synthetic=True)
    assert by_key(again["track_features"])["nobody|nothing"] == fake


def test_catalog_match_ties_and_ids(lake: Lake) -> None:
    catalog = [
        catalog_row(0, "zz", "Artist E", "Tie Song", popularity=80),
        catalog_row(1, "aa", "Artist E", "Tie Song - Remastered", popularity=80),
        catalog_row(2, "mm", "Artist E", "Tie Song (Live)", popularity=20),
        catalog_row(3, "k1", "Artist K", "Keyed", valence=0.1),
        catalog_row(4, "k2", "Artist K", "Keyed Too", valence=0.2),
    ]
    plays = [
        play(0, "Artist E", "Tie Song", "local1"),
        # one key, two ids: the id played more often decides
        play(1, "Artist K", "Keyed", "k2"),
        play(2, "Artist K", "Keyed", "k1"),
        play(3, "Artist K", "Keyed", "k1"),
    ]
    tables = build(lake, plays=plays, catalog=catalog)
    tf = by_key(tables["track_features"])
    assert tf["artist e|tie song"]["catalog_track_id"] == "aa"  # most popular, then smallest id
    assert (tf["artist k|keyed"]["catalog_track_id"], tf["artist k|keyed"]["valence"]) == (
        "k1",
        0.1,
    )
    matches = by_key(tables["track_catalog_matches"])
    assert set(matches) == {"artist e|tie song"}  # keys with an exact id hit are not matched


def test_match_threshold_follows_settings(lake: Lake) -> None:
    plays = [play(0, "Artist C", "Song Thre", "x")]  # a typo: scores about 95
    tables = build(lake, plays=plays, catalog=CATALOG)
    [match] = tables["track_catalog_matches"]
    assert match["catalog_track_id"] == "c3" and 90 <= match["match_score"] < 100
    settings = Settings(lake=lake.root, catalog_match_min_score=99.0)
    Runner(lake, settings, list(silver_steps())).run(full=True)
    [match] = lake.read("track_catalog_matches").to_pylist()
    assert match["catalog_track_id"] is None and match["catalog_artist_name"] == "Artist C"
    [row] = lake.read("track_features").to_pylist()
    assert row["feature_source"] == "artist_profile"


def test_without_a_catalog_features_are_null_not_invented(lake: Lake) -> None:
    tables = build(lake, plays=[play(0, "Artist A", "First", "sp1")])
    [row] = tables["track_features"]
    assert row["feature_source"] is None and row["valence"] is None
    [match] = tables["track_catalog_matches"]
    assert match["catalog_track_id"] is None and match["catalog_artist_name"] is None
    assert tables["listening_with_features"][0]["mood_quadrant"] is None


def test_the_python_steps_queries_name_the_tables_they_read() -> None:
    """The tables each query is given (so it runs without parsing) are the ones
    sqlglot finds in it, and the step declares them as inputs."""
    from spotify_analytics.dag import upstream_tables
    from spotify_analytics.steps import track_catalog_matches as tcm
    from spotify_analytics.steps import track_plays as tp
    from spotify_analytics.steps import weekend_vs_weekday as wvw

    assert upstream_tables(tp.COUNT_SQL) == set(tp.INPUTS)
    assert upstream_tables(tcm.PLAYED_SQL) == set(tcm.PLAYED_TABLES) <= set(tcm.INPUTS)
    assert upstream_tables(tcm.CATALOG_SQL) == {"catalog_tracks"}
    assert upstream_tables(wvw.GROUP_STATS_SQL) == set(wvw.INPUTS)
