"""Silver `plays`: unification, cross-source dedupe, local time, sessions."""

from __future__ import annotations

import functools
import json
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
import sqlglot
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from conftest import EXPORTS
from spotify_analytics.ingest.exports import import_export
from spotify_analytics.lake import Lake
from spotify_analytics.runner import SQL_ROOT, Runner, Step, run_params, sql_models
from spotify_analytics.schemas import LISTENING_HISTORY, STREAMING_HISTORY, USERS
from spotify_analytics.settings import Settings

MY_MODELS = ("plays", "track_features", "listening_with_features")
T0 = datetime(2024, 5, 6, 12, 0, 0, tzinfo=UTC)  # a Monday


# -- helpers ------------------------------------------------------------------


def extended(
    user: str,
    ts: datetime,
    *,
    track: str = "Song",
    artist: str = "Artist",
    track_id: str | None = "id1",
    ms: int = 200_000,
    **extra: object,
) -> dict:
    return {
        "user_id": user,
        "record_id": f"e|{user}|{ts.isoformat()}|{track}|{ms}",
        "record_format": "extended",
        "ts": ts,
        "ts_precision_s": 1,
        "ms_played": ms,
        "content_type": "track",
        "is_music": True,
        "track_name": track,
        "artist_name": artist,
        "spotify_track_uri": f"spotify:track:{track_id}" if track_id else None,
        **extra,
    }


def account(
    user: str, ts: datetime, *, track: str = "Song", artist: str = "Artist", ms: int = 200_000
) -> dict:
    minute = ts.replace(second=0, microsecond=0)
    return {
        "user_id": user,
        "record_id": f"a|{user}|{minute.isoformat()}|{track}|{ms}",
        "record_format": "account_data",
        "ts": minute,
        "ts_precision_s": 60,
        "ms_played": ms,
        "content_type": "track",
        "is_music": True,
        "track_name": track,
        "artist_name": artist,
    }


def api(
    user: str,
    ts: datetime,
    *,
    track: str = "Song",
    artist: str = "Artist",
    track_id: str = "id1",
    duration: int = 210_000,
) -> dict:
    return {
        "user_id": user,
        "played_at": ts,
        "track_id": track_id,
        "track_name": track,
        "artist_name": artist,
        "duration_ms": duration,
    }


def load(
    lake: Lake,
    *,
    exports: list[dict] = (),
    apis: list[dict] = (),
    zones: dict[str, str] | None = None,
) -> None:
    users = zones or {row["user_id"]: "UTC" for row in [*exports, *apis]}
    lake.merge(
        USERS,
        pa.Table.from_pylist(
            [{"user_id": u, "timezone": z} for u, z in users.items()], schema=USERS.schema
        ),
    )
    if exports:
        lake.merge(STREAMING_HISTORY, pa.Table.from_pylist(list(exports), STREAMING_HISTORY.schema))
    if apis:
        lake.merge(LISTENING_HISTORY, pa.Table.from_pylist(list(apis), LISTENING_HISTORY.schema))


@functools.cache
def plays_step() -> Step:
    [step] = [step for step in sql_models() if step.name == "plays"]
    return step


def build_plays(lake: Lake, settings: Settings | None = None) -> list[dict]:
    Runner(lake, settings or Settings(lake=lake.root), [plays_step()]).run(full=True)
    rows = sorted(
        lake.read("plays").to_pylist(), key=lambda r: (r["user_id"], r["played_at"], r["play_id"])
    )
    ids = [row["play_id"] for row in rows]
    assert len(ids) == len(set(ids)), "play_id is not unique"
    return rows


# -- unification and dedupe ---------------------------------------------------


def test_api_and_extended_overlap_is_one_play(lake: Lake) -> None:
    load(
        lake,
        exports=[extended("u", T0, ms=123_456)],
        apis=[api("u", T0 + timedelta(seconds=4), artist="ARTIST ", duration=210_000)],
    )
    [play] = build_plays(lake)
    assert play["source"] == "extended_export"
    assert play["n_source_records"] == 2
    assert play["played_at"] == T0
    assert play["ms_played"] == 123_456  # the export's real ms, not the API's duration
    assert play["track_id"] == "id1" and play["track_key"] == "artist|song"


def test_minute_precision_account_record_merges_within_60s(lake: Lake) -> None:
    # account endTime 12:00 (minute), extended ts 12:00:45: 45 s apart, one play
    ts = T0 + timedelta(seconds=45)
    load(lake, exports=[extended("u", ts, ms=5_000), account("u", ts, ms=5_000)])
    [play] = build_plays(lake)
    assert play["source"] == "extended_export" and play["track_id"] == "id1"
    assert play["n_source_records"] == 2 and play["ts_precision_s"] == 1


def test_second_precision_records_45s_apart_stay_apart(lake: Lake) -> None:
    load(lake, exports=[extended("u", T0)], apis=[api("u", T0 + timedelta(seconds=45))])
    plays = build_plays(lake)
    assert [p["source"] for p in plays] == ["extended_export", "api"]
    assert [p["n_source_records"] for p in plays] == [1, 1]


def test_account_and_api_merge_keeping_api_time_and_account_ms(lake: Lake) -> None:
    ts = T0 + timedelta(seconds=20)
    load(lake, exports=[account("u", ts, ms=61_000)], apis=[api("u", ts, duration=250_000)])
    [play] = build_plays(lake)
    assert play["source"] == "api" and play["played_at"] == ts
    assert play["ms_played"] == 61_000 and play["n_source_records"] == 2


def test_records_either_side_of_a_time_bucket_edge_merge(lake: Lake) -> None:
    # T0 is a whole minute: the join buckets (60 s wide) split these two records
    load(
        lake,
        exports=[extended("u", T0 - timedelta(seconds=1))],
        apis=[api("u", T0 + timedelta(seconds=1))],
    )
    [play] = build_plays(lake)
    assert play["n_source_records"] == 2


def test_replays_within_one_source_are_separate_plays(lake: Lake) -> None:
    # a track restarted after 5 s, and two records sharing one end time: all real plays
    load(
        lake,
        exports=[
            extended("u", T0, ms=5_000),
            extended("u", T0 + timedelta(seconds=5), ms=4_000),
            extended("u", T0 + timedelta(seconds=5), ms=17),
        ],
    )
    plays = build_plays(lake)
    assert len(plays) == 3
    assert {p["n_source_records"] for p in plays} == {1}


def test_chain_of_records_does_not_glue_plays(lake: Lake) -> None:
    # extended plays at 0 s and 50 s, an API record at 24 s between them: two plays
    load(
        lake,
        exports=[extended("u", T0, ms=1_000), extended("u", T0 + timedelta(seconds=50))],
        apis=[api("u", T0 + timedelta(seconds=24))],
    )
    plays = build_plays(lake)
    assert len(plays) == 2
    assert [p["n_source_records"] for p in plays] == [2, 1]  # nearest: 24 s beats 26 s


def test_same_record_twice_counts_once_as_a_play(lake: Lake) -> None:
    row = extended("u", T0)
    load(lake, exports=[row, {**row, "record_id": "another file's id"}])
    [play] = build_plays(lake)
    assert play["n_source_records"] == 2


def test_two_users_with_identical_records_keep_their_own_plays(lake: Lake) -> None:
    row = extended("u", T0)
    load(
        lake,
        exports=[row, {**row, "user_id": "v"}],  # same record id, another user
        apis=[api("v", T0 + timedelta(seconds=3))],
    )
    plays = build_plays(lake)
    assert [(p["user_id"], p["n_source_records"]) for p in plays] == [("u", 1), ("v", 2)]


def test_track_id_unifies_names_across_sources(lake: Lake) -> None:
    # the API names the primary artist, the export the album artist: one key per id
    load(
        lake,
        exports=[extended("u", T0, artist="Various  Artists", track="Hey Jude")],
        apis=[
            api("u", T0 + timedelta(seconds=2), artist="The Beatles", track="Hey Jude"),
            api("u", T0 + timedelta(hours=1), artist="The Beatles", track="Hey Jude"),
        ],
    )
    plays = build_plays(lake)
    assert [p["track_key"] for p in plays] == ["various artists|hey jude"] * 2
    assert [p["n_source_records"] for p in plays] == [2, 1]


def test_track_key_is_normalised(lake: Lake) -> None:
    load(lake, exports=[account("u", T0, artist="  The   Beatles ", track="HEY\tJude ")])
    [play] = build_plays(lake)
    assert play["track_key"] == "the beatles|hey jude" and play["track_id"] is None


def test_podcast_stays_with_is_music_false(lake: Lake) -> None:
    episode = {
        **extended("u", T0, track=None, artist=None, track_id=None, ms=1_800_000),
        "content_type": "episode",
        "is_music": False,
        "episode_name": "Ep 1",
        "episode_show_name": "The Show",
        "spotify_episode_uri": "spotify:episode:x",
    }
    load(lake, exports=[episode])
    [play] = build_plays(lake)
    assert play["is_music"] is False and play["content_type"] == "episode"
    assert play["track_name"] == "Ep 1" and play["artist_name"] == "The Show"
    assert play["track_key"] == "the show|ep 1"


def test_single_play_and_skip_threshold(lake: Lake) -> None:
    load(
        lake,
        exports=[extended("u", T0, ms=29_999), extended("u", T0 + timedelta(minutes=5), ms=30_000)],
    )
    plays = build_plays(lake)
    assert [p["is_skip"] for p in plays] == [True, False]
    assert plays[0]["started_at"] == T0 - timedelta(milliseconds=29_999)


def test_play_id_is_stable_across_rebuilds_and_new_data(lake: Lake) -> None:
    load(lake, exports=[extended("u", T0)])
    first = build_plays(lake)[0]["play_id"]
    load(lake, exports=[extended("u", T0 - timedelta(days=30), track="Older", track_id="id2")])
    plays = build_plays(lake)
    assert plays[1]["play_id"] == first and len(plays) == 2


# -- local time -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "utc", "local"),
    [
        ("Europe/Berlin", "2024-03-31 00:59:59", "2024-03-31 01:59:59"),  # last CET second
        ("Europe/Berlin", "2024-03-31 01:00:00", "2024-03-31 03:00:00"),  # CEST starts
        ("Europe/Berlin", "2024-10-27 00:30:00", "2024-10-27 02:30:00"),  # CEST
        ("Europe/Berlin", "2024-10-27 01:30:00", "2024-10-27 02:30:00"),  # CET: same wall time
        ("America/New_York", "2024-03-10 06:59:00", "2024-03-10 01:59:00"),  # EST
        ("America/New_York", "2024-03-10 07:00:00", "2024-03-10 03:00:00"),  # EDT
        ("America/New_York", "2024-11-03 05:30:00", "2024-11-03 01:30:00"),  # EDT
        ("America/New_York", "2024-11-03 06:30:00", "2024-11-03 01:30:00"),  # EST
        ("Asia/Kolkata", "2024-01-01 20:00:00", "2024-01-02 01:30:00"),  # +5:30, next day
    ],
)
def test_local_time_is_dst_safe(lake: Lake, zone: str, utc: str, local: str) -> None:
    ts = datetime.fromisoformat(utc).replace(tzinfo=UTC)
    load(lake, exports=[extended("u", ts)], zones={"u": zone})
    [play] = build_plays(lake)
    expected = datetime.fromisoformat(local)
    assert play["timezone"] == zone
    assert play["played_at_local"] == expected
    assert play["date"] == expected.date() and play["hour_of_day"] == expected.hour
    assert play["day_of_week"] == expected.isoweekday()


def test_each_user_gets_their_own_zone(lake: Lake) -> None:
    load(
        lake,
        exports=[extended("berlin", T0), extended("tokyo", T0)],
        zones={"berlin": "Europe/Berlin", "tokyo": "Asia/Tokyo"},
    )
    hours = {p["user_id"]: p["hour_of_day"] for p in build_plays(lake)}
    assert hours == {"berlin": 14, "tokyo": 21}


def test_calendar_fields(lake: Lake) -> None:
    # Monday 2024-05-06 05:00 ... Sunday 2024-05-12 23:00, UTC user
    hours = [5, 6, 11, 12, 17, 18, 22, 23]
    rows = [extended("u", T0.replace(hour=h), track=f"t{h}") for h in hours]
    rows.append(extended("u", T0.replace(hour=23) + timedelta(days=6), track="sunday"))
    rows.append(extended("u", T0.replace(hour=10) + timedelta(days=5), track="saturday"))
    load(lake, exports=rows)
    plays = {p["track_name"]: p for p in build_plays(lake)}
    parts = [plays[f"t{h}"]["part_of_day"] for h in hours]
    assert parts == [
        "night",
        "morning",
        "morning",
        "afternoon",
        "afternoon",
        "evening",
        "evening",
        "night",
    ]
    assert (plays["t5"]["day_of_week"], plays["t5"]["day_name"]) == (1, "Monday")
    assert (plays["saturday"]["day_of_week"], plays["saturday"]["day_name"]) == (6, "Saturday")
    assert (plays["sunday"]["day_of_week"], plays["sunday"]["day_name"]) == (7, "Sunday")
    assert [plays[n]["is_weekend"] for n in ("t5", "saturday", "sunday")] == [False, True, True]
    assert (plays["t5"]["year"], plays["t5"]["month"]) == (2024, 5)


def test_day_of_week_before_the_reference_monday(lake: Lake) -> None:
    days = [datetime(2023, 12, 31, 12, tzinfo=UTC) - timedelta(days=n) for n in range(8)]
    load(lake, exports=[extended("u", d, track=str(i)) for i, d in enumerate(days)])
    for play in build_plays(lake):
        assert play["day_of_week"] == play["played_at_local"].isoweekday()


# -- sessions ---------------------------------------------------------------------


def test_sessions_measure_gap_from_previous_end_to_this_start(lake: Lake) -> None:
    rows = [
        extended("u", T0, track="a", ms=180_000),
        # ends 35 min after a ended but started 25 min after: same session
        extended("u", T0 + timedelta(minutes=35), track="b", ms=600_000),
        # started 31 min after b ended: new session
        extended("u", T0 + timedelta(minutes=69), track="c", ms=180_000),
        extended("u", T0 + timedelta(minutes=72), track="d", ms=180_000),
    ]
    load(lake, exports=rows)
    plays = build_plays(lake)
    assert [p["session_play_no"] for p in plays] == [1, 2, 1, 2]
    assert plays[0]["session_id"] == plays[1]["session_id"] == plays[0]["play_id"]
    assert plays[2]["session_id"] == plays[3]["session_id"] == plays[2]["play_id"]


def test_session_gap_follows_settings(lake: Lake) -> None:
    load(
        lake,
        exports=[
            extended("u", T0, track="a", ms=60_000),
            extended("u", T0 + timedelta(minutes=12), track="b", ms=60_000),
        ],
    )
    plays = build_plays(lake, Settings(lake=lake.root, session_gap_minutes=10))
    assert [p["session_play_no"] for p in plays] == [1, 1]
    plays = build_plays(lake, Settings(lake=lake.root, session_gap_minutes=11))
    assert [p["session_play_no"] for p in plays] == [1, 2]


# -- property: imports twice, split, injected duplicates ------------------------------

TRACKS = [("Artist A", "Song A", "ida"), ("Artist B", "Song B", "idb"), ("Artist A", "Other", None)]


@st.composite
def true_plays(draw: st.DrawFn) -> list[dict]:
    """Real plays; plays of the same user and track at least 150 s apart."""
    plays = []
    for user in ("u1", "u2"):
        for artist, title, track_id in TRACKS:
            gaps = draw(st.lists(st.integers(150, 4000), max_size=4))
            at = T0 + timedelta(seconds=draw(st.integers(0, 600)))
            for gap in gaps:
                at += timedelta(seconds=gap)
                at = at.replace(second=min(at.second, 50))
                plays.append(
                    {
                        "user": user,
                        "at": at,
                        "artist": artist,
                        "title": title,
                        "track_id": track_id,
                        "ms": draw(st.integers(0, 300_000)),
                        "seen_by": draw(
                            st.sets(
                                st.sampled_from(
                                    ["extended", "api", "account"] if track_id else ["account"]
                                ),
                                min_size=1,
                            )
                        ),
                        "jitter": draw(st.integers(-5, 5)),
                    }
                )
    return plays


def observations(plays: list[dict]) -> tuple[list[dict], list[dict]]:
    exports, apis = [], []
    for p in plays:
        names = {"track": p["title"], "artist": p["artist"]}
        if "extended" in p["seen_by"]:
            exports.append(
                extended(p["user"], p["at"], track_id=p["track_id"], ms=p["ms"], **names)
            )
        if "account" in p["seen_by"]:
            exports.append(account(p["user"], p["at"], ms=p["ms"], **names))
        if "api" in p["seen_by"]:
            apis.append(
                api(
                    p["user"],
                    p["at"] + timedelta(seconds=p["jitter"]),
                    track_id=p["track_id"],
                    **names,
                )
            )
    return exports, apis


def _fresh_lake(folder: str, name: str) -> Lake:
    return Lake.open(Path(folder) / name, create=True)


@hsettings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plays=true_plays(), data=st.data())
def test_dedupe_recovers_true_plays_whatever_the_import_order(plays: list[dict], data) -> None:
    exports, apis = observations(plays)
    with tempfile.TemporaryDirectory() as folder:
        once = _fresh_lake(folder, "once")
        load(once, exports=exports, apis=apis, zones={"u1": "UTC", "u2": "Europe/Berlin"})
        expected = build_plays(once)
        assert len(expected) == len(plays)
        assert sorted(p["n_source_records"] for p in expected) == sorted(
            len(p["seen_by"]) for p in plays
        )

        # split into batches, shuffled, one batch imported twice, copies injected
        split = _fresh_lake(folder, "split")
        order = data.draw(st.permutations(range(len(exports) + len(apis))))
        cuts = data.draw(st.integers(1, 3))
        rows = [(exports + apis)[i] for i in order]
        zones = {"u1": "UTC", "u2": "Europe/Berlin"}
        for batch in [rows[n::cuts] for n in range(cuts)] + [rows[::cuts]]:
            load(
                split,
                exports=[r for r in batch if "ts" in r],
                apis=[r for r in batch if "played_at" in r],
                zones=zones,
            )
        assert build_plays(split) == expected

        copies = (
            [
                {**row, "record_id": row["record_id"] + "|copy"}
                for row in data.draw(st.lists(st.sampled_from(exports), unique_by=id))
            ]
            if exports
            else []
        )
        load(split, exports=copies, zones=zones)
        with_copies = build_plays(split)
        assert [{**p, "n_source_records": 0} for p in with_copies] == [
            {**p, "n_source_records": 0} for p in expected
        ]
        assert sum(p["n_source_records"] for p in with_copies) == len(copies) + sum(
            p["n_source_records"] for p in expected
        )


@hsettings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    records=st.lists(
        st.tuples(st.sampled_from(["extended", "api", "account"]), st.integers(0, 300)),
        min_size=1,
        max_size=25,
        unique=True,
    )
)
def test_dense_records_merge_at_most_one_per_source(records: list[tuple[str, int]]) -> None:
    """Records of one track packed into five minutes: whatever the chains, a play holds
    at most one record per source and every record is counted exactly once."""
    exports, apis = [], []
    for source, second in records:
        at = T0 + timedelta(seconds=second)
        if source == "extended":
            exports.append(extended("u", at, ms=second))
        elif source == "account":
            exports.append(account("u", at, ms=second))
        else:
            apis.append(api("u", at))
    with tempfile.TemporaryDirectory() as folder:
        lake = _fresh_lake(folder, "dense")
        load(lake, exports=exports, apis=apis)
        plays = build_plays(lake)
        stored = lake.count("streaming_history_bronze") + lake.count("listening_history_bronze")
    per_source = [
        sum(1 for s, _ in records if s == source) for source in ("extended", "api", "account")
    ]
    assert sum(p["n_source_records"] for p in plays) == stored
    assert max(per_source) <= len(plays) <= stored
    assert all(1 <= p["n_source_records"] <= 3 for p in plays)
    assert len([p for p in plays if p["source"] == "extended_export"]) == per_source[0]


# -- the real exports ------------------------------------------------------------------


def _extended_music(folder: Path) -> list[dict]:
    records = [r for f in sorted(folder.glob("*.json")) for r in json.loads(f.read_text())]
    return [r for r in records if r.get("spotify_track_uri")]


@pytest.mark.skipif(not EXPORTS.is_dir(), reason="shared sample exports not present")
def test_real_exports_every_record_is_a_play_or_a_merged_duplicate(
    lake: Lake, settings: Settings, tmp_path: Path
) -> None:
    account_dir, extended_dir = EXPORTS / "account-data" / "vnegi10", EXPORTS / "extended"
    extended_dir = next(extended_dir.iterdir())
    import_export(lake, account_dir, user="vnegi10", timezone="Europe/Amsterdam", settings=settings)
    import_export(lake, extended_dir, user="khushi", timezone="Asia/Kolkata", settings=settings)
    # the same listening again as an account-data export (end time to the minute) and
    # the 50 newest plays as the Web API would report them
    music = _extended_music(extended_dir)
    derived = tmp_path / "derived"
    derived.mkdir()
    (derived / "StreamingHistory0.json").write_text(
        json.dumps(
            [
                {
                    "endTime": r["ts"][:16].replace("T", " "),
                    "trackName": r["master_metadata_track_name"],
                    "artistName": r["master_metadata_album_artist_name"],
                    "msPlayed": r["ms_played"],
                }
                for r in music
            ]
        )
    )
    import_export(lake, derived, user="khushi", timezone=None, settings=settings)
    newest = sorted(music, key=lambda r: r["ts"])[-50:]
    load(
        lake,
        apis=[
            api(
                "khushi",
                datetime.fromisoformat(r["ts"].replace("Z", "+00:00")) + timedelta(seconds=2),
                track=r["master_metadata_track_name"],
                artist=r["master_metadata_album_artist_name"],
                track_id=r["spotify_track_uri"].rsplit(":", 1)[1],
            )
            for r in newest
        ],
        zones={"khushi": "Asia/Kolkata"},
    )
    plays = build_plays(lake)

    con = lake.connect()
    raw = dict(
        con.execute(
            "select user_id, count(*) filter (where record_format = 'extended') from "
            "streaming_history_bronze group by all"
        ).fetchall()
    )
    figures = {
        user: con.execute(
            "select count(*), count(*) filter (where is_music), sum(n_source_records)::bigint,"
            " min(played_at)::varchar, max(played_at)::varchar,"
            " count(distinct track_key) filter (where is_music),"
            " count(*) filter (where n_source_records = 3)"
            " from plays where user_id = ?",
            [user],
        ).fetchall()[0]
        for user in ("vnegi10", "khushi")
    }
    con.close()
    # account data alone: every record is its own play (no podcasts in this export)
    assert figures["vnegi10"] == (
        11_931,
        11_931,
        11_931,
        "2020-08-11 12:47:00+00",
        "2021-10-25 23:55:00+00",
        4_150,
        0,
    )
    # extended alone had 8,592 records (8,581 music); the derived account export and
    # the API records all merge into those plays: 8,581 + 8,581 + 50 + 11 records
    assert raw["khushi"] == 8_592
    assert figures["khushi"] == (
        8_592,
        8_581,
        17_223,
        "2023-07-03 15:57:11+00",
        "2026-06-02 18:32:09+00",
        2_133,
        50,
    )
    assert {p["source"] for p in plays if p["user_id"] == "khushi"} == {"extended_export"}


# -- portability ------------------------------------------------------------------


@pytest.mark.parametrize("model", [*MY_MODELS])
@pytest.mark.parametrize("dialect", ["spark", "trino"])
def test_models_transpile(model: str, dialect: str) -> None:
    sql = (Path(str(SQL_ROOT)) / "silver" / f"{model}.sql").read_text()
    [out] = sqlglot.transpile(sql, read="duckdb", write=dialect)
    assert "final" in out.lower()


# -- the fast formulation against the reference one -----------------------------------

REFERENCE_SQL = Path(__file__).parent / "reference" / "plays_reference.sql"
# instants next to UTC-offset changes: DST starts and ends, half- and 45-minute zones
EDGES = [
    datetime(2024, 3, 31, 1, 0, tzinfo=UTC),  # Europe/Berlin CET -> CEST
    datetime(2024, 10, 27, 1, 0, tzinfo=UTC),  # Europe/Berlin CEST -> CET
    datetime(2024, 11, 3, 6, 0, tzinfo=UTC),  # America/New_York EDT -> EST
    datetime(2024, 4, 6, 16, 30, tzinfo=UTC),  # Australia/Adelaide +10:30 -> +9:30
    datetime(2024, 4, 6, 15, 0, tzinfo=UTC),  # Australia/Lord_Howe +11 -> +10:30
    datetime(2024, 9, 28, 14, 0, tzinfo=UTC),  # Pacific/Chatham +12:45 -> +13:45
    datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC),  # before the epoch: ms round down
]
ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Adelaide",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "Asia/Kolkata",
]
# one id spelled three ways, another id, and a track known by name only
SPELLINGS = [
    ("Artist A", "Song A", "ida"),
    ("ARTIST  A", "Song\tA", "ida"),
    ("Album Artist", "Song A", "ida"),
    ("Artist B", "Song B", "idb"),
    ("Artist A", "Other", None),
]


@st.composite
def bronze_records(draw: st.DrawFn) -> tuple[list[dict], list[dict], dict[str, str]]:
    """Records of a few users, packed around a few instants so that sources overlap,
    copies and same-time plays occur, and local times straddle offset changes."""
    exports, apis = [], []
    for _ in range(draw(st.integers(1, 30))):
        user = draw(st.sampled_from(["u1", "u2", "u3"]))
        source = draw(st.sampled_from(["extended", "extended", "account", "api"]))
        artist, title, track_id = draw(st.sampled_from(SPELLINGS))
        at = draw(st.sampled_from(EDGES)) + timedelta(
            microseconds=draw(st.integers(-150_000_000, 150_000_000))
        )
        ms = draw(st.sampled_from([5_000, 29_999, 180_000, 3_000_000]))
        names = {"track": title, "artist": artist}
        if source == "api" and track_id:
            apis.append(api(user, at, track_id=track_id, duration=ms, **names))
        elif source == "account" or not track_id:
            exports.append(account(user, at, ms=ms, **names))
        else:
            exports.append(extended(user, at, track_id=track_id, ms=ms, **names))
        if exports and draw(st.integers(0, 5)) == 0:  # the same record stored twice
            exports.append({**exports[-1], "record_id": exports[-1]["record_id"] + "|copy"})
    zones = {u: draw(st.sampled_from(ZONES)) for u in ("u1", "u2")}  # u3 has no zone row
    return exports, apis, zones


def _query_plays(lake: Lake, sql: str, settings: Settings, users: frozenset | None = None):
    con = lake.connect(extra={"run_params": run_params(settings)}, users=users)
    try:
        rows = con.sql(sql).to_arrow_table().to_pylist()
    finally:
        con.close()
    return sorted(rows, key=lambda r: (r["play_id"], r["played_at"]))


@hsettings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records=bronze_records(), gap=st.sampled_from([0, 1, 30]))
def test_model_equals_reference_and_each_user_stands_alone(records, gap: int) -> None:
    exports, apis, zones = records
    with tempfile.TemporaryDirectory() as folder:
        lake = _fresh_lake(folder, "lake")
        load(lake, exports=exports, apis=apis, zones=zones)
        settings = Settings(lake=lake.root, session_gap_minutes=gap)
        model = (Path(str(SQL_ROOT)) / "silver" / "plays.sql").read_text()
        plays = _query_plays(lake, model, settings)
        assert plays == _query_plays(lake, REFERENCE_SQL.read_text(), settings)
        for user in {p["user_id"] for p in plays}:
            alone = _query_plays(lake, model, settings, users=frozenset({user}))
            assert alone == [p for p in plays if p["user_id"] == user]
