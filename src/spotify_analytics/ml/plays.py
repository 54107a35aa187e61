"""Loading plays for the models: deduplicated, ordered, split per user as arrays."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..runner import StepContext

FEATURES = (
    "valence",
    "energy",
    "danceability",
    "acousticness",
    "instrumentalness",
    "speechiness",
    "liveness",
    "loudness",
    "tempo",
)
PLAY_COLUMNS = (
    "user_id",
    "play_id",
    "played_at",
    "date",
    "hour_of_day",
    "day_of_week",
    "is_weekend",
    "session_id",
    "session_play_no",
    "track_key",
    "track_id",
    "track_name",
    "artist_name",
    "is_skip",
    "feature_source",
    *FEATURES,
)

PLAYS_SQL = """
with source as (
    select {columns}, feature_source as source_of_features
    from listening_with_features
    where is_music and user_id is not null and played_at is not null{where}
),
final as (
    select {allowed}
    from source
)
select * from final{order}
"""


MOOD_COLUMNS = (
    "user_id",
    "play_id",
    "played_at",
    "date",
    "hour_of_day",
    "day_of_week",
    "session_id",
    "session_play_no",
    "track_key",
    "track_name",
    "artist_name",
    "is_skip",
    "is_weekend",
    *FEATURES,
)
BATCH_ROWS = 262_144


def plays_query(
    allow_synthetic: bool,
    columns: tuple[str, ...] = PLAY_COLUMNS,
    user_id: str | None = None,
    users: tuple[str, str] | None = None,
    ordered: bool = True,
) -> str:
    """Music plays in time order per user (duplicates still in: ``dedupe_plays``
    drops them per user, much cheaper than two window functions over every play).
    Synthetic features count as missing unless ``allow_synthetic``. ``session_id``
    comes as a 64-bit hash: the models only compare neighbouring plays' sessions,
    and numbers are far cheaper to hand to NumPy than strings. Without
    ``ordered`` the rows come in no order (``ordered_users`` sorts them)."""
    guard = "true" if allow_synthetic else "coalesce(source_of_features, '') <> 'synthetic'"
    replaced = [
        f"case when {guard} then {name} end as {name}" for name in FEATURES if name in columns
    ]
    if "session_id" in columns:
        replaced.append("hash(session_id) as session_id")
    for flag in ("is_skip", "is_weekend"):  # null is false; a bool column, not objects
        if flag in columns:
            replaced.append(f"coalesce({flag}, false) as {flag}")
    where = ""
    if user_id is not None:
        where = f" and user_id = {_quote(user_id)}"
    if users is not None:
        where = f" and user_id between {_quote(users[0])} and {_quote(users[1])}"
    allowed = "* exclude (source_of_features)"
    if replaced:
        allowed += " replace (" + ",\n        ".join(replaced) + ")"
    order = "\norder by user_id, played_at, play_id" if ordered else ""
    return PLAYS_SQL.format(columns=", ".join(columns), allowed=allowed, where=where, order=order)


def query(ctx: StepContext, sql: str, *tables: str) -> pa.Table:
    """Run DuckDB SQL over only the named tables (registering every table of a big
    lake costs about a second per connection)."""
    con = ctx.connect(only=set(tables))
    try:
        return con.sql(sql).to_arrow_table()
    finally:
        con.close()


def user_plays(
    ctx: StepContext, columns: tuple[str, ...] = PLAY_COLUMNS
) -> Iterator[tuple[str, dict[str, np.ndarray]]]:
    """``(user_id, arrays)`` per user, in user order, duplicates dropped. Users are
    read in chunks of about ``CHUNK_ROWS`` plays (one query each, sorted in NumPy:
    DuckDB's sort on the string keys cost about as much as the rest of the query),
    so Python holds one chunk at a time. The runner stores per-user tables sorted
    by user in small files, so a chunk's query reads only the files of its users."""
    allow = ctx.settings.allow_synthetic
    con = ctx.connect(only={"listening_with_features"})
    try:
        counts = con.execute(USER_COUNTS_SQL).fetchall()
        for users in _user_chunks(counts, CHUNK_ROWS):
            sql = plays_query(allow, columns, users=users, ordered=False)
            table = con.sql(f"select *, hash(play_id) as play_hash from ({sql})")
            table = table.to_arrow_table()
            # one test per chunk: when no play_id hash repeats, no play_id repeats
            hashes = np.sort(table.column("play_hash").to_numpy())
            unique = not (hashes[1:] == hashes[:-1]).any()
            table = table.drop_columns(["play_hash"])
            for user_id, arrays in ordered_users(table):
                yield user_id, dedupe_plays(arrays, ids_unique=unique)
    finally:
        con.close()


STRING_COLUMNS = ("play_id", "track_key", "track_id", "track_name", "artist_name")


def ordered_users(table: pa.Table) -> Iterator[tuple[str, dict[str, np.ndarray]]]:
    """``(user_id, arrays)`` per user of ``table`` (rows in any order), in user
    order, each user's rows sorted by ``played_at`` and then ``play_id``. String
    columns stay in Arrow (``ArrowStrings``): turning a million ids into Python
    strings cost more than the sort."""
    if table.num_rows == 0:
        return
    encoded = table.column("user_id").combine_chunks().dictionary_encode()
    names = np.array(encoded.dictionary.to_pylist(), dtype=object)
    rank = np.argsort(np.argsort(names.astype(str), kind="stable"))
    user = rank[encoded.indices.to_numpy(zero_copy_only=False)]
    strings = [name for name in table.column_names if name in STRING_COLUMNS]
    arrays = to_arrays(table.drop_columns(["user_id", *strings]))
    at = arrays["played_at"].astype(np.int64)
    order = np.lexsort((at, user))
    user, at = user[order], at[order]
    tied = np.flatnonzero((user[1:] == user[:-1]) & (at[1:] == at[:-1]))
    if tied.size:  # equal instants of a user: by play_id (rare, so in Python)
        play_id = ArrowStrings(table.column("play_id").combine_chunks(), np.arange(user.size))
        order = _by_play_id(order, user, at, tied, play_id)
    arrays = {name: values[order] for name, values in arrays.items()}
    for name in strings:
        arrays[name] = ArrowStrings(table.column(name).combine_chunks(), order)
    starts = np.flatnonzero(np.concatenate([[True], user[1:] != user[:-1]]))
    ends = np.append(starts[1:], user.size)
    by_rank = names[np.argsort(rank)]
    for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
        rows = {name: values[start:end] for name, values in arrays.items()}
        user_id = by_rank[user[start]]
        rows["user_id"] = constant(end - start, user_id)
        yield str(user_id), rows


class ArrowStrings:
    """A string column left in Arrow, indexed like a NumPy array: ``rows`` are
    positions in ``values``; indexing (masks, slices, positions) selects rows
    without making Python strings, ``to_arrow`` takes them."""

    __slots__ = ("values", "rows")

    def __init__(self, values: pa.Array, rows: np.ndarray):
        self.values = values
        self.rows = rows

    def __getitem__(self, key) -> ArrowStrings:
        return ArrowStrings(self.values, self.rows[key])

    def __len__(self) -> int:
        return self.rows.size

    @property
    def size(self) -> int:
        return self.rows.size

    @property
    def shape(self) -> tuple[int]:
        return self.rows.shape

    def to_arrow(self) -> pa.Array:
        return self.values.take(self.rows)

    def tolist(self) -> list:
        return self.to_arrow().to_pylist()

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        return np.array(self.tolist(), dtype=object if dtype is None else dtype)


def constant(n: int, value: object) -> np.ndarray:
    """``constant(n, value)``, which fills object arrays element by
    element through a cast (40x slower than ``fill``)."""
    values = np.empty(n, dtype=object)
    values.fill(value)
    return values


def arrow_column(values: np.ndarray | ArrowStrings) -> np.ndarray | pa.Array:
    """What ``pa.table`` takes: ``ArrowStrings`` as Arrow, anything else as it is."""
    return values.to_arrow() if isinstance(values, ArrowStrings) else values


def _distinct(values: np.ndarray | ArrowStrings) -> int:
    if isinstance(values, ArrowStrings):
        return pc.count_distinct(values.to_arrow(), mode="all").as_py()
    return len(set(values.tolist()))


def _by_play_id(
    order: np.ndarray, user: np.ndarray, at: np.ndarray, tied: np.ndarray, play_id: np.ndarray
) -> np.ndarray:
    """``order`` with each run of rows of one user and instant sorted by play_id."""
    order = order.copy()
    firsts = tied[np.concatenate([[True], tied[1:] != tied[:-1] + 1])]
    for first in firsts.tolist():
        last = first + 1
        while last + 1 < user.size and user[last + 1] == user[first] and at[last + 1] == at[first]:
            last += 1
        rows = order[first : last + 1]
        ids = play_id[rows].tolist()  # nulls last, as in SQL
        ranked = sorted(range(len(ids)), key=lambda i: (ids[i] is None, ids[i] or ""))
        order[first : last + 1] = rows[ranked]
    return order


def dedupe_plays(arrays: dict[str, np.ndarray], ids_unique: bool = False) -> dict[str, np.ndarray]:
    """One row per ``play_id`` (its earliest), then one per ``track_key`` and
    ``played_at`` (the smallest ``play_id``), for one user's rows sorted by
    ``played_at`` and ``play_id``: the same play stored twice counts once.
    ``ids_unique``: the caller knows no play_id repeats (skips that test)."""
    if arrays["play_id"].size < 2:
        return arrays
    if not ids_unique and _distinct(arrays["play_id"]) < arrays["play_id"].size:  # rare
        _, first = _unique(np.asarray(arrays["play_id"]), return_index=True)
        arrays = select(arrays, np.sort(first))
    at = arrays["played_at"]
    if not (at[1:] == at[:-1]).any():  # no two plays at one moment
        return arrays
    moment = np.zeros(arrays["played_at"].size, dtype=[("at", "i8"), ("track", "i8")])
    moment["at"] = arrays["played_at"].astype("datetime64[us]").astype(np.int64)
    moment["track"] = _unique(np.asarray(arrays["track_key"]), return_inverse=True)[1]
    _, first = np.unique(moment, return_index=True)
    return select(arrays, np.sort(first)) if first.size < moment.size else arrays


def _unique(values: np.ndarray, **options: bool) -> tuple:
    """``np.unique`` with nulls as one value of their own (as SQL's partition by groups them)."""
    try:
        return np.unique(values, **options)
    except TypeError:  # None among strings
        return np.unique(np.array(["\x00" if v is None else v for v in values.tolist()]), **options)


def by_user_chunks(
    ctx: StepContext, make_query: Callable[[tuple[str, str]], str]
) -> Iterator[pa.RecordBatch]:
    """Record batches of ``make_query((first_user, last_user))`` over consecutive
    ranges of users holding about ``CHUNK_ROWS`` plays each, in user order."""
    con = ctx.connect(only={"listening_with_features"})
    try:
        counts = con.execute(USER_COUNTS_SQL).fetchall()
        for users in _user_chunks(counts, CHUNK_ROWS):
            yield from con.sql(make_query(users)).to_arrow_reader(BATCH_ROWS)
    finally:
        con.close()


def chunk_tables(
    ctx: StepContext,
    make_query: Callable[[tuple[str, str]], str],
    tables: Iterable[str] = ("listening_with_features",),
    counts_query: str | None = None,
) -> Iterator[pa.Table]:
    """``make_query((first_user, last_user))`` over ``tables`` as one table per range
    of users holding about ``CHUNK_ROWS`` plays (``counts_query``: each user's plays,
    in user order; by default counted in ``listening_with_features`` as
    ``by_user_chunks`` does), so each table holds whole users."""
    con = ctx.connect(only=set(tables))
    try:
        counts = con.execute(counts_query or USER_COUNTS_SQL).fetchall()
        for users in _user_chunks(counts, CHUNK_ROWS):
            yield con.sql(make_query(users)).to_arrow_table()
    finally:
        con.close()


USER_COUNTS_SQL = """
select user_id, count(*) as n
from listening_with_features
where is_music and user_id is not null
group by user_id
order by user_id
"""
CHUNK_ROWS = 1_000_000


def _user_chunks(counts: list[tuple[str, int]], limit: int) -> Iterator[tuple[str, str]]:
    """(first, last) user ids of consecutive users whose plays add up to about ``limit``."""
    first, previous, total = None, None, 0
    for user_id, n in counts:
        if first is not None and total + n > limit:
            yield first, previous
            first, total = None, 0
        first = user_id if first is None else first
        total += n
        previous = user_id
    if first is not None:
        yield first, previous


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def to_arrays(table: pa.Table) -> dict[str, np.ndarray]:
    """Arrow columns as numpy arrays (timestamps as UTC datetime64[us], dates as [D])."""
    arrays: dict[str, np.ndarray] = {}
    for name in table.column_names:
        column = table.column(name)
        if pa.types.is_timestamp(column.type):
            column = column.cast(pa.timestamp("us"))
        arrays[name] = column.to_numpy(zero_copy_only=False)
    return arrays


def per_user(
    source: pa.Table | pa.RecordBatchReader | Iterable[pa.RecordBatch],
) -> Iterator[tuple[str, dict[str, np.ndarray]]]:
    """``(user_id, arrays)`` for each user of rows sorted by user_id (a table or a
    stream of record batches; a user may span several batches)."""
    batches = source.to_batches() if isinstance(source, pa.Table) else source
    pending: list[pa.RecordBatch] = []
    pending_user = None
    for batch in batches:
        if batch.num_rows == 0:
            continue
        runs = pc.run_end_encode(batch.column("user_id").cast(pa.string()))
        users = runs.values.to_pylist()
        ends = runs.run_ends.to_numpy()
        for user, start, end in zip(users, np.append(0, ends[:-1]), ends, strict=True):
            if pending and user != pending_user:
                yield _user_arrays(pending_user, pending)
                pending = []
            pending_user = user
            pending.append(batch.slice(start, end - start))
    if pending:
        yield _user_arrays(pending_user, pending)


def _user_arrays(user_id: str, chunks: list[pa.RecordBatch]) -> tuple[str, dict[str, np.ndarray]]:
    table = pa.Table.from_batches(chunks).combine_chunks()
    n = table.num_rows
    arrays = to_arrays(table.drop_columns(["user_id"]))
    arrays["user_id"] = constant(n, user_id)
    return str(user_id), arrays


def select(arrays: dict[str, np.ndarray], mask: np.ndarray) -> dict[str, np.ndarray]:
    return {name: values[mask] for name, values in arrays.items()}


def mood_plays(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Plays a mood model learns from: not skipped, valence and energy known."""
    skip = arrays["is_skip"]
    skip = skip == True if skip.dtype == object else skip.astype(bool)  # noqa: E712 (nulls)
    valence = arrays["valence"].astype(float)
    energy = arrays["energy"].astype(float)
    return select(arrays, ~skip & np.isfinite(valence) & np.isfinite(energy))
