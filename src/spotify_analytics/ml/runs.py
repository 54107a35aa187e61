"""What the predictive steps do: load, train per user, save, tabulate."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime

import pyarrow as pa
from threadpoolctl import threadpool_limits

from ..runner import StepContext
from . import artifacts, catalog
from .context import fit_mood_model, prediction_table
from .forecast import CELL_PROTOCOL, fit_energy_cells, forecast_table
from .forecast import MODEL as ENERGY
from .plays import MOOD_COLUMNS, chunk_tables, mood_plays, query, user_plays
from .training import Protocol, TaskResult

PREDICTIVE_MODELS = (
    "mood_classifications",
    "mood_predictions",
    "energy_forecasts",
    "audio_to_valence",
)


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """BLAS and OpenMP on one thread: on a shared 2-core machine, oversubscribed
    OpenMP made gradient boosting 30x slower; users are independent anyway."""
    with threadpool_limits(limits=1):
        yield


def fit_users(
    users: Iterable[tuple[str, dict]],
    fit: Callable[[str, dict], tuple[TaskResult, dict]],
    tabulate: Callable[[list[tuple[str, TaskResult, dict]]], pa.Table],
) -> tuple[pa.Table, list[dict]]:
    """Fit every user on that user's rows alone; the predictions table and the
    metric rows. Each user is tuned by its own time-ordered cross-validation, so
    a user's result does not depend on which other users are in the run."""
    tables, rows = [], []
    for user_id, arrays in users:
        result, kept = fit(user_id, arrays)
        rows += result.metric_rows
        if result.status == "ok":
            tables.append(tabulate([(user_id, result, kept)]))
    empty = tabulate([])
    return (pa.concat_tables(tables) if tables else empty), rows


CONTEXT_MODELS = ("mood_predictions", "mood_classifications", ENERGY)
CONTEXT_TABLES = {
    "mood_predictions": lambda results: prediction_table("mood_predictions", results),
    "mood_classifications": lambda results: prediction_table("mood_classifications", results),
    ENERGY: forecast_table,
}


def run_context_models(
    ctx: StepContext,
    protocols: dict[str, Protocol] | None = None,
    patterns: tuple[str, ...] = (),
) -> dict[str, pa.Table]:
    """Train the next-play models (``mood_predictions``, ``mood_classifications``,
    ``energy_forecasts``, or those named in ``protocols``) for every user (or for
    ``ctx.users``), and build the per-user pattern tables named in ``patterns``
    (``listening_anomalies``, ``sequential_patterns``, ``mood_state_clusters`` with
    ``cluster_model_selection``): each user's plays are read
    and deduplicated once for all of them. Returns each table."""
    from .cognitive import PATTERN_ROWS  # cognitive imports this module

    if protocols is None:
        protocols = {model: Protocol() for model in CONTEXT_MODELS}
        protocols[ENERGY] = CELL_PROTOCOL
    schemas = {t: schema for name in patterns for t, schema in PATTERN_ROWS[name][1].items()}
    tables: dict[str, list[pa.Table]] = {name: [] for name in (*protocols, *schemas)}
    rows: dict[str, list[dict]] = {model: [] for model in protocols}
    root = ctx.lake.root
    with one_thread():
        for user_id, arrays in user_plays(ctx, MOOD_COLUMNS):
            mood = mood_plays(arrays)
            for name in patterns:
                for table, part in PATTERN_ROWS[name][0](user_id, arrays, mood).items():
                    if part is not None and part.num_rows:
                        tables[table].append(part)
            features: dict = {}  # shared by the valence and quadrant models
            for model, protocol in protocols.items():
                if model == ENERGY:
                    result, kept = fit_energy_cells(user_id, mood, root, protocol)
                else:
                    result, kept = fit_mood_model(model, user_id, mood, root, protocol, features)
                rows[model] += result.metric_rows
                if result.status == "ok":
                    tables[model].append(CONTEXT_TABLES[model]([(user_id, result, kept)]))
    found = {}
    for model in protocols:
        artifacts.update_manifest(root, model, rows[model], ctx.users, ctx.everyone)
        parts = tables[model] or [CONTEXT_TABLES[model]([])]
        found[model] = pa.concat_tables(parts)
    for table, schema in schemas.items():
        found[table] = pa.concat_tables(tables[table] or [schema.empty_table()])
    return found


def run_context_model(ctx: StepContext, model: str, protocol: Protocol | None = None) -> pa.Table:
    """One of the next-play models alone (``run_context_models``)."""
    protocol = protocol or (CELL_PROTOCOL if model == ENERGY else Protocol())
    return run_context_models(ctx, {model: protocol})[model]


def run_audio_to_valence(ctx: StepContext) -> pa.Table:
    """The catalog model (global), then each user's tracks scored by it. With
    ``ctx.users`` set only those users are scored, by the saved catalog model: read
    from its arrays alone when the catalog did not change since the last run (the
    catalog query is most of an incremental run's cost of this step), else reused
    when it was trained on the same catalog rows."""
    with one_thread():
        model = None
        same_catalog = ctx.changed is not None and "catalog_tracks" not in ctx.changed
        if ctx.users is not None and same_catalog:  # as the last run read it
            model = catalog.saved_catalog_model(ctx.lake.root)
        if model is None:
            model = catalog.fit_catalog_model(
                query(ctx, catalog.catalog_query(), "catalog_tracks"),
                ctx.lake.root,
                reuse=ctx.users is not None,
            )
        if model.status != "ok":
            rows = catalog.catalog_status_rows(model)
            artifacts.update_manifest(ctx.lake.root, catalog.MODEL, rows, _with_catalog(ctx))
            return catalog.valence_table(model, [], with_holdout=ctx.users is None)
        user_rows, metric_rows = catalog.score_users(
            model,
            chunk_tables(
                ctx, catalog.user_tracks_query, catalog.USER_TRACK_TABLES, catalog.USER_PLAYS_SQL
            ),
        )
    own = model.metric_rows if ctx.users is None else []
    artifacts.update_manifest(ctx.lake.root, catalog.MODEL, own + metric_rows, ctx.users)
    return catalog.valence_table(model, user_rows, with_holdout=ctx.users is None)


def _with_catalog(ctx: StepContext) -> frozenset[str] | None:
    return None if ctx.users is None else ctx.users | {catalog.CATALOG_USER}


METRICS_SCHEMA = pa.schema(
    [
        ("user_id", pa.string()),
        ("model", pa.string()),
        ("metric", pa.string()),
        ("status", pa.string()),
        ("value", pa.float64()),
        ("higher_is_better", pa.bool_()),
        ("baseline", pa.string()),
        ("baseline_value", pa.float64()),
        ("lift", pa.float64()),
        ("lift_ci_low", pa.float64()),
        ("lift_ci_high", pa.float64()),
        ("beats_baseline", pa.bool_()),
        ("baselines", pa.string()),
        ("n_train", pa.int64()),
        ("n_test", pa.int64()),
        ("split", pa.string()),
        ("params", pa.string()),
        ("estimator", pa.string()),
        ("train_from", pa.timestamp("us", tz="UTC")),
        ("train_to", pa.timestamp("us", tz="UTC")),
        ("test_from", pa.timestamp("us", tz="UTC")),
        ("test_to", pa.timestamp("us", tz="UTC")),
        ("model_version", pa.string()),
        ("note", pa.string()),
    ]
)


def collect_metrics(lake_root, users: frozenset[str] | None = None) -> pa.Table:
    """Every predictive model's latest metric rows (from the run manifests), for
    every user or for ``users``."""
    rows = []
    for model in PREDICTIVE_MODELS:
        rows += artifacts.read_manifest(lake_root, model, users)
    columns = {}
    for field in METRICS_SCHEMA:
        values = [row.get(field.name) for row in rows]
        if pa.types.is_timestamp(field.type):
            values = [
                None if v is None else datetime.fromisoformat(str(v).replace("Z", "+00:00"))
                for v in values
            ]
        if field.name == "beats_baseline":
            values = [bool(v) for v in values]
        columns[field.name] = pa.array(values, type=field.type)
    table = pa.table(columns, schema=METRICS_SCHEMA)
    order = [("user_id", "ascending"), ("model", "ascending"), ("metric", "ascending")]
    return table.sort_by(order)
