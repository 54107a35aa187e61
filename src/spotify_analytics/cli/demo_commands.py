"""`demo`: build a lake from generated demo data, then show what to try next."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.markup import escape

from .app import (
    JsonOption,
    LakeOption,
    app,
    handle_errors,
    out,
    print_json,
    progress_bar,
    settings_for,
)

if TYPE_CHECKING:
    from ..demo import DemoSummary


@app.command()
@handle_errors
def demo(lake: LakeOption = None, as_json: JsonOption = False) -> None:
    """Build a lake from deterministic DEMO DATA (no network), then run the pipeline."""
    from ..demo import build_demo  # the generators load only for this command

    settings = settings_for(lake)
    with progress_bar("demo", quiet=as_json) as show:

        def starting(what: str, step: int, steps: int) -> None:  # step N is starting
            show(what, step - 1, steps)

        summary = build_demo(settings.lake, settings, progress=starting)
    if as_json:
        print_json(summary.to_dict(command_names()))
        return
    render(summary)


def command_names() -> set[str]:
    """The names of the commands this CLI has (so the summary suggests only those)."""
    return {info.name or info.callback.__name__ for info in app.registered_commands}


def render(summary: DemoSummary) -> None:
    out.print(f"[bold yellow]{escape(summary.label)}[/]")
    out.print(
        f"lake [bold]{escape(str(summary.lake))}[/]: {summary.tables} tables, "
        f"{summary.steps_built} steps built, catalog {summary.catalog_rows:,} rows"
        + (" (already loaded)" if summary.catalog_reused else "")
        + f", {summary.records_inserted:,} new export records, {summary.seconds:.1f} s",
        highlight=False,
    )
    out.print(f"inputs (ordinary files, re-importable): {escape(str(summary.inputs))}")
    out.print("[bold]demo users[/] (DEMO DATA):")
    for user in summary.users:
        out.print(
            f"  {user.user_id:<10} {user.timezone:<17} {user.plays:>6,} plays "
            f"{user.distinct_tracks:>6,} tracks  {user.first_date} .. {user.last_date}  "
            f"top genre {user.top_genre or '-'}",
            highlight=False,
        )
    out.print("[bold]try next:[/]")
    for command in summary.next_commands(command_names()):
        out.print(f"  {escape(command)}", highlight=False, soft_wrap=True)
