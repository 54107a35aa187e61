"""Saved models: ``<lake>/models/<model>/<user>/<version>/{model.joblib,card.json}``.

The version is derived from what the model was built from (data fingerprint,
parameters, code version), so rebuilding from the same data rewrites the same
version instead of piling up copies. Each model folder also holds
``current.parquet``: the metric rows of the latest run for every user (including
users with too little data), which ``model_performance_metrics`` collects, one
JSON row per Parquet row beside its ``user_id``. An incremental run replaces a
few users' rows without parsing the others' (a JSON file of every user's rows
was 1.8 MB per model at 1,000 users, parsed and written again on every run).
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import importlib.metadata
import json
import os
import pickle
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..errors import LakeError

MODELS_DIR = "models"
CODE_VERSION = "1"  # bump when features or training change meaning
CARD = "card.json"
ARTIFACT = "model.joblib"
ARRAYS = "model.npz"  # the compiled form of a model (compiled.py), where one exists
MANIFEST = "current.parquet"
OLD_MANIFEST = "current.json"  # the manifest as earlier versions wrote it: read, then replaced
MANIFEST_SCHEMA = pa.schema([("user_id", pa.string()), ("row", pa.string())])


def user_folder(user_id: str) -> str:
    """A file-system-safe folder name for a user id (a hash keeps odd ids unique)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", user_id)[:60]
    if safe == user_id and safe not in {"", ".", ".."}:
        return safe
    return f"{safe}-{hashlib.sha256(user_id.encode()).hexdigest()[:8]}"


def fingerprint(*arrays: np.ndarray) -> str:
    """sha256 over the arrays' contents (the data a model was trained on)."""
    digest = hashlib.sha256()
    for array in arrays:
        array = np.asarray(array)
        if array.dtype == object:
            digest.update("\x1f".join(map(str, array.tolist())).encode())
        else:
            digest.update(np.ascontiguousarray(array).tobytes())
        digest.update(b"|")
    return digest.hexdigest()


def model_version(data_fingerprint: str, params: dict) -> str:
    """Same data, params and model code -> same version; any change -> a new one."""
    code = [CODE_VERSION, code_fingerprint()]
    text = json.dumps([data_fingerprint, params, code], sort_keys=True, default=str)
    return "v" + hashlib.sha256(text.encode()).hexdigest()[:12]


@functools.cache
def code_fingerprint() -> str:
    """sha256 of this package's source (features and training change meaning)."""
    folder = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(folder.glob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


@functools.cache
def _sklearn_version() -> str:
    """scikit-learn's version, read from its metadata (importing it costs 1.5 CPU-s)."""
    return importlib.metadata.version("scikit-learn")


def model_dir(lake_root: Path, model: str, user_id: str, version: str) -> Path:
    return Path(lake_root) / MODELS_DIR / model / user_folder(user_id) / version


def save_model(
    lake_root: Path,
    card: dict,
    estimator: object | None,
    arrays: dict[str, np.ndarray] | None = None,
) -> Path:
    """Write the card (and the estimator, if any, and its ``arrays``: a compiled
    form ``load_arrays`` reads without unpickling) for ``card['version']``,
    atomically."""
    folder = model_dir(lake_root, card["model"], card["user_id"], card["version"])
    folder.mkdir(parents=True, exist_ok=True)
    card = {
        **card,
        "sklearn_version": _sklearn_version(),
        "code_version": CODE_VERSION,
        "saved_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    text = json.dumps(card, sort_keys=True, default=str) + "\n"  # no indent: the C encoder
    saved = (estimator is None or (folder / ARTIFACT).is_file()) and (
        arrays is None or (folder / ARRAYS).is_file()
    )
    if saved and _same_card(folder / CARD, text):
        return folder  # this version was saved from the same data: replacing costs a flush
    if estimator is not None:  # the C pickler: joblib.dump's pure-Python one was 10 ms a model
        _atomic(folder / ARTIFACT, lambda path: _pickle(estimator, path))
    if arrays is not None:
        _atomic(folder / ARRAYS, lambda path: _save_arrays(arrays, path))
    _atomic(folder / CARD, lambda path: Path(path).write_text(text))
    return folder


def _same_card(path: Path, text: str) -> bool:
    """Whether ``path`` holds the card ``text`` but for the time it was saved."""
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    new = json.loads(text)
    saved.pop("saved_at", None)
    new.pop("saved_at", None)
    return saved == new


def load_model(lake_root: Path, model: str, user_id: str, version: str) -> tuple[object, dict]:
    folder = model_dir(lake_root, model, user_id, version)
    if not (folder / ARTIFACT).is_file():
        raise LakeError(f"{folder}: no saved model (run the pipeline first)")
    card = json.loads((folder / CARD).read_text())
    import joblib  # only to read a model back: a run that saves models does not load it

    return joblib.load(folder / ARTIFACT), card


def load_arrays(
    lake_root: Path, model: str, user_id: str, version: str
) -> tuple[dict[str, np.ndarray], dict] | None:
    """A saved model's compiled arrays and card, or None when it has none."""
    folder = model_dir(lake_root, model, user_id, version)
    if not (folder / ARRAYS).is_file():
        return None
    card = json.loads((folder / CARD).read_text())
    with np.load(folder / ARRAYS, allow_pickle=False) as saved:
        return {name: saved[name] for name in saved.files}, card


def write_manifest(lake_root: Path, model: str, rows: list[dict]) -> None:
    _write_manifest_table(lake_root, model, _manifest_table(rows))


def _manifest_table(rows: list[dict]) -> pa.Table:
    return pa.table(
        {
            "user_id": [row.get("user_id") for row in rows],
            "row": [json.dumps(row, sort_keys=True, default=str) for row in rows],
        },
        schema=MANIFEST_SCHEMA,
    )


def _write_manifest_table(lake_root: Path, model: str, table: pa.Table) -> None:
    folder = Path(lake_root) / MODELS_DIR / model
    folder.mkdir(parents=True, exist_ok=True)
    _atomic(folder / MANIFEST, lambda path: pq.write_table(table, path))
    (folder / OLD_MANIFEST).unlink(missing_ok=True)


def update_manifest(
    lake_root: Path,
    model: str,
    rows: list[dict],
    users: frozenset[str] | None,
    everyone: frozenset[str] | None = None,
) -> None:
    """Write ``rows`` as the manifest: the whole of it (``users`` None), or only
    ``users``' rows, keeping every other user's rows of the previous run (of
    those in ``everyone``, when a whole build runs in shards of users). Rows
    are kept in user order (stable), so a partial rebuild writes what a full
    one would. Shards in other processes update it one at a time."""
    with _manifest_lock(lake_root, model):
        table = _manifest_table(rows)
        if users is not None:
            kept = _read_manifest_table(lake_root, model)
            wanted = pa.array(sorted(users), pa.string())
            others = pc.invert(pc.fill_null(pc.is_in(kept["user_id"], wanted), False))
            if everyone is not None:
                known = pa.array(sorted(everyone), pa.string())
                known = pc.fill_null(pc.is_in(kept["user_id"], known), False)
                others = pc.and_(others, known)
            table = table.filter(pc.is_in(table["user_id"], wanted))
            table = pa.concat_tables([kept.filter(others), table])
        order = pc.fill_null(table["user_id"], "None")  # as str() would spell a missing id
        _write_manifest_table(lake_root, model, table.take(pc.sort_indices(order)))


@contextmanager
def _manifest_lock(lake_root: Path, model: str) -> Iterator[None]:
    folder = Path(lake_root) / MODELS_DIR / model
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".manifest.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def read_manifest(lake_root: Path, model: str, users: frozenset[str] | None = None) -> list[dict]:
    """The manifest's rows (only ``users``' rows, if given, parsing no others)."""
    table = _read_manifest_table(lake_root, model)
    if users is not None:
        table = table.filter(pc.is_in(table["user_id"], pa.array(sorted(users), pa.string())))
    try:
        return [json.loads(row) for row in table["row"].to_pylist()]
    except ValueError as error:
        path = Path(lake_root) / MODELS_DIR / model / MANIFEST
        raise LakeError(f"{path}: unreadable model manifest ({error})") from None


def _read_manifest_table(lake_root: Path, model: str) -> pa.Table:
    folder = Path(lake_root) / MODELS_DIR / model
    path = folder / MANIFEST
    try:
        if path.is_file():
            table = pq.read_table(path)
            if table.schema.equals(MANIFEST_SCHEMA):
                return table
            raise ValueError(f"columns {table.schema.names}, not {MANIFEST_SCHEMA.names}")
        old = folder / OLD_MANIFEST
        if old.is_file():
            path = old
            return _manifest_table(json.loads(old.read_text())["rows"])
    except (ValueError, KeyError, OSError, pa.ArrowException) as error:
        raise LakeError(f"{path}: unreadable model manifest ({error})") from None
    return MANIFEST_SCHEMA.empty_table()


def list_models(lake_root: Path) -> list[dict]:
    """Every saved model version (newest first per model and user), from the cards."""
    root = Path(lake_root) / MODELS_DIR
    current = {
        (row.get("model"), row.get("user_id"), row.get("model_version"))
        for model in sorted(p.name for p in root.glob("*") if p.is_dir())
        for row in read_manifest(lake_root, model)
    }
    found = []
    for card_path in sorted(root.glob(f"*/*/*/{CARD}")):
        try:
            card = json.loads(card_path.read_text())
        except ValueError:
            continue
        found.append(
            {
                "model": card.get("model"),
                "user_id": card.get("user_id"),
                "version": card.get("version"),
                "status": card.get("status"),
                "estimator": card.get("estimator"),
                "saved_at": card.get("saved_at"),
                "n_train": card.get("n_train"),
                "n_test": card.get("n_test"),
                "train_from": card.get("train_from"),
                "train_to": card.get("train_to"),
                "headline": _headline(card.get("metrics", [])),
                "has_artifact": (card_path.parent / ARTIFACT).is_file(),
                "current": (card.get("model"), card.get("user_id"), card.get("version")) in current,
                "path": str(card_path.parent),
            }
        )
    found.sort(
        key=lambda row: (row["model"] or "", row["user_id"] or "", row["saved_at"] or ""),
        reverse=False,
    )
    return found


def _headline(metrics: list[dict]) -> str:
    if not metrics:
        return ""
    first = metrics[0]
    if first.get("value") is None:
        return ""
    lift = first.get("lift")
    text = f"{first['metric']}={first['value']:.3f}"
    if lift is not None:
        text += f" vs {first['baseline']}={first['baseline_value']:.3f} (lift {lift:+.3f})"
    return text


def _pickle(estimator: object, path: str) -> None:
    """A plain pickle (``joblib.load`` reads it)."""
    with open(path, "wb") as handle:
        pickle.dump(estimator, handle, protocol=pickle.HIGHEST_PROTOCOL)


def _save_arrays(arrays: dict[str, np.ndarray], path: str) -> None:
    with open(path, "wb") as handle:  # a handle: np.savez adds ".npz" to a bare name
        np.savez(handle, **arrays)


def _atomic(path: Path, write) -> None:
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    os.close(handle)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
