"""The ``check`` command: data-quality checks over the tables as they are."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import typer
from rich.table import Table

from ..dag import package_views
from ..errors import QualityError
from ..lake import Lake
from ..quality import check_lake
from .app import JsonOption, LakeOption, app, err, handle_errors, out, print_json, settings_for

STYLE = {"pass": "green", "warn": "yellow", "fail": "bold red"}


@app.command()
@handle_errors
def check(
    lake: LakeOption = None,
    as_json: JsonOption = False,
    show_all: Annotated[
        bool, typer.Option("--all", help="List passing checks too, not only warnings and failures.")
    ] = False,
) -> None:
    """Check every table against its grain file; exit 4 on a critical failure."""
    settings = settings_for(lake)
    gate = check_lake(Lake.open(settings.lake), views=package_views())
    results = gate.results
    failed = [r for r in results if r.failed]
    if as_json:
        print_json({"run_id": gate.run_id, "checks": [asdict(r) for r in results]})
    else:
        shown = results if show_all else [r for r in results if r.status != "pass"]
        if shown:
            out.print(_table(shown))
        counts = {s: sum(r.status == s for r in results) for s in ("pass", "warn", "fail")}
        err.print(
            f"{len({r.table_name for r in results})} tables, "
            f"{counts['pass']} passed, {counts['warn']} warnings, {counts['fail']} failed "
            f"(run {gate.run_id})"
        )
    if failed:
        names = ", ".join(f"{r.table_name}.{r.check_name}" for r in failed)
        raise QualityError(f"{len(failed)} critical check(s) failed: {names}")


def _table(results: list) -> Table:
    table = Table(title="quality checks", title_justify="left")
    for column in ("table", "check", "status", "observed", "threshold", "detail"):
        table.add_column(column, overflow="fold")
    for r in results:
        table.add_row(
            r.table_name,
            r.check_name,
            f"[{STYLE[r.status]}]{r.status}[/]",
            "" if r.observed is None else f"{r.observed:g}",
            "" if r.threshold is None else f"{r.threshold:g}",
            r.detail,
        )
    return table
