"""What the predictive steps do: load, train per user, save, tabulate."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import datetime

import pyarrow as pa
from threadpoolctl import threadpool_limits

from ..runner import StepContext
from . import artifacts, catalog
from .context import fit_context_model, prediction_table
from .forecast import MODEL as ENERGY
from .forecast import fit_energy_forecast, forecast_table
from .plays import load_plays, per_user
from .training import Protocol

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


def run_context_model(ctx: StepContext, model: str, protocol: Protocol | None = None) -> pa.Table:
    """Train ``mood_predictions`` or ``mood_classifications`` for every user."""
    protocol = protocol or Protocol()
    results, rows = [], []
    with one_thread():
        for user_id, arrays in per_user(load_plays(ctx)):
            result, plays = fit_context_model(model, user_id, arrays, ctx.lake.root, protocol)
            results.append((user_id, result, plays))
            rows += result.metric_rows
    artifacts.write_manifest(ctx.lake.root, model, rows)
    return prediction_table(model, results)


def run_energy_forecasts(ctx: StepContext) -> pa.Table:
    results, rows = [], []
    with one_thread():
        for user_id, arrays in per_user(load_plays(ctx)):
            result, cells = fit_energy_forecast(user_id, arrays, ctx.lake.root)
            results.append((user_id, result, cells))
            rows += result.metric_rows
    artifacts.write_manifest(ctx.lake.root, ENERGY, rows)
    return forecast_table(results)


def run_audio_to_valence(ctx: StepContext) -> pa.Table:
    with one_thread():
        model = catalog.fit_catalog_model(ctx.sql(catalog.catalog_query()), ctx.lake.root)
        if model.status != "ok":
            artifacts.write_manifest(
                ctx.lake.root, catalog.MODEL, catalog.catalog_status_rows(model)
            )
            return catalog.valence_table(model, [])
        user_rows, metric_rows = catalog.score_users(model, ctx.sql(catalog.user_tracks_query()))
    artifacts.write_manifest(ctx.lake.root, catalog.MODEL, model.metric_rows + metric_rows)
    return catalog.valence_table(model, user_rows)


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


def collect_metrics(lake_root) -> pa.Table:
    """Every predictive model's latest metric rows (from the run manifests)."""
    rows = []
    for model in PREDICTIVE_MODELS:
        rows += artifacts.read_manifest(lake_root, model)
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
