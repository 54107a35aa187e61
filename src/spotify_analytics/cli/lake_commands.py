"""Commands over the lake as a whole: run, status, sql."""

from __future__ import annotations

import csv
import io
import json
import sys
from enum import StrEnum
from typing import Annotated

import pyarrow as pa
import typer
from rich.table import Table

from ..dag import package_views
from ..lake import Lake
from ..pipeline import run as run_pipeline
from ..query import execute, query
from ..runner import StepResult
from ..status import lake_status
from .app import (
    JsonOption,
    LakeOption,
    app,
    err,
    handle_errors,
    out,
    print_json,
    progress_bar,
    settings_for,
)


@app.command()
@handle_errors
def run(
    lake: LakeOption = None,
    full: Annotated[bool, typer.Option("--full", help="Rebuild every table.")] = False,
    select: Annotated[
        str | None, typer.Option("--select", help="TABLE, TABLE+ (and descendants), +TABLE.")
    ] = None,
    allow_synthetic: Annotated[
        bool | None,
        typer.Option("--allow-synthetic", help="Let synthetic audio features into analytics."),
    ] = None,
) -> None:
    """Bring Silver and Gold up to date (incremental; --full rebuilds)."""
    settings = settings_for(lake, allow_synthetic=allow_synthetic)
    the_lake = Lake.open(settings.lake)

    finished: list[StepResult] = []
    with progress_bar("run") as show:

        def step_done(result: StepResult) -> None:
            finished.append(result)
            show(result.name, len(finished), None)
            if result.status == "built":
                line = f"{result.name:<40} {result.rows:>10,} rows  {result.seconds:6.2f}s"
                err.print(f"  built {line}")

        report = run_pipeline(the_lake, settings, full=full, select=select, on_step=step_done)
    err.print(f"{len(report.built)} built, {len(report.results) - len(report.built)} up to date")


@app.command()
@handle_errors
def status(lake: LakeOption = None, as_json: JsonOption = False) -> None:
    """Tables, rows, freshness, per-user listening and cooldowns."""
    settings = settings_for(lake)
    summary = lake_status(Lake.open(settings.lake))
    if as_json:
        print_json(summary)
        return
    out.print(f"[bold]lake[/] {summary['lake']}")
    out.print(_rich_table("tables", summary["tables"]))
    if summary["users"]:
        out.print(_rich_table("users", summary["users"]))
    for name, value in summary["state"].items():
        out.print(f"[bold]{name}[/]: {json.dumps(value, default=str)}")


@app.command()
@handle_errors
def vacuum(
    lake: LakeOption = None,
    keep_hours: Annotated[
        int,
        typer.Option(
            "--keep-hours",
            help="Keep the files versions of the last this many hours read (time travel).",
        ),
    ] = 168,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what would be deleted; delete nothing.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Delete table files that no version of the last --keep-hours reads (default a week),
    after rewriting the small files of appended tables (Bronze, quality checks) in user order."""
    from ..vacuum import vacuum_lake

    settings = settings_for(lake)
    found = vacuum_lake(Lake.open(settings.lake), keep_hours, dry_run=dry_run)
    total = sum(entry.bytes for entry in found)
    files = sum(entry.files for entry in found)
    if as_json:
        print_json(
            {
                "dry_run": dry_run,
                "tables": [vars(entry) for entry in found],
                "files": files,
                "bytes": total,
            }
        )
        return
    rows = [{"table": e.table, "files": e.files, "MB": round(e.bytes / 1e6, 1)} for e in found]
    compacted = sum(entry.compacted for entry in found)
    if compacted:
        for row, entry in zip(rows, found, strict=True):
            row["compacted"] = entry.compacted
    if rows:
        out.print(_rich_table(None, rows))
    verb = "would free" if dry_run else "freed"
    tables = sum(1 for entry in found if entry.files)
    err.print(f"{files} file(s) in {tables} table(s): {verb} {total / 1e6:,.1f} MB")
    if compacted:
        err.print(f"rewrote {compacted} small file(s) of appended tables in user order")


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


@app.command()
@handle_errors
def sql(
    statement: Annotated[str | None, typer.Argument(help="One SELECT; omit for a shell.")] = None,
    lake: LakeOption = None,
    fmt: Annotated[Format, typer.Option("--format", "-f")] = Format.table,
) -> None:
    """Read-only SQL (DuckDB) over every table: `plays` or `default.plays`."""
    settings = settings_for(lake)
    the_lake = Lake.open(settings.lake)
    if statement is not None:
        render(query(the_lake, statement), fmt)
        return
    shell(the_lake, fmt)


def shell(the_lake: Lake, fmt: Format) -> None:
    from ..errors import InputError

    views = package_views()
    con = the_lake.connect(views=views)
    names = sorted({*the_lake.tables(), *views})
    err.print("SQL over the lake (read-only). Tables: " + ", ".join(names))
    err.print("End a statement with ';'. Quit with .quit or Ctrl-D.")
    buffer: list[str] = []
    while True:
        line = _read_line("sql> " if not buffer else "...> ")
        if line is None:
            break
        if not buffer and line.strip() in {".quit", ".exit", "quit", "exit"}:
            break
        buffer.append(line)
        if not line.rstrip().endswith(";"):
            continue
        text = "\n".join(buffer).strip().rstrip(";")
        buffer = []
        try:
            render(execute(con, text), fmt)
        except InputError as error:
            err.print(f"[red]error:[/] {error}")
    con.close()


def _read_line(prompt: str) -> str | None:
    """A line from the user; prompts only at a terminal, so piped scripts print
    nothing but results. ``None`` at end of input."""
    if sys.stdin.isatty():
        try:
            return input(prompt)
        except EOFError:
            return None
    line = sys.stdin.readline()
    return line.rstrip("\n") if line else None


def render(result: pa.Table, fmt: Format) -> None:
    rows = result.to_pylist()
    if fmt is Format.json:
        print_json(rows)
    elif fmt is Format.csv:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(result.column_names)
        writer.writerows([[row[c] for c in result.column_names] for row in rows])
        typer.echo(buffer.getvalue(), nl=False)
    else:
        out.print(_rich_table(None, rows, columns=result.column_names))


def _rich_table(title: str | None, rows: list[dict], columns: list[str] | None = None) -> Table:
    columns = columns or (list(rows[0]) if rows else [])
    table = Table(title=title, title_justify="left", show_lines=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*["" if row[c] is None else str(row[c]) for c in columns])
    return table
