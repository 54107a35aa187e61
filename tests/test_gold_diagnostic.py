"""Given/expected tests for the diagnostic Gold tables, on tiny Silver tables."""

from __future__ import annotations

import dataclasses
import math
import statistics
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest
import sqlglot
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from scipy import stats

from silver_rollups import write_rollups
from spotify_analytics.lake import Lake
from spotify_analytics.pipeline import pipeline_steps
from spotify_analytics.runner import (
    SQL_ROOT,
    Runner,
    Step,
    build_dag,
    python_step,
    sql_models,
)
from spotify_analytics.schemas import CONTINUOUS_FEATURES
from spotify_analytics.settings import Settings
from spotify_analytics.steps import weekend_vs_weekday

FEATURES = CONTINUOUS_FEATURES
FAMILIES = ("diagnostic", "prescriptive")
SILVER = (
    "plays",
    "catalog_tracks",
    "track_features",
    "listening_with_features",
    "user_track_plays",
    "user_track_features",
)

LISTENING_SCHEMA = pa.schema(
    [
        ("play_id", pa.string()),
        ("user_id", pa.string()),
        ("played_at", pa.timestamp("us", tz="UTC")),
        ("date", pa.date32()),
        ("hour_of_day", pa.int32()),
        ("day_of_week", pa.int32()),
        ("is_weekend", pa.bool_()),
        ("part_of_day", pa.string()),
        ("session_id", pa.string()),
        ("session_play_no", pa.int32()),
        ("track_id", pa.string()),
        ("track_key", pa.string()),
        ("track_name", pa.string()),
        ("artist_name", pa.string()),
        ("ms_played", pa.int64()),
        ("is_skip", pa.bool_()),
        ("is_music", pa.bool_()),
        ("feature_source", pa.string()),
        ("catalog_track_id", pa.string()),
        ("genres", pa.list_(pa.string())),
        *[(name, pa.float64()) for name in FEATURES],
        ("mood_quadrant", pa.string()),
    ]
)


def part_of_day(hour: int) -> str:
    if 6 <= hour <= 11:
        return "morning"
    if 12 <= hour <= 17:
        return "afternoon"
    if 18 <= hour <= 22:
        return "evening"
    return "night"


def play(user: str = "u1", at: str = "2024-01-01 08:00", track: str = "t1", **values) -> dict:
    """One Silver listening_with_features row (UTC = local time); features default
    to 0.5 (tempo 120, loudness -8); ``features=None`` gives a play without features."""
    when = datetime.fromisoformat(at).replace(tzinfo=UTC)
    row = {
        "play_id": f"{user}-{at}-{track}",
        "user_id": user,
        "played_at": when,
        "date": when.date(),
        "hour_of_day": when.hour,
        "day_of_week": when.isoweekday(),
        "is_weekend": when.isoweekday() >= 6,
        "part_of_day": part_of_day(when.hour),
        "session_id": f"{user}-{when.date()}",
        "session_play_no": 1,
        "track_id": track,
        "track_key": f"artist {track}|{track}",
        "track_name": f"Song {track}",
        "artist_name": f"artist {track}",
        "ms_played": 180_000,
        "is_skip": False,
        "is_music": True,
        "feature_source": "catalog_id",
        "catalog_track_id": track,
        "genres": ["pop"],
        **{name: 0.5 for name in FEATURES},
        "tempo": 120.0,
        "loudness": -8.0,
    }
    if values.pop("features", True) is None:
        row.update({name: None for name in FEATURES}, feature_source=None, genres=None)
    row.update(values)
    row["mood_quadrant"] = quadrant(row["valence"], row["energy"])
    return row


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


def write_listening(lake: Lake, rows: list[dict]) -> None:
    """Write the rows as Silver, numbering each session's plays as Silver does
    (session_play_no by played_at, then play_id), with the per-track rollups."""
    rows = [dict(row) for row in rows]
    order = sorted(
        rows, key=lambda r: (r["user_id"], r["session_id"] or "", r["played_at"], r["play_id"])
    )
    previous, number = None, 0
    for row in order:
        session = (row["user_id"], row["session_id"])
        number = number + 1 if session == previous else 1
        row["session_play_no"], previous = number, session
    table = pa.Table.from_pylist(rows, LISTENING_SCHEMA)
    lake.overwrite("silver/listening_with_features", table)
    write_rollups(lake, table)


def gold_steps() -> list[Step]:
    """Our SQL models and Python steps, plus placeholders for the Silver tables
    (written directly by the tests, so their producers never run here)."""
    steps = []
    for family in FAMILIES:
        for model in sql_models(Path(str(SQL_ROOT)) / "gold" / family):
            location = f"gold/{family}/{model.name}"
            steps.append(dataclasses.replace(model, outputs=(location,), root=None))
    steps.append(
        python_step(
            weekend_vs_weekday.weekend_vs_weekday,
            inputs=weekend_vs_weekday.INPUTS,
            outputs=[weekend_vs_weekday.OUTPUT],
        )
    )
    placeholders = [
        Step(name=f"silver_{name}", outputs=(f"silver/{name}",), inputs=frozenset(), code="")
        for name in SILVER
    ]
    return steps + placeholders


def build(lake: Lake, settings: Settings, table: str) -> list[dict]:
    """Build one table with the runner and return its rows."""
    Runner(lake, settings, gold_steps()).run(select=table)
    return lake.read(table).to_pylist()


def by(rows: list[dict], *keys: str) -> dict:
    return {tuple(row[key] for key in keys) if len(keys) > 1 else row[keys[0]]: row for row in rows}


def at(day: int, hour: int, minute: int = 0) -> str:
    return (datetime(2024, 1, 1) + timedelta(days=day, hours=hour, minutes=minute)).isoformat(" ")


# -- mood_time_correlations ------------------------------------------------------------


def test_mood_time_correlations_hour_rows(lake: Lake, settings: Settings) -> None:
    write_listening(
        lake,
        [
            play(at="2024-01-01 08:00", track="a", valence=0.2, energy=0.4),
            play(at="2024-01-02 08:10", track="b", valence=0.4, energy=0.6),
            play(at="2024-01-02 08:20", track="c", valence=0.9, is_skip=True),
            play(at="2024-01-03 08:30", track="d", features=None),
            play(at="2024-01-03 08:40", track="e", valence=0.0, feature_source="synthetic"),
            play(at="2024-01-03 08:50", track="f", valence=0.0, is_music=False),
            play(at="2024-01-01 20:00", track="g", valence=0.8, energy=0.7),
            play(user="nofeatures", at="2024-01-01 09:00", features=None),
        ],
    )
    rows = build(lake, settings, "mood_time_correlations")
    hours = by(rows, "user_id", "hour_of_day")
    assert set(hours) == {("u1", 8), ("u1", 20), ("nofeatures", 9)}
    morning = hours[("u1", 8)]
    # skip and podcast excluded; the featureless and synthetic plays count as plays only
    assert (morning["plays"], morning["n_feature_plays"]) == (4, 2)
    assert morning["mean_valence"] == pytest.approx(0.3)
    assert morning["valence_std"] == pytest.approx(math.sqrt(0.02))
    assert morning["mean_energy"] == pytest.approx(0.5)
    single = hours[("u1", 20)]
    assert single["n_feature_plays"] == 1 and single["valence_std"] is None
    assert morning["corr_n"] == 3  # user-level: the three plays with features
    nothing = hours[("nofeatures", 9)]
    assert (nothing["plays"], nothing["n_feature_plays"], nothing["corr_n"]) == (1, 0, 0)
    assert nothing["mean_valence"] is None and nothing["valence_hour_sin_r"] is None


def test_mood_time_correlations_allow_synthetic(lake: Lake, settings: Settings) -> None:
    write_listening(
        lake,
        [
            play(at="2024-01-01 08:00", track="a", valence=0.2),
            play(at="2024-01-01 08:30", track="b", valence=0.6, feature_source="synthetic"),
        ],
    )
    assert build(lake, settings, "mood_time_correlations")[0]["n_feature_plays"] == 1
    allowing = settings.model_copy(update={"allow_synthetic": True})
    row = build(lake, allowing, "mood_time_correlations")[0]
    assert row["n_feature_plays"] == 2 and row["mean_valence"] == pytest.approx(0.4)


def planted_lake(lake: Lake) -> None:
    """Four weeks of sessions: mornings sad and calm, evenings happy and energetic."""
    rows = []
    for day in range(28):
        for k, hour in enumerate((7, 8, 9, 10)):
            low = 0.15 + 0.05 * ((day + k) % 4)
            rows.append(play(at=at(day, hour), track=f"m{k}", valence=low, energy=low + 0.1))
        for k, hour in enumerate((18, 19, 20, 21)):
            high = 0.7 + 0.05 * ((day + k) % 4)
            rows.append(play(at=at(day, hour), track=f"e{k}", valence=high, energy=high - 0.1))
        rows.append(play(at=at(day, 14), track="n", valence=0.5, energy=0.5))
    write_listening(lake, rows)


def test_mood_time_correlations_planted_pattern(lake: Lake, settings: Settings) -> None:
    planted_lake(lake)
    rows = build(lake, settings, "mood_time_correlations")
    row = rows[0]
    assert row["corr_n"] == 28 * 9
    # valence is high around 19-20h: cos(2*pi*20/24) > 0 and sin(...) < 0
    assert row["valence_hour_sin_r"] < -0.3
    assert row["valence_hour_cos_r"] > 0.3
    assert row["energy_hour_sin_r"] < -0.3
    assert 0.7 < row["valence_hour_r"] <= 1.0
    assert 17 <= row["valence_peak_hour"] <= 22
    hours = by(rows, "hour_of_day")
    assert hours[8]["mean_valence"] < hours[19]["mean_valence"]
    assert {r["corr_n"] for r in rows} == {28 * 9}


# -- feature_correlations -------------------------------------------------------------


def test_feature_correlations_weigh_repeated_plays(lake: Lake, settings: Settings) -> None:
    # each track is played a different number of times; every play counts
    tracks = [(0.1, 0.3, 1), (0.2, 0.1, 3), (0.2, 0.5, 2), (0.4, 0.5, 1), (0.9, 0.8, 4)]
    rows, valence, energy = [], [], []
    for k, (v, e, times) in enumerate(tracks):
        for n in range(times):
            rows.append(play(at=at(k, n), track=f"t{k}", valence=v, energy=e))
            valence.append(v)
            energy.append(e)
    write_listening(lake, rows)
    result = by(build(lake, settings, "feature_correlations"), "user_id", "feature_x", "feature_y")
    pair = result[("u1", "energy", "valence")]
    assert pair["n_feature_plays"] == len(valence) == 11
    assert pair["pearson_r"] == pytest.approx(stats.pearsonr(energy, valence).statistic)
    assert pair["spearman_rho"] == pytest.approx(stats.spearmanr(energy, valence).statistic)


def test_feature_correlations_pearson_spearman_with_ties(lake: Lake, settings: Settings) -> None:
    valence = [0.1, 0.2, 0.2, 0.4, 0.9]
    energy = [0.3, 0.1, 0.5, 0.5, 0.8]
    tempo = [90.0, 100.0, 110.0, 120.0, 130.0]
    rows = [
        play(at=at(0, k), track=f"t{k}", valence=v, energy=e, tempo=t)
        for k, (v, e, t) in enumerate(zip(valence, energy, tempo, strict=True))
    ]
    rows.append(play(at=at(0, 9), track="x", features=None))
    rows.append(play(at=at(0, 10), track="y", valence=None, energy=0.9))  # incomplete row
    rows.append(play(user="single", at=at(0, 8), track="s", valence=0.3))
    rows.append(play(user="nofeatures", at=at(0, 8), track="n", features=None))
    write_listening(lake, rows)
    result = by(build(lake, settings, "feature_correlations"), "user_id", "feature_x", "feature_y")
    assert {key[0] for key in result} == {"u1", "single"}
    assert len([key for key in result if key[0] == "u1"]) == 36
    pair = result[("u1", "energy", "valence")]
    assert pair["n_feature_plays"] == 5
    assert pair["pearson_r"] == pytest.approx(stats.pearsonr(energy, valence).statistic)
    assert pair["spearman_rho"] == pytest.approx(stats.spearmanr(energy, valence).statistic)
    assert pair["strength"] == "strong" and pair["direction"] == "positive"
    tempo_valence = result[("u1", "valence", "tempo")]
    assert tempo_valence["spearman_rho"] == pytest.approx(stats.spearmanr(valence, tempo).statistic)
    constant = result[("u1", "danceability", "energy")]  # danceability has no spread
    assert constant["pearson_r"] is None and constant["strength"] is None
    single = result[("single", "energy", "valence")]
    assert single["n_feature_plays"] == 1 and single["pearson_r"] is None


@pytest.mark.parametrize(
    ("r", "label"),
    [(0.7, "strong"), (-0.69, "moderate"), (0.4, "moderate"), (0.2, "weak"), (0.19, "negligible")],
)
def test_feature_correlation_strength_thresholds(r: float, label: str) -> None:
    sql = (Path(str(SQL_ROOT)) / "gold/diagnostic/feature_correlations.sql").read_text()
    case = sql[sql.index("case\n            when c.pearson_r is null") :].split("end as strength")[
        0
    ]
    con = duckdb.connect()
    assert con.execute(f"select {case} end from (select {r} as pearson_r) as c").fetchall()[0] == (
        label,
    )


# -- weekend_vs_weekday ---------------------------------------------------------------


def test_weekend_vs_weekday_welch(lake: Lake, settings: Settings) -> None:
    weekday = [0.2, 0.3, 0.25, 0.35]  # 2024-01-01 is a Monday
    weekend = [0.7, 0.8, 0.9]  # 2024-01-06 and 07 are Saturday and Sunday
    rows = [play(at=at(k % 5, 9 + k), track=f"d{k}", valence=v) for k, v in enumerate(weekday)]
    rows += [play(at=at(5 + k % 2, 9 + k), track=f"w{k}", valence=v) for k, v in enumerate(weekend)]
    rows.append(play(at=at(6, 20), track="skip", valence=0.0, is_skip=True))
    rows.append(play(user="weekday_only", at=at(0, 9), valence=0.4))
    rows.append(play(user="nofeatures", at=at(0, 9), features=None))
    write_listening(lake, rows)
    result = by(build(lake, settings, "weekend_vs_weekday"), "user_id", "feature")
    valence = result[("u1", "valence")]
    expected = stats.ttest_ind(weekend, weekday, equal_var=False)
    assert (valence["weekend_n"], valence["weekday_n"], valence["n_feature_plays"]) == (3, 4, 7)
    assert valence["weekend_mean"] == pytest.approx(0.8)
    assert valence["weekday_std"] == pytest.approx(statistics.stdev(weekday))
    assert valence["difference"] == pytest.approx(0.8 - 0.275)
    assert valence["t_statistic"] == pytest.approx(expected.statistic)
    assert valence["p_value"] == pytest.approx(expected.pvalue)
    assert valence["significant"] is True
    flat = result[("u1", "danceability")]  # identical everywhere: no test possible
    assert flat["t_statistic"] is None and flat["p_value"] is None and flat["significant"] is False
    alone = result[("weekday_only", "valence")]
    assert (alone["weekend_n"], alone["weekend_mean"], alone["difference"]) == (0, None, None)
    assert not any(key[0] == "nofeatures" for key in result)


FEATURE_VALUES = st.floats(0, 1).map(lambda x: round(x, 3))  # features carry 3 decimals


@hypothesis_settings(max_examples=30, deadline=None)
@given(
    st.lists(FEATURE_VALUES, min_size=2, max_size=30),
    st.lists(FEATURE_VALUES, min_size=2, max_size=30),
)
def test_welch_matches_scipy_on_raw_samples(weekend: list[float], weekday: list[float]) -> None:
    def group(values: list[float]) -> list[np.ndarray]:
        return [
            np.array([float(x)]) for x in (len(values), np.mean(values), np.std(values, ddof=1))
        ]

    t, df, p = weekend_vs_weekday.welch(*group(weekend), *group(weekday))
    spread = np.var(weekend, ddof=1) / len(weekend) + np.var(weekday, ddof=1) / len(weekday)
    if spread <= 1e-18:
        assert np.isnan(t[0]) and np.isnan(p[0])
        return
    expected = stats.ttest_ind(weekend, weekday, equal_var=False)
    assert t[0] == pytest.approx(expected.statistic, rel=1e-6, abs=1e-9)
    assert p[0] == pytest.approx(expected.pvalue, rel=1e-6, abs=1e-12)
    assert df[0] == pytest.approx(expected.df, rel=1e-6)


def test_two_sided_p_matches_scipy_over_degrees_of_freedom_and_statistics() -> None:
    """Student's t distribution in NumPy: SciPy's to 1e-8 relative from one to
    millions of degrees of freedom, down to p-values far below 1e-300."""
    from scipy.special import stdtr

    df = np.array([1, 1.5, 2, 3.7, 10, 29.3, 100, 1234.5, 1e5, 3e6], dtype=float)
    t = np.array([0, 1e-3, 0.1, 0.5, 1, 1.96, 3, 10, 40, 300, -2.5], dtype=float)
    df, t = (grid.ravel() for grid in np.meshgrid(df, t))
    got = weekend_vs_weekday.two_sided_p(t, df)
    expected = 2 * stdtr(df, -np.abs(t))
    assert np.allclose(got, expected, rtol=1e-8, atol=0)
    cauchy = weekend_vs_weekday.two_sided_p(np.array([1e-8]), np.array([1.0]))[0]
    assert cauchy == pytest.approx(1 - 2 / math.pi * math.atan(1e-8), rel=1e-15)
    assert weekend_vs_weekday.two_sided_p(np.array([]), np.array([])).size == 0


# -- mood_shift_patterns ----------------------------------------------------------------


def test_mood_shift_patterns_classes_and_sessions(lake: Lake, settings: Settings) -> None:
    session = {"session_id": "s1"}
    rows = [
        play(at=at(0, 8, 0), track="a", valence=0.5, energy=0.5, **session),
        play(at=at(0, 8, 4), track="b", valence=0.7, energy=0.6, **session),  # +0.2: stable
        play(at=at(0, 8, 8), track="c", valence=0.1, energy=0.6, **session),  # -0.6: major
        play(at=at(0, 8, 9), track="s", valence=0.9, is_skip=True, **session),  # skipped
        play(at=at(0, 8, 12), track="d", valence=0.4, energy=0.35, **session),  # minor
        play(at=at(0, 8, 16), track="e", features=None, **session),  # breaks the chain
        play(at=at(0, 8, 20), track="f", valence=0.4, energy=0.35, **session),
        # another session starting with a very different mood: never paired with s1
        play(at=at(0, 12, 0), track="g", valence=0.95, energy=0.95, session_id="s2"),
        play(user="single", at=at(0, 9), valence=0.3),
        play(user="nofeatures", at=at(0, 9), features=None, session_id="n"),
        play(user="nofeatures", at=at(0, 9, 5), features=None, session_id="n"),
    ]
    write_listening(lake, rows[::-1])  # stored out of order: the session order decides
    result = by(build(lake, settings, "mood_shift_patterns"), "user_id", "shift_type")
    assert set(result) == {("u1", "stable"), ("u1", "minor"), ("u1", "major")}
    counts = {key[1]: row["transitions"] for key, row in result.items()}
    assert counts == {"stable": 1, "minor": 1, "major": 1}
    major = result[("u1", "major")]
    assert major["n_transitions"] == 3 and major["share"] == pytest.approx(1 / 3)
    assert major["mean_valence_delta"] == pytest.approx(-0.6)
    assert major["top_quadrant_transition"] == "happy-energetic -> sad-energetic"
    assert result[("u1", "minor")]["mean_energy_delta"] == pytest.approx(-0.25)


def test_mood_shift_patterns_never_pairs_across_sessions(lake: Lake, settings: Settings) -> None:
    # every session holds one play, and consecutive plays differ wildly in mood
    rows = [
        play(at=at(0, hour), track=f"t{hour}", valence=hour % 2, energy=hour % 2,
             session_id=f"s{hour}")
        for hour in range(12)
    ]  # fmt: skip
    write_listening(lake, rows)
    assert build(lake, settings, "mood_shift_patterns") == []
    for row in rows[1:]:
        row["session_id"] = "one"
    write_listening(lake, rows)
    result = by(build(lake, settings, "mood_shift_patterns"), "shift_type")
    assert result["major"]["transitions"] == 10 and result["major"]["n_sessions"] == 1


# -- part_of_day_drivers ----------------------------------------------------------------


def test_part_of_day_drivers(lake: Lake, settings: Settings) -> None:
    rows = [
        play(at=at(0, 8), track="m1", valence=0.2, energy=0.5, acousticness=0.5),
        play(at=at(1, 8), track="m2", valence=0.2, energy=0.5, acousticness=0.5),
        play(at=at(0, 20), track="e1", valence=0.8, energy=0.5, acousticness=0.5),
        play(at=at(1, 20), track="e2", valence=0.8, energy=0.5, acousticness=0.5),
        play(at=at(0, 14), track="a1", features=None),
        play(user="tie", at=at(0, 8), track="x", valence=0.2, energy=0.2),
        play(user="tie", at=at(0, 20), track="y", valence=0.8, energy=0.8),
        play(user="flat", at=at(0, 8), track="z"),
        play(user="nofeatures", at=at(0, 23), track="n", features=None),
    ]
    write_listening(lake, rows)
    result = by(build(lake, settings, "part_of_day_drivers"), "user_id", "part_of_day")
    morning = result[("u1", "morning")]
    z = (0.2 - 0.5) / statistics.stdev([0.2, 0.2, 0.8, 0.8])
    assert (morning["plays"], morning["n_feature_plays"]) == (2, 2)
    assert morning["top_driver"] == "valence" and morning["top_driver_direction"] == "lower"
    assert morning["top_driver_z"] == pytest.approx(z) and morning["valence_z"] == pytest.approx(z)
    assert morning["mean_valence"] == pytest.approx(0.2) and morning["second_driver"] is None
    assert result[("u1", "evening")]["top_driver_direction"] == "higher"
    afternoon = result[("u1", "afternoon")]
    assert (afternoon["plays"], afternoon["n_feature_plays"], afternoon["top_driver"]) == (
        1,
        0,
        None,
    )
    tie = result[("tie", "morning")]  # energy and valence differ equally: name order
    assert (tie["top_driver"], tie["second_driver"]) == ("energy", "valence")
    assert result[("flat", "morning")]["top_driver"] is None
    nothing = result[("nofeatures", "night")]
    assert (nothing["plays"], nothing["n_feature_plays"], nothing["mean_valence"]) == (1, 0, None)


# -- wiring ---------------------------------------------------------------------------

OUR_TABLES = {
    "mood_time_correlations": "gold/diagnostic",
    "feature_correlations": "gold/diagnostic",
    "weekend_vs_weekday": "gold/diagnostic",
    "mood_shift_patterns": "gold/diagnostic",
    "part_of_day_drivers": "gold/diagnostic",
    "mood_improvement_recommendations": "gold/prescriptive",
    "optimal_listening_times": "gold/prescriptive",
    "personalized_playlist_suggestions": "gold/prescriptive",
    "mood_intervention_triggers": "gold/prescriptive",
}


def test_pipeline_builds_our_tables_from_silver() -> None:
    steps = {step.name: step for step in pipeline_steps()}
    graph = build_dag(list(steps.values()))
    for name, family in OUR_TABLES.items():
        assert steps[name].outputs == (f"{family}/{name}",)
        assert steps[name].grain_file(steps[name].outputs[0]).is_file()
        silver = {
            "listening_with_features",
            "user_track_features",
            "user_track_plays",
            "catalog_tracks",
        }
        assert steps[name].inputs <= silver | {"run_params"}
        assert graph[name] <= silver


# -- transpilation ---------------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("dialect", ["spark", "trino"])
def test_models_transpile(family: str, dialect: str) -> None:
    root = Path(str(SQL_ROOT)) / "gold" / family
    models = sorted(root.glob("*.sql"))
    assert models
    for path in models:
        (text,) = sqlglot.transpile(
            path.read_text(),
            read="duckdb",
            write=dialect,
            unsupported_level=sqlglot.ErrorLevel.RAISE,
        )
        # the output parses back in the target dialect and still names its inputs
        tree = sqlglot.parse_one(text, read=dialect)
        tables = {table.name for table in tree.find_all(sqlglot.exp.Table)}
        assert tables & {"listening_with_features", "user_track_features"}
