"""The demo lake: generated, deterministic DEMO DATA sent through the real ingest paths.

``build_demo`` writes ordinary input files under ``<lake>/demo_inputs/`` (a
Kaggle-format catalog and privacy exports for three made-up listeners), loads
them with the same functions a user's own files go through (``ingest_kaggle``,
``import_export``), then runs the pipeline. No network. Running it again on the
same lake adds nothing. docs/demo.md lists the planted patterns.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .. import catalog_csv
from ..errors import LakeError
from ..ingest.exports import import_export
from ..ingest.kaggle import file_sha256, ingest_kaggle
from ..lake import Lake
from ..pipeline import run
from ..schemas import KAGGLE_TRACKS, USERS
from ..settings import Settings
from .catalog import generate_catalog, write_catalog
from .exports import write_exports
from .listeners import LISTENERS, generate_listening
from .summary import LABEL, DemoSummary, DemoUser, demo_users

__all__ = ["LABEL", "DemoSummary", "DemoUser", "Progress", "build_demo", "write_inputs"]

DEMO_PREFIX = "demo-"
INPUTS = "demo_inputs"
MARKER = "demo.json"
CATALOG_FILE = "dataset.csv"
GENERATORS = ("catalog.py", "exports.py", "genres.py", "listeners.py", "words.py")
STEPS = 4 + len(LISTENERS)

Progress = Callable[[str, int, int], None]  # (what is happening, step number, steps)


def build_demo(
    lake_root: Path, settings: Settings, progress: Progress | None = None
) -> DemoSummary:
    """Build (or bring up to date) a demo lake at ``lake_root``.

    Raises :class:`LakeError` if the lake holds users or a catalog that are not
    demo data: demo and real listening are never mixed.
    """
    say = progress or (lambda _what, _step, _steps: None)
    started = time.perf_counter()
    lake = Lake.open(lake_root, create=True)
    with lake.lock("demo"):
        refuse_real_data(lake)
        inputs = write_inputs(lake, say)
        say("loading the catalog (ingest kaggle)", 3, STEPS)
        kaggle = ingest_kaggle(lake, settings, path=inputs / CATALOG_FILE, force=False)
        inserted = 0
        for number, listener in enumerate(LISTENERS, start=4):
            say(f"importing {listener.user_id}'s export", number, STEPS)
            folder = inputs / "exports" / listener.user_id
            report = import_export(
                lake, folder, user=listener.user_id, timezone=listener.timezone, settings=settings
            )
            inserted += report.inserted
        say("running the pipeline", STEPS, STEPS)
        run_report = run(lake, settings, on_step=lambda r: say(f"run: {r.name}", STEPS, STEPS))
    timezones = {listener.user_id: listener.timezone for listener in LISTENERS}
    return DemoSummary(
        lake=lake.root,
        inputs=inputs,
        catalog_rows=kaggle.rows_loaded,
        catalog_reused=kaggle.skipped,
        records_inserted=inserted,
        tables=len(lake.tables()),
        steps_built=len(run_report.built),
        seconds=round(time.perf_counter() - started, 2),
        users=demo_users(lake, timezones),
    )


def write_inputs(lake: Lake, say: Progress) -> Path:
    """Generate the demo's input files under ``<lake>/demo_inputs`` (kept as they are when
    the same generator already wrote them and nobody changed them)."""
    inputs = lake.root / INPUTS
    if _inputs_unchanged(lake, inputs):
        say("demo input files are up to date", 2, STEPS)
        return inputs
    say("generating the demo catalog (114,000 rows)", 1, STEPS)
    catalog = generate_catalog()
    write_catalog(inputs / CATALOG_FILE, catalog)
    say("generating three demo listeners' exports", 2, STEPS)
    listenings = [generate_listening(catalog, listener, n) for n, listener in enumerate(LISTENERS)]
    write_exports(inputs / "exports", catalog, listenings)
    marker = {
        "label": LABEL,
        "users": [listener.user_id for listener in LISTENERS],
        "generator": _generator_fingerprint(),
        "files": _file_hashes(inputs),
    }
    lake.state_path(MARKER).write_text(json.dumps(marker, indent=2) + "\n")
    return inputs


def _inputs_unchanged(lake: Lake, inputs: Path) -> bool:
    try:
        marker = json.loads(lake.state_path(MARKER).read_text())
    except (OSError, ValueError):
        return False
    return (
        marker.get("generator") == _generator_fingerprint()
        and bool(marker.get("files"))
        and marker["files"] == _file_hashes(inputs)
    )


def _file_hashes(inputs: Path) -> dict[str, str]:
    files = sorted(path for path in inputs.rglob("*") if path.is_file())
    return {path.relative_to(inputs).as_posix(): file_sha256(path) for path in files}


def _generator_fingerprint() -> str:
    """A hash of the generators' source, the CSV writer's and numpy's version (its random
    streams): new code means new inputs."""
    digest = hashlib.sha256(np.__version__.encode())
    here = Path(__file__).parent
    for path in [*(here / name for name in GENERATORS), Path(catalog_csv.__file__)]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def refuse_real_data(lake: Lake) -> None:
    """Raise :class:`LakeError` if the lake holds users or a catalog that are not demo data
    (checked before anything is written)."""
    if lake.exists(USERS.name):
        users = lake.read(USERS.name, columns=["user_id"]).column(0).to_pylist()
        real = sorted(user for user in users if not str(user).startswith(DEMO_PREFIX))
        if real:
            shown = ", ".join(real[:3]) + (", ..." if len(real) > 3 else "")
            raise LakeError(
                f"{lake.root}: holds non-demo users ({shown}); the demo never mixes with real "
                "listening: choose a new folder with --lake"
            )
    if lake.count(KAGGLE_TRACKS.name) and not lake.state_path(MARKER).is_file():
        raise LakeError(
            f"{lake.root}: holds a catalog that is not demo data; the demo would replace it: "
            "choose a new folder with --lake"
        )
