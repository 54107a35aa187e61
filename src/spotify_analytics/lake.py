"""The lake: Delta tables under one root, a lock, and DuckDB views over them.

Layout::

    <root>/bronze/<table>          raw, MERGEd on natural keys
    <root>/silver/<table>          clean, deduplicated, enriched
    <root>/gold/<family>/<table>   analytics
    <root>/_state/                 marker, lock, cursors, run log, cooldowns
    <root>/models/                 saved model artifacts

Every write is one Delta commit, so a run killed half-way leaves each table at
its last committed version.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.parquet as pq
from deltalake import DeltaTable, WriterProperties, write_deltalake
from deltalake import Schema as DeltaSchema
from deltalake.exceptions import DeltaError
from deltalake.transaction import AddAction, RemoveAction, create_table_with_add_actions

from .errors import LakeError, LockedError
from .schemas import BRONZE_TABLES, BronzeTable

LAYERS = ("bronze", "silver", "gold")
MARKER = "_state/lake.json"
FORMAT_VERSION = 1
# Per connection; the runner may hold one per core. Past it DuckDB spills to
# _state/duckdb_tmp instead of growing (its default is 80% of the machine).
DUCKDB_MEMORY_LIMIT = "1536MB"
SPILL_FOLDER = "duckdb_tmp"  # under _state/: a folder per connection for DuckDB to spill into
# Bronze rows are written in user order in row groups of this many rows, so a
# run for a few users decodes only their row groups (the user_id statistics
# rule out the rest): 0.07 instead of 2.3 CPU-s for 3 users of 10M plays. At
# about 10,000 records per user a group holds one or two users: six users'
# records of 10M plays read in 114-130 ms instead of 190-221 ms in groups of
# 65,536 rows, and the whole table about 10% slower.
BRONZE_ROW_GROUP_ROWS = 16_384
# `vacuum` rewrites a MERGEd table's files under this size once there are this
# many, as files of about COMPACT_FILE_BYTES (Lake.compact)
COMPACT_SMALL_BYTES = 8 * 1024 * 1024
COMPACT_MIN_FILES = 16
COMPACT_FILE_BYTES = 256 * 1024 * 1024
# A Delta checkpoint after this many commits: loading a table replays its log
# from the last checkpoint, and without one every commit since the first
# (at 10M plays, 50 commits of plays took 150 ms to load, 10 ms from a checkpoint).
CHECKPOINT_INTERVAL = 10

_held_locks: dict[Path, int] = {}
_held_lock_guard = threading.Lock()


@dataclass(frozen=True)
class MergeResult:
    """What one MERGE did."""

    inserted: int
    updated: int
    source_rows: int


KeyFilter = tuple[str, frozenset[str]]  # a column and the values to keep


@dataclass(frozen=True)
class Snapshot:
    """A table version as DuckDB reads it: its schema and Parquet files, each
    with the range of user_id it holds when known (its partition's user, or the
    file's statistics)."""

    schema: pa.Schema
    files: list[tuple[str, str | None, str | None]]  # path, lowest and highest user_id
    partitioned: bool
    rows: int | None = 0  # from the Delta log's file statistics (None: a file has none)
    # the files known to hold one user's rows and no NULL user_id, with that user
    one_user: dict[str, str] = dataclasses.field(default_factory=dict)

    def sql(self, users: frozenset[str] | None = None, keys: KeyFilter | None = None) -> str | None:
        """A ``select`` over the files in schema order (only ``users``' rows if
        given, from the files that may hold them; only rows whose ``keys[0]``
        column is among ``keys[1]`` if given and the table has that column), or
        None when no file is left."""
        wanted = sorted(users) if users is not None else None
        files = [
            path for path, low, high in self.files if wanted is None or _may_hold(low, high, wanted)
        ]
        if not files:
            return None
        listed = ", ".join(sql_string(path) for path in files)
        options = "union_by_name = true"
        if self.partitioned:
            options += ", hive_partitioning = true, hive_types = {'user_id': 'VARCHAR'}"
        columns = ", ".join(f'"{name}"' for name in self.schema.names)
        filters = []
        if wanted is not None and "user_id" in self.schema.names and not self._only(files, users):
            filters.append(f"user_id in ({sql_list(wanted)})")
        if keys is not None and keys[0] in self.schema.names:
            filters.append(f'"{keys[0]}" in ({sql_list(keys[1])})' if keys[1] else "false")
        where = f" where {' and '.join(filters)}" if filters else ""
        return f"select {columns} from read_parquet([{listed}], {options}){where}"

    def _only(self, files: list[str], users: frozenset[str] | None) -> bool:
        """Whether every one of ``files`` holds only rows of ``users``: then a
        filter on them is left out. DuckDB turns a long ``user_id in (...)``
        into a join whose output it underestimates, and then builds a join's
        hash table on that side: the view's join of a shard's plays with
        ``track_features`` built on the million plays and took 0.27 instead of
        0.10 CPU-s."""
        return users is not None and all(self.one_user.get(path) in users for path in files)


def _snapshot_of(table: DeltaTable, folder: Path) -> Snapshot:
    schema = pa.schema(table.schema().to_arrow())
    partitioned = table.metadata().partition_columns == ["user_id"]
    files = []
    rows: int | None = 0
    one_user = {}
    for action in pa.table(table.get_add_actions(flatten=True)).to_pylist():
        # add-action paths are URI-encoded: "user_id=a%2520b" is the folder "user_id=a%20b"
        path = str(folder / unquote(action["path"]))
        if partitioned:
            low = high = action.get("partition.user_id")
            nulls = 0
        else:
            low, high = action.get("min.user_id"), action.get("max.user_id")
            nulls = action.get("null_count.user_id")
        files.append((path, low, high))
        if low is not None and low == high and len(low) < _TRUNCATED and nulls == 0:
            one_user[path] = low
        counted = action.get("num_records")
        rows = None if rows is None or counted is None else rows + int(counted)
    return Snapshot(schema, files, partitioned, rows, one_user)


# delta-rs cuts string statistics to 32 characters: a value that long may be a prefix
_TRUNCATED = 32


def _may_hold(low: str | None, high: str | None, users: list[str]) -> bool:
    """Whether a file whose user_id lies in ``low``..``high`` may hold one of
    ``users``. Statistics of long strings may be truncated: they rule nothing out."""
    if low is None or high is None or len(low) >= _TRUNCATED or len(high) >= _TRUNCATED:
        return True
    return any(low <= user <= high for user in users)


@dataclass(frozen=True)
class FileStats:
    rows: int
    user_range: tuple[str | None, str | None, int] | None  # lowest, highest, nulls


# DuckDB's writer cuts string statistics to this many characters: a value that
# long may be a prefix, too low to bound the file's highest user_id
_STATS_CUT = 256


def _file_stats(rows: int, columns: dict | None) -> FileStats:
    """A staged file's stats from the row of DuckDB's ``return_stats``."""
    column = (columns or {}).get('"user_id"') or (columns or {}).get("user_id")
    if column is None:
        return FileStats(int(rows), None)
    low, high = column.get("min"), column.get("max")
    if any(value is not None and len(value) >= _STATS_CUT for value in (low, high)):
        return FileStats(int(rows), None)
    return FileStats(int(rows), (low, high, int(column.get("null_count") or 0)))


@dataclass(frozen=True)
class Staged:
    """Parquet files written into a table's folder but not yet committed to it:
    invisible to readers until :meth:`Lake.commit`, deleted by :meth:`Lake.discard`."""

    location: str
    folders: tuple[Path, ...]
    files: list[Path]
    rows: int
    # per file, as DuckDB's writer reported it: rows and the user_id range and
    # nulls (None without a user_id column or with a range it may have truncated)
    stats: dict[Path, FileStats] = dataclasses.field(default_factory=dict)

    def sql(self) -> str:
        listed = ", ".join(sql_string(str(path)) for path in self.files)
        return f"select * from read_parquet([{listed}])"

    @staticmethod
    def combine(parts: list[Staged]) -> Staged | None:
        """One staged write of several parts of the same table (None if none)."""
        if not parts:
            return None
        return Staged(
            parts[0].location,
            tuple(folder for part in parts for folder in part.folders),
            [path for part in parts for path in part.files],
            sum(part.rows for part in parts),
            {path: stats for part in parts for path, stats in part.stats.items()},
        )


@dataclass(frozen=True)
class View:
    """A SQL model declared a view (``view: true`` in its grain file): a query
    over other tables (``inputs``, bare names), defined in every connection
    that reads it and never stored."""

    name: str
    location: str
    sql: str
    inputs: frozenset[str]


def views_read(names: Iterable[str], views: dict[str, View]) -> list[View]:
    """The views among ``names`` and the views they read, each after the views
    it reads (so they can be defined in that order)."""
    ordered: list[View] = []

    def visit(name: str) -> None:
        view = views.get(name)
        if view is None or view in ordered:
            return
        for upstream in sorted(view.inputs):
            visit(upstream)
        ordered.append(view)

    for name in sorted(names):
        visit(name)
    return ordered


class Lake:
    """A lake root. Cheap to construct; touches the disk only when asked."""

    def __init__(self, root: Path | str):
        self.root = Path(root).expanduser().resolve()
        self._locations: dict[str, str] = {}  # bare name -> location, as last listed
        # location -> (its lock, the table as last loaded): see Lake._current
        self._tables: dict[str, tuple[threading.RLock, list[DeltaTable]]] = {}
        self._tables_guard = threading.Lock()
        self._databases = threading.local()  # each thread's DuckDB database (connect)

    # -- layout ---------------------------------------------------------------

    @classmethod
    def open(cls, root: Path | str, *, create: bool = False) -> Lake:
        """Open an existing lake, or create one when ``create`` and the folder is free.

        A folder that exists, is not empty and has no lake marker is refused, so
        a mistyped ``--lake`` never scribbles into somebody's home folder.
        """
        lake = cls(root)
        if lake.is_lake():
            return lake
        if lake.root.exists() and not lake.root.is_dir():
            raise LakeError(f"{lake.root}: not a lake (it is a file, not a folder)")
        if lake.root.exists() and any(lake.root.iterdir()):
            raise LakeError(
                f"{lake.root}: not a lake (the folder has other files and no {MARKER}); "
                "choose an empty or new folder with --lake"
            )
        if not create:
            raise LakeError(
                f"{lake.root}: no lake here yet; run `spotify-analytics demo` or `import` first"
            )
        lake.init()
        return lake

    def is_lake(self) -> bool:
        return (self.root / MARKER).is_file()

    def init(self) -> None:
        for folder in (*LAYERS, "_state", "models"):
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        marker = self.root / MARKER
        if not marker.exists():
            marker.write_text(json.dumps({"format_version": FORMAT_VERSION}) + "\n")

    def path(self, location: str) -> Path:
        """The folder of a table, from its location (``silver/plays``)."""
        return self.root / location

    def state_path(self, name: str) -> Path:
        path = self.root / "_state" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def write_state(self, name: str, data: object) -> None:
        """Write ``_state/<name>`` as JSON, whole or not at all (a reader never sees
        half a file)."""
        path = self.state_path(name)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
        tmp.replace(path)

    # -- tables ---------------------------------------------------------------

    def tables(self) -> dict[str, str]:
        """Every Delta table in the lake: bare name -> location, sorted by location."""
        logs = [
            *self.root.glob("bronze/*/_delta_log"),
            *self.root.glob("silver/*/_delta_log"),
            *self.root.glob("gold/*/*/_delta_log"),
        ]
        locations = sorted(log.parent.relative_to(self.root).as_posix() for log in logs)
        return {location.rsplit("/", 1)[-1]: location for location in locations}

    def location(self, name: str) -> str:
        """Resolve a bare table name or a location to a location."""
        if "/" in name:
            return name
        # listing the layers takes about 2 ms, and a run resolves names hundreds
        # of times: a name listed before resolves to its folder while that
        # folder still holds a table
        known = self._locations.get(name)
        if known is not None and (self.root / known / "_delta_log").is_dir():
            return known
        tables = self.tables()
        self._locations = tables
        if name in tables:
            return tables[name]
        if name in BRONZE_TABLES:
            return BRONZE_TABLES[name].location
        raise LakeError(f"{self.root}: no table named {name!r}")

    def exists(self, name: str) -> bool:
        """Whether the table has a Delta log with a commit or a checkpoint (delta-rs's
        ``is_deltatable`` takes 4 ms, and a run asks over a hundred times)."""
        log = self.path(self.location(name)) / "_delta_log"
        return (log / "_last_checkpoint").is_file() or any(log.glob("*.json"))

    def drop(self, location: str) -> None:
        """Delete the table at ``location``, files and log (nothing if absent)."""
        with self._tables_guard:
            self._tables.pop(location, None)
        self._locations = {}
        shutil.rmtree(self.path(location), ignore_errors=True)

    def delta(self, name: str, version: int | None = None) -> DeltaTable:
        location = self.location(name)
        try:
            return DeltaTable(str(self.path(location)), version=version)
        except (DeltaError, OSError) as error:
            path = self.path(location)
            raise LakeError(f"{path}: not a readable Delta table ({error})") from None

    @contextlib.contextmanager
    def _current(self, location: str) -> Iterator[DeltaTable]:
        """The table at its newest version, for one caller at a time. The loaded
        table is kept and brought up to date from the commits since: loading it
        anew replays the log from its checkpoint (80 ms for ``plays`` at 10M
        plays, which a run reads and writes several times), reading the new
        commits takes 1-2 ms. Callers must not move it to another version."""
        with self._tables_guard:
            lock, kept = self._tables.setdefault(location, (threading.RLock(), []))
        with lock:
            newest = _newest_commit(self.path(location) / "_delta_log")
            table = kept[0] if kept else None
            if table is not None and newest is not None and newest >= table.version():
                try:
                    table.update_incremental()
                except (DeltaError, OSError):  # e.g. its commits were cleaned up: load anew
                    table = None
            else:  # none kept, or a log older than the one kept (the table was replaced)
                table = None
            if table is None:
                table = self.delta(location)
            kept[:] = [table]
            yield table

    def keep_loaded(self, locations: Iterable[str], stop: threading.Event) -> None:
        """Load the tables at ``locations`` that are not kept yet (see
        ``_current``) until ``stop`` is set, ahead of the steps that read and
        write them: delta-rs loads without holding the GIL, so a thread can do
        this beside a run's first steps (0.4 s for the 36 tables an incremental
        run of the 10M benchmark lake writes). A table that is missing or fails to load is
        left to the step that needs it, which reports the error."""
        for location in locations:
            if stop.is_set():
                return
            with self._tables_guard:
                held = self._tables.get(location)
            if (held is not None and held[1]) or not (self.path(location) / "_delta_log").is_dir():
                continue
            with contextlib.suppress(Exception), self._current(location):
                pass

    def version(self, name: str) -> int | None:
        """A table's current version: its log's newest commit. Loading the table
        for it replays the log, 25 ms for a table of a few hundred small files."""
        if not self.exists(name):
            return None
        newest = _newest_commit(self.path(self.location(name)) / "_delta_log")
        return newest if newest is not None else self.delta(name).version()

    def dataset(self, name: str) -> pads.Dataset:
        """An Arrow dataset over the table's current version (empty if a declared
        Bronze table was never written)."""
        if not self.exists(name) and name in BRONZE_TABLES:
            return pads.dataset(BRONZE_TABLES[name].schema.empty_table())
        with self._current(self.location(name)) as table:
            return table.to_pyarrow_dataset()

    def snapshot(self, name: str, version: int | None = None) -> Snapshot:
        """The files and schema of a table's current version (or of ``version``;
        no files and the declared schema for a Bronze table never written)."""
        if not self.exists(name):
            if name in BRONZE_TABLES:
                return Snapshot(BRONZE_TABLES[name].schema, [], False)
            raise LakeError(f"{self.root}: no table named {name!r}")
        location = self.location(name)
        if version is not None and version == _newest_commit(self.path(location) / "_delta_log"):
            version = None  # the newest: the kept table, loaded once for every reader
        if version is None:
            with self._current(location) as table:
                return _snapshot_of(table, self.path(location))
        return _snapshot_of(self.delta(location, version), self.path(location))

    def read(self, name: str, columns: list[str] | None = None) -> pa.Table:
        return self.dataset(name).to_table(columns=columns)

    def count(self, name: str) -> int:
        """Rows in the table's current version (0 for a declared Bronze table
        never written), from the row counts its Delta log keeps per file."""
        if not self.exists(name):
            return 0
        return delta_row_count(self.delta(name), self.path(self.location(name)))

    # -- writes ---------------------------------------------------------------

    def merge(self, table: BronzeTable, data: pa.Table, *, update: bool = False) -> MergeResult:
        """MERGE ``data`` into a Bronze table on its natural key, in one commit.

        Rows whose key is already stored are left as they are (``update=False``)
        or replaced (``update=True``); duplicate keys within ``data`` keep the
        last row.
        """
        data = bronze_order(_dedupe_keys(conform(data, table.schema), table.keys))
        path = str(self.path(table.location))
        if not DeltaTable.is_deltatable(path):
            write_deltalake(path, data, mode="error", writer_properties=bronze_writer())
            return MergeResult(inserted=data.num_rows, updated=0, source_rows=data.num_rows)
        if data.num_rows == 0:
            return MergeResult(inserted=0, updated=0, source_rows=0)
        predicate = " and ".join(f"t.{key} = s.{key}" for key in table.keys)
        merger = DeltaTable(path).merge(
            data,
            predicate=predicate,
            source_alias="s",
            target_alias="t",
            writer_properties=bronze_writer(),
        )
        if update:
            merger = merger.when_matched_update_all()
        metrics = merger.when_not_matched_insert_all().execute()
        self._checkpoint_if_due(table.location)
        return MergeResult(
            inserted=int(metrics.get("num_target_rows_inserted", 0)),
            updated=int(metrics.get("num_target_rows_updated", 0)),
            source_rows=data.num_rows,
        )

    def overwrite(
        self,
        location: str,
        data: pa.Table | pa.RecordBatchReader,
        *,
        predicate: str | None = None,
        partition_by: list[str] | None = None,
        target_file_size: int | None = None,
    ) -> None:
        """Replace a table's contents (or the rows matching ``predicate``) in one
        commit. The schema follows ``data``. A table once partitioned stays
        partitioned the same way."""
        write_deltalake(
            str(self.path(location)),
            data,
            mode="overwrite",
            schema_mode="overwrite" if predicate is None else None,
            predicate=predicate,
            partition_by=partition_by if predicate is None else None,
            target_file_size=target_file_size,
        )
        self._checkpoint_if_due(location)

    def stage(
        self,
        con: duckdb.DuckDBPyConnection,
        query: str,
        location: str,
        *,
        file_bytes: int,
        file_rows: int | None = None,
        per_user_files: bool = False,
        group_rows: int | None = None,
    ) -> Staged | None:
        """Write ``query``'s result as Parquet files (of about ``file_bytes``, and
        at most about ``file_rows`` rows if given, or one per user with
        ``per_user_files``; row groups of ``group_rows`` if given) into the
        table's folder with DuckDB's parallel writer, without committing them.
        None when DuckDB wrote no file (an empty result)."""
        folder = self.path(location) / f"part-{uuid.uuid4().hex}"
        folder.parent.mkdir(parents=True, exist_ok=True)
        self._mark_staging(folder, location)
        # DuckDB starts a new file only between row groups: size them to the files
        group_rows = group_rows or max(2_048, file_bytes // 256)
        if file_rows is not None:
            group_rows = min(group_rows, file_rows)
        if per_user_files:
            layout = "partition_by (user_id), write_partition_columns true"
        elif file_rows is not None:  # a row group per file (one per thread writing); not
            # with file_size_bytes too: DuckDB would start a file only once both are reached
            layout = "row_groups_per_file 1"
        else:
            layout = f"file_size_bytes {file_bytes}"
        copy = (
            f"copy ({query}) to {sql_string(str(folder))} (format parquet, "
            f"compression snappy, {layout}, row_group_size {group_rows}, return_stats)"
        )
        try:
            if file_rows is None:
                written = con.execute(copy).fetchall()
            else:  # DuckDB's threads would deal the rows out to files in turn
                with _one_thread(con):
                    written = con.execute(copy).fetchall()
            stats = {Path(row[0]): _file_stats(row[1], row[4]) for row in written}
            if per_user_files:  # flat names: user ids in folder names would need escaping
                for number, path in enumerate(sorted(stats)):
                    renamed = folder / f"user-{number:06d}.parquet"
                    path.rename(renamed)
                    stats[renamed] = stats.pop(path)
                for child in folder.iterdir():
                    if child.is_dir():
                        shutil.rmtree(child)
        except BaseException:  # a failed query leaves no half-written files behind
            self._remove_staged(folder)
            raise
        for path in [path for path, found in stats.items() if found.rows == 0]:
            path.unlink()  # DuckDB may end on an empty file
            del stats[path]
        if not stats:
            self._remove_staged(folder)
            return None
        rows = sum(found.rows for found in stats.values())
        return Staged(location, (folder,), sorted(stats), rows, stats)

    def commit(self, staged: Staged, con: duckdb.DuckDBPyConnection) -> None:
        """Replace the table's contents by the staged files, in one commit. Each
        file's statistics carry its row count and user_id range (for pruning).
        A failed commit deletes the staged files."""
        root = self.path(staged.location)
        try:
            schema = _delta_arrow_schema(pq.read_schema(staged.files[0]))
            actions = _add_actions(staged, con, root)
            delta_schema = DeltaSchema.from_arrow(schema)
            if DeltaTable.is_deltatable(str(root)):
                with self._current(staged.location) as table:
                    table.create_write_transaction(actions, mode="overwrite", schema=delta_schema)
            else:
                create_table_with_add_actions(str(root), delta_schema, actions, mode="error")
        except BaseException:
            self.discard(staged)
            raise
        self._committed(staged)
        self._checkpoint_if_due(staged.location)

    def replace_users(
        self,
        location: str,
        con: duckdb.DuckDBPyConnection,
        query: str,
        users: frozenset[str],
        *,
        file_bytes: int,
        file_rows: int | None = None,
        per_user_files: bool = False,
    ) -> bool:
        """Replace ``users``' rows of a table kept in user order by ``query``'s
        rows (rows of those users only), in one commit: the files whose user_id
        statistics may hold those users are rewritten without their rows, plus
        the new rows, in user order. Other files are not touched (delta-rs's
        predicate overwrite scans every file: 4 s for 4 users of 10M plays).

        False, with nothing written, when the table is partitioned or the
        rewritten files would not have the table's schema: the caller then
        overwrites by predicate."""
        with self._current(location) as table:
            if table.metadata().partition_columns:
                return False
            schema = pa.schema(table.schema().to_arrow())
            wanted = sorted(users)
            actions = pa.table(table.get_add_actions(flatten=True)).to_pylist()
            old = [
                action
                for action in actions
                if _may_hold(action.get("min.user_id"), action.get("max.user_id"), wanted)
            ]
            folder = self.path(location)
            columns = ", ".join(f'"{name}"' for name in schema.names)
            if old:
                listed = ", ".join(sql_string(str(folder / unquote(a["path"]))) for a in old)
                kept = (
                    f"select {columns} from read_parquet([{listed}], union_by_name = true) "
                    f"where user_id is null or user_id not in ({sql_list(wanted)})"
                )
                query = f"({kept}) union all by name ({query})"
            staged = self.stage(
                con,
                f"select {columns} from ({query}) order by user_id",
                location,
                file_bytes=file_bytes,
                file_rows=file_rows,
                per_user_files=per_user_files,
            )
            if staged is not None:
                written = _delta_arrow_schema(pq.read_schema(staged.files[0]))
                if not written.equals(schema):  # e.g. an int32 column came back as int64
                    self.discard(staged)
                    return False
            self._swap_files(table, location, old, staged, con, data_change=True)
            return True

    def _swap_files(
        self,
        table: DeltaTable,
        location: str,
        old: list[dict],
        staged: Staged | None,
        con: duckdb.DuckDBPyConnection,
        *,
        data_change: bool,
    ) -> None:
        """In one commit, remove the files of add actions ``old`` and add the
        staged files (``data_change=False``: the same rows, rewritten). A failed
        commit deletes the staged files."""
        now = int(time.time() * 1000)
        removes = [RemoveAction(a["path"], data_change, now, a["size_bytes"]) for a in old]
        folder = self.path(location)
        adds = [] if staged is None else _add_actions(staged, con, folder, data_change=data_change)
        if not removes and not adds:
            return
        schema = DeltaSchema.from_arrow(pa.schema(table.schema().to_arrow()))
        try:
            table.create_write_transaction([*removes, *adds], mode="append", schema=schema)
        except BaseException:
            if staged is not None:
                self.discard(staged)
            raise
        if staged is not None:
            self._committed(staged)
        self._checkpoint_if_due(location)

    def compact(self, location: str) -> int:
        """Rewrite the small files of a table that MERGE appends to (Bronze,
        ``quality_checks``) as files in Bronze order, in one commit that changes
        no rows; the number of files rewritten (0: fewer than
        ``COMPACT_MIN_FILES`` small ones, or a table this cannot rewrite as it is).

        Every MERGE adds a file holding the users of its batch, so a lake polled
        every 20 minutes gains 72 files a day in Bronze, each spanning a wide
        user range: a rebuild for a few users could rule none of them out. The
        rewrite sorts their rows by user (then time), in row groups of
        ``BRONZE_ROW_GROUP_ROWS``, so a few users' rows sit in a few row groups."""
        table = self.delta(location)
        if table.metadata().partition_columns:
            return 0
        schema = pa.schema(table.schema().to_arrow())
        actions = pa.table(table.get_add_actions(flatten=True)).to_pylist()
        small = [action for action in actions if action["size_bytes"] < COMPACT_SMALL_BYTES]
        if len(small) < COMPACT_MIN_FILES:
            return 0
        folder = self.path(location)
        listed = ", ".join(sql_string(str(folder / unquote(a["path"]))) for a in small)
        columns = ", ".join(f'"{name}"' for name in schema.names)
        order = [f'"{name}"' for name in ("user_id", "ts", "played_at") if name in schema.names]
        query = f"select {columns} from read_parquet([{listed}], union_by_name = true)"
        if order:
            query += f" order by {', '.join(order)}"
        con = self.connect(only=set(), aliases=False)  # the lake's memory limit and spill
        try:
            staged = self.stage(
                con,
                query,
                location,
                file_bytes=COMPACT_FILE_BYTES,
                group_rows=BRONZE_ROW_GROUP_ROWS,
            )
            if staged is None:
                return 0
            written = _delta_arrow_schema(pq.read_schema(staged.files[0]))
            rows = sum(_action_rows(action, folder) for action in small)
            if not written.equals(schema) or staged.rows != rows:
                self.discard(staged)  # e.g. an int32 column came back as int64
                return 0
            self._swap_files(table, location, small, staged, con, data_change=False)
        finally:
            con.close()
        return len(small)

    def _checkpoint_if_due(self, location: str) -> None:
        """Write a Delta checkpoint of the table's newest version when
        ``CHECKPOINT_INTERVAL`` commits have passed since the last one."""
        log = self.path(location) / "_delta_log"
        newest = _newest_commit(log)
        if newest is None:
            return
        last = _checkpoint_version(log)
        if newest - (-1 if last is None else last) >= CHECKPOINT_INTERVAL:  # none: write one
            with self._current(location) as table:
                table.create_checkpoint()

    def discard(self, staged: Staged) -> None:
        for folder in staged.folders:
            self._remove_staged(folder)

    # -- staged folders -------------------------------------------------------
    # A marker in _state/staging/ names each folder being staged until it is
    # committed or discarded, so a folder a killed process left behind can be
    # told from one a commit references (sweep_staged).

    def _marker(self, folder: Path) -> Path:
        return self.root / "_state" / "staging" / folder.name

    def _mark_staging(self, folder: Path, location: str) -> None:
        marker = self._marker(folder)
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(location)

    def _remove_staged(self, folder: Path) -> None:
        shutil.rmtree(folder, ignore_errors=True)
        self._marker(folder).unlink(missing_ok=True)

    def _committed(self, staged: Staged) -> None:
        for folder in staged.folders:
            self._marker(folder).unlink(missing_ok=True)

    def sweep_staged(self) -> list[Path]:
        """Delete the staged folders of writes that never committed (their
        process was killed between staging and commit); returns them. Call
        it holding the lake's lock. A folder any version of its table's Delta
        log references is kept."""
        markers = self.root / "_state" / "staging"
        removed = []
        for marker in sorted(markers.glob("part-*")) if markers.is_dir() else []:
            folder = self.path(marker.read_text().strip()) / marker.name
            if folder.exists() and not _logged(folder):
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
            marker.unlink(missing_ok=True)
        return removed

    # -- lock -----------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self, purpose: str = "run") -> Iterator[None]:
        """Hold the lake's write lock; a second process gets :class:`LockedError`.

        The lock is an ``flock`` on ``_state/lock``: the kernel releases it when
        the holder dies, so a killed run never leaves the lake locked. Nested use
        in one process is allowed.
        """
        path = self.state_path("lock")
        with _held_lock_guard:
            if path in _held_locks:
                _held_locks[path] += 1
                reentered = True
            else:
                reentered = False
        if reentered:
            try:
                yield
            finally:
                with _held_lock_guard:
                    _held_locks[path] -= 1
            return
        handle = open(path, "a+")  # noqa: SIM115 - kept open while the lock is held
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise LockedError(
                f"{self.root}: the lake is busy ({holder}); wait for it to finish and try again"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} running {purpose}\n")
        handle.flush()
        with _held_lock_guard:
            _held_locks[path] = 1
        try:
            yield
        finally:
            with _held_lock_guard:
                _held_locks.pop(path, None)
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()

    # -- query ----------------------------------------------------------------

    def connect(
        self,
        extra: dict[str, pa.Table] | None = None,
        only: set[str] | None = None,
        users: frozenset[str] | None = None,
        source: Callable[[str], Snapshot] | None = None,
        keys: KeyFilter | None = None,
        threads: int | None = None,
        aliases: bool = True,
        shared: bool = False,
        views: dict[str, View] | None = None,
    ) -> duckdb.DuckDBPyConnection:
        """A DuckDB connection with a view per table, as ``name`` and ``"default".name``.

        Declared Bronze tables that were never written appear empty with their
        schema, so SQL models can always name them. ``only`` limits the views to
        those names; ``users`` limits every table with a ``user_id`` column to
        those users' rows (read from their partitions alone when the table is
        partitioned by user); ``keys`` (a column, values) limits every table with
        that column to those values' rows. ``source`` gives a table's snapshot (default
        :meth:`snapshot`; the runner passes one that reuses snapshots in a run).
        ``threads`` caps DuckDB's threads (default: one per core). Without
        ``aliases`` there are no ``"default".name`` views: binding a view over
        a table of 1,000 files (one per user) costs about 0.1 s, and the
        pipeline's SQL names tables bare. With ``shared`` (and no aliases) the
        connection is a cursor of a database this thread keeps, its views
        temporary and so its own: opening a database costs about 15 ms of CPU,
        and an incremental run opens dozens of connections for small queries.
        ``views`` are the SQL models stored as views (:class:`View`): each one
        ``only`` names (every one without ``only``) is defined over its input
        tables, which the connection then shows too, limited like any other.
        When the lake lacks a view's inputs, a stored table of its name is
        shown instead, if there is one (the model tests plant
        ``listening_with_features`` alone).

        Tables are read by DuckDB's Parquet reader from the file list of their
        current Delta version: much faster than Arrow datasets over many files,
        and its filter pushdown works on delta-rs's string_view statistics.
        """
        source = source or self.snapshot
        if shared and aliases:
            raise ValueError("a shared connection has no aliases")
        if shared:
            con = self._thread_database().cursor()
            con.execute("reset threads" if threads is None else f"set threads = {int(threads)}")
        else:
            con = self._database(threads)
        if aliases:
            con.execute('create schema "default"')
        views = views or {}
        defined = views_read(views if only is None else only, views)
        if only is not None:
            only = set(only).union(*(view.inputs for view in defined))
        shown = set(extra or {})
        for name in self._readable(only):
            snapshot = source(name)
            query = snapshot.sql(users, keys)
            if query is None:
                _register(con, name, snapshot.schema.empty_table(), aliases, shared)
            else:
                _view(con, name, query, aliases, shared)
            shown.add(name)
        for name, table in (extra or {}).items():
            _register(con, name, table, aliases, shared)
        for view in defined:
            if view.inputs <= shown:
                _view(con, view.name, view.sql, aliases, shared)
                shown.add(view.name)
        return con

    def _database(self, threads: int | None = None) -> duckdb.DuckDBPyConnection:
        """A new in-memory DuckDB database, spilling into a folder of its own."""
        # A folder per database: DuckDB deletes its temp folder when a database
        # closes, which broke another step spilling into a shared one at 10M plays.
        # (named after this process, so a vacuum can tell one a killed process left)
        spill = self.root / "_state" / SPILL_FOLDER / f"{os.getpid()}-{uuid.uuid4().hex}"
        spill.parent.mkdir(parents=True, exist_ok=True)  # DuckDB makes only the last level
        config: dict[str, str | int] = {
            "memory_limit": DUCKDB_MEMORY_LIMIT,
            "temp_directory": str(spill),
            # hash joins build on the side the join order puts there: from 2.0.1 on,
            # a low estimate of the plays under `plays`' zone joins had them build
            # hash tables of every play instead of the users' zones (see docs/models.md)
            "disabled_optimizers": "build_side_probe_side",
        }
        if threads is not None:
            config["threads"] = threads
        return duckdb.connect(config=config)

    def _thread_database(self) -> duckdb.DuckDBPyConnection:
        """This thread's database for shared connections (closed with the thread)."""
        database = getattr(self._databases, "database", None)
        if database is None:
            database = self._databases.database = self._database()
        return database

    def _readable(self, only: set[str] | None) -> list[str]:
        """The tables a connection shows: every table and declared Bronze table,
        or those of ``only`` (resolved by name, without listing the layers)."""
        if only is None:
            return sorted({*BRONZE_TABLES, *self.tables()})
        readable = []
        for name in sorted(only):
            if "/" in name:
                continue  # views are named by bare names
            try:
                location = self.location(name)
            except LakeError:
                continue  # neither a table nor a declared Bronze table
            if name in BRONZE_TABLES or (self.path(location) / "_delta_log").is_dir():
                readable.append(name)
        return readable


def delta_row_count(table: DeltaTable, folder: Path) -> int:
    """Rows in ``table``'s current version (its files under ``folder``): the
    per-file row counts of its add actions, or a file's Parquet footer when its
    action has none. An Arrow dataset over the table, to count its rows, took
    about a second per table of 1,000 files (``status`` on a 10M-play lake: 29 s)."""
    actions = pa.table(table.get_add_actions(flatten=True)).to_pylist()
    return sum(_action_rows(action, folder) for action in actions)


def _action_rows(action: dict, folder: Path) -> int:
    """The rows of an add action's file: its statistics, else its Parquet footer."""
    rows = action.get("num_records")
    if rows is None:
        rows = pq.ParquetFile(folder / unquote(action["path"])).metadata.num_rows
    return int(rows)


def _newest_commit(log: Path) -> int | None:
    """The version of the newest commit file in a Delta log folder: from the last
    checkpoint, the commits after it (a log keeps hundreds of commit files, and
    listing them took longer than the few lookups)."""
    start = _checkpoint_version(log)
    if start is None:
        commits = [int(path.stem) for path in log.glob("*.json") if path.stem.isdigit()]
        return max(commits) if commits else None
    version = start  # its commit file may be cleaned up: the checkpoint stands for it
    while (log / f"{version + 1:020d}.json").is_file():
        version += 1
    return version


def _checkpoint_version(log: Path) -> int | None:
    """The version of a Delta log's last checkpoint (None: none, or unreadable)."""
    try:
        return int(json.loads((log / "_last_checkpoint").read_text())["version"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _logged(folder: Path) -> bool:
    """Whether any commit or checkpoint in the Delta log of the table holding
    ``folder`` adds a file in it."""
    log = folder.parent / "_delta_log"
    needle = f'"path":"{folder.name}/'
    for commit in log.glob("*.json"):
        if needle in commit.read_text():
            return True
    for checkpoint in log.glob("*.checkpoint*.parquet"):
        adds = pq.read_table(checkpoint, columns=["add"]).column("add")
        paths = pc.struct_field(adds, "path").drop_null().to_pylist()
        if any(path.startswith(f"{folder.name}/") for path in paths):
            return True
    return False


@contextlib.contextmanager
def _one_thread(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """``con`` on one thread while the block runs."""
    threads = con.execute("select current_setting('threads')").fetchall()[0][0]
    con.execute("set threads = 1")
    try:
        yield
    finally:
        con.execute(f"set threads = {int(threads)}")


def _register(
    con: duckdb.DuckDBPyConnection, name: str, data: object, aliases: bool, temporary: bool
) -> None:
    hidden = f"__lake_{name}"
    con.register(hidden, data)
    _view(con, name, f'select * from "{hidden}"', aliases, temporary)


def _view(
    con: duckdb.DuckDBPyConnection, name: str, query: str, aliases: bool, temporary: bool
) -> None:
    kind = "temp view" if temporary else "view"  # a temporary view is the cursor's own
    con.execute(f'create or replace {kind} "{name}" as {query}')
    if aliases:
        con.execute(f'create or replace view "default"."{name}" as {query}')


def sql_string(text: str) -> str:
    """``text`` as a SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def sql_list(texts: Iterable[str]) -> str:
    """Sorted SQL string literals, comma-separated (for ``in (...)`` and lists)."""
    return ", ".join(sql_string(text) for text in sorted(texts))


def _delta_arrow_schema(schema: pa.Schema) -> pa.Schema:
    """The Parquet file's schema as Delta takes it: zoned timestamps in UTC
    (DuckDB names the zone Etc/UTC, which delta-rs refuses), and every column
    and list element nullable (DuckDB marks those it knows hold no NULL as
    required, which would differ from file to file and refuse later NULLs)."""
    return pa.schema(_nullable(field) for field in schema)


def _nullable(field: pa.Field) -> pa.Field:
    kind = field.type
    if pa.types.is_timestamp(kind) and kind.tz:
        kind = pa.timestamp(kind.unit, tz="UTC")
    elif pa.types.is_list(kind) or pa.types.is_large_list(kind):  # e.g. genres
        make = pa.list_ if pa.types.is_list(kind) else pa.large_list
        kind = make(_nullable(kind.value_field))
    return field.with_type(kind).with_nullable(True)


def conform(data: pa.Table, schema: pa.Schema) -> pa.Table:
    """Select and cast ``data`` to ``schema``; columns it lacks become null."""
    columns = []
    for field in schema:
        if field.name in data.column_names:
            columns.append(data.column(field.name).cast(field.type))
        else:
            columns.append(pa.nulls(data.num_rows, field.type))
    return pa.Table.from_arrays(columns, schema=schema)


def _add_actions(
    staged: Staged, con: duckdb.DuckDBPyConnection, root: Path, *, data_change: bool = True
) -> list[AddAction]:
    """Delta add actions for staged files; each file's statistics carry its row
    count and user_id range (for pruning). ``data_change=False`` marks a
    rewrite of rows already in the table (a compaction). Both come from the
    statistics DuckDB's writer returned where it has them."""
    known = [staged.stats.get(path) for path in staged.files]
    ranges: dict[str, tuple] = {
        str(path): found.user_range
        for path, found in zip(staged.files, known, strict=True)
        if found is not None and found.user_range is not None
    }
    if len(ranges) < len(staged.files) and "user_id" in pq.read_schema(staged.files[0]).names:
        # the writer's statistics did not give every range: read them
        queried = con.execute(
            "select filename, min(user_id), max(user_id), count(*) filter (where user_id "
            f"is null) from read_parquet([{sql_list(str(f) for f in staged.files)}],"
            " filename = true) group by filename"
        ).fetchall()
        ranges = {row[0]: row[1:] for row in queried}
    actions = []
    for path, found in zip(staged.files, known, strict=True):
        rows = found.rows if found is not None else pq.ParquetFile(path).metadata.num_rows
        stats: dict = {"numRecords": rows}
        low, high, nulls = ranges.get(str(path), (None, None, None))
        if low is not None:
            stats |= {"minValues": {"user_id": low}, "maxValues": {"user_id": high}}
        if nulls is not None:  # a file of null user_ids only has no range, but says so
            stats |= {"nullCount": {"user_id": nulls}}
        info = path.stat()
        actions.append(
            AddAction(
                path.relative_to(root).as_posix(),
                info.st_size,
                {},
                int(info.st_mtime * 1000),
                data_change,
                json.dumps(stats),
            )
        )
    return actions


def bronze_order(data: pa.Table) -> pa.Table:
    """Rows in user order (time order within a user when known): the layout
    Bronze is written in."""
    keys = [name for name in ("user_id", "ts", "played_at") if name in data.column_names]
    if data.num_rows < 2 or "user_id" not in keys:
        return data
    return data.sort_by([(name, "ascending") for name in keys])


def bronze_writer() -> WriterProperties:
    """Parquet settings of Bronze writes (see ``BRONZE_ROW_GROUP_ROWS``)."""
    return WriterProperties(max_row_group_size=BRONZE_ROW_GROUP_ROWS)


def _dedupe_keys(data: pa.Table, keys: tuple[str, ...]) -> pa.Table:
    if data.num_rows < 2:
        return data
    indexed = data.append_column("__row", pa.array(range(data.num_rows), pa.int64()))
    last = indexed.group_by(list(keys), use_threads=False).aggregate([("__row", "max")])
    if last.num_rows == data.num_rows:
        return data
    keep = pc.sort_indices(last.column("__row_max"))
    rows = pc.take(last.column("__row_max"), keep)
    return data.take(rows)
