"""The Typer app, shared options and error handling for every command module."""

from __future__ import annotations

import contextlib
import functools
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from ..errors import SpotifyAnalyticsError
from ..settings import Settings, load_settings

app = typer.Typer(
    name="spotify-analytics",
    help="A personal Spotify listening lakehouse: Delta tables, SQL, honest models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
ingest_app = typer.Typer(help="Load external catalogs into Bronze.", no_args_is_help=True)
app.add_typer(ingest_app, name="ingest")

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

LakeOption = Annotated[
    Path | None,
    typer.Option(
        "--lake",
        help="Lake folder (default ./data, or $SPOTIFY_ANALYTICS_LAKE).",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]

F = TypeVar("F", bound=Callable[..., Any])


def settings_for(lake: Path | None, **overrides: object) -> Settings:
    return load_settings(lake=lake, **overrides)


def handle_errors(command: F) -> F:
    """Turn library errors into one red line on stderr and the error's exit code."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except SpotifyAnalyticsError as error:
            err.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False)
            raise typer.Exit(error.exit_code) from None
        except KeyboardInterrupt:
            err.print("[yellow]interrupted[/]; every table is at its last committed version")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def print_json(data: object) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


@contextlib.contextmanager
def progress_bar(
    label: str, *, quiet: bool = False
) -> Iterator[Callable[[str, int, int | None], None]]:
    """A progress bar on stderr (only at a terminal, never with ``quiet``).

    Yields ``show(what, done, total)`` for the library's progress callbacks;
    ``total`` is None while unknown."""
    with Progress(
        TextColumn(f"[bold]{label}[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        console=err,
        transient=True,
        disable=quiet or not err.is_terminal,
    ) as bar:
        task = bar.add_task("", total=None)

        def show(what: str, done: int, total: int | None) -> None:
            bar.update(task, description=what, completed=done, total=total)

        yield show
