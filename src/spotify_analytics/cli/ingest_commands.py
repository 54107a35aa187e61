"""`ingest kaggle`: the Kaggle tracks catalog into Bronze."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from ..ingest.kaggle import (
    ATTRIBUTION,
    REFERENCE_BYTES,
    REFERENCE_SHA256,
    KaggleReport,
    ingest_kaggle,
)
from ..lake import Lake
from .app import (
    JsonOption,
    LakeOption,
    err,
    handle_errors,
    ingest_app,
    out,
    print_json,
    settings_for,
)


@ingest_app.command("kaggle")
@handle_errors
def kaggle(
    path: Annotated[
        Path | None,
        typer.Option("--path", help="A local dataset.csv; without it, download with kagglehub."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Reload even if this file is already loaded.")
    ] = False,
    lake: LakeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Load the Spotify Tracks Dataset (Kaggle, maharshipandya) into kaggle_tracks_bronze."""
    settings = settings_for(lake)
    the_lake = Lake.open(settings.lake, create=True)
    with err.status("ingest kaggle", spinner="dots") as status:
        quiet = as_json or not err.is_terminal

        def show(stage: str) -> None:
            if not quiet:
                status.update(f"ingest kaggle: {escape(stage)}")

        report = ingest_kaggle(the_lake, settings, path=path, force=force, progress=show)
    if as_json:
        print_json({**report.to_dict(), "attribution": ATTRIBUTION})
    else:
        out.print(summary(report), highlight=False)


def summary(report: KaggleReport) -> str:
    """One paragraph: what was loaded from which file, and the attribution."""
    name = escape(str(report.path))
    if report.skipped:
        text = (
            f"{name} is already loaded (same SHA-256): {report.rows_loaded:,} rows, "
            f"{report.rows_rejected:,} rejected; nothing to do (use --force to reload)."
        )
    else:
        text = (
            f"Loaded {name}: {report.rows_read:,} rows read, {report.rows_loaded:,} loaded, "
            f"{report.rows_rejected:,} rejected"
            + (" (see table _rejects)" if report.rows_rejected else "")
            + "."
        )
    text += f" {report.distinct_tracks:,} distinct tracks in {report.genres:,} genres."
    text += (
        " The file matches the reference copy."
        if report.matches_reference
        else f" The file is not the reference copy ({REFERENCE_BYTES:,} bytes, SHA-256 "
        f"{REFERENCE_SHA256[:12]}...), so figures may differ from the published ones."
    )
    return f"{text} Data: {ATTRIBUTION}."
