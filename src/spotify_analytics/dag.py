"""The DAG of steps: what a step is (a SQL model or a Python function), how a
Python step sees the lake (:class:`StepContext`), the SQL models found under
``sql/`` with the upstream tables parsed from their SQL, and the order and
selection of steps. :mod:`runner` builds them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import inspect
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter
from importlib import resources
from pathlib import Path

import duckdb
import pyarrow as pa

from .errors import SpotifyAnalyticsError
from .lake import KeyFilter, Lake, Snapshot, View, views_read
from .quality import Grain, grain_path, load_grain
from .schemas import BRONZE_TABLES
from .settings import Settings

SQL_ROOT = resources.files("spotify_analytics") / "sql"
SHIPPED_DEPENDENCIES = SQL_ROOT / "dependencies.json"
PARAMS_TABLE = "run_params"


@dataclass(frozen=True)
class RowChanges:
    """The rows a table lost (``removed``) and gained (``added``) between two
    versions, among the users whose rows changed; a row rewritten with new
    values is in both. Counted as multisets: a row twice in the old version
    and once in the new is removed once."""

    removed: pa.Table
    added: pa.Table


@dataclass(frozen=True)
class StepContext:
    """What a Python step gets: the lake, the settings, and query helpers.

    ``users`` is None when the step builds every user, or the users whose rows
    it rebuilds in an incremental run of a per-user step: every table with a
    ``user_id`` column then shows only those users' rows, and the step returns
    rows for those users only.

    ``changed`` names the inputs whose version changed since the step last ran,
    when that is all that changed (None: a first, forced or code-changed build).
    A step may use it to redo only the work those inputs affect.

    ``keys`` is set when a lookup step (``lookup_key``) rebuilds only some keys:
    (the key column, the keys). Every table with that column then shows only
    those keys' rows, and the step returns rows of those keys only.

    ``everyone`` is set when a whole build of a per-user step runs in shards of
    users (``Step.processes``): ``users`` is then this shard's users and
    ``everyone`` every user of the build. Whatever the step keeps beside its
    tables (saved models, manifests) should drop users not in ``everyone``.

    ``input_changes(name)`` gives the rows of a user-keyed input that changed
    since the step last ran, for a step that adds them to what it stored
    (``track_plays``); see :meth:`input_changes`.
    """

    lake: Lake
    settings: Settings
    users: frozenset[str] | None = None
    source: Callable[[str], Snapshot] | None = None  # the runner's snapshot cache
    changed: frozenset[str] | None = None
    keys: KeyFilter | None = None
    everyone: frozenset[str] | None = None
    threads: int | None = None  # DuckDB's threads per connection (default: one per core)
    row_changes: Callable[[str], RowChanges | None] | None = None  # see input_changes
    shared: bool = False  # connections share the thread's database (Lake.connect)
    views: dict[str, View] | None = None  # the SQL models stored as views, by name

    def input_changes(self, name: str) -> RowChanges | None:
        """The rows of input ``name`` (a table with ``user_id``) that changed
        since this step last ran: all of them, whatever ``users`` or ``keys``
        show. None when that is unknown (a first, forced or code-changed build,
        an input version that is gone, an input without ``user_id``) or when
        the step's stored outputs are not the versions its last build left; the
        step must then build from the whole input."""
        return None if self.row_changes is None else self.row_changes(name)

    def connect(self, only: set[str] | None = None) -> duckdb.DuckDBPyConnection:
        """A DuckDB connection over the lake, tables by bare name (limited to
        ``users`` and ``keys``, if set)."""
        extra = {PARAMS_TABLE: run_params(self.settings)}
        return self.lake.connect(
            aliases=False,
            extra=extra,
            only=only,
            users=self.users,
            source=self.source,
            keys=self.keys,
            threads=self.threads,
            shared=self.shared,
            views=self.views,
        )

    def sql(self, query: str, tables: Iterable[str] | None = None) -> pa.Table:
        """Run DuckDB SQL over the lake's current tables and return Arrow. The
        connection shows ``tables`` if given (a step's own queries name theirs:
        parsing costs an incremental run sqlglot's import, 0.15 s), else the
        tables sqlglot finds in the query."""
        only: set[str] | None = None  # DuckDB syntax sqlglot cannot read: register all
        if tables is not None:
            only = set(tables)
        else:
            with contextlib.suppress(SpotifyAnalyticsError):
                only = upstream_tables(query)
        con = self.connect(only=only)
        try:
            return con.sql(query).to_arrow_table()
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
    # A lookup table: one row per key, which depends only on the input rows with
    # that key (in inputs with that column) and on inputs without the column. An
    # incremental run rebuilds only the keys whose input rows changed.
    lookup_key: str | None = None
    # A large per-user table written one file per user: replacing a few users'
    # rows then rewrites only their files, not the neighbours sharing them.
    file_per_user: bool = False
    # Loads what the step needs (slow imports) ahead of it, on a spare core,
    # once a run has something to build: see Runner._warm_up.
    warm_up: Callable[[], object] | None = None
    # A per-user Python step whose large whole builds run as shards of users in
    # worker processes (see shards.py): its function must be importable by name.
    processes: bool = False
    # A SQL model declared a view: never built, defined over its inputs wherever it
    # is read (see inline_views).
    view: bool = False
    # The views this step reads (its inputs are then the tables under them).
    views: frozenset[str] = frozenset()

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
    lookup_key: str | None = None,
    warm_up: Callable[[], object] | None = None,
    processes: bool = False,
) -> Step:
    """Declare a Python step: a function of a :class:`StepContext` that returns
    ``{location: arrow_table}`` for each of its ``outputs``.

    ``per_user`` promises that each user's output rows depend only on that
    user's input rows (and on tables without a ``user_id``); an incremental run
    then rebuilds only the users whose input changed (see ``StepContext.users``).
    ``lookup_key`` declares a lookup table (see :class:`Step`); ``warm_up``
    loads what the step needs ahead of it (see :meth:`Runner._warm_up`);
    ``processes`` lets a large whole build of a per-user step run as shards of
    users in worker processes (see :class:`Step`).
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
        lookup_key=lookup_key,
        warm_up=warm_up,
        processes=processes,
    )


def sql_models(root: Path | None = None, *, cache: Path | None = None) -> list[Step]:
    """Every SQL model under ``root`` (the package's ``sql/`` folder by default).

    ``cache`` is a JSON file remembering each SQL text's upstream tables (by
    the text's hash), so a run does not parse every model again: parsing them
    all costs about 0.4 CPU-s, a tenth of an incremental run's budget. The
    package ships the same for its own models (``sql/dependencies.json``,
    checked against parsing by the tests), so the first run on a new lake
    (the demo's) does not parse them either; any other text is parsed."""
    root = Path(str(root or SQL_ROOT))
    known = {**_read_cache(Path(str(SHIPPED_DEPENDENCIES))), **_read_cache(cache)}
    found: dict[str, list[str]] = {}
    steps = []
    for path in sorted(root.rglob("*.sql")):
        location = path.relative_to(root).with_suffix("").as_posix()
        text = path.read_text()
        digest = _digest(text)
        if digest not in known:
            known[digest] = sorted(upstream_tables(text, source=str(path)))
        found[digest] = known[digest]
        declared = _declared(path.with_suffix(".yml"))
        steps.append(
            Step(
                name=path.stem,
                outputs=(location,),
                inputs=frozenset(found[digest]),
                code=text + _grain_text(path.with_suffix(".yml")),
                sql=text,
                root=str(root),
                per_user=declared.per_user,
                lookup_key=declared.lookup_key,
                file_per_user=declared.file_per_user,
                view=declared.view,
            )
        )
    if cache is not None and found != _read_cache(cache):
        tmp = cache.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(found, sort_keys=True))
        tmp.replace(cache)
    return steps


def inline_views(steps: list[Step]) -> tuple[list[Step], dict[str, View]]:
    """The steps that build tables, and the views (SQL models declared ``view:
    true``) by name. A step that reads views reads the tables under them
    instead (its ``inputs``; the views it reads are its ``views``), and its code
    includes theirs, so a changed view rebuilds its readers.

    ``listening_with_features`` (every play with its track's features) is a
    view: stored, it cost a whole build at 10M plays 73 of 433 CPU-s, more
    than joining it where it is read costs its readers (docs/models.md)."""
    views = {
        step.name: View(step.name, step.outputs[0], step.sql or "", step.inputs)
        for step in steps
        if step.view
    }
    built = []
    for step in steps:
        if step.view:
            continue
        read = views_read(step.inputs, views)
        if read:
            step = dataclasses.replace(
                step,
                inputs=frozenset(
                    n for n in step.inputs.union(*(v.inputs for v in read)) if n not in views
                ),
                views=frozenset(view.name for view in read),
                code=step.code + "".join(f"\n-- view {v.name}\n{v.sql}" for v in read),
            )
        built.append(step)
    return built, views


def package_views() -> dict[str, View]:
    """The package's SQL models stored as views, by name (for connections
    outside a run: the SQL shell, ``check``)."""
    return inline_views(sql_models())[1]


def parse_dependencies(root: Path | None = None) -> dict[str, list[str]]:
    """Each SQL model's upstream tables under ``root`` (the package's models by
    default), parsed, by the hash of its text: what ``SHIPPED_DEPENDENCIES`` holds."""
    root = Path(str(root or SQL_ROOT))
    found = {}
    for path in sorted(root.rglob("*.sql")):
        text = path.read_text()
        found[_digest(text)] = sorted(upstream_tables(text, source=str(path)))
    return found


def _digest(sql: str) -> str:
    """The key of a SQL text in the records of parsed upstream tables."""
    return hashlib.sha256(sql.encode()).hexdigest()


def write_dependencies(path: Path | None = None) -> Path:
    """Write the package's models' parsed upstream tables (after changing a model:
    ``python tests/golden/regenerate.py`` calls this)."""
    target = Path(str(path or SHIPPED_DEPENDENCIES))
    target.write_text(json.dumps(parse_dependencies(), indent=1, sort_keys=True) + "\n")
    return target


def _read_cache(path: Path | None) -> dict[str, list[str]]:
    try:
        data = json.loads(path.read_text()) if path is not None else {}
    except (OSError, ValueError):  # missing or torn: parse again
        return {}
    return data if isinstance(data, dict) else {}


def _grain_text(path: Path) -> str:
    return path.read_text() if path.is_file() else ""


def _declared(grain_file: Path) -> Grain:
    try:
        return load_grain(grain_file)
    except (OSError, ValueError):  # the quality gate reports a missing or broken grain file
        return Grain(table=grain_file.stem, grain="", keys=())


def upstream_tables(sql: str, *, source: str = "<sql>") -> set[str]:
    """The bare names of the tables a query reads (CTE names excluded)."""
    import sqlglot  # imported on first use: a run reads the models' inputs from its cache
    from sqlglot import exp

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


def select_steps(
    graph: dict[str, set[str]], selector: str, producers: dict[str, str] | None = None
) -> set[str]:
    """``TABLE`` -> that step; ``TABLE+`` -> it and every step downstream;
    ``+TABLE`` -> it and every step upstream. ``TABLE`` names a step, or a
    table that ``producers`` maps to the step that builds it."""
    name = selector.strip("+")
    name = (producers or {}).get(name, name)
    if name not in graph:
        raise SpotifyAnalyticsError(f"--select {selector}: no step or table named {name!r}")
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
