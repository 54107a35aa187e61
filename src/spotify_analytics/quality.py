"""Grain files and data-quality checks.

Every table declares its grain in ``sql/<location>.yml`` (see docs/models.md).
The runner checks each step's result against it *before* writing, so a
critical failure leaves the table at its previous version; ``check`` runs the
same checks over the tables as they are. Results land in
``gold/quality/quality_checks``, one row per check per run.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import duckdb
import pyarrow as pa
import yaml

from .errors import QualityError
from .lake import Lake, View
from .schemas import BronzeTable

SQL_ROOT = resources.files("spotify_analytics") / "sql"
DEFAULT_MIN_SUPPORT = 20

QUALITY_CHECKS = BronzeTable(
    "gold/quality/quality_checks",
    pa.schema(
        [
            pa.field("run_id", pa.string()),
            pa.field("checked_at", pa.timestamp("us", tz="UTC")),
            pa.field("table_name", pa.string()),
            pa.field("check_name", pa.string()),
            pa.field("status", pa.string()),  # pass | warn | fail
            pa.field("observed", pa.float64()),
            pa.field("threshold", pa.float64()),
            pa.field("severity", pa.string()),  # critical | warning
            pa.field("detail", pa.string()),
        ]
    ),
    ("run_id", "table_name", "check_name"),
)


@dataclass(frozen=True)
class Grain:
    """What a grain file declares about one table."""

    table: str
    grain: str
    keys: tuple[str, ...]
    not_null: tuple[str, ...] = ()
    unit_interval: tuple[str, ...] = ()
    bigint: tuple[str, ...] = ()
    nullable_keys: tuple[str, ...] = ()  # keys that may be NULL (NULLs compare equal)
    support: str | None = None
    min_support: int = DEFAULT_MIN_SUPPORT
    per_user: bool = False  # each user's rows depend only on that user's input rows
    lookup_key: str | None = None  # one row per key, read by joining user rows on it
    file_per_user: bool = False  # written one Parquet file per user (see runner.py)
    view: bool = False  # never stored: a view over its inputs wherever it is read

    @property
    def columns(self) -> set[str]:
        named = {*self.keys, *self.not_null, *self.unit_interval, *self.bigint, *self.nullable_keys}
        return named | ({self.support} if self.support else set())


@dataclass(frozen=True)
class CheckResult:
    table_name: str
    check_name: str
    status: str  # pass | warn | fail
    severity: str  # critical | warning
    observed: float | None = None
    threshold: float | None = None
    detail: str = ""

    @property
    def failed(self) -> bool:
        return self.status == "fail"


# libyaml's safe loader when PyYAML was built with it (a tenth of the pure-Python one's
# 4 ms per grain file, read by every step of every run)
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def grain_path(location: str, root: Path | str | None = None) -> Path:
    """Where the grain file of the table at ``location`` lives."""
    return Path(str(root or SQL_ROOT)) / f"{location}.yml"


def load_grain(path: Path) -> Grain:
    """Parse a grain file; ``ValueError`` says what is wrong with it."""
    try:
        data = yaml.load(path.read_text(), Loader=_SAFE_LOADER)
    except yaml.YAMLError as error:
        raise ValueError(f"{path.name}: not valid YAML ({error})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path.name}: expected a mapping")
    missing = {"table", "grain", "keys"} - data.keys()
    if missing:
        raise ValueError(f"{path.name}: missing {', '.join(sorted(missing))}")
    unknown = data.keys() - set(Grain.__dataclass_fields__)
    if unknown:
        raise ValueError(f"{path.name}: unknown field(s) {', '.join(sorted(unknown))}")
    if data["table"] != path.stem:
        raise ValueError(f"{path.name}: table is {data['table']!r}, expected {path.stem!r}")
    lists = ("keys", "not_null", "unit_interval", "bigint", "nullable_keys")
    return Grain(
        table=str(data["table"]),
        grain=str(data["grain"]),
        **{name: tuple(data.get(name) or ()) for name in lists},
        support=data.get("support"),
        min_support=int(data.get("min_support", DEFAULT_MIN_SUPPORT)),
        per_user=bool(data.get("per_user", False)),
        lookup_key=data.get("lookup_key"),
        file_per_user=bool(data.get("file_per_user", False)),
        view=bool(data.get("view", False)),
    )


def check_relation(
    con: duckdb.DuckDBPyConnection, relation: str, location: str, grain_file: Path
) -> list[CheckResult]:
    """Every check of one table, given as ``relation`` on ``con``."""
    name = location.rsplit("/", 1)[-1]
    n_rows = con.execute(f'select count(*) from "{relation}"').fetchall()[0][0]
    grain, problem = _grain_or_problem(grain_file)
    severity = "critical" if location.startswith("gold/") else "warning"
    if grain is None:
        status = "fail" if severity == "critical" else "warn"
        return [
            CheckResult(name, "grain_file", status, severity, detail=problem),
            _row_count(name, n_rows),
        ]
    types = dict(
        con.execute(f'select column_name, column_type from (describe "{relation}")').fetchall()
    )
    columns = _columns(name, grain, types)
    results = [
        CheckResult(name, "grain_file", "pass", severity, detail=grain.grain),
        _row_count(name, n_rows),
        columns,
    ]
    if columns.failed:
        return results
    results.append(_unique_keys(con, relation, name, grain, n_rows))
    results += _value_checks(con, relation, name, grain)
    results += [_bigint(name, column, types[column]) for column in grain.bigint]
    return results


def _columns(name: str, grain: Grain, types: dict[str, str]) -> CheckResult:
    absent = sorted(grain.columns - types.keys())
    return CheckResult(
        name,
        "columns",
        "fail" if absent else "pass",
        "critical",
        observed=float(len(absent)),
        threshold=0.0,
        detail=f"not in the table: {', '.join(absent)}" if absent else "",
    )


def _grain_or_problem(grain_file: Path) -> tuple[Grain | None, str]:
    if not grain_file.is_file():
        return None, f"no grain file {grain_file.name}"
    try:
        return load_grain(grain_file), ""
    except ValueError as error:
        return None, str(error)


def _row_count(name: str, n_rows: int) -> CheckResult:
    status = "warn" if n_rows == 0 else "pass"
    return CheckResult(name, "row_count", status, "warning", float(n_rows), 1.0)


def _unique_keys(
    con: duckdb.DuckDBPyConnection, relation: str, name: str, grain: Grain, n_rows: int
) -> CheckResult:
    if not grain.keys:  # one row at most
        duplicates = max(n_rows - 1, 0)
    else:
        keys = ", ".join(f'"{key}"' for key in grain.keys)
        duplicates = con.execute(
            f'select coalesce(sum(n - 1), 0) from (select count(*) as n from "{relation}" '
            f"group by {keys} having count(*) > 1)"
        ).fetchall()[0][0]
    return CheckResult(
        name,
        "unique_keys",
        "fail" if duplicates else "pass",
        "critical",
        observed=float(duplicates),
        threshold=0.0,
        detail=f"{duplicates} duplicate row(s) on ({', '.join(grain.keys)})" if duplicates else "",
    )


def _value_checks(
    con: duckdb.DuckDBPyConnection, relation: str, name: str, grain: Grain
) -> list[CheckResult]:
    """NULL, [0, 1] and support checks, all in one scan. Each probe is a check
    name, an aggregate giving the observed value, and a severity."""
    keys = [key for key in grain.keys if key not in grain.nullable_keys]
    not_null = list(dict.fromkeys([*keys, *grain.not_null]))
    probes = [
        (f"not_null:{c}", f'count(*) filter (where "{c}" is null)', "critical") for c in not_null
    ]
    probes += [
        (
            f"unit_interval:{c}",
            f'count(*) filter (where "{c}" < 0 or "{c}" > 1 or isnan("{c}"))',
            "critical",
        )
        for c in grain.unit_interval
    ]
    if grain.support:
        probes.append(("low_support", f'coalesce(sum("{grain.support}"), 0)', "warning"))
    if not probes:
        return []
    aggregates = ", ".join(aggregate for _, aggregate, _ in probes)
    observed = con.execute(f'select {aggregates} from "{relation}"').fetchall()[0]
    results = []
    for (check, _, severity), value in zip(probes, observed, strict=True):
        if check == "low_support":
            threshold, bad = float(grain.min_support), value < grain.min_support
        else:
            threshold, bad = 0.0, value > 0
        status = ("fail" if severity == "critical" else "warn") if bad else "pass"
        results.append(CheckResult(name, check, status, severity, float(value), threshold))
    return results


def _bigint(name: str, column: str, column_type: str) -> CheckResult:
    ok = column_type.upper() == "BIGINT"
    detail = "" if ok else f"{column} is {column_type}, expected BIGINT"
    return CheckResult(
        name, f"bigint:{column}", "pass" if ok else "fail", "critical", detail=detail
    )


@dataclass
class QualityGate:
    """Collects check results over one run and stops it on a critical failure."""

    lake: Lake
    run_id: str = field(default_factory=lambda: new_run_id())
    checked_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    results: list[CheckResult] = field(default_factory=list)

    def validate(
        self,
        con: duckdb.DuckDBPyConnection,
        relation: str,
        location: str,
        grain_file: Path,
        *,
        action: str = "the table was not written",
    ) -> list[CheckResult]:
        """Check one table; raise :class:`QualityError` on a critical failure."""
        results = check_relation(con, relation, location, grain_file)
        self.results += results
        failed = [result for result in results if result.failed]
        if failed:
            first = failed[0]
            raise QualityError(
                f"{first.table_name}: quality check {first.check_name} failed"
                f"{f' ({first.detail})' if first.detail else ''}; {action}"
            )
        return results

    def validate_arrow(
        self,
        data: pa.Table,
        location: str,
        grain_file: Path,
        con: duckdb.DuckDBPyConnection | None = None,
    ) -> None:
        """Check an Arrow table (on ``con`` if given, else on a connection of its own)."""
        own = con is None
        con = duckdb.connect() if con is None else con
        try:
            con.register("__step_output", data)
            self.validate(con, "__step_output", location, grain_file)
        finally:
            con.unregister("__step_output")
            if own:
                con.close()

    def record(self) -> None:
        """MERGE this run's results into ``gold/quality/quality_checks``."""
        if not self.results:
            return
        rows = [
            {
                "run_id": self.run_id,
                "checked_at": self.checked_at,
                "table_name": r.table_name,
                "check_name": r.check_name,
                "status": r.status,
                "observed": r.observed,
                "threshold": r.threshold,
                "severity": r.severity,
                "detail": r.detail,
            }
            for r in self.results
        ]
        table = pa.Table.from_pylist(rows, schema=QUALITY_CHECKS.schema)
        self.lake.merge(QUALITY_CHECKS, table, update=True)


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:8]


def checked_locations(
    lake: Lake, sql_root: Path | str | None = None, views: dict[str, View] | None = None
) -> list[str]:
    """The tables ``check`` looks at: all of Silver and Gold, plus any table
    with a grain file, and the ``views`` whose inputs the lake has."""
    tables = lake.tables()
    return [
        location
        for location in tables.values()
        if location.split("/", 1)[0] in ("silver", "gold")
        or grain_path(location, sql_root).is_file()
    ] + [view.location for view in (views or {}).values() if view.inputs <= tables.keys()]


def check_lake(
    lake: Lake, *, sql_root: Path | str | None = None, views: dict[str, View] | None = None
) -> QualityGate:
    """Check every Silver and Gold table (and view) as it is now and record
    the results.

    Unlike the runner, a critical failure does not stop at the first table:
    every table is checked, and the caller decides what a failure means.
    """
    gate = QualityGate(lake)
    with lake.lock("check"):
        con = lake.connect(aliases=False, views=views)  # the checks name tables bare
        try:
            for location in checked_locations(lake, sql_root, views):
                name = location.rsplit("/", 1)[-1]
                gate.results += check_relation(con, name, location, grain_path(location, sql_root))
        finally:
            con.close()
        gate.record()
    return gate
