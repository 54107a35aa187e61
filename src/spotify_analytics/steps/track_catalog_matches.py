"""Match played tracks without an exact catalog id to catalog tracks by name.

One row per music ``track_key`` whose track ids are all missing from the
catalog. The played artist (and, when the Web API looked the track up, the
track's own primary artist: exports name the album artist) and title are
normalised (:mod:`spotify_analytics.normalize`); candidates are the catalog tracks whose
normalised primary artist is the same (blocking), scored on the normalised
titles with rapidfuzz's ``token_sort_ratio`` (word order ignored, extra words
penalised). The best candidate at or above ``catalog_match_min_score`` wins;
ties go to the more popular catalog track, then the smaller track id.
``catalog_artist_name`` names the artist's catalog spelling whenever the artist
is in the catalog, matched title or not (for artist-profile features).
"""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
import pyarrow as pa

from ..normalize import normalize_artist, normalize_title
from ..runner import StepContext

OUTPUT = "silver/track_catalog_matches"
INPUTS = ("track_plays", "catalog_tracks", "tracks_bronze", "run_params")
LOOKUP_KEY = "track_key"  # a row depends only on its track's plays: see StepContext.keys

SCHEMA = pa.schema(
    [
        ("track_key", pa.string()),
        ("artist_name", pa.string()),
        ("track_name", pa.string()),
        ("track_id", pa.string()),
        ("artist_norm", pa.string()),
        ("title_norm", pa.string()),
        ("catalog_track_id", pa.string()),
        ("catalog_artist_name", pa.string()),
        ("match_score", pa.float64()),
    ]
)

PLAYED_SQL = """
with

played as (
    select track_key, track_id, artist_name, track_name, n_plays
    from track_plays
),

catalog_ids as (
    select track_id from catalog_tracks
),

keys_with_id_hit as (
    select distinct played.track_key
    from played
    inner join catalog_ids on catalog_ids.track_id = played.track_id
),

names as (
    select track_key, artist_name, track_name, cast(sum(n_plays) as bigint) as n_plays
    from played
    where track_key not in (select track_key from keys_with_id_hit)
    group by track_key, artist_name, track_name
),

ids as (
    select track_key, track_id, cast(sum(n_plays) as bigint) as n_plays
    from played
    where track_id is not null
    group by track_key, track_id
),

best_names as (
    select
        *,
        row_number() over (
            partition by track_key order by n_plays desc, artist_name, track_name
        ) as name_rank
    from names
),

best_ids as (
    select
        *,
        row_number() over (partition by track_key order by n_plays desc, track_id) as id_rank
    from ids
),

looked_up as (
    select track_id, artist_name as track_artist from tracks_bronze
),

final as (
    select
        best_names.track_key,
        best_names.artist_name,
        best_names.track_name,
        best_ids.track_id,
        looked_up.track_artist
    from best_names
    left join best_ids on best_ids.track_key = best_names.track_key and best_ids.id_rank = 1
    left join looked_up on looked_up.track_id = best_ids.track_id
    where best_names.name_rank = 1
)

select * from final order by track_key
"""

PLAYED_TABLES = ("track_plays", "catalog_tracks", "tracks_bronze")

CATALOG_SQL = """
select track_id, artist_name, track_name, coalesce(popularity, 0) as popularity
from catalog_tracks
where artist_name is not null and track_name is not null
order by popularity desc, track_id
"""


def track_catalog_matches(ctx: StepContext) -> dict[str, pa.Table]:
    """The step: every unmatched played track with its best catalog match (or none).

    A match depends only on the played names and id, the catalog, the Web API
    lookups and the settings. When only the plays changed since the last build,
    the runner asks for the tracks whose plays changed (``ctx.keys``); rows whose
    names and id are unchanged keep their earlier match and only new ones are
    matched (the catalog is not even read when there are none).
    """
    played = ctx.sql(PLAYED_SQL, PLAYED_TABLES).to_pylist()
    earlier = _earlier_matches(ctx)
    todo = [row for row in played if _match_key(row) not in earlier]
    if todo:
        catalog = ctx.sql(CATALOG_SQL, ("catalog_tracks",))
        matched = match_tracks(todo, catalog, ctx.settings.catalog_match_min_score)
        earlier.update((_match_key(row), row) for row in matched.to_pylist())
    rows = [earlier[_match_key(row)] for row in played]
    return {OUTPUT: pa.Table.from_pylist(rows, schema=SCHEMA)}


def _match_key(row: dict) -> tuple:
    return (row["track_key"], row["artist_name"], row["track_name"], row["track_id"])


def _earlier_matches(ctx: StepContext) -> dict[tuple, dict]:
    """The stored matches, when nothing but the plays changed since they were made."""
    if ctx.changed is None or not ctx.changed <= {"track_plays"}:
        return {}
    if not ctx.lake.exists(OUTPUT):
        return {}
    # only ctx.keys' rows, if set
    stored = ctx.sql("select * from track_catalog_matches", ("track_catalog_matches",))
    if stored.schema.names != SCHEMA.names:
        return {}
    return {_match_key(row): row for row in stored.to_pylist()}


def match_tracks(played: list[dict], catalog: pa.Table, min_score: float) -> pa.Table:
    """Best catalog match per played track (``track_key``, ``artist_name``,
    ``track_name``, ``track_id`` and optionally ``track_artist``, the track's own
    primary artist from the Web API); ``catalog`` has ``track_id``,
    ``artist_name``, ``track_name``, sorted best-first for ties."""
    by_artist: dict[str, list[tuple[dict, int]]] = defaultdict(list)
    for row in played:
        row["title_norm"] = normalize_title(row["track_name"])
        artists = [normalize_artist(row["artist_name"]), normalize_artist(row.get("track_artist"))]
        artists = list(dict.fromkeys(a for a in artists if a))  # the export's artist first
        row["artist_norm"] = artists[0] if artists else ""
        row["_found"] = []
        for rank, artist in enumerate(artists):
            by_artist[artist].append((row, rank))
    groups = _catalog_groups(catalog, set(by_artist))
    for artist, members in by_artist.items():
        if artist in groups:
            _score_group(members, artist, groups[artist], min_score)
    for row in played:
        _choose(row, min_score)
    return pa.Table.from_pylist(played, schema=SCHEMA)


def _choose(row: dict, min_score: float) -> None:
    """The best candidate over the row's artists: highest score, then the first artist."""
    found = sorted(row.pop("_found"), key=lambda c: (-c["score"], c["rank"]))
    row.update(catalog_track_id=None, catalog_artist_name=None, match_score=None)
    if not found:
        return
    best = found[0]
    if best["score"] >= min_score and row["title_norm"]:
        row.update(
            catalog_track_id=best["track_id"],
            match_score=round(best["score"], 2),
            artist_norm=best["artist_norm"],
        )
    else:
        best = min(found, key=lambda c: c["rank"])
    row["catalog_artist_name"] = best["artist_name"]


class _Group:
    """The catalog tracks of one normalised primary artist."""

    def __init__(self) -> None:
        self.track_ids: list[str] = []
        self.titles: list[str] = []
        self.spellings: Counter[str] = Counter()

    @property
    def artist_name(self) -> str:
        return min(self.spellings.items(), key=lambda item: (-item[1], item[0]))[0]


def _catalog_groups(catalog: pa.Table, artists: set[str]) -> dict[str, _Group]:
    artists.discard("")
    names = catalog.column("artist_name").to_pylist()
    norm = {name: normalize_artist(name) for name in set(names)}
    groups: dict[str, _Group] = defaultdict(_Group)
    track_ids = catalog.column("track_id").to_pylist()
    titles = catalog.column("track_name").to_pylist()
    for track_id, name, title in zip(track_ids, names, titles, strict=True):
        artist = norm[name]
        if artist in artists:
            group = groups[artist]
            group.track_ids.append(track_id)
            group.titles.append(normalize_title(title))
            group.spellings[name] += 1
    return groups


def _score_group(
    members: list[tuple[dict, int]], artist: str, group: _Group, min_score: float
) -> None:
    from rapidfuzz import fuzz, process  # only when some name is left to match by score

    scores = process.cdist(
        [row["title_norm"] for row, _ in members],
        group.titles,
        scorer=fuzz.token_sort_ratio,
        processor=None,
        score_cutoff=min_score,
        dtype=np.float32,
    )
    best = scores.argmax(axis=1)  # first of equal scores: the catalog is sorted best-first
    artist_name = group.artist_name
    for (row, rank), column, score_row in zip(members, best, scores, strict=True):
        row["_found"].append(
            {
                "rank": rank,
                "score": float(score_row[column]),
                "track_id": group.track_ids[column],
                "artist_name": artist_name,
                "artist_norm": artist,
            }
        )
