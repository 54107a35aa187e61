"""What a demo build produced, read back from the lake (DEMO DATA)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

import duckdb

from ..lake import Lake

LABEL = "DEMO DATA: generated listening of made-up users, not anybody's real history"

USERS_SQL = """
with
music as (
    select user_id, track_key, date
    from plays
    where is_music and user_id like 'demo-%'
),
final as (
    select
        user_id,
        count(*)::bigint as plays,
        count(distinct track_key)::bigint as distinct_tracks,
        min(date) as first_date,
        max(date) as last_date
    from music
    group by user_id
)
select * from final order by user_id
"""

GENRES_SQL = """
with
music as (
    select user_id, track_key
    from plays
    where is_music and not is_skip and user_id like 'demo-%'
),
features as (
    select track_key, genres from track_features
),
genre_plays as (
    select m.user_id, unnest(f.genres) as genre
    from music as m
    join features as f on f.track_key = m.track_key
),
ranked as (
    select
        user_id,
        genre,
        count(*) as plays,
        row_number() over (partition by user_id order by count(*) desc, genre) as rank
    from genre_plays
    group by user_id, genre
),
final as (
    select user_id, genre from ranked where rank = 1
)
select * from final
"""


@dataclass(frozen=True)
class DemoUser:
    """One demo listener as the lake sees it after the build."""

    user_id: str
    timezone: str
    plays: int
    distinct_tracks: int
    first_date: date | None
    last_date: date | None
    top_genre: str | None


@dataclass(frozen=True)
class DemoSummary:
    """What ``build_demo`` did: inputs written, rows loaded, tables built, per-user plays."""

    lake: Path
    inputs: Path
    catalog_rows: int
    catalog_reused: bool  # the same catalog file was already loaded
    records_inserted: int  # new export records this build (0 on a re-run)
    tables: int
    steps_built: int
    seconds: float
    users: list[DemoUser] = field(default_factory=list)
    label: str = LABEL

    def next_commands(self, available: Collection[str] = ()) -> list[str]:
        """Commands worth trying next, with this lake's ``--lake``; ``models``, ``check``
        and ``dashboard`` only when they are among the ``available`` command names."""
        lake = f" --lake {self.lake}"
        commands = [
            f'spotify-analytics sql "select user_id, count(*) as plays from default.plays '
            f'group by user_id order by user_id"{lake}',
            f'spotify-analytics sql "select hour_of_day, count(*) as plays, '
            f"round(avg(valence), 3) as valence, round(avg(energy), 3) as energy "
            f"from default.listening_with_features where user_id = 'demo-alex' "
            f'and not is_skip group by hour_of_day order by hour_of_day"{lake}',
            f"spotify-analytics sql{lake}   # interactive SQL shell",
            f"spotify-analytics status{lake}",
        ]
        optional = {
            "models": f"spotify-analytics models{lake}   # model quality against baselines",
            "check": f"spotify-analytics check{lake}   # data-quality checks",
            "dashboard": f"spotify-analytics dashboard{lake}   # in the browser",
        }
        commands += [command for name, command in optional.items() if name in available]
        commands.append(
            "spotify-analytics import ~/Downloads/my_spotify_data.zip --user me "
            "--tz Europe/Berlin --lake my-lake   # your own export, in a lake of its own"
        )
        return commands

    def to_dict(self, available: Collection[str] = ()) -> dict:
        data = asdict(self)
        data["lake"], data["inputs"] = str(self.lake), str(self.inputs)
        data["next_commands"] = self.next_commands(available)
        return data


def demo_users(lake: Lake, timezones: dict[str, str]) -> list[DemoUser]:
    """Per-user plays, dates and top genre from Silver (genre left out if unavailable)."""
    if not lake.exists("plays"):
        return []
    con = lake.connect(only={"plays", "track_features"})
    try:
        rows = con.sql(USERS_SQL).to_arrow_table().to_pylist()
        try:
            genres = dict(con.execute(GENRES_SQL).fetchall())
        except duckdb.Error:
            genres = {}
    finally:
        con.close()
    return [
        DemoUser(
            timezone=timezones.get(row["user_id"], ""), top_genre=genres.get(row["user_id"]), **row
        )
        for row in rows
    ]
