"""Plays per played track and spelling, over every user: the track lookups'
(``track_catalog_matches``, ``track_features``) view of ``user_track_plays``.

One row per ``track_key``, ``track_id``, ``artist_name`` and ``track_name``
with ``n_plays`` summed over users: about 135,000 rows at 10M plays against
1.7M in ``user_track_plays``, whose per-user files every key lookup would
otherwise read whole.

An incremental run does not read ``user_track_plays`` at all: the changed
users' rows before and after the change (``StepContext.input_changes``) are
taken from and added to the stored counts of their track keys. When those
rows are unknown, or the stored table is not the one the last build left,
the keys are counted again from ``user_track_plays``.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from ..lake import sql_list
from ..runner import StepContext

OUTPUT = "silver/track_plays"
INPUTS = ("user_track_plays",)
LOOKUP_KEY = "track_key"
COLUMNS = ("track_key", "track_id", "artist_name", "track_name")

SCHEMA = pa.schema(
    [
        ("track_key", pa.string()),
        ("track_id", pa.string()),
        ("artist_name", pa.string()),
        ("track_name", pa.string()),
        ("n_plays", pa.int64()),
    ]
)

_GROUP = ", ".join(COLUMNS)

COUNT_SQL = f"""
select {_GROUP}, cast(sum(n_plays) as bigint) as n_plays
from user_track_plays
group by {_GROUP}
order by {_GROUP}
"""


def track_plays(ctx: StepContext) -> dict[str, pa.Table]:
    """The step: every user's plays of each track spelling, summed."""
    changes = ctx.input_changes("user_track_plays") if ctx.keys is not None else None
    if changes is not None:
        updated = _updated(ctx, changes.removed, changes.added)
        if updated is not None:
            return {OUTPUT: updated}
    # the whole table, or with ctx.keys only those keys' rows
    return {OUTPUT: ctx.sql(COUNT_SQL, INPUTS).cast(SCHEMA)}


def _updated(ctx: StepContext, removed: pa.Table, added: pa.Table) -> pa.Table | None:
    """The stored rows of ``ctx.keys`` less ``removed`` plus ``added`` (None
    when a count would go below zero: the stored table was not what the
    removed rows were added to)."""
    assert ctx.keys is not None
    column, keys = ctx.keys
    within = f'where "{column}" in ({sql_list(keys)})' if keys else "where false"
    con = ctx.connect(only={"track_plays"})  # shows only ctx.keys' rows
    try:
        con.register("removed_rows", removed.select([*COLUMNS, "n_plays"]))
        con.register("added_rows", added.select([*COLUMNS, "n_plays"]))
        counted = con.sql(
            f"""
            select {_GROUP}, cast(sum(n_plays) as bigint) as n_plays
            from (
                select {_GROUP}, n_plays from track_plays
                union all
                select {_GROUP}, -n_plays from removed_rows {within}
                union all
                select {_GROUP}, n_plays from added_rows {within}
            )
            group by {_GROUP}
            having sum(n_plays) <> 0
            order by {_GROUP}
            """
        ).to_arrow_table()
    finally:
        con.close()
    if counted.num_rows and pc.min(counted["n_plays"]).as_py() < 0:
        return None
    return counted.cast(SCHEMA)
