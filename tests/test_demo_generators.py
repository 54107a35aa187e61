"""The demo generators: exact formats, determinism, and the planted patterns.

The patterns are measured from the written files (CSV and JSON), the way an
analyst would, not from the generator's internals.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from conftest import EXPORTS
from spotify_analytics.catalog_csv import HEADER, read_catalog_csv
from spotify_analytics.demo.catalog import NEWLINE_TITLE, generate_catalog, write_catalog
from spotify_analytics.demo.exports import ACCOUNT_FROM, EXTENDED_UNTIL, write_exports
from spotify_analytics.demo.genres import GENRES
from spotify_analytics.demo.listeners import LISTENERS, generate_listening, target_mood
from spotify_analytics.ingest.exports import parse_record

SAMPLE = EXPORTS / "extended" / "Khushi-203006" / "Streaming_History_Audio_2023.json"
BASE62_ID = re.compile(r"^[0-9A-Za-z]{22}$")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_rows(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


# -- catalog ------------------------------------------------------------------------------


def test_catalog_file_is_byte_for_byte_deterministic(tmp_path: Path) -> None:
    first = write_catalog(tmp_path / "a.csv", generate_catalog(n_per_genre=20))
    second = write_catalog(tmp_path / "b.csv", generate_catalog(n_per_genre=20))
    other_seed = write_catalog(tmp_path / "c.csv", generate_catalog(n_per_genre=20, seed=7))
    assert sha256(first) == sha256(second)
    assert sha256(first) != sha256(other_seed)


def test_catalog_has_the_kaggle_layout(tmp_path: Path) -> None:
    path = write_catalog(tmp_path / "dataset.csv", generate_catalog(n_per_genre=30))
    rows = read_rows(path)
    assert tuple(rows[0]) == HEADER
    body = rows[1:]
    assert len(body) == 114 * 30
    assert [int(row[0]) for row in body] == list(range(114 * 30))
    assert [row[20] for row in body] == [genre for genre in GENRES for _ in range(30)]
    assert len(set(GENRES)) == 114
    assert {row[7] for row in body} == {"True", "False"}
    assert all(BASE62_ID.match(row[1]) for row in body)
    assert len({(row[1], row[20]) for row in body}) == len(body)  # a track once per genre
    assert sum(row[4] == NEWLINE_TITLE for row in body) >= 1
    assert any("," in row[4] for row in body) and any('"' in row[4] for row in body)
    assert any(";" in row[2] for row in body)
    assert 0.18 < 1 - len({row[1] for row in body}) / len(body) < 0.25


@settings(max_examples=25, deadline=None)
@given(n_per_genre=st.integers(2, 40), seed=st.integers(0, 2**32 - 1))
def test_any_catalog_keeps_the_block_and_duplicate_structure(n_per_genre: int, seed: int) -> None:
    catalog = generate_catalog(n_per_genre=n_per_genre, seed=seed)
    c = catalog.columns
    n = 114 * n_per_genre
    assert catalog.num_rows == n and c["row_index"].tolist() == list(range(n))
    assert c["track_genre"].tolist() == [genre for genre in GENRES for _ in range(n_per_genre)]
    ids, genres = c["track_id"].tolist(), c["track_genre"].tolist()
    assert len(set(zip(ids, genres, strict=True))) == n
    distinct = len(set(ids))
    assert distinct == int(catalog.original.sum()) == n - round(n * 24_259 / 114_000)
    tracks = catalog.tracks()
    by_id = dict(zip(tracks["track_id"].tolist(), tracks["valence"].tolist(), strict=True))
    assert all(by_id[t] == v for t, v in zip(ids, c["valence"].tolist(), strict=True))


def test_small_catalog_loads_through_the_real_parser(tmp_path: Path) -> None:
    path = write_catalog(tmp_path / "dataset.csv", generate_catalog(n_per_genre=30))
    parsed = read_catalog_csv(path)  # the parser `ingest kaggle` uses
    assert parsed.rejected == []
    assert parsed.table.num_rows == 114 * 30
    assert NEWLINE_TITLE in parsed.table.column("track_name").to_pylist()


def test_full_size_catalog_has_the_real_files_counts(tmp_path: Path) -> None:
    catalog = generate_catalog()
    path = write_catalog(tmp_path / "dataset.csv", catalog)
    assert catalog.num_rows == 114_000
    assert len(set(catalog.columns["track_id"].tolist())) == 89_741
    assert len(set(catalog.columns["track_genre"].tolist())) == 114
    newline_rows = int((catalog.columns["track_name"] == NEWLINE_TITLE).sum())
    text = path.read_text(encoding="utf-8")
    assert text.count("\n") == 1 + 114_000 + newline_rows
    assert text.split("\n", 2)[1].startswith("0,")
    assert text.endswith(",world-music\n")


@pytest.fixture(scope="module")
def catalog_columns() -> dict[str, np.ndarray]:
    return generate_catalog(n_per_genre=200).columns


def test_catalog_has_the_planted_feature_correlations(catalog_columns) -> None:
    c = catalog_columns

    def r(a: str, b: str) -> float:
        return float(np.corrcoef(c[a], c[b])[0, 1])

    assert r("energy", "acousticness") < -0.6
    assert r("energy", "loudness") > 0.6
    assert r("valence", "danceability") > 0.3
    assert 0.1 < r("valence", "energy") < 0.5
    for name in ("danceability", "energy", "speechiness", "acousticness", "valence"):
        assert c[name].min() >= 0.0 and c[name].max() <= 1.0
    assert (c["tempo"] == 0.0).any() and (c["time_signature"][c["tempo"] == 0.0] == 0).all()
    assert set(np.unique(c["key"]).tolist()) == set(range(12))


def test_catalog_genres_have_their_character(catalog_columns) -> None:
    c = catalog_columns
    genre = c["track_genre"]
    metal = np.isin(genre, ["metal", "death-metal", "black-metal", "grindcore"])
    calm = np.isin(genre, ["classical", "sleep", "piano"])
    assert c["energy"][metal].mean() > 0.75 and c["acousticness"][metal].mean() < 0.15
    assert c["loudness"][metal].mean() > c["loudness"][calm].mean() + 8
    assert c["acousticness"][calm].mean() > 0.7 and c["energy"][calm].mean() < 0.3
    assert np.median(c["instrumentalness"][calm]) > 0.5
    assert c["speechiness"][genre == "comedy"].mean() > 0.5


# -- listeners ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_exports(tmp_path_factory) -> tuple[Path, dict]:
    """The full catalog's features by track id, and the three listeners' exports."""
    catalog = generate_catalog()
    root = tmp_path_factory.mktemp("exports")
    listenings = [generate_listening(catalog, listener, n) for n, listener in enumerate(LISTENERS)]
    write_exports(root, catalog, listenings)
    columns = catalog.columns
    features = {
        track: (valence, energy)
        for track, valence, energy in zip(
            columns["track_id"].tolist(),
            columns["valence"].tolist(),
            columns["energy"].tolist(),
            strict=True,
        )
    }
    return root, features


def extended(root: Path, user: str) -> list[dict]:
    records = []
    for path in sorted((root / user).glob("Streaming_History_Audio_*.json")):
        records += json.loads(path.read_text(encoding="utf-8"))
    return sorted(records, key=lambda record: record["ts"])


def test_exports_are_deterministic(demo_exports, tmp_path: Path) -> None:
    root, _ = demo_exports
    catalog = generate_catalog()
    write_exports(
        tmp_path,
        catalog,
        [generate_listening(catalog, listener, n) for n, listener in enumerate(LISTENERS)],
    )
    files = sorted(path.relative_to(root) for path in root.rglob("*.json"))
    assert files == sorted(path.relative_to(tmp_path) for path in tmp_path.rglob("*.json"))
    assert len(files) == 7
    assert all(sha256(root / name) == sha256(tmp_path / name) for name in files)


def test_extended_files_have_the_exact_field_set(demo_exports) -> None:
    root, _ = demo_exports
    sample_keys = list(json.loads(SAMPLE.read_text())[0])
    for listener in LISTENERS:
        records = extended(root, listener.user_id)
        assert 2500 <= len(records) <= 4000
        assert all(list(record) == sample_keys for record in records)
        assert all(record["ip_addr"] is None for record in records)
        assert all(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", r["ts"]) for r in records)
        parsed = [parse_record(record) for record in records]  # the importer's parser
        music = [row for row in parsed if row["is_music"]]
        assert 5 <= len(parsed) - len(music) <= 30  # a few podcast episodes
        assert all(row["spotify_track_uri"].startswith("spotify:track:") for row in music)


def local_plays(root: Path, features: dict, listener) -> list[dict]:
    """Music plays with local time, features and a session number (gap > 30 min)."""
    zone, plays, session, previous_end = ZoneInfo(listener.timezone), [], 0, None
    for record in extended(root, listener.user_id):
        end = datetime.fromisoformat(record["ts"].replace("Z", "+00:00"))
        start_s = end.timestamp() - record["ms_played"] / 1000
        if previous_end is None or start_s - previous_end > 1800:
            session += 1
        previous_end = end.timestamp()
        if record["spotify_track_uri"] is None:
            continue
        valence, energy = features[record["spotify_track_uri"].rsplit(":", 1)[1]]
        local = end.astimezone(zone)
        plays.append(
            {
                "local": local,
                "hour": local.hour,
                "weekday": local.isoweekday(),
                "valence": valence,
                "energy": energy,
                "skip": record["ms_played"] < 30_000,
                "session": session,
                "start_local": datetime.fromtimestamp(start_s, zone),
            }
        )
    return plays


def arrays(plays: list[dict], *names: str) -> list[np.ndarray]:
    return [np.array([play[name] for play in plays]) for name in names]


@pytest.mark.parametrize("listener", LISTENERS, ids=lambda listener: listener.user_id)
def test_planted_time_patterns_are_in_the_plays(demo_exports, listener) -> None:
    root, features = demo_exports
    plays = [p for p in local_plays(root, features, listener) if not p["skip"]]
    hour, weekday, valence, energy = arrays(plays, "hour", "weekday", "valence", "energy")
    morning, afternoon = (hour >= 6) & (hour <= 11), (hour >= 12) & (hour <= 17)
    assert valence[afternoon].mean() - valence[morning].mean() > 0.1
    assert energy[afternoon].mean() - energy[morning].mean() > 0.08
    weekend = weekday >= 6
    assert valence[weekend].mean() - valence[~weekend].mean() > 0.04
    assert stats.ttest_ind(valence[weekend], valence[~weekend], equal_var=False).pvalue < 1e-6
    evening = hour >= 19
    party = evening & np.isin(weekday, [5, 6])
    assert energy[party].mean() - energy[evening & ~party].mean() > 0.1


@pytest.mark.parametrize("listener", LISTENERS, ids=lambda listener: listener.user_id)
def test_time_and_recent_plays_both_carry_signal(demo_exports, listener) -> None:
    """On a temporal split, prev play + hour-of-week mean beats the mean, the
    hour-of-week mean and persistence for the next play's valence."""
    root, features = demo_exports
    plays = [p for p in local_plays(root, features, listener) if not p["skip"]]
    hour, weekday, valence, session = arrays(plays, "hour", "weekday", "valence", "session")
    cut = int(len(plays) * 0.8)
    slot = weekday * 24 + hour
    cells = defaultdict(list)
    for at in range(cut):
        cells[slot[at]].append(valence[at])
    mean = valence[:cut].mean()
    slot_mean = np.array([np.mean(cells[s]) if len(cells[s]) >= 3 else mean for s in slot])
    follows = np.flatnonzero(np.r_[False, session[1:] == session[:-1]])
    train, test = follows[follows < cut], follows[follows >= cut]
    design = np.c_[np.ones(len(plays)), np.r_[np.nan, valence[:-1]], slot_mean]
    beta = np.linalg.lstsq(design[train], valence[train], rcond=None)[0]

    def mse(predicted: np.ndarray) -> float:
        return float(np.mean((valence[test] - predicted) ** 2))

    model = mse(design[test] @ beta)
    assert model < 0.97 * mse(design[test, 1])  # persistence
    assert model < 0.8 * mse(slot_mean[test])  # hour-of-week mean
    assert model < 0.7 * mse(np.full(len(test), mean))  # mean
    same = session[1:] == session[:-1]
    assert np.corrcoef(valence[1:][same], valence[:-1][same])[0, 1] > 0.5


@pytest.mark.parametrize("listener", LISTENERS, ids=lambda listener: listener.user_id)
def test_skips_follow_mood_fit_and_local_time_is_dst_correct(demo_exports, listener) -> None:
    root, features = demo_exports
    plays = local_plays(root, features, listener)
    skip, valence, energy = arrays(plays, "skip", "valence", "energy")
    assert 0.05 < skip.mean() < 0.25
    local_s = np.array(
        [
            int(
                p["start_local"].replace(tzinfo=None).timestamp() - datetime(1970, 1, 1).timestamp()
            )
            for p in plays
        ]
    )
    target_v, target_e = target_mood(listener, local_s)
    distance = np.hypot(valence - target_v, energy - target_e)
    assert distance[skip].mean() > distance[~skip].mean() + 0.03
    # sessions start only at local hours the listener has weight for: a wrong
    # UTC offset (no DST) would shift half a year of starts into empty hours
    never = np.flatnonzero((listener.weekday_hours == 0) & (listener.weekend_hours == 0))
    firsts = [p for p, q in zip(plays[1:], plays[:-1], strict=True) if p["session"] != q["session"]]
    assert len(firsts) > 300
    assert not any(p["start_local"].hour in never for p in firsts)


def test_sam_has_overlapping_account_data(demo_exports) -> None:
    root, _ = demo_exports
    account = json.loads((root / "demo-sam" / "StreamingHistory_music_0.json").read_text())
    assert list(account[0]) == ["endTime", "artistName", "trackName", "msPlayed"]
    assert min(r["endTime"] for r in account) >= ACCOUNT_FROM.strftime("%Y-%m-%d %H:%M")
    assert max(r["endTime"] for r in account) >= "2026-10-25"
    records = extended(root, "demo-sam")
    assert max(r["ts"] for r in records) < EXTENDED_UNTIL.strftime("%Y-%m-%dT%H:%M:%SZ")
    in_both = {
        (
            r["ts"][:16].replace("T", " "),
            r["master_metadata_album_artist_name"],
            r["master_metadata_track_name"],
            r["ms_played"],
        )
        for r in records
        if r["ts"] >= "2026-08" and r["spotify_track_uri"]
    }
    overlap = [r for r in account if r["endTime"] < "2026-10"]
    assert len(overlap) > 300
    assert {tuple(r.values()) for r in overlap} == in_both
    assert len([r for r in account if r["endTime"] >= "2026-10"]) > 100  # account-only month
    assert not (root / "demo-alex" / "StreamingHistory_music_0.json").exists()
