"""Given/expected tests for the descriptive Gold models, on a handful of plays.

Each test writes a tiny ``silver/listening_with_features`` table and runs the
models through the real runner (so their grain files are checked too).
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from silver_rollups import UTF, rollups
from spotify_analytics.lake import Lake
from spotify_analytics.runner import Runner, Step, python_step, run_params, sql_models
from spotify_analytics.settings import Settings

LWF = "silver/listening_with_features"
DESCRIPTIVE = {
    "listening_patterns_by_time",
    "top_tracks_by_mood",
    "temporal_trends",
    "audio_feature_distributions",
    "feature_source_coverage",
    "top_artists",
    "top_genres",
    "listening_sessions",
    "yearly_recap",
}
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
SCHEMA = pa.schema(
    [
        ("play_id", pa.string()),
        ("user_id", pa.string()),
        ("played_at", pa.timestamp("us", tz="UTC")),
        ("started_at", pa.timestamp("us", tz="UTC")),
        ("timezone", pa.string()),
        ("played_at_local", pa.timestamp("us")),
        ("date", pa.date32()),
        ("year", pa.int32()),
        ("month", pa.int32()),
        ("hour_of_day", pa.int32()),
        ("day_of_week", pa.int32()),
        ("day_name", pa.string()),
        ("is_weekend", pa.bool_()),
        ("session_id", pa.string()),
        ("track_key", pa.string()),
        ("track_name", pa.string()),
        ("artist_name", pa.string()),
        ("ms_played", pa.int64()),
        ("is_skip", pa.bool_()),
        ("is_music", pa.bool_()),
        ("feature_source", pa.string()),
        ("feature_confidence", pa.string()),
        ("genres", pa.list_(pa.string())),
        ("danceability", pa.float64()),
        ("energy", pa.float64()),
        ("acousticness", pa.float64()),
        ("instrumentalness", pa.float64()),
        ("speechiness", pa.float64()),
        ("liveness", pa.float64()),
        ("loudness", pa.float64()),
        ("valence", pa.float64()),
        ("tempo", pa.float64()),
        ("mood_quadrant", pa.string()),
    ]
)


def quadrant(valence: float | None, energy: float | None) -> str | None:
    if valence is None or energy is None:
        return None
    if valence >= 0.6 and energy >= 0.6:
        return "happy-energetic"
    if valence >= 0.6 and energy < 0.4:
        return "happy-calm"
    if valence < 0.4 and energy >= 0.6:
        return "sad-energetic"
    if valence < 0.4 and energy < 0.4:
        return "sad-calm"
    return "neutral"


def play(
    user: str,
    at: str,
    track: str = "artist a|song a",
    *,
    ms: int = 180_000,
    valence: float | None = 0.5,
    energy: float | None = 0.5,
    source: str | None = "catalog_id",
    confidence: str | None = "high",
    genres: list[str] | None = None,
    session: str = "s1",
    music: bool = True,
) -> dict:
    """One listening_with_features row; local time = UTC."""
    end = datetime.fromisoformat(at).replace(tzinfo=UTC)
    has = valence is not None
    artist, title = track.split("|")
    return {
        "play_id": f"{user}-{at}-{track}",
        "user_id": user,
        "played_at": end,
        "started_at": end - timedelta(milliseconds=ms),
        "timezone": "UTC",
        "played_at_local": end.replace(tzinfo=None),
        "date": end.date(),
        "year": end.year,
        "month": end.month,
        "hour_of_day": end.hour,
        "day_of_week": end.isoweekday(),
        "day_name": DAYS[end.isoweekday() - 1],
        "is_weekend": end.isoweekday() >= 6,
        "session_id": f"{user}-{session}",
        "track_key": track,
        "track_name": title,
        "artist_name": artist,
        "ms_played": ms,
        "is_skip": ms < 30_000,
        "is_music": music,
        "feature_source": source if has else None,
        "feature_confidence": confidence if has else None,
        "genres": genres if has else None,
        "danceability": 0.7 if has else None,
        "energy": energy,
        "acousticness": 0.1 if has else None,
        "instrumentalness": 0.0 if has else None,
        "speechiness": 0.05 if has else None,
        "liveness": 0.2 if has else None,
        "loudness": -6.0 if has else None,
        "valence": valence,
        "tempo": 120.0 if has else None,
        "mood_quadrant": quadrant(valence, energy),
    }


@functools.cache
def descriptive_models() -> list[Step]:
    return [step for step in sql_models() if step.name in DESCRIPTIVE]


def build(lake: Lake, rows: list[dict], *, allow_synthetic: bool = False) -> None:
    """Write the rows as Silver and run every descriptive model on them."""
    table = pa.Table.from_pylist(rows, schema=SCHEMA)
    tables = {LWF: table, **rollups(table)}

    def silver_fixture(ctx) -> dict[str, pa.Table]:
        return tables

    fixture = python_step(silver_fixture, inputs=[], outputs=list(tables))
    fixture = type(fixture)(**{**fixture.__dict__, "root": str(lake.root / "no_grains")})
    models = descriptive_models()
    settings = Settings(lake=lake.root, allow_synthetic=allow_synthetic)
    report = Runner(lake, settings, [fixture, *models]).run(full=True)
    assert set(report.built) == DESCRIPTIVE | {"silver_fixture"}


def read(lake: Lake, name: str, order: list[str]) -> list[dict]:
    return lake.read(name).sort_by([(c, "ascending") for c in order]).to_pylist()


def test_listening_patterns_by_time(lake: Lake) -> None:
    build(
        lake,
        [
            # Monday 2024-03-04, 08h: two plays, one a skip (counted, not in means)
            play("u1", "2024-03-04 08:10", valence=0.2, energy=0.4),
            play("u1", "2024-03-04 08:20", ms=10_000, valence=0.9, energy=0.9),
            play("u1", "2024-03-11 08:30", valence=0.4, energy=0.6),  # next Monday 08h
            play("u1", "2024-03-09 22:00", valence=None),  # Saturday, no features
            play("u1", "2024-03-04 08:40", music=False),  # a podcast: not counted
        ],
    )
    rows = read(lake, "listening_patterns_by_time", ["user_id", "day_of_week", "hour_of_day"])
    assert [(r["day_of_week"], r["hour_of_day"], r["plays"], r["skips"]) for r in rows] == [
        (1, 8, 3, 1),
        (6, 22, 1, 0),
    ]
    monday, saturday = rows
    assert monday["day_name"] == "Monday"
    assert monday["n_feature_plays"] == 2
    assert monday["mean_valence"] == pytest.approx(0.3)
    assert monday["mean_energy"] == pytest.approx(0.5)
    assert monday["minutes"] == pytest.approx((180_000 * 2 + 10_000) / 60_000)
    assert saturday["n_feature_plays"] == 0 and saturday["mean_valence"] is None


def test_top_tracks_by_mood_ranks_deterministically(lake: Lake) -> None:
    rows = [
        # three happy-energetic tracks: b and c tie on plays; c has more minutes
        play("u1", "2024-01-01 10:00", "x|b", valence=0.8, energy=0.8),
        play("u1", "2024-01-01 10:05", "x|b", valence=0.8, energy=0.8),
        play("u1", "2024-01-01 10:10", "x|c", ms=300_000, valence=0.7, energy=0.9),
        play("u1", "2024-01-01 10:20", "x|c", ms=300_000, valence=0.7, energy=0.9),
        play("u1", "2024-01-01 10:30", "x|a", valence=0.9, energy=0.7),
        play("u1", "2024-01-01 10:35", "x|d", valence=0.9, energy=0.7),  # ties a: key order
        play("u1", "2024-01-01 10:40", "x|c", ms=5_000, valence=0.7, energy=0.9),  # a skip
        play("u1", "2024-01-01 11:00", "x|e", valence=0.1, energy=0.1),  # sad-calm
        play("u1", "2024-01-01 11:10", "x|f", valence=None),  # no features: no quadrant
    ]
    build(lake, rows)
    got = read(lake, "top_tracks_by_mood", ["user_id", "mood_quadrant", "rank"])
    assert [(r["mood_quadrant"], r["rank"], r["track_key"], r["plays"]) for r in got] == [
        ("happy-energetic", 1, "x|c", 2),
        ("happy-energetic", 2, "x|b", 2),
        ("happy-energetic", 3, "x|a", 1),
        ("happy-energetic", 4, "x|d", 1),
        ("sad-calm", 1, "x|e", 1),
    ]


def test_top_tracks_by_mood_keeps_fifty(lake: Lake) -> None:
    rows = [
        play("u1", f"2024-01-01 00:00:{i:02d}", f"x|t{i:02d}", valence=0.9, energy=0.9)
        for i in range(55)
    ]
    build(lake, rows)
    got = read(lake, "top_tracks_by_mood", ["rank"])
    assert len(got) == 50 and got[-1]["rank"] == 50
    assert got[0]["track_key"] == "x|t00"  # all tie: track_key decides


def test_temporal_trends(lake: Lake) -> None:
    build(
        lake,
        [
            play("u1", "2024-03-09 09:00", "a|1", valence=0.2),  # Saturday
            play("u1", "2024-03-09 23:59", "a|2", valence=0.4),
            play("u1", "2024-03-11 07:00", "a|1", ms=1_000, valence=0.9),  # Monday, skip
            play("u2", "2024-03-11 07:00", "a|1", valence=None),
        ],
    )
    rows = read(lake, "temporal_trends", ["user_id", "date"])
    summary = [
        (r["user_id"], str(r["date"]), r["plays"], r["weekend_plays"], r["skips"]) for r in rows
    ]
    assert summary == [
        ("u1", "2024-03-09", 2, 2, 0),
        ("u1", "2024-03-11", 1, 0, 1),
        ("u2", "2024-03-11", 1, 0, 0),
    ]
    assert rows[0]["mean_valence"] == pytest.approx(0.3) and rows[0]["distinct_tracks"] == 2
    assert rows[1]["mean_valence"] is None  # its only play is a skip
    assert rows[2]["n_feature_plays"] == 0 and rows[2]["mean_energy"] is None


def test_audio_feature_distributions(lake: Lake) -> None:
    valences = [0.1, 0.2, 0.4, 0.8]
    rows = [
        play("u1", f"2024-01-0{i + 1} 12:00", f"a|{i}", valence=v) for i, v in enumerate(valences)
    ]
    rows += [
        play("u2", "2024-01-01 12:00", "a|9", valence=0.3),  # a single play
        play("u3", "2024-01-01 12:00", "a|8", valence=None),  # no features at all
    ]
    build(lake, rows)
    got = {
        (r["user_id"], r["feature"]): r
        for r in lake.read("audio_feature_distributions").to_pylist()
    }
    assert len(got) == 3 * 9
    v = got[("u1", "valence")]
    assert v["n_feature_plays"] == 4
    assert (v["min_value"], v["max_value"]) == (0.1, 0.8)
    # linear interpolation, as quantile_cont: positions 1.75, 2.5, 3.25
    assert v["p25"] == pytest.approx(0.175)
    assert v["median"] == pytest.approx(0.3)
    assert v["p75"] == pytest.approx(0.5)
    assert v["mean"] == pytest.approx(0.375)
    assert v["std"] == pytest.approx(0.3096, abs=1e-4)
    single = got[("u2", "valence")]
    assert single["p25"] == single["median"] == single["p75"] == pytest.approx(0.3)
    assert single["std"] is None
    empty = got[("u3", "tempo")]
    assert empty["n_feature_plays"] == 0
    stats = ("min_value", "p25", "median", "p75", "max_value", "mean", "std")
    assert all(empty[s] is None for s in stats)


def test_audio_feature_distributions_repeated_plays_and_tied_values(lake: Lake) -> None:
    # tracks played several times and different tracks sharing a value
    plays_per_track = {"a|1": (0.2, 1), "a|2": (0.2, 3), "a|3": (0.5, 2), "a|4": (0.9, 2)}
    rows, values, minute = [], [], 0
    for track, (valence, times) in plays_per_track.items():
        for _ in range(times):
            minute += 5
            rows.append(
                play(
                    "u1",
                    f"2024-01-01 {10 + minute // 60}:{minute % 60:02d}",
                    track,
                    valence=valence,
                )
            )
            values.append(valence)
    build(lake, rows)
    got = {r["feature"]: r for r in lake.read("audio_feature_distributions").to_pylist()}
    v = got["valence"]
    assert v["n_feature_plays"] == len(values) == 8
    expected = np.percentile(values, [0, 25, 50, 75, 100])
    assert [v[s] for s in ("min_value", "p25", "median", "p75", "max_value")] == pytest.approx(
        list(expected)
    )
    assert v["mean"] == pytest.approx(np.mean(values))
    assert v["std"] == pytest.approx(np.std(values, ddof=1))


def test_feature_source_coverage(lake: Lake) -> None:
    build(
        lake,
        [
            play("u1", "2024-01-01 10:00", "a|1", source="catalog_id"),
            play("u1", "2024-01-01 10:05", "a|1", source="catalog_id"),
            play("u1", "2024-01-01 10:10", "a|2", source="artist_profile", confidence="low"),
            play("u1", "2024-01-01 10:15", "a|3", source="synthetic", confidence="low"),
            play("u1", "2024-01-01 10:20", "a|4", valence=None),
        ],
    )
    rows = read(lake, "feature_source_coverage", ["feature_source"])
    assert [
        (
            r["feature_source"],
            r["feature_confidence"],
            r["plays"],
            r["share"],
            r["used_in_analytics"],
        )
        for r in rows
    ] == [
        ("artist_profile", "low", 1, 0.2, True),
        ("catalog_id", "high", 2, 0.4, True),
        ("none", "none", 1, 0.2, False),
        ("synthetic", "low", 1, 0.2, False),
    ]


def test_synthetic_features_are_excluded_unless_allowed(lake: Lake) -> None:
    rows = [
        play("u1", "2024-01-01 10:00", "a|1", valence=0.2),
        play("u1", "2024-01-01 10:10", "a|2", valence=0.8, source="synthetic"),
    ]
    build(lake, rows)
    (trusted,) = lake.read("temporal_trends").to_pylist()
    assert trusted["plays"] == 2 and trusted["n_feature_plays"] == 1
    assert trusted["mean_valence"] == pytest.approx(0.2)
    build(lake, rows, allow_synthetic=True)
    (allowed,) = lake.read("temporal_trends").to_pylist()
    assert allowed["n_feature_plays"] == 2 and allowed["mean_valence"] == pytest.approx(0.5)


def test_top_artists(lake: Lake) -> None:
    build(
        lake,
        [
            play("u1", "2024-01-01 10:00", "beta|1"),
            play("u1", "2024-01-01 10:05", "alpha|1"),
            play("u1", "2024-01-01 10:10", "gamma|1", ms=300_000),
            play("u1", "2024-01-01 10:15", "gamma|2", ms=5_000),
            play("u1", "2024-01-01 10:20", "pod|1", music=False),
        ],
    )
    rows = read(lake, "top_artists", ["user_id", "rank"])
    assert [(r["rank"], r["artist_name"], r["plays"], r["skips"]) for r in rows] == [
        (1, "gamma", 2, 1),
        (2, "alpha", 1, 0),  # ties beta on plays and minutes: name decides
        (3, "beta", 1, 0),
    ]
    assert rows[0]["distinct_tracks"] == 2 and rows[0]["share_of_plays"] == pytest.approx(0.5)


def test_top_genres(lake: Lake) -> None:
    build(
        lake,
        [
            play("u1", "2024-01-01 10:00", "a|1", genres=["rock", "indie"]),
            play("u1", "2024-01-01 10:05", "a|1", genres=["rock", "indie"]),
            play("u1", "2024-01-01 10:10", "a|2", genres=["jazz"]),
            play("u1", "2024-01-01 10:15", "a|3", genres=["rock"], ms=600_000),
            play("u1", "2024-01-01 10:20", "a|4", valence=None),  # no genres
        ],
    )
    rows = read(lake, "top_genres", ["rank"])
    assert [(r["rank"], r["genre"], r["plays"], r["distinct_tracks"]) for r in rows] == [
        (1, "rock", 3, 2),
        (2, "indie", 2, 1),
        (3, "jazz", 1, 1),
    ]
    assert rows[0]["share_of_plays"] == pytest.approx(3 / 4)


def test_listening_sessions(lake: Lake) -> None:
    build(
        lake,
        [
            play("u1", "2024-01-01 10:03", "a|1", valence=0.9, energy=0.9, session="s1"),
            play("u1", "2024-01-01 10:06", "a|2", valence=0.1, energy=0.1, session="s1"),
            play("u1", "2024-01-01 10:09", "a|3", valence=0.8, energy=0.7, session="s1"),
            play("u1", "2024-01-01 10:10", "a|4", ms=2_000, valence=0.1, energy=0.1, session="s1"),
            play("u1", "2024-01-01 18:00", "a|5", valence=None, session="s2"),
        ],
    )
    first, second = read(lake, "listening_sessions", ["session_id"])
    assert (first["plays"], first["skips"], first["n_feature_plays"]) == (4, 1, 3)
    assert first["dominant_quadrant"] == "happy-energetic"
    assert first["mean_valence"] == pytest.approx(0.6)
    assert first["session_start"] == datetime(2024, 1, 1, 10, 0, tzinfo=UTC)
    assert first["session_end"] == datetime(2024, 1, 1, 10, 10, tzinfo=UTC)
    assert str(first["date"]) == "2024-01-01"
    assert second["plays"] == 1 and second["dominant_quadrant"] is None
    assert second["mean_valence"] is None


def test_yearly_recap(lake: Lake) -> None:
    rows = [
        # 2023: three consecutive days, then a gap, then two more days
        play("u1", "2023-12-01 08:00", "a|1", genres=["rock"], session="d1"),
        play("u1", "2023-12-02 08:00", "a|1", genres=["rock"], session="d2"),
        play("u1", "2023-12-03 21:00", "b|2", genres=["jazz"], session="d3", valence=0.9),
        play("u1", "2023-12-03 21:03", "b|2", genres=["jazz"], session="d3", valence=0.9),
        play("u1", "2023-12-10 08:00", "c|3", session="d4", valence=0.1, energy=0.1),
        play("u1", "2023-12-11 08:00", "c|3", ms=5_000, session="d5"),
        # 2024: one play without features
        play("u1", "2024-01-01 00:30", "a|1", valence=None, session="d6"),
    ]
    build(lake, rows)
    y2023, y2024 = read(lake, "yearly_recap", ["year"])
    assert (y2023["plays"], y2023["skips"], y2023["distinct_tracks"]) == (6, 1, 3)
    assert y2023["distinct_artists"] == 3
    assert y2023["top_tracks"] == ["1 - a", "2 - b", "3 - c"]  # a|1 ties b|2: key order
    assert y2023["top_artists"] == ["a", "b", "c"]
    assert y2023["top_genres"] == ["jazz", "rock"]
    assert y2023["longest_streak_days"] == 3
    assert y2023["busiest_hour"] == 8
    assert y2023["n_feature_plays"] == 5
    assert y2023["share_neutral"] == pytest.approx(4 / 5)  # valence 0.9 with energy 0.5
    assert y2023["share_sad_calm"] == pytest.approx(1 / 5)
    assert y2023["share_happy_calm"] == 0.0
    assert y2023["longest_session_minutes"] == pytest.approx(6.0)
    assert y2024["n_feature_plays"] == 0 and y2024["share_neutral"] is None
    assert y2024["longest_streak_days"] == 1 and y2024["top_genres"] is None


@settings(max_examples=25, deadline=None)
@given(st.lists(st.lists(st.floats(0, 1), max_size=12), min_size=1, max_size=4))
def test_percentiles_equal_duckdb_quantile_cont(per_user: list[list[float]]) -> None:
    """The portable percentile formula gives exactly DuckDB's quantile_cont."""
    rows = [
        play(f"u{u}", f"2024-01-01 10:00:{i:02d}", f"a|{u}-{i}", valence=v)
        for u, values in enumerate(per_user)
        for i, v in enumerate(values)
    ]
    if not rows:
        return
    con = duckdb.connect()
    listening = pa.Table.from_pylist(rows, schema=SCHEMA)
    con.register("listening_with_features", listening)
    con.register("user_track_features", rollups(listening)[UTF])
    con.register("run_params", run_params(Settings()))
    model = next(
        step for step in descriptive_models() if step.name == "audio_feature_distributions"
    )
    got = con.execute(
        f"select user_id, p25, median, p75 from ({model.sql}) where feature = 'valence'"
    ).fetchall()
    expected = con.execute(
        "select user_id, quantile_cont(valence, 0.25), quantile_cont(valence, 0.5),"
        " quantile_cont(valence, 0.75) from listening_with_features group by user_id"
    ).fetchall()
    assert [row[0] for row in sorted(got)] == [row[0] for row in sorted(expected)]
    for mine, duck in zip(sorted(got), sorted(expected), strict=True):
        assert mine[1:] == pytest.approx(duck[1:], abs=1e-12)


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.lists(
            st.one_of(
                st.floats(-100, 300),
                st.sampled_from([0.5, 0.5001, 0.50002, 0.500003, 120.0, 120.4, -6.0, 2.0]),
            ),
            max_size=30,
        ),
        min_size=1,
        max_size=3,
    )
)
def test_percentiles_with_ties_and_any_range(per_user: list[list[float]]) -> None:
    """Values sharing a bucket, repeated plays of a track and values outside the
    usual feature ranges still give quantile_cont's numbers (tempo, loudness and
    danceability carry the same values)."""
    rows = []
    for u, values in enumerate(per_user):
        for i, v in enumerate(values):
            row = play(f"u{u}", f"2024-01-01 10:{i // 60:02d}:{i % 60:02d}", f"a|{v!r}")
            row.update(tempo=v, loudness=v, danceability=v)
            rows.append(row)
    if not rows:
        return
    con = duckdb.connect()
    listening = pa.Table.from_pylist(rows, schema=SCHEMA)
    con.register("listening_with_features", listening)
    con.register("user_track_features", rollups(listening)[UTF])
    con.register("run_params", run_params(Settings()))
    model = next(
        step for step in descriptive_models() if step.name == "audio_feature_distributions"
    )
    for feature in ("tempo", "loudness", "danceability"):
        got = con.execute(
            f"select user_id, min_value, p25, median, p75, max_value from ({model.sql})"
            f" where feature = '{feature}' order by user_id"
        ).fetchall()
        expected = con.execute(
            f"select user_id, min({feature}), quantile_cont({feature}, 0.25),"
            f" quantile_cont({feature}, 0.5), quantile_cont({feature}, 0.75), max({feature})"
            " from listening_with_features group by user_id order by user_id"
        ).fetchall()
        assert [row[0] for row in got] == [row[0] for row in expected]
        for mine, duck in zip(got, expected, strict=True):
            assert mine[1:] == pytest.approx(duck[1:], rel=1e-12, abs=1e-12)
