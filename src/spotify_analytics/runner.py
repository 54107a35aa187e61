"""The model runner: SQL files and Python steps in one DAG, built from the SQL.

Every ``.sql`` file under ``sql/`` is a table whose location is its path
(``sql/gold/descriptive/temporal_trends.sql`` -> ``gold/descriptive/temporal_trends``).
Its upstream tables are the table names sqlglot finds in it. Python steps
declare their inputs and outputs. A step runs when its code, its parameters or
the version of any input changed since it last ran, when its output is missing,
or always with ``full``.

A step declared per-user (``per_user: true`` in its grain file, or
``python_step(per_user=True)``) is rebuilt, when only user-keyed inputs changed,
for just the users whose input rows changed (see changes.py): it sees only those
users' rows, and its result replaces only those users' rows. A step that is not
per-user is rebuilt whole, and an unchanged result is not written, so a
rebuild that changes nothing does not ripple downstream.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import (
    FIRST_COMPLETED,
    Future,
    ThreadPoolExecutor,
    wait,
)
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from graphlib import TopologicalSorter
from typing import TypeVar

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from .changes import ChangeJournal, Users, users_in_new_files
from .dag import (  # the declarations, re-exported: they were part of this module
    PARAMS_TABLE,
    SQL_ROOT,  # noqa: F401
    RowChanges,
    RunReport,
    Step,
    StepContext,
    StepResult,
    build_dag,
    inline_views,
    python_step,  # noqa: F401
    run_params,
    select_steps,
    sql_models,  # noqa: F401
    upstream_tables,  # noqa: F401
)
from .errors import SpotifyAnalyticsError
from .lake import KeyFilter, Lake, Snapshot, Staged, sql_list
from .quality import QualityGate
from .settings import Settings
from .shards import build_in_process, user_shards, worker_pool

T = TypeVar("T")
STATE_FILE = "steps.json"
STEP_OUTPUT = "__step_output"  # a step's result, checked before it is written
NEW_ROWS = "__new_rows"  # rows being written, registered in a connection
SAME_CHECK_MAX_ROWS = 2_000_000  # larger results of non-per-user steps are always written
# Per-user tables are written sorted by user_id in files of about this size, so
# replacing a few users' rows rewrites a few small files, and reading them skips
# the rest by the files' user_id statistics. (Partitioning by user_id would do
# the same, but delta-rs buffers every partition in memory: 3 GB for 1M plays.)
USER_SORTED_FILE_BYTES = 4 * 2**20
# ... and of at most about this many rows (up to twice that when two threads
# write): replacing a few users then rewrites a few small files. At 10M plays,
# rewriting the 88,000-row files of mood_predictions took 0.6 s of a 10 s run;
# files of 4,096 rows against 16,384 cost 6% more to write and 16% more to
# read whole (mood_predictions, 1.7M rows: 407 files).
USER_SORTED_FILE_ROWS = 4_096
WHOLE_FILE_BYTES = 128 * 2**20  # other tables: few files
# A whole build of a per-user SQL step over more input rows than this is split
# into shards of users of about this many rows, each a single-threaded DuckDB
# query, run side by side on the run's cores. DuckDB's own threads cost far more
# CPU than they save on these queries (the `plays` SQL at 10M: 164 CPU-s on two
# threads, about 75 in shards), and small shards keep their hash tables small.
SHARD_ROWS = 1_000_000


class Runner:
    """Runs steps in dependency order and remembers what each was built from."""

    def __init__(
        self,
        lake: Lake,
        settings: Settings,
        steps: list[Step],
        *,
        shard_rows: int = SHARD_ROWS,
    ):
        self.lake = lake
        self.shard_rows = shard_rows
        self.settings = settings
        steps, self.views = inline_views(steps)
        self.steps = {step.name: step for step in steps}
        self.graph = build_dag(steps)
        self.params = run_params(settings)
        self.params_hash = hashlib.sha256(
            json.dumps(self.params.to_pylist(), sort_keys=True).encode()
        ).hexdigest()[:16]
        self.quality = QualityGate(lake)
        self.journal = ChangeJournal(lake)
        self._producers = {name: step.name for step in steps for name in step.output_names}
        self._state_lock = threading.Lock()
        self._warming: threading.Thread | None = None
        self._preloading: tuple[threading.Thread, threading.Event] | None = None
        self._selected: set[str] = set()
        self._versions: dict[str, int | None] = {}
        self._snapshots: dict[str, Snapshot] = {}
        self._user_rows: dict[str, dict[str | None, int] | None] = {}
        # the rows that changed among some users' rows of a table since a version,
        # asked by every lookup step reading the table (see _changed_rows)
        self._changed_rows_of: dict[tuple, RowChanges | None] = {}
        # the users carrying the keys a lookup table changed, asked by every step
        # reading that table with the same user-keyed tables (see _users_of_keys)
        self._users_of_keys_of: dict[tuple, Users] = {}
        self._asking: dict[tuple, threading.Lock] = {}  # a lock per question (_ask_once)
        # A slot per core: a step's work (or one shard of it) holds one.
        self._cores = threading.BoundedSemaphore(1)
        self._workers = 1
        self._local = threading.local()  # per step thread: its DuckDB threads
        self._shard_pool: ThreadPoolExecutor | None = None

    def order(self, selected: set[str] | None = None) -> list[str]:
        ordered = TopologicalSorter(self.graph).static_order()
        return [name for name in ordered if selected is None or name in selected]

    def run(
        self,
        *,
        full: bool = False,
        select: str | None = None,
        on_step: Callable[[StepResult], None] | None = None,
        workers: int | None = None,
    ) -> RunReport:
        """Build what is stale (everything with ``full``); returns what happened.

        Steps whose inputs are ready run side by side on ``workers`` threads
        (default: one per core); DuckDB, delta-rs and NumPy release the GIL for
        their heavy work. A large whole build of a per-user SQL step runs as
        shards of users on those cores (see ``SHARD_ROWS``). A failing step
        raises once the steps already running have finished; every step that
        finished was committed and recorded, so the next run resumes from there.
        """
        workers = workers or os.cpu_count() or 1
        self._cores = threading.BoundedSemaphore(workers)
        self._workers = workers
        if select and select.strip("+") in self.views:
            raise SpotifyAnalyticsError(
                f"--select {select}: {select.strip('+')} is a view, computed when it is read;"
                " select a table that reads it, or the tables under it"
            )
        selected = select_steps(self.graph, select, self._producers) if select else set(self.graph)
        self._selected = selected
        report = RunReport()
        self.quality = QualityGate(self.lake)
        with self.lake.lock("run"):
            self.lake.sweep_staged()  # left by a run killed between staging and commit
            state = load_state(self.lake)
            self._drop_stored_views(state)
            self._versions.clear()  # Bronze may have changed since the last run
            self._snapshots.clear()
            self._user_rows.clear()
            self._changed_rows_of.clear()
            try:
                with ThreadPoolExecutor(workers, thread_name_prefix="shard") as shards:
                    self._shard_pool = shards
                    self._run_ready_steps(
                        selected, state, full or bool(select), report, on_step, workers
                    )
            finally:
                self._shard_pool = None
                self._stop_preloading()
                self.quality.record()
        position = {name: index for index, name in enumerate(self.order())}
        report.results.sort(key=lambda result: position[result.name])
        return report

    def _drop_stored_views(self, state: dict) -> None:
        """Delete the stored table of a model that is now a view (an older lake's
        ``listening_with_features``) once the lake has the view's inputs, so no
        reader finds a copy that no longer changes with them."""
        tables = self.lake.tables()
        for view in self.views.values():
            if view.name in tables and view.inputs - {PARAMS_TABLE} <= tables.keys():
                self.lake.drop(view.location)
            if state.pop(view.name, None) is not None:
                save_state(self.lake, state)

    def _run_ready_steps(
        self,
        selected: set[str],
        state: dict,
        force: bool,
        report: RunReport,
        on_step: Callable[[StepResult], None] | None,
        workers: int,
    ) -> None:
        sorter = TopologicalSorter({name: self.graph[name] & selected for name in selected})
        sorter.prepare()
        priority = critical_paths(self.graph, selected, state)
        failure: BaseException | None = None
        running: dict[Future[StepResult], str] = {}
        ready: list[str] = []
        with ThreadPoolExecutor(max_workers=workers) as pool:
            while True:
                if failure is None:
                    # the step with the longest remaining path first, a step per worker
                    ready = sorted([*ready, *sorter.get_ready()], key=priority.__getitem__)
                    while ready and len(running) < workers:
                        name = ready.pop()
                        # DuckDB's threads only for a step with the machine to itself:
                        # beside other steps they cost more CPU than they save
                        threads = None if not running and not ready else 1
                        step = self.steps[name]
                        job = pool.submit(self._run_one, step, state, force=force, threads=threads)
                        running[job] = name
                if not running:
                    break
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for job in finished:
                    name = running.pop(job)
                    try:
                        result = job.result()
                    except BaseException as error:  # re-raised below, after the others end
                        failure = failure or error
                        continue
                    report.results.append(result)
                    sorter.done(name)
                    if on_step:
                        on_step(result)
        if failure is not None:
            raise failure

    def _run_one(
        self, step: Step, state: dict, *, force: bool, threads: int | None = None
    ) -> StepResult:
        self._local.threads = threads  # for the step's DuckDB connections
        seen = self._inputs_seen(step)
        last = state.get(step.name)
        reason = "forced" if force else self._stale_reason(step, last, seen)
        if not reason:
            return StepResult(step.name, "skipped")
        # an incremental rebuild's queries are small, and so are those of a build
        # over small inputs: their connections share this thread's DuckDB database
        # instead of opening one each (15-45 ms of CPU; the demo opened 35)
        self._local.shared = reason.startswith("input changed") or self._small(step)
        users = changed = keys = row_changes = None
        if reason.startswith("input changed"):
            changed = frozenset(n for n, v in seen.items() if last["inputs"].get(n) != v)
            if step.per_user:
                users = self._changed_users(step, last["inputs"], seen)
            elif step.lookup_key:
                keys = self._changed_lookup_keys(step, last["inputs"], seen)
            row_changes = functools.partial(self._input_changes, step, last, seen)
        self._preload()
        if step.name in self._warm_triggers:
            self._warm_up()
        started = time.perf_counter()
        rows = 0
        if users != frozenset() and keys != frozenset():  # else nothing to rebuild
            rows = self._execute(
                step,
                users,
                check_unchanged=not force,
                changed=changed,
                keys=keys,
                row_changes=row_changes,
            )
        outputs = {location: self._version(_name_of(location)) for location in step.outputs}
        with self._state_lock:
            state[step.name] = {
                "code": step.fingerprint,
                "params": self.params_hash,
                "inputs": seen,  # upstream steps are done and the lake is locked
                "outputs": outputs,  # the versions this build left (see _input_changes)
                "built_at": time.time(),
                "seconds": round(time.perf_counter() - started, 3),  # for critical_paths
            }
            save_state(self.lake, state)
        if users == frozenset() or keys == frozenset():
            return StepResult(step.name, "skipped", reason=f"{reason} (no rows changed)")
        if users is not None:
            reason += f" ({len(users)} user{'s' if len(users) != 1 else ''})"
        if keys is not None:
            reason += f" ({len(keys)} key{'s' if len(keys) != 1 else ''})"
        return StepResult(step.name, "built", time.perf_counter() - started, rows, reason)

    @property
    def _threads(self) -> int | None:
        """DuckDB threads for the running step's connections (None: one per core)."""
        return getattr(self._local, "threads", None)

    @property
    def _shared(self) -> bool:
        """Whether the running step's connections share this thread's database
        (``Lake.connect``); never on the threads of a whole build's shards."""
        return getattr(self._local, "shared", False)

    @functools.cached_property
    def _warm_triggers(self) -> frozenset[str]:
        """The steps whose build starts the warm-up: the producers of the inputs
        of steps with a ``warm_up``, and those steps themselves."""
        warmed = {name for name, step in self.steps.items() if step.warm_up}
        return frozenset(warmed.union(*(self.graph[name] for name in warmed)))

    def _warm_up(self) -> None:
        """Once a step that feeds a step with a ``warm_up`` is built, run every
        step's ``warm_up`` on a background thread. That step and its neighbours
        keep a core busy in DuckDB; the other loads the model code meanwhile
        (0.03-0.05 CPU-s once the pipeline's modules are loaded; about 0.5 with
        SciPy's optimizer, 1.5 with scikit-learn, which now only a full build
        of the catalog model loads), instead of
        the first model step loading it when it starts. Not earlier: the import
        holds the GIL, and at 10M plays starting it with the run slowed the
        Silver chain of an incremental run from 4.9 to 7.4 s. A run with
        nothing to build loads nothing."""
        with self._state_lock:
            if self._warming is not None:
                return
            hooks = [
                step.warm_up
                for step in self.steps.values()
                if step.warm_up and step.name in self._selected
            ]
            self._warming = threading.Thread(
                target=lambda: [hook() for hook in hooks], name="warm-up", daemon=True
            )
        self._warming.start()

    def _preload(self) -> None:
        """Once a run has something to build, load the Delta tables its steps
        write on a thread of its own (``Lake.keep_loaded``), in the order the
        steps run. An incremental run builds its first steps one after another
        on one core; meanwhile the other loads the tables the later steps
        would each load when they start (10-80 ms each at 10M plays)."""
        with self._state_lock:
            if self._preloading is not None:
                return
            order = self.order(self._selected)
            locations = [location for name in order for location in self.steps[name].outputs]
            stop = threading.Event()
            thread = threading.Thread(
                target=self.lake.keep_loaded, args=(locations, stop), name="preload", daemon=True
            )
            self._preloading = (thread, stop)
        thread.start()

    def _stop_preloading(self) -> None:
        """Stop the preloading thread, if any, after the load it is in."""
        with self._state_lock:
            preloading, self._preloading = self._preloading, None
        if preloading is not None:
            thread, stop = preloading
            stop.set()
            thread.join()

    def _changed_users(self, step: Step, last: dict, seen: dict) -> Users:
        """The users whose rows in ``step``'s inputs changed since it last ran,
        or None when that is unknown or a table without users changed."""

        def users(name: str, old: int, new: int) -> Users:
            producer = self._producers.get(name)
            if producer is not None and self.steps[producer].lookup_key:
                return self._users_of_keys(step, self.steps[producer].lookup_key, name, old, new)
            return self._users_between(name, old, new)

        return _over_changed_inputs(last, seen, users)

    def _changed_lookup_keys(self, step: Step, last: dict, seen: dict) -> frozenset[str] | None:
        """The keys of lookup step ``step`` whose input rows changed since it last
        ran: the keys an upstream lookup table changed, and the keys of the rows
        that differ, among the changed users' rows of a user-keyed input. None
        when that is unknown or an input without the key changed."""
        key = step.lookup_key
        assert key is not None

        def keys(name: str, old: int, new: int) -> frozenset[str] | None:
            producer = self._producers.get(name)
            if producer is not None and self.steps[producer].lookup_key == key:
                return self.journal.keys_between(self.lake.location(name), old, new)
            users = self._users_between(name, old, new)
            return None if users is None else self._keys_of_users(name, key, users, old)

        return _over_changed_inputs(last, seen, keys)

    def _users_between(self, name: str, old: int, new: int) -> Users:
        """Users whose rows versions ``old+1 .. new`` of table ``name`` changed:
        from the journal for the runner's tables, from the Delta log otherwise."""
        if name in self._producers:
            return self.journal.users_between(self.lake.location(name), old, new)
        return users_in_new_files(self.lake, name, old, new)

    def _keys_of_users(
        self, name: str, key: str, users: frozenset[str], old: int
    ) -> frozenset[str] | None:
        """The values of ``key`` in the rows of ``users`` that differ between
        version ``old`` of table ``name`` and now (None when the table lacks
        either column or the rows cannot be compared: see _changed_rows)."""
        if not users:
            return frozenset()
        found = self._changed_rows(name, users, old)
        if found is None or key not in found.removed.column_names:
            return None
        return frozenset(
            str(value)
            for part in (found.removed, found.added)
            for value in pc.unique(part[key]).to_pylist()
            if value is not None
        )

    def _changed_rows(self, name: str, users: frozenset[str], old: int) -> RowChanges | None:
        """The rows of ``users`` that differ between version ``old`` of table
        ``name`` and now (None when the table has no ``user_id``, the old
        version is gone or its columns differ). Read once per run: the lookup
        steps reading a table (the track lookups) ask the same question."""
        return self._ask_once(
            self._changed_rows_of, (name, users, old), lambda: self._diff_rows(name, users, old)
        )

    def _ask_once(self, answers: dict[tuple, T], asked: tuple, answer: Callable[[], T]) -> T:
        """``answers[asked]``, found by ``answer()`` the first time it is asked in
        the run; a step asking while another finds it waits for that answer."""
        with self._state_lock:
            lock = self._asking.setdefault((id(answers), asked), threading.Lock())
        with lock:
            with self._state_lock:
                if asked in answers:
                    return answers[asked]
            found = answer()
            with self._state_lock:
                answers[asked] = found
            return found

    def _diff_rows(self, name: str, users: frozenset[str], old: int) -> RowChanges | None:
        now = self._snapshot(name)
        if "user_id" not in now.schema.names:
            return None
        if not users:
            return RowChanges(now.schema.empty_table(), now.schema.empty_table())
        try:
            before = self.lake.snapshot(name, version=old)
        except Exception:  # an expired or missing version: nothing to compare with
            return None
        whole = now.sql()
        if before.schema.names != now.schema.names or whole is None or before.sql() is None:
            return None
        empty = f"select * from ({whole}) where false"
        old_rows, new_rows = before.sql(users) or empty, now.sql(users) or empty
        con = self.lake.connect(aliases=False, only=set(), shared=self._shared)
        try:
            con.execute(f"create temp table old_rows as {old_rows}")
            con.execute(f"create temp table new_rows as {new_rows}")
            removed = con.sql(
                "select * from old_rows except all select * from new_rows"
            ).to_arrow_table()
            added = con.sql(
                "select * from new_rows except all select * from old_rows"
            ).to_arrow_table()
        finally:
            con.close()
        return RowChanges(removed, added)

    def _input_changes(self, step: Step, last: dict, seen: dict, name: str) -> RowChanges | None:
        """``StepContext.input_changes`` of ``step``: the rows of input ``name``
        that its changed users lost and gained since the step last ran. None
        when that is unknown, or when the step's outputs are not the versions
        its last build left (a write without its record, or another writer):
        a step adding changes to what it stored must then build it whole."""
        old, new = last["inputs"].get(name), seen.get(name)
        if old is None or new is None:
            return None
        recorded = last.get("outputs") or {}
        for location in step.outputs:
            if location not in recorded or recorded[location] != self._version(_name_of(location)):
                return None
        if old == new:
            empty = self._snapshot(name).schema.empty_table()
            return RowChanges(empty, empty)
        users = self._users_between(name, old, new)
        return None if users is None else self._changed_rows(name, users, old)

    def _users_of_keys(self, step: Step, key: str, name: str, old: int, new: int) -> Users:
        """The users with rows whose ``key`` is among the keys that versions
        ``old+1 .. new`` of the lookup table ``name`` changed, found in the
        step's user-keyed inputs that carry ``key``. Asked once per run and
        table: steps reading the same tables (the readers of
        ``listening_with_features``, of ``user_track_plays``) become ready
        together, and the later ones wait for the first's answer."""
        keys = self.journal.keys_between(self.lake.location(name), old, new)
        if keys is None:
            return None
        if not keys:
            return frozenset()
        carriers = [
            table
            for table in sorted(step.inputs - {name, PARAMS_TABLE})
            if {"user_id", key} <= set(self._snapshot(table).schema.names)
        ]
        if not carriers:
            return None
        asked = [
            self._ask_once(
                self._users_of_keys_of,
                (name, key, old, new, carrier),
                functools.partial(self._carrying_users, carrier, key, keys),
            )
            for carrier in carriers
        ]
        return frozenset().union(*asked)

    def _carrying_users(self, carrier: str, key: str, keys: frozenset[str]) -> frozenset[str]:
        query = f'select distinct user_id from "{carrier}" where "{key}" in ({sql_list(keys)})'
        con = self.lake.connect(
            aliases=False, only={carrier}, source=self._snapshot, shared=self._shared
        )
        try:
            return frozenset(row[0] for row in con.execute(query).fetchall() if row[0] is not None)
        finally:
            con.close()

    def _execute(
        self,
        step: Step,
        users: Users = None,
        *,
        check_unchanged: bool = False,
        changed: frozenset[str] | None = None,
        keys: frozenset[str] | None = None,
        row_changes: Callable[[str], RowChanges | None] | None = None,
    ) -> int:
        """Build ``step`` (for ``users`` or lookup ``keys`` only, if given),
        check it, write it."""
        key_filter = (step.lookup_key, keys) if keys is not None and step.lookup_key else None
        if step.sql is not None:
            if users is None and key_filter is None and step.per_user:
                shards = self._shards(step)
                rows = self._execute_shards(step, shards) if len(shards) > 1 else None
                if rows is not None:
                    return rows
            with self._cores:
                return self._execute_sql(step, users, check_unchanged, key_filter)
        if users is None and key_filter is None and step.per_user and step.processes:
            shards = self._shards(step)
            if len(shards) > 1:
                produced = self._produce_in_processes(step, shards)
                with self._cores:
                    return self._write_outputs(step, produced, None, check_unchanged, None)
        with self._cores:
            assert step.function is not None
            context = StepContext(
                self.lake,
                self.settings,
                users,
                self._snapshot,
                changed,
                key_filter,
                threads=self._threads,
                row_changes=row_changes,
                shared=self._shared,
                views=self.views,
            )
            produced = step.function(context)
            return self._write_outputs(step, produced, users, check_unchanged, key_filter)

    def _write_outputs(
        self,
        step: Step,
        produced: dict[str, pa.Table],
        users: Users,
        check_unchanged: bool,
        key_filter: KeyFilter | None,
    ) -> int:
        """Check a Python step's tables, then write them (on one DuckDB
        connection: opening one costs about 10 ms, and a step may write eight)."""
        missing = set(step.outputs) - produced.keys()
        if missing:
            raise SpotifyAnalyticsError(f"step {step.name} did not produce {sorted(missing)}")
        with self._connection(None) as con:
            for location in step.outputs:
                grain = step.grain_file(location)
                self.quality.validate_arrow(produced[location], location, grain, con)
                if users is not None:
                    _check_users(step, location, produced[location], users)
                if key_filter is not None:
                    _check_keys(step, location, produced[location], key_filter)
            for location in step.outputs:
                table = produced[location]
                rows = table.num_rows
                self._write(step, location, table, rows, users, check_unchanged, key_filter, con)
        return sum(produced[location].num_rows for location in step.outputs)

    def _step_connection(
        self, step: Step, users: Users, keys: KeyFilter | None, threads: int | None
    ) -> duckdb.DuckDBPyConnection:
        """A connection with views of a SQL step's inputs (and the run parameters)."""
        return self.lake.connect(
            aliases=False,
            extra={PARAMS_TABLE: self.params},
            only=step.inputs | step.views,
            users=users,
            source=self._snapshot,
            keys=keys,
            threads=threads,
            shared=self._shared,
            views=self.views,
        )

    def _execute_sql(
        self, step: Step, users: Users, check_unchanged: bool, keys: KeyFilter | None = None
    ) -> int:
        con = self._step_connection(step, users, keys, self._threads)
        location = step.outputs[0]
        try:
            whole = users is None and keys is None
            if whole and not (check_unchanged and not step.per_user):
                rows = self._stage_and_commit(step, con, location)
                if rows is not None:
                    return rows
            con.execute(f"create temp table {STEP_OUTPUT} as {step.sql}")
            self.quality.validate(con, STEP_OUTPUT, location, step.grain_file(location))
            rows = con.execute(f"select count(*) from {STEP_OUTPUT}").fetchall()[0][0]
            order = " order by user_id" if step.per_user else ""
            data: pa.Table | pa.RecordBatchReader | InConnection
            if users is not None and keys is None:  # written from this connection's table
                _check_users_in(con, step, location, STEP_OUTPUT, rows, users)
                data = InConnection(STEP_OUTPUT)
            elif not whole or (check_unchanged and not step.per_user):
                data = con.sql(f"select * from {STEP_OUTPUT}{order}").to_arrow_table()
                if users is not None:
                    _check_users(step, location, data, users)
                if keys is not None:
                    _check_keys(step, location, data, keys)
            else:
                data = con.sql(f"select * from {STEP_OUTPUT}{order}").to_arrow_reader()
            # a stream of this connection's result is written by another one
            own = None if isinstance(data, pa.RecordBatchReader) else con
            self._write(step, location, data, rows, users, check_unchanged, keys, own)
        except SpotifyAnalyticsError:  # quality failures and our own messages name the table
            raise
        except Exception as error:  # duckdb and delta errors alike: name the step
            raise SpotifyAnalyticsError(f"step {step.name}: {error}") from error
        finally:
            con.close()
        return rows

    def _shards(self, step: Step) -> list[frozenset[str]]:
        """Users of ``step``'s inputs in contiguous shards of about
        ``shard_rows`` input rows (none when the inputs are smaller, or when
        some input rows have no user, which a shard would leave out). Inputs
        whose Delta logs count no more rows than a shard are not counted per
        user (at demo scale that query was most of a small step's time)."""
        if self._small(step):
            return []
        counts: dict[str, int] = {}
        for name in sorted(step.inputs - {PARAMS_TABLE}):
            rows = self._rows_per_user(name)
            if rows is None:
                continue
            if None in rows:
                return []
            for user, n in rows.items():
                counts[user] = counts.get(user, 0) + n
        return user_shards(counts, self.shard_rows)

    def _small(self, step: Step) -> bool:
        """Whether ``step``'s inputs hold no more rows than a shard, as their
        Delta logs count them."""
        logged = [self._snapshot(name).rows for name in step.inputs - {PARAMS_TABLE}]
        return all(rows is not None for rows in logged) and sum(map(int, logged)) <= self.shard_rows

    def _rows_per_user(self, name: str) -> dict[str | None, int] | None:
        """Rows per user_id of table ``name`` (None when it has no user_id),
        read once per run until a step rewrites it."""
        with self._state_lock:
            if name in self._user_rows:
                return self._user_rows[name]
        snapshot = self._snapshot(name)
        found: dict[str | None, int] | None = None
        if "user_id" in snapshot.schema.names:
            query = snapshot.sql()
            found = {}
            if query is not None:
                con = self.lake.connect(aliases=False, only=set())
                try:
                    grouped = f"select user_id, count(*) from ({query}) group by user_id"
                    found = dict(con.execute(grouped).fetchall())
                finally:
                    con.close()
        with self._state_lock:
            return self._user_rows.setdefault(name, found)

    def _execute_shards(self, step: Step, shards: list[frozenset[str]]) -> int | None:
        """A whole build of a per-user SQL step as one single-threaded query per
        shard of users, side by side on the run's cores, each writing its own
        staged files; then one check and one commit of them all. None for an
        empty result, which the general path writes."""
        location = step.outputs[0]
        assert step.sql is not None

        def build(users: frozenset[str]) -> Staged | None:
            con = self._step_connection(step, users, None, 1)
            try:
                return self._stage(step, con, location)
            finally:
                con.close()

        def discard(done: list[Staged | None]) -> None:
            for part in done:
                if part is not None:
                    self.lake.discard(part)

        parts = self._over_shards(step, shards, build, discard)
        staged = Staged.combine([part for part in parts if part is not None])
        if staged is None:
            return None
        with self._cores:
            con = self.lake.connect(aliases=False, only=set())
            try:
                return self._check_and_commit(step, con, staged)
            except SpotifyAnalyticsError:
                raise
            except Exception as error:  # duckdb and delta errors alike: name the step
                raise SpotifyAnalyticsError(f"step {step.name}: {error}") from error
            finally:
                con.close()

    def _produce_in_processes(
        self, step: Step, shards: list[frozenset[str]]
    ) -> dict[str, pa.Table]:
        """A whole build of a per-user Python step as one call per shard of
        users in worker processes (a shard holds one of the run's cores while
        it runs); each output is the shards' tables one after the other."""
        assert step.function is not None
        everyone = frozenset().union(*shards)
        processes = worker_pool(min(self._workers, len(shards)))

        def build(users: frozenset[str]) -> dict[str, pa.Table]:
            job = processes.submit(
                build_in_process,
                step.function,
                self.lake.root,
                self.settings,
                users,
                everyone,
                self.views,
            )
            return job.result()

        with processes:
            parts = self._over_shards(step, shards, build)
        return {
            location: pa.concat_tables([part[location] for part in parts if location in part])
            for location in step.outputs
            if all(location in part for part in parts)
        }

    def _over_shards(
        self,
        step: Step,
        shards: list[frozenset[str]],
        build: Callable[[frozenset[str]], T],
        discard: Callable[[list[T]], None] | None = None,
    ) -> list[T]:
        """``build(users)`` for every shard on the run's shard threads, each
        holding one of the run's cores; the results in shard order. When a
        shard fails, the others finish first, ``discard`` gets the results of
        those that succeeded, and the first failure is raised naming the step."""
        assert self._shard_pool is not None

        def held(users: frozenset[str]) -> T:
            with self._cores:
                return build(users)

        jobs = [self._shard_pool.submit(held, users) for users in shards]
        wait(jobs)
        failures = [job.exception() for job in jobs if job.exception() is not None]
        if failures:
            if discard is not None:
                discard([job.result() for job in jobs if job.exception() is None])
            failure = failures[0]
            if isinstance(failure, SpotifyAnalyticsError):
                raise failure
            raise SpotifyAnalyticsError(f"step {step.name}: {failure}") from failure
        return [job.result() for job in jobs]

    def _stage(self, step: Step, con: duckdb.DuckDBPyConnection, location: str) -> Staged | None:
        """Write the step's whole result as staged Parquet files (per-user tables
        in user order, or a file per user), or None when it is empty."""
        # a file per user needs no order: the partitioned writer splits by user
        order = " order by user_id" if step.per_user and not step.file_per_user else ""
        size = USER_SORTED_FILE_BYTES if step.per_user else WHOLE_FILE_BYTES
        query = f"select * from (\n{step.sql}\n){order}"  # the SQL may end in a comment
        return self.lake.stage(
            con,
            query,
            location,
            file_bytes=size,
            file_rows=USER_SORTED_FILE_ROWS if order else None,
            per_user_files=step.file_per_user,
        )

    def _stage_and_commit(
        self, step: Step, con: duckdb.DuckDBPyConnection, location: str
    ) -> int | None:
        """A whole-table build: DuckDB writes the result straight to Parquet in
        the table's folder, the checks read those files, and only then are they
        committed (deleted on failure). None for an empty result, which the
        general path writes."""
        staged = self._stage(step, con, location)
        if staged is None:
            return None
        return self._check_and_commit(step, con, staged)

    def _check_and_commit(self, step: Step, con: duckdb.DuckDBPyConnection, staged: Staged) -> int:
        """Check staged files and commit them (deleting them on failure)."""
        location = staged.location
        try:
            con.execute(f"create or replace temp view {STEP_OUTPUT} as {staged.sql()}")
            self.quality.validate(con, STEP_OUTPUT, location, step.grain_file(location))
            self.lake.commit(staged, con)
        except BaseException:
            self.lake.discard(staged)
            raise
        name = location.rsplit("/", 1)[-1]
        self._forget_versions([name])
        self.journal.record(location, self._version(name), None)
        return staged.rows

    def _write(
        self,
        step: Step,
        location: str,
        data: pa.Table | pa.RecordBatchReader | InConnection,
        rows: int,
        users: Users,
        check_unchanged: bool,
        key_filter: KeyFilter | None = None,
        con: duckdb.DuckDBPyConnection | None = None,
    ) -> None:
        """Write one output and record which users (or lookup keys) its new
        version changed. ``con``: the step's connection, if it has one (it
        holds the rows when ``data`` is :class:`InConnection`, a per-user
        rebuild)."""
        keys = None
        if users is not None:
            self._replace_users(step, location, data, users, con)
        elif isinstance(data, InConnection):
            raise AssertionError("rows in a connection are written for some users only")
        elif key_filter is not None and isinstance(data, pa.Table):
            keys = self._changed_keys(step, location, data, key_filter[1], con)
            if keys == frozenset():
                return
            if keys is None:  # cannot compare: every rebuilt key may have changed
                keys = key_filter[1]
            column, values = key_filter[0], keys
            self.lake.overwrite(
                location,
                data.filter(pc.is_in(data[column], pa.array(values))),
                predicate=f'"{column}" in ({sql_list(values)})',
            )
        elif check_unchanged and not step.per_user and isinstance(data, pa.Table):
            keys = self._changed_keys(step, location, data, con=con)
            if keys == frozenset() or (keys is None and self._same_as_stored(location, data)):
                return
            self.lake.overwrite(location, data)
        elif step.per_user and "user_id" in data.schema.names:
            self._overwrite_per_user(location, data, con)
        else:
            self.lake.overwrite(location, data)
        name = location.rsplit("/", 1)[-1]
        self._forget_versions([name])
        self.journal.record(location, self._version(name), users, keys)

    def _replace_users(
        self,
        step: Step,
        location: str,
        data: pa.Table | pa.RecordBatchReader | InConnection,
        users: frozenset[str],
        con: duckdb.DuckDBPyConnection | None = None,
    ) -> None:
        """Replace ``users``' rows of a per-user table by ``data``."""
        done = False
        in_con = isinstance(data, InConnection)
        if self.lake.exists(location):
            with self._connection(con) as con, ExitStack() as stack:
                if not in_con:
                    stack.enter_context(_registered(con, NEW_ROWS, data))
                done = self.lake.replace_users(
                    location,
                    con,
                    f"select * from {data.table if in_con else NEW_ROWS}",
                    users,
                    file_bytes=USER_SORTED_FILE_BYTES,
                    file_rows=None if step.file_per_user else USER_SORTED_FILE_ROWS,
                    per_user_files=step.file_per_user,
                )
        if not done:
            if in_con:
                assert con is not None
                data = con.sql(f"select * from {data.table}").to_arrow_table()
            self.lake.overwrite(location, data, predicate=_users_predicate(users))

    def _overwrite_per_user(
        self,
        location: str,
        data: pa.Table | pa.RecordBatchReader,
        con: duckdb.DuckDBPyConnection | None,
    ) -> None:
        """Replace a per-user table by ``data``, in user order, in files of about
        ``USER_SORTED_FILE_ROWS`` rows (delta-rs sizes files by bytes only)."""
        with self._connection(con) as con, _registered(con, NEW_ROWS, data):
            staged = self.lake.stage(
                con,
                f"select * from {NEW_ROWS} order by user_id",
                location,
                file_bytes=USER_SORTED_FILE_BYTES,
                file_rows=USER_SORTED_FILE_ROWS,
            )
            if staged is not None:
                self.lake.commit(staged, con)
        if staged is None:  # no rows: delta-rs writes the schema alone
            self.lake.overwrite(location, data.schema.empty_table())

    @contextmanager
    def _connection(
        self, con: duckdb.DuckDBPyConnection | None
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """``con``, or a connection of its own (without views) closed afterwards."""
        if con is not None:
            yield con
            return
        own = self.lake.connect(
            aliases=False, only=set(), threads=self._threads, shared=self._shared
        )
        try:
            yield own
        finally:
            own.close()

    def _changed_keys(
        self,
        step: Step,
        location: str,
        data: pa.Table,
        only: frozenset[str] | None = None,
        con: duckdb.DuckDBPyConnection | None = None,
    ) -> frozenset[str] | None:
        """The keys whose rows differ between ``data`` and a stored lookup table,
        among ``only`` if given (None when the step is no lookup table or the
        tables cannot be compared). Compared on ``con``, the step's connection,
        if given."""
        key = step.lookup_key
        if key is None or key not in data.column_names or not self.lake.exists(location):
            return None
        name = location.rsplit("/", 1)[-1]
        query = self._snapshot(name).sql(None, None if only is None else (key, only))
        if query is None:
            return None
        # Doubles are equal within 1e-9 (relative): DuckDB's parallel sums (means
        # of catalog features) differ in the last bits from run to run.
        same = " and ".join(
            f'(n."{f.name}" is not distinct from o."{f.name}" or abs(n."{f.name}" - o."{f.name}")'
            f' <= 1e-9 * greatest(1.0, abs(o."{f.name}")))'
            if pa.types.is_floating(f.type)
            else f'n."{f.name}" is not distinct from o."{f.name}"'
            for f in data.schema
        )
        with self._connection(con) as reader, _registered(reader, NEW_ROWS, data):
            try:
                stored = [row[0] for row in reader.execute(f"describe {query}").fetchall()]
                if stored != data.column_names:
                    return None
                found = reader.execute(
                    f'select coalesce(n."{key}", o."{key}") from {NEW_ROWS} as n '
                    f'full outer join ({query}) as o on n."{key}" = o."{key}" '
                    f'where n."{key}" is null or o."{key}" is null or not ({same})'
                ).fetchall()
            except duckdb.Error:
                return None
        return frozenset(str(row[0]) for row in found)

    def _same_as_stored(self, location: str, data: pa.Table) -> bool:
        """Whether ``data`` holds exactly the rows the table already has."""
        if not self.lake.exists(location) or data.num_rows > SAME_CHECK_MAX_ROWS:
            return False
        stored = self.lake.read(location)
        if stored.column_names != data.column_names or stored.num_rows != data.num_rows:
            return False
        try:
            stored = stored.cast(data.schema)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return False
        order = [(name, "ascending") for name in data.column_names if _sortable(data, name)]
        return stored.sort_by(order).equals(data.sort_by(order))

    def _inputs_seen(self, step: Step) -> dict[str, int | None]:
        return {name: self._version(name) for name in sorted(step.inputs) if name != PARAMS_TABLE}

    def _version(self, name: str) -> int | None:
        """A table's Delta version, read once per run until a step rewrites it."""
        with self._state_lock:
            if name in self._versions:
                return self._versions[name]
        version = self.lake.version(name)
        with self._state_lock:
            self._versions.setdefault(name, version)
        return version

    def _snapshot(self, name: str) -> Snapshot:
        """A table's files and schema, read once per run until a step rewrites it."""
        with self._state_lock:
            if name in self._snapshots:
                return self._snapshots[name]
        snapshot = self.lake.snapshot(name)
        with self._state_lock:
            return self._snapshots.setdefault(name, snapshot)

    def _forget_versions(self, names: Iterable[str]) -> None:
        with self._state_lock:
            for name in names:
                self._versions.pop(name, None)
                self._snapshots.pop(name, None)
                self._user_rows.pop(name, None)
                for asked in [asked for asked in self._changed_rows_of if asked[0] == name]:
                    del self._changed_rows_of[asked]
                for asked in [
                    asked for asked in self._users_of_keys_of if name in (asked[0], asked[4])
                ]:
                    del self._users_of_keys_of[asked]

    def _stale_reason(self, step: Step, last: dict | None, seen: dict) -> str:
        if last is None:
            return "never built"
        if any(not self.lake.exists(location) for location in step.outputs):
            return "output missing"
        if last.get("code") != step.fingerprint:
            return "code changed"
        if PARAMS_TABLE in step.inputs and last.get("params") != self.params_hash:
            return "settings changed"
        changed = [name for name, version in seen.items() if last["inputs"].get(name) != version]
        return f"input changed: {', '.join(changed)}" if changed else ""


def load_state(lake: Lake) -> dict:
    """What each step was last built from (``_state/steps.json``)."""
    path = lake.state_path(STATE_FILE)
    return json.loads(path.read_text()) if path.exists() else {}


def save_state(lake: Lake, state: dict) -> None:
    lake.write_state(STATE_FILE, state)


@contextmanager
def _registered(
    con: duckdb.DuckDBPyConnection, name: str, data: pa.Table | pa.RecordBatchReader
) -> Iterator[None]:
    """``data`` registered in ``con`` as ``name`` while the block runs."""
    con.register(name, data)
    try:
        yield
    finally:
        con.unregister(name)


def critical_paths(graph: dict[str, set[str]], selected: set[str], state: dict) -> dict[str, float]:
    """Each selected step's longest path to the end of the run: its last build's
    seconds (1 when unknown) plus the longest path among the steps that read
    it. Ready steps start longest path first, so the long model steps do not
    wait behind short ones for a free core."""
    children: dict[str, set[str]] = {name: set() for name in selected}
    for name in selected:
        for parent in graph[name] & selected:
            children[parent].add(name)
    order = list(TopologicalSorter({n: graph[n] & selected for n in selected}).static_order())
    paths: dict[str, float] = {}
    for name in reversed(order):
        own = float((state.get(name) or {}).get("seconds", 1.0))
        paths[name] = own + max((paths[child] for child in children[name]), default=0.0)
    return paths


def _over_changed_inputs(
    last: dict,
    seen: dict,
    changes: Callable[[str, int, int], frozenset[str] | None],
) -> frozenset[str] | None:
    """The union of ``changes(name, old, new)`` over the inputs whose version
    changed between ``last`` and ``seen``; None when any of them is unknown."""
    found: set[str] = set()
    for name, version in seen.items():
        old = last.get(name)
        if old == version:
            continue
        if old is None or version is None:
            return None
        part = changes(name, old, version)
        if part is None:
            return None
        found |= part
    return frozenset(found)


def _name_of(location: str) -> str:
    return location.rsplit("/", 1)[-1]


def _users_predicate(users: frozenset[str]) -> str:
    return f"user_id in ({sql_list(users)})"


@dataclass(frozen=True)
class InConnection:
    """A step's rows in a table of its own DuckDB connection (a per-user rebuild
    of a SQL model), written from there: a trip through Arrow cost `plays` 0.14 s
    of an incremental run at 10M plays."""

    table: str


def _check_users_in(
    con: duckdb.DuckDBPyConnection,
    step: Step,
    location: str,
    table: str,
    rows: int,
    users: frozenset[str],
) -> None:
    """``_check_users`` of the ``rows`` rows in ``table`` on ``con``."""
    if rows == 0:
        return
    columns = {
        row[0] for row in con.execute(f"select column_name from (describe {table})").fetchall()
    }
    if "user_id" not in columns:
        _refuse_without(step, location, "user_id", "per-user")
    found = con.execute(
        f"select distinct user_id from {table} "
        f"where user_id is null or user_id not in ({sql_list(users)})"
    ).fetchall()
    _refuse_stray(step, location, {row[0] for row in found}, "users")


def _check_users(step: Step, location: str, data: pa.Table, users: frozenset[str]) -> None:
    """A per-user step rebuilt for some users must return rows of those users only."""
    _check_only(step, location, data, "user_id", users, "per-user", "users")


def _check_keys(step: Step, location: str, data: pa.Table, keys: KeyFilter) -> None:
    """A lookup step rebuilt for some keys must return rows of those keys only."""
    column, wanted = keys
    _check_only(step, location, data, column, wanted, "a lookup table", f"{column} values")


def _check_only(
    step: Step,
    location: str,
    data: pa.Table,
    column: str,
    wanted: frozenset[str],
    declared: str,
    what: str,
) -> None:
    """Refuse ``data`` when its ``column`` holds values outside ``wanted``."""
    if data.num_rows == 0:
        return
    if column not in data.column_names:
        _refuse_without(step, location, column, declared)
    _refuse_stray(step, location, set(pc.unique(data.column(column)).to_pylist()) - wanted, what)


def _refuse_without(step: Step, location: str, column: str, declared: str) -> None:
    raise SpotifyAnalyticsError(
        f"step {step.name} is declared {declared} but {location} has no {column} column"
    )


def _refuse_stray(step: Step, location: str, stray: set, what: str) -> None:
    if stray:
        raise SpotifyAnalyticsError(
            f"step {step.name} returned rows of {what} it was not asked to rebuild "
            f"({', '.join(sorted(map(str, stray))[:3])}); {location} was not written"
        )


def _sortable(data: pa.Table, name: str) -> bool:
    kind = data.schema.field(name).type
    return not (pa.types.is_nested(kind) or pa.types.is_dictionary(kind))
