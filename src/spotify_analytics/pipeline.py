"""Composes the pipeline: every SQL model plus the Python steps, in one DAG."""

from __future__ import annotations

from collections.abc import Callable

from .lake import Lake
from .runner import Runner, RunReport, Step, StepResult, python_step, sql_models
from .settings import Settings

SQL_TABLES_CACHE = "sql_tables.json"


def python_steps() -> list[Step]:
    """The Python steps, each declared in its own module under ``steps/``.

    Imported here, not at module level, so commands that never run the
    pipeline (``sql``, ``status``) do not pay for the model code."""
    from .ml.steps import ml_steps
    from .steps import track_catalog_matches, track_plays, weekend_vs_weekday

    return [
        python_step(
            track_plays.track_plays,
            inputs=track_plays.INPUTS,
            outputs=[track_plays.OUTPUT],
            lookup_key=track_plays.LOOKUP_KEY,
        ),
        python_step(
            track_catalog_matches.track_catalog_matches,
            inputs=track_catalog_matches.INPUTS,
            outputs=[track_catalog_matches.OUTPUT],
            lookup_key=track_catalog_matches.LOOKUP_KEY,
        ),
        python_step(
            weekend_vs_weekday.weekend_vs_weekday,
            inputs=weekend_vs_weekday.INPUTS,
            outputs=[weekend_vs_weekday.OUTPUT],
            per_user=True,
        ),
        *ml_steps(),
    ]


def pipeline_steps(lake: Lake | None = None) -> list[Step]:
    """Every step; with a ``lake``, the SQL models' parsed inputs are cached in
    its ``_state``."""
    cache = lake.state_path(SQL_TABLES_CACHE) if lake is not None else None
    return sql_models(cache=cache) + python_steps()


def run(
    lake: Lake,
    settings: Settings,
    *,
    full: bool = False,
    select: str | None = None,
    on_step: Callable[[StepResult], None] | None = None,
) -> RunReport:
    """Bring Silver and Gold up to date with Bronze (everything with ``full``)."""
    steps = pipeline_steps(lake)
    return Runner(lake, settings, steps).run(full=full, select=select, on_step=on_step)
