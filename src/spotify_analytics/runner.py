"""The model runner: SQL files and Python steps in one DAG, built from the SQL.

Every ``.sql`` file under ``sql/`` is a table whose location is its path
(``sql/gold/descriptive/temporal_trends.sql`` -> ``gold/descriptive/temporal_trends``).
Its upstream tables are the table names sqlglot finds in it. Python steps
declare their inputs and outputs. A step runs when its code, its parameters or
the version of any input changed since it last ran, when its output is missing,
or always with ``full``.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter
from importlib import resources
from pathlib import Path

import duckdb
import pyarrow as pa
import sqlglot
from sqlglot import exp

from .errors import QualityError, SpotifyAnalyticsError
from .lake import Lake
from .quality import QualityGate, grain_path
from .schemas import BRONZE_TABLES
from .settings import Settings

SQL_ROOT = resources.files("spotify_analytics") / "sql"
PARAMS_TABLE = "run_params"
STATE_FILE = "steps.json"
STEP_OUTPUT = "__step_output"  # a step's result, checked before it is written


@dataclass(frozen=True)
class StepContext:
    """What a Python step gets: the lake, the settings, and query helpers.

    ``users`` is None when the step builds every user, or the users whose rows
    it rebuilds in an incremental run of a per-user step: every table with a
    ``user_id`` column then shows only those users' rows, and the step returns
    rows for those users only.
    """

    lake: Lake
    settings: Settings
    users: frozenset[str] | None = None

    def connect(self, only: set[str] | None = None) -> duckdb.DuckDBPyConnection:
        """A DuckDB connection over the lake (limited to ``users``, if set)."""
        extra = {PARAMS_TABLE: run_params(self.settings)}
        return self.lake.connect(extra=extra, only=only, users=self.users)

    def sql(self, query: str) -> pa.Table:
        """Run DuckDB SQL over the lake's current tables and return Arrow."""
        try:
            tables: set[str] | None = upstream_tables(query)
        except SpotifyAnalyticsError:  # DuckDB syntax sqlglot cannot read: register all
            tables = None
        con = self.connect(only=tables)
        try:
            return con.execute(query).to_arrow_table()
        finally:
            con.close()


@dataclass(frozen=True)
class Step:
    """One node of the DAG. ``outputs`` are locations; ``inputs`` are table names."""

    name: str
    outputs: tuple[str, ...]
    inputs: frozenset[str]
    code: str
    sql: str | None = None
    function: Callable[[StepContext], dict[str, pa.Table]] | None = None
    root: str | None = None  # the sql/ folder its grain files live in (default: the package's)
    per_user: bool = False  # a user's output rows depend only on that user's input rows

    def grain_file(self, location: str) -> Path:
        return grain_path(location, self.root)

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(location.rsplit("/", 1)[-1] for location in self.outputs)

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.code.encode()).hexdigest()[:16]


@dataclass
class StepResult:
    name: str
    status: str  # built | skipped | failed
    seconds: float = 0.0
    rows: int | None = None
    reason: str = ""


@dataclass
class RunReport:
    results: list[StepResult] = field(default_factory=list)

    @property
    def built(self) -> list[str]:
        return [r.name for r in self.results if r.status == "built"]


def python_step(
    function: Callable[[StepContext], dict[str, pa.Table]],
    *,
    inputs: Iterable[str],
    outputs: Iterable[str],
    per_user: bool = False,
) -> Step:
    """Declare a Python step: a function of a :class:`StepContext` that returns
    ``{location: arrow_table}`` for each of its ``outputs``.

    ``per_user`` promises that each user's output rows depend only on that
    user's input rows (and on tables without a ``user_id``); an incremental run
    then rebuilds only the users whose input changed (see ``StepContext.users``).
    """
    module = inspect.getmodule(function)
    source = inspect.getsource(module) if module else function.__name__
    return Step(
        name=function.__name__,
        outputs=tuple(outputs),
        inputs=frozenset(inputs),
        code=source,
        function=function,
        per_user=per_user,
    )


def sql_models(root: Path | None = None) -> list[Step]:
    """Every SQL model under ``root`` (the package's ``sql/`` folder by default)."""
    root = Path(str(root or SQL_ROOT))
    steps = []
    for path in sorted(root.rglob("*.sql")):
        location = path.relative_to(root).with_suffix("").as_posix()
        text = path.read_text()
        steps.append(
            Step(
                name=path.stem,
                outputs=(location,),
                inputs=frozenset(upstream_tables(text, source=str(path))),
                code=text,
                sql=text,
                root=str(root),
            )
        )
    return steps


def upstream_tables(sql: str, *, source: str = "<sql>") -> set[str]:
    """The bare names of the tables a query reads (CTE names excluded)."""
    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
    except sqlglot.errors.ParseError as error:
        raise SpotifyAnalyticsError(f"{source}: SQL does not parse ({error})") from None
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    return {table.name for table in tree.find_all(exp.Table) if table.name not in ctes}


def build_dag(steps: list[Step]) -> dict[str, set[str]]:
    """Step name -> names of the steps it depends on. Checks that every input is
    produced by a step, is a Bronze table or is the run parameters."""
    producers = {name: step.name for step in steps for name in step.output_names}
    external = set(BRONZE_TABLES) | {PARAMS_TABLE}
    graph: dict[str, set[str]] = {}
    for step in steps:
        unknown = step.inputs - producers.keys() - external
        if unknown:
            raise SpotifyAnalyticsError(
                f"step {step.name!r} reads unknown table(s): {', '.join(sorted(unknown))}"
            )
        graph[step.name] = {producers[n] for n in step.inputs if n in producers} - {step.name}
    try:
        tuple(TopologicalSorter(graph).static_order())
    except CycleError as error:
        raise SpotifyAnalyticsError(f"the steps form a cycle: {error.args[1]}") from None
    return graph


def select_steps(graph: dict[str, set[str]], selector: str) -> set[str]:
    """``TABLE`` -> that step; ``TABLE+`` -> it and every step downstream;
    ``+TABLE`` -> it and every step upstream."""
    name = selector.strip("+")
    if name not in graph:
        raise SpotifyAnalyticsError(f"--select {selector}: no step named {name!r}")
    chosen = {name}
    if selector.endswith("+"):
        chosen |= _reachable(name, _reverse(graph))
    if selector.startswith("+"):
        chosen |= _reachable(name, graph)
    return chosen


def _reverse(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    reverse: dict[str, set[str]] = {name: set() for name in graph}
    for name, parents in graph.items():
        for parent in parents:
            reverse[parent].add(name)
    return reverse


def _reachable(start: str, edges: dict[str, set[str]]) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for nxt in edges[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def run_params(settings: Settings) -> pa.Table:
    """The settings SQL models may read, as a one-row table ``run_params``."""
    return pa.table(
        {
            "allow_synthetic": [settings.allow_synthetic],
            "session_gap_minutes": [settings.session_gap_minutes],
            "skip_threshold_ms": [settings.skip_threshold_ms],
            "dedupe_tolerance_s": [settings.dedupe_tolerance_s],
            "dedupe_tolerance_minute_precision_s": [settings.dedupe_tolerance_minute_precision_s],
            "catalog_match_min_score": [settings.catalog_match_min_score],
        }
    )


class Runner:
    """Runs steps in dependency order and remembers what each was built from."""

    def __init__(self, lake: Lake, settings: Settings, steps: list[Step]):
        self.lake = lake
        self.settings = settings
        self.steps = {step.name: step for step in steps}
        self.graph = build_dag(steps)
        self.params = run_params(settings)
        self.params_hash = hashlib.sha256(
            json.dumps(self.params.to_pylist(), sort_keys=True).encode()
        ).hexdigest()[:16]
        self.quality = QualityGate(lake)
        self._state_lock = threading.Lock()
        self._versions: dict[str, int | None] = {}

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
        (default: one per core); DuckDB, delta-rs and scikit-learn release the
        GIL for their heavy work. A failing step raises once the steps already
        running have finished; every step that finished was committed and
        recorded, so the next run resumes from there.
        """
        selected = select_steps(self.graph, select) if select else set(self.graph)
        report = RunReport()
        self.quality = QualityGate(self.lake)
        with self.lake.lock("run"):
            state = self._load_state()
            self._versions.clear()  # Bronze may have changed since the last run
            try:
                self._run_ready_steps(
                    selected, state, full or bool(select), report, on_step, workers
                )
            finally:
                self.quality.record()
        position = {name: index for index, name in enumerate(self.order())}
        report.results.sort(key=lambda result: position[result.name])
        return report

    def _run_ready_steps(
        self,
        selected: set[str],
        state: dict,
        force: bool,
        report: RunReport,
        on_step: Callable[[StepResult], None] | None,
        workers: int | None,
    ) -> None:
        sorter = TopologicalSorter({name: self.graph[name] & selected for name in selected})
        sorter.prepare()
        failure: BaseException | None = None
        running: dict[Future[StepResult], str] = {}
        with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
            while True:
                if failure is None:
                    for name in sorter.get_ready():
                        job = pool.submit(self._run_one, self.steps[name], state, force=force)
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

    def _run_one(self, step: Step, state: dict, *, force: bool) -> StepResult:
        seen = self._inputs_seen(step)
        reason = "forced" if force else self._stale_reason(step, state.get(step.name), seen)
        if not reason:
            return StepResult(step.name, "skipped")
        started = time.perf_counter()
        rows = self._execute(step)
        with self._state_lock:
            state[step.name] = {
                "code": step.fingerprint,
                "params": self.params_hash,
                "inputs": seen,  # upstream steps are done and the lake is locked
                "built_at": time.time(),
            }
            self._save_state(state)
        return StepResult(step.name, "built", time.perf_counter() - started, rows, reason)

    def _execute(self, step: Step) -> int:
        if step.sql is not None:
            con = self.lake.connect(extra={PARAMS_TABLE: self.params}, only=set(step.inputs))
            try:
                con.execute(f"create temp table {STEP_OUTPUT} as {step.sql}")
                location = step.outputs[0]
                self.quality.validate(con, STEP_OUTPUT, location, step.grain_file(location))
                rows = con.execute(f"select count(*) from {STEP_OUTPUT}").fetchone()[0]
                reader = con.execute(f"select * from {STEP_OUTPUT}").to_arrow_reader()
                self.lake.overwrite(location, reader)
                self._forget_versions(step.output_names)
            except QualityError:
                raise
            except Exception as error:  # duckdb and delta errors alike: name the step
                raise SpotifyAnalyticsError(f"step {step.name}: {error}") from error
            finally:
                con.close()
            return rows
        assert step.function is not None
        produced = step.function(StepContext(self.lake, self.settings))
        missing = set(step.outputs) - produced.keys()
        if missing:
            raise SpotifyAnalyticsError(f"step {step.name} did not produce {sorted(missing)}")
        for location in step.outputs:
            self.quality.validate_arrow(produced[location], location, step.grain_file(location))
        for location in step.outputs:
            self.lake.overwrite(location, produced[location])
        self._forget_versions(step.output_names)
        return sum(produced[location].num_rows for location in step.outputs)

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

    def _forget_versions(self, names: Iterable[str]) -> None:
        with self._state_lock:
            for name in names:
                self._versions.pop(name, None)

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

    def _load_state(self) -> dict:
        path = self.lake.state_path(STATE_FILE)
        return json.loads(path.read_text()) if path.exists() else {}

    def _save_state(self, state: dict) -> None:
        path = self.lake.state_path(STATE_FILE)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=1, sort_keys=True))
        tmp.replace(path)
