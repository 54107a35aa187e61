"""`import`: a Spotify privacy export (zip, folder or JSON file) into Bronze."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from ..errors import InputError
from ..ingest.exports import ImportReport, import_export
from ..lake import Lake
from ..users import DEFAULT_USER
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


@app.command("import")
@handle_errors
def import_(
    path: Annotated[
        Path,
        typer.Argument(help="my_spotify_data.zip, an unpacked export folder, or one JSON file."),
    ],
    user: Annotated[
        str, typer.Option("--user", help="Whose listening this is (a name you choose).")
    ] = DEFAULT_USER,
    tz: Annotated[
        str | None,
        typer.Option("--tz", help="The user's IANA time zone, e.g. Europe/Berlin (kept per user)."),
    ] = None,
    lake: LakeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Import a privacy export (account data or extended history) into Bronze."""
    settings = settings_for(lake)
    the_lake = Lake.open(settings.lake, create=True)
    with progress_bar("import", quiet=as_json) as show:
        report = import_export(
            the_lake, path, user=user, timezone=tz, settings=settings, progress=show
        )
    if as_json:
        print_json(report.to_dict())
    else:
        _render(report)
    if not report.ok:
        for name, message in report.files_rejected:
            err.print(
                f"[bold red]rejected:[/] {escape(f'{path}: {name}: {message}')}", highlight=False
            )
        raise InputError(
            f"{path}: {len(report.files_rejected)} file(s) rejected; the other files were imported"
        )


def _render(report: ImportReport) -> None:
    out.print(
        f"[bold]{escape(report.user)}[/] ({report.timezone}): {report.files_read} file(s) read, "
        f"{report.records_read:,} records ({report.music_records:,} music): "
        f"{report.inserted:,} new, {report.already_present:,} already present"
        + (f" ({report.duplicates:,} duplicates)" if report.duplicates else "")
        + f", {report.rejected_records:,} rejected records",
        highlight=False,
    )
    for name, reason in report.files_skipped:
        out.print(escape(f"  skipped {name}: {reason}"), highlight=False)
