"""Reproduce stored predictions from a saved model (proof that the tables come from it)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from ..errors import LakeError
from ..lake import Lake
from ..runner import StepContext
from ..settings import Settings
from . import artifacts, catalog
from .context import TASKS, context_data, needed_plays
from .forecast import MODEL as ENERGY
from .forecast import forecast_data, hour_cells
from .plays import (
    PLAY_COLUMNS,
    dedupe_plays,
    mood_plays,
    per_user,
    plays_query,
    select,
    to_arrays,
)
from .plays import query as run_query
from .training import Protocol, predict


def current_version(lake: Lake, model: str, user_id: str) -> str:
    """The version of ``model`` the latest run used for ``user_id``."""
    owner = catalog.CATALOG_USER if model == catalog.MODEL else user_id
    for row in artifacts.read_manifest(lake.root, model, frozenset({owner})):
        if row.get("status") == "ok":
            return row["model_version"]
    raise LakeError(f"{lake.root}: no saved {model} model for user {user_id!r}")


def reproduce_predictions(lake: Lake, settings: Settings, model: str, user_id: str) -> pa.Table:
    """Reload the saved model and predict the user's stored rows again.

    Returns the table's key columns and ``predicted`` (plus ``probability`` for
    the classifier): the rows of the test window, or for ``audio_to_valence``
    the stored tracks, sorted by track_key.
    """
    version = current_version(lake, model, user_id)
    owner = catalog.CATALOG_USER if model == catalog.MODEL else user_id
    estimator, card = artifacts.load_model(lake.root, model, owner, version)
    ctx = StepContext(lake, settings)
    if model == catalog.MODEL:
        return _reproduce_catalog(ctx, estimator, user_id)
    sql = plays_query(settings.allow_synthetic, PLAY_COLUMNS, user_id)
    arrays = next((a for _, a in per_user(run_query(ctx, sql, "listening_with_features"))), None)
    if arrays is None:
        raise LakeError(f"{lake.root}: no plays for user {user_id!r}")
    arrays = dedupe_plays(arrays)
    cutoff = np.datetime64(card["cutoff"].rstrip("Z"), "us")
    if model == ENERGY:
        cells = hour_cells(mood_plays(arrays))
        data = forecast_data(user_id, cells)
        keys = {"date": cells["date"], "hour_of_day": cells["hour_of_day"].astype(np.int32)}
    elif model in TASKS:
        fields = Protocol.__dataclass_fields__
        protocol = Protocol(**{k: v for k, v in card["protocol"].items() if k in fields})
        plays, _ = needed_plays(model, mood_plays(arrays), protocol)
        data = context_data(model, user_id, plays)
        keys = {"play_id": plays["play_id"]}
    else:
        raise LakeError(f"unknown model {model!r}")
    test = data.times >= cutoff
    predicted, probability = predict(estimator, data.X[test], data.kind)
    columns = {name: values[test] for name, values in keys.items()}
    columns["predicted"] = predicted
    if probability is not None:
        columns["probability"] = probability
    return pa.table(columns)


def _reproduce_catalog(ctx: StepContext, estimator: object, user_id: str) -> pa.Table:
    quoted = "'" + user_id.replace("'", "''") + "'"
    stored = run_query(
        ctx, f"select track_key from audio_to_valence where user_id = {quoted}", "audio_to_valence"
    )
    if user_id == catalog.CATALOG_USER:
        tracks = run_query(ctx, catalog.catalog_query(), "catalog_tracks")
        arrays = to_arrays(tracks)
        arrays["track_key"] = arrays["track_id"]
    else:
        tracks = run_query(ctx, catalog.user_tracks_query(), *catalog.USER_TRACK_TABLES)
        arrays = next((a for u, a in per_user(tracks) if u == user_id), {})
    wanted = set(stored.column("track_key").to_pylist())
    rows = select(arrays, np.array([k in wanted for k in arrays.get("track_key", [])], bool))
    X = np.column_stack([rows[name].astype(float) for name in catalog.INPUTS])
    order = np.argsort(rows["track_key"].astype(str), kind="stable")
    predicted = np.clip(estimator.predict(X), 0.0, 1.0)
    return pa.table({"track_key": rows["track_key"][order], "predicted": predicted[order]})
