"""``audio_to_valence``: valence from the other audio features, learnt on the catalog.

Split: a track's *group* is its normalised ``artist|title`` (re-releases and the
same track listed under several genres share it; rows repeating a track_id are
first collapsed). A group is held out when a hash of it falls in the lowest
20%, so a group never straddles train and test and the split is stable as the
catalog grows. Tuning uses ``GroupKFold`` over the training groups. Scored on
held-out catalog tracks and, per user, on the distinct tracks with real features
(spotify_api, catalog_id, catalog_match, reccobeats) whose group was not trained on.
Baselines: the training mean and the mean of the track's genres.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import LakeError
from ..schemas import FEATURE_COLUMNS
from . import artifacts
from .candidates import catalog_regressors
from .compiled import CompiledRegressor, compile_regressor
from .estimators import clone
from .evaluation import REGRESSION_METRICS, score, tune
from .plays import constant, to_arrays

MODEL = "audio_to_valence"
CATALOG_USER = "(catalog)"
INPUTS = tuple(column for column in FEATURE_COLUMNS if column != "valence")
REAL_SOURCES = ("spotify_api", "catalog_id", "catalog_match", "reccobeats")
MAX_TRAIN = 10_000
MAX_TEST = 5_000
MIN_TRAIN, MIN_TEST, MIN_USER_TRACKS = 500, 100, 20

CATALOG_SQL = """
with catalog as (
    select track_id, track_name, artist_name, genres, valence, {inputs}
    from catalog_tracks
    where track_id is not null and valence is not null
),
deduped as (
    select *
    from catalog
    qualify row_number() over (partition by track_id order by track_name, artist_name) = 1
),
grouped as (
    select *, {group_key} as group_key
    from deduped
),
final as (
    select
        *,
        md5_number_lower(group_key) % 1000 < {held_out_per_mille} as held_out,
        md5_number_lower('cap|' || group_key) as cap_order
    from grouped
)
select * from final order by track_id
"""
USER_TRACK_TABLES = ("user_track_plays", "track_features")
USER_PLAYS_SQL = """
select user_id, sum(n_plays) as n
from user_track_plays
where user_id is not null
group by user_id
order by user_id
"""
GROUP_KEY = "lower(trim(coalesce(artist_name, ''))) || '|' || lower(trim(coalesce(track_name, '')))"
HELD_OUT_SHARE = 0.2

USER_TRACKS_SQL = """
with spellings as (
    select user_id, track_key, track_id, track_name, artist_name, first_played_at
    from user_track_plays
    where track_key is not null{where}
),
features as (
    select track_key, catalog_track_id, feature_source, genres, valence, {inputs}
    from track_features
    where feature_source in ({sources}) and valence is not null
),
first_spellings as (
    select
        user_id,
        track_key,
        arg_min(
            struct_pack(track_id := track_id, track_name := track_name, artist_name := artist_name),
            struct_pack(played_at := first_played_at, track_id := track_id)
        ) as first_play
    from spellings
    group by user_id, track_key
),
unpacked as (
    select
        s.user_id,
        s.track_key,
        s.first_play.track_id as track_id,
        f.catalog_track_id,
        s.first_play.track_name as track_name,
        s.first_play.artist_name as artist_name,
        f.feature_source,
        f.genres,
        f.valence,
        {feature_inputs}
    from first_spellings as s
    inner join features as f on f.track_key = s.track_key
),
final as (
    select *, {group_key} as group_key
    from unpacked
    where {complete}
)
select * from final order by user_id, track_key
"""


def catalog_query() -> str:
    return CATALOG_SQL.format(
        inputs=", ".join(INPUTS),
        group_key=GROUP_KEY,
        held_out_per_mille=round(HELD_OUT_SHARE * 1000),
    )


def user_tracks_query(users: tuple[str, str] | None = None) -> str:
    """Each user's distinct tracks with real features, named as the first play of
    each was: the spelling (``user_track_plays``) that was played first, with the
    track's features (``track_features``), so the query reads a row per user,
    track and spelling instead of every play; optionally a range of users."""
    sources = ", ".join(f"'{s}'" for s in REAL_SOURCES)
    complete = " and ".join(f"{name} is not null" for name in INPUTS)
    where = ""
    if users is not None:
        first, last = (u.replace("'", "''") for u in users)
        where = f" and user_id between '{first}' and '{last}'"
    return USER_TRACKS_SQL.format(
        inputs=", ".join(INPUTS),
        feature_inputs=", ".join(f"f.{name}" for name in INPUTS),
        sources=sources,
        complete=complete,
        group_key=GROUP_KEY,
        where=where,
    )


def _features(arrays: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    X = np.column_stack([arrays[name].astype(float) for name in INPUTS])
    return X, np.isfinite(X).all(axis=1)


@dataclass
class CatalogModel:
    status: str
    note: str = ""
    estimator: object | None = None
    version: str | None = None
    train_groups: set | None = None
    train_ids: set | None = None
    genre_means: dict | None = None
    mean: float | None = None
    n_train: int = 0
    holdout: dict | None = None  # arrays of the scored held-out catalog rows
    metric_rows: list | None = None
    card: dict | None = None
    params: dict | None = None
    estimator_name: str | None = None


def fit_catalog_model(catalog: pa.Table, lake_root: Path, reuse: bool = False) -> CatalogModel:
    """Tune, fit and save the catalog model; with ``reuse``, load the saved model of
    the latest run instead when it was trained on exactly these rows by this code
    (same data fingerprint and version), which gives the same model without the
    cost of tuning."""
    arrays = to_arrays(catalog)
    X, complete = _features(arrays)
    arrays = {k: v[complete] for k, v in arrays.items()}
    X = X[complete]
    groups = arrays["group_key"]
    test = arrays["held_out"].astype(bool)
    train_idx = _cap(np.flatnonzero(~test), arrays["cap_order"], MAX_TRAIN)
    test_idx = _cap(np.flatnonzero(test), arrays["cap_order"], MAX_TEST)
    if train_idx.size < MIN_TRAIN or test_idx.size < MIN_TEST:
        return CatalogModel(
            "insufficient_data",
            note=(
                f"insufficient data: {train_idx.size} training and {test_idx.size} held-out catalog"
                f" tracks; needs >= {MIN_TRAIN} and >= {MIN_TEST}"
            ),
            n_train=int(train_idx.size),
        )
    y = arrays["valence"].astype(float)
    data_fingerprint = artifacts.fingerprint(X[train_idx], y[train_idx])
    saved = _saved_model(lake_root, data_fingerprint) if reuse else None
    if saved is not None:
        estimator, card = saved
        params, version, cv_scores = card["params"], card["version"], card["cv_scores"]
    else:
        best, cv_scores, _ = tune(
            catalog_regressors(),
            X[train_idx],
            y[train_idx],
            REGRESSION_METRICS[0],
            groups=groups[train_idx],
        )
        estimator = clone(best.estimator).fit(X[train_idx], y[train_idx])
        params = {"candidate": best.name, **best.params}
        version = artifacts.model_version(data_fingerprint, params)
    genre_means = _genre_means(arrays["genres"][train_idx], y[train_idx])
    mean = float(y[train_idx].mean())
    model = CatalogModel(
        "ok",
        estimator=estimator,
        version=version,
        params=params,
        estimator_name=_estimator_name(estimator),
        train_groups=set(groups[train_idx]),
        train_ids=set(arrays["track_id"][train_idx]),
        genre_means=genre_means,
        mean=mean,
        n_train=int(train_idx.size),
    )
    holdout = {k: v[test_idx] for k, v in arrays.items()}
    model.holdout = _scored_rows(model, holdout, X[test_idx])
    model.metric_rows = metric_rows(model, CATALOG_USER, model.holdout, "held-out catalog tracks")
    if saved is None:
        model.card = _card(model, params, cv_scores, data_fingerprint)
        artifacts.save_model(lake_root, model.card, estimator, _compiled(model))
    return model


def _compiled(model: CatalogModel) -> dict[str, np.ndarray] | None:
    """The model's arrays (``compiled.py``) and the groups and ids it was trained on,
    which is all ``saved_catalog_model`` needs to score users again."""
    arrays = compile_regressor(model.estimator)
    if arrays is None:
        return None
    return {
        **arrays,
        "train_groups": np.array(sorted(model.train_groups), dtype=str),
        "train_ids": np.array(sorted(model.train_ids), dtype=str),
    }


def saved_catalog_model(lake_root: Path) -> CatalogModel | None:
    """The latest run's catalog model from its saved arrays and card, without
    reading the catalog: for scoring users when the catalog has not changed since
    that run (no held-out rows or catalog metrics, which only a build of the
    catalog model writes). None when there is no such model or it has no arrays."""
    version = _latest_version(lake_root)
    try:
        saved = (
            None
            if version is None
            else artifacts.load_arrays(lake_root, MODEL, CATALOG_USER, version)
        )
    except (OSError, ValueError):
        return None
    if saved is None or "train_groups" not in saved[0]:
        return None
    arrays, card = saved
    estimator = CompiledRegressor(arrays)
    return CatalogModel(
        "ok",
        estimator=estimator,
        version=card["version"],
        params=card["params"],
        estimator_name=estimator.name,
        train_groups=set(arrays["train_groups"].tolist()),
        train_ids=set(arrays["train_ids"].tolist()),
        genre_means=card["genre_means"],
        mean=card["mean"],
        n_train=card["n_train"],
    )


def _saved_model(lake_root: Path, data_fingerprint: str) -> tuple[object, dict] | None:
    """The latest run's catalog model, if it was trained on this data by this code."""
    version = _latest_version(lake_root)
    if version is None:
        return None
    try:  # the compiled arrays if saved: unpickling imports scikit-learn
        compiled = artifacts.load_arrays(lake_root, MODEL, CATALOG_USER, version)
        if compiled is not None:
            estimator, card = CompiledRegressor(compiled[0]), compiled[1]
        else:
            estimator, card = artifacts.load_model(lake_root, MODEL, CATALOG_USER, version)
    except (LakeError, OSError, ValueError, KeyError):
        return None
    same = card.get("data_fingerprint") == data_fingerprint
    if same and artifacts.model_version(data_fingerprint, card["params"]) == card["version"]:
        return estimator, card
    return None


def _latest_version(lake_root: Path) -> str | None:
    """The version of the latest run's catalog model (None: none, or not fitted)."""
    for row in artifacts.read_manifest(lake_root, MODEL, frozenset({CATALOG_USER})):
        if row.get("status") == "ok":
            return row.get("model_version")
    return None


def _cap(index: np.ndarray, order: np.ndarray, limit: int) -> np.ndarray:
    """At most ``limit`` rows: those first by a stable hash of their group."""
    if index.size <= limit:
        return index
    return np.sort(index[np.argsort(order[index], kind="stable")[:limit]])


def _genre_means(genres: np.ndarray, y: np.ndarray) -> dict[str, float]:
    sums: dict[str, list[float]] = {}
    for labels, value in zip(genres, y, strict=True):
        for label in labels if labels is not None else []:
            sums.setdefault(str(label), []).append(float(value))
    return {label: float(np.mean(values)) for label, values in sums.items()}


def _genre_baseline(model: CatalogModel, genres: np.ndarray) -> np.ndarray:
    """Mean of the training means of a track's known genres (else the training mean)."""
    lists = [labels if labels is not None else () for labels in genres]
    lengths = np.fromiter((len(labels) for labels in lists), dtype=np.int64, count=len(lists))
    flat = [model.genre_means.get(str(g), np.nan) for labels in lists for g in labels]
    values = np.array(flat, dtype=float)
    track = np.repeat(np.arange(len(lists)), lengths)
    known = np.isfinite(values)
    sums = np.bincount(track[known], weights=values[known], minlength=len(lists))
    counts = np.bincount(track[known], minlength=len(lists))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), model.mean)


def _scored_rows(model: CatalogModel, arrays: dict, X: np.ndarray) -> dict:
    rows = dict(arrays)
    rows["predicted_valence"] = np.clip(model.estimator.predict(X), 0.0, 1.0)
    rows["baseline_mean"] = np.full(X.shape[0], model.mean)
    rows["baseline_genre_mean"] = _genre_baseline(model, arrays["genres"])
    return rows


def metric_rows(model: CatalogModel, user_id: str, rows: dict, scope: str) -> list[dict]:
    y = rows["valence"].astype(float)
    baselines = {"mean": rows["baseline_mean"], "genre_mean": rows["baseline_genre_mean"]}
    scored = score(REGRESSION_METRICS, y, rows["predicted_valence"], baselines, np.arange(y.size))
    common = {
        "user_id": user_id,
        "model": MODEL,
        "status": "ok",
        "n_train": model.n_train,
        "n_test": int(y.size),
        "model_version": model.version,
        "split": (
            "catalog groups (normalised artist|title) held out by a stable hash"
            f" (20%); scored on {scope}"
        ),
        "params": json.dumps(model.params, sort_keys=True),
        "estimator": model.estimator_name,
        "note": "baselines: training mean and genre mean (no time or persistence: "
        "catalog tracks have no order)",
    }
    return [
        {**common, **row, "baselines": json.dumps(row["baselines"], sort_keys=True)}
        for row in scored
    ]


def _card(model: CatalogModel, params, cv_scores, data_fingerprint: str) -> dict:
    return {
        "model": MODEL,
        "user_id": CATALOG_USER,
        "version": model.version,
        "status": "ok",
        "kind": "regression",
        "target": "valence",
        "features": list(INPUTS),
        "params": params,
        "estimator": model.estimator_name,
        "cv_scores": cv_scores,
        "cv": "GroupKFold(n_splits=3) over training groups",
        "n_train": model.n_train,
        "n_test": int(model.holdout["valence"].size) if model.holdout else 0,
        "data_fingerprint": data_fingerprint,
        "metrics": model.metric_rows,
        "train_from": None,
        "train_to": None,
        "genre_means": model.genre_means,
        "mean": model.mean,
    }


def _estimator_name(estimator: object) -> str:
    """The model's class (the last step of a pipeline), also when compiled."""
    if isinstance(estimator, CompiledRegressor):
        return estimator.name
    steps = getattr(estimator, "steps", None)
    return type(steps[-1][1] if steps else estimator).__name__


def score_users(
    model: CatalogModel, user_tracks: pa.Table | Iterable[pa.Table]
) -> tuple[list[dict], list[dict]]:
    """Per user: scored rows of the tracks the model never saw, and metric rows.
    ``user_tracks`` holds whole users in user order (one table, or one table per
    chunk of users); each table is scored at once (one ``predict``, the unseen
    test and the genre baseline in Arrow), only the metrics are per user."""
    tables = [user_tracks] if isinstance(user_tracks, pa.Table) else user_tracks
    seen = {
        "groups": pa.array(sorted(model.train_groups), pa.string()),
        "ids": pa.array(sorted(model.train_ids), pa.string()),
    }
    scored, metrics = [], []
    for table in tables:
        if table.num_rows:
            rows, found = _score_table(model, table, seen)
            scored += rows
            metrics += found
    return scored, metrics


def _score_table(model: CatalogModel, table: pa.Table, seen: dict) -> tuple[list[dict], list[dict]]:
    trained = pc.or_(
        pc.is_in(table.column("group_key"), value_set=seen["groups"]),
        pc.or_(
            pc.is_in(table.column("track_id"), value_set=seen["ids"]),
            pc.is_in(table.column("catalog_track_id"), value_set=seen["ids"]),
        ),
    )
    unseen = ~pc.fill_null(trained, False).to_numpy(zero_copy_only=False)
    users = table.column("user_id").to_numpy(zero_copy_only=False)
    starts = np.flatnonzero(np.concatenate([[True], users[1:] != users[:-1]]))
    ends = np.append(starts[1:], users.size)
    counts = np.add.reduceat(unseen.astype(np.int64), starts)  # unseen tracks per user
    sizes = ends - starts
    enough = counts >= MIN_USER_TRACKS
    metrics = []
    for user, n_unseen, size in zip(
        users[starts[~enough]], counts[~enough], sizes[~enough], strict=True
    ):
        metrics += _user_status(model, str(user), int(n_unseen), int(size - n_unseen))
    kept = unseen & np.repeat(enough, sizes)
    if not kept.any():
        return [], _in_user_order(metrics)
    part = table.filter(pa.array(kept))
    X = np.column_stack([part.column(name).to_numpy().astype(float) for name in INPUTS])
    rows = {name: part.column(name) for name in SCORED_COLUMNS}
    rows["valence"] = part.column("valence").to_numpy().astype(float)
    rows["predicted_valence"] = np.clip(model.estimator.predict(X), 0.0, 1.0)
    rows["baseline_mean"] = np.full(part.num_rows, model.mean)
    rows["baseline_genre_mean"] = _genre_baseline_arrow(model, part.column("genres"))
    bounds = np.concatenate([[0], np.cumsum(counts[enough])])
    scored = zip(users[starts[enough]], bounds[:-1], bounds[1:], sizes[enough], strict=True)
    for user, start, end, size in scored:
        one = {name: rows[name][start:end] for name in METRIC_COLUMNS}
        scope = (
            "the user's distinct tracks with real features not in the training groups"
            f" ({int(size - (end - start))} trained-on tracks excluded)"
        )
        metrics += metric_rows(model, str(user), one, scope)
    return [rows], _in_user_order(metrics)


def _in_user_order(rows: list[dict]) -> list[dict]:
    return sorted(rows, key=lambda row: str(row["user_id"]))  # stable: a user's metrics keep order


METRIC_COLUMNS = ("valence", "predicted_valence", "baseline_mean", "baseline_genre_mean")
SCORED_COLUMNS = ("user_id", "track_key", "track_id", "track_name", "artist_name", "feature_source")


def _genre_baseline_arrow(model: CatalogModel, genres: pa.ChunkedArray) -> np.ndarray:
    """``_genre_baseline`` over an Arrow list column, without Python lists."""
    genres = genres.combine_chunks() if isinstance(genres, pa.ChunkedArray) else genres
    flat = pc.list_flatten(genres)
    track = pc.list_parent_indices(genres).to_numpy()
    keys = pa.array(list(model.genre_means), pa.string())
    means = np.array(list(model.genre_means.values()), dtype=float)
    position = pc.index_in(flat.cast(pa.string()), value_set=keys)
    known = position.is_valid().to_numpy(zero_copy_only=False)
    values = means[position.to_numpy(zero_copy_only=False)[known].astype(np.int64)]
    n = len(genres)
    sums = np.bincount(track[known], weights=values, minlength=n)
    counts = np.bincount(track[known], minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), model.mean)


def _user_status(model: CatalogModel, user_id: str, n_unseen: int, n_seen: int) -> list[dict]:
    note = (
        f"insufficient data: {n_unseen} of the user's tracks with real features were not"
        f" trained on ({n_seen} were); needs >= {MIN_USER_TRACKS}"
    )
    return [
        {
            "user_id": user_id,
            "model": MODEL,
            "metric": m.name,
            "status": "insufficient_data",
            "higher_is_better": m.higher_is_better,
            "n_train": model.n_train,
            "n_test": n_unseen,
            "note": note,
            "model_version": model.version,
        }
        for m in REGRESSION_METRICS
    ]


SCHEMA = pa.schema(
    [
        ("user_id", pa.string()),
        ("track_key", pa.string()),
        ("track_id", pa.string()),
        ("track_name", pa.string()),
        ("artist_name", pa.string()),
        ("feature_source", pa.string()),
        ("actual_valence", pa.float64()),
        ("predicted_valence", pa.float64()),
        ("baseline_mean", pa.float64()),
        ("baseline_genre_mean", pa.float64()),
        ("model_version", pa.string()),
    ]
)


def valence_table(
    model: CatalogModel, user_rows: list[dict], with_holdout: bool = True
) -> pa.Table:
    """Held-out catalog tracks (user_id '(catalog)') and each user's scored tracks."""
    chunks = []
    if model.status == "ok" and with_holdout:
        holdout = dict(model.holdout)
        n = holdout["valence"].size
        holdout["user_id"] = constant(n, CATALOG_USER)
        holdout["track_key"] = holdout["track_id"]
        holdout["feature_source"] = constant(n, "catalog")
        chunks.append(holdout)
    for rows in user_rows:
        chunks.append(rows)
    tables = [
        pa.table(
            {
                **{
                    name: rows[name]
                    for name in (
                        "user_id",
                        "track_key",
                        "track_id",
                        "track_name",
                        "artist_name",
                        "feature_source",
                    )
                },
                "actual_valence": rows["valence"].astype(float),
                "predicted_valence": rows["predicted_valence"],
                "baseline_mean": rows["baseline_mean"],
                "baseline_genre_mean": rows["baseline_genre_mean"],
                "model_version": constant(rows["valence"].size, model.version),
            },
            schema=SCHEMA,
        )
        for rows in chunks
    ]
    return pa.concat_tables(tables) if tables else SCHEMA.empty_table()


def catalog_status_rows(model: CatalogModel) -> list[dict]:
    return [
        {
            "user_id": CATALOG_USER,
            "model": MODEL,
            "metric": m.name,
            "status": model.status,
            "higher_is_better": m.higher_is_better,
            "n_train": model.n_train,
            "n_test": 0,
            "note": model.note,
        }
        for m in REGRESSION_METRICS
    ]
