"""Load the Kaggle Spotify Tracks Dataset into ``bronze/kaggle_tracks_bronze``.

The catalog is a full snapshot: each load replaces the table in one commit.
Rows with impossible values go to ``bronze/_rejects`` with a reason, so
``rows_read == rows_loaded + rows_rejected`` always holds. Loading the same
file (by SHA-256) twice is skipped unless forced. A file that is unusable as a
whole raises :class:`InputError` before anything is written.

Data: "Spotify Tracks Dataset" by maharshipandya (Kaggle), ODbL 1.0. Attribute
it; it is not shipped with this package.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from ..catalog_csv import CatalogFormatError, CatalogRead, read_catalog_csv
from ..errors import InputError, SpotifyAnalyticsError
from ..lake import Lake, conform
from ..schemas import KAGGLE_TRACKS, REJECTS
from ..settings import Settings

REFERENCE_SHA256 = "b202fa49909b2d5cef71a04b1d21243cfeb36414535f2ca9272aa646721177bd"
REFERENCE_BYTES = 20_118_244
ATTRIBUTION = "Spotify Tracks Dataset by maharshipandya, ODbL 1.0"
FILE_NAME = "dataset.csv"
SOURCE = "kaggle"
STATE_FILE = "kaggle.json"

Progress = Callable[[str], None]


@dataclass(frozen=True)
class KaggleReport:
    """What one ``ingest kaggle`` did (or found already done, when ``skipped``)."""

    path: Path
    sha256: str
    matches_reference: bool
    skipped: bool
    rows_read: int
    rows_loaded: int
    rows_rejected: int
    distinct_tracks: int
    genres: int

    def to_dict(self) -> dict:
        return {**asdict(self), "path": str(self.path)}


def ingest_kaggle(
    lake: Lake,
    settings: Settings,
    *,
    path: Path | None = None,
    force: bool = False,
    download: Callable[[str], Path] | None = None,
    progress: Progress | None = None,
) -> KaggleReport:
    """Load the catalog from ``path``, or download it (kagglehub) when no path is given.

    ``download`` takes the dataset handle and returns the folder it downloaded to
    (kagglehub's by default).
    """
    say = progress or (lambda _stage: None)
    if path is None:
        say(f"downloading {settings.kaggle_dataset}")
        path = find_dataset_csv(settings.kaggle_dataset, download or kagglehub_download)
    path = Path(path).expanduser()
    say(f"checking {path.name}")
    digest = file_sha256(path)
    with lake.lock("ingest kaggle"):
        if not force and loaded_sha256(lake) == digest:
            return _already_loaded(lake, path, digest)
        say(f"parsing {path.name}")
        parsed = _parse(path)
        say(f"writing {parsed.table.num_rows:,} rows")
        return _store(lake, path, digest, parsed)


def kagglehub_download(handle: str) -> Path:
    """Download (or reuse kagglehub's cached copy of) a Kaggle dataset; returns its folder."""
    import kagglehub  # imported here: heavy, and only downloads need it

    return Path(kagglehub.dataset_download(handle))


def find_dataset_csv(handle: str, download: Callable[[str], Path]) -> Path:
    """Download ``handle`` and return the ``dataset.csv`` inside the downloaded folder."""
    try:
        folder = Path(download(handle))
    except Exception as error:  # network, credentials, HTTP: all end the same way
        raise InputError(
            f"could not download the Kaggle dataset {handle} ({_one_line(error)}); "
            f"download {FILE_NAME} yourself and pass it with --path"
        ) from None
    if folder.is_file() and folder.name == FILE_NAME:
        return folder
    found = sorted(folder.rglob(FILE_NAME)) if folder.is_dir() else []
    if not found:
        raise InputError(
            f"{folder}: the downloaded Kaggle dataset {handle} has no {FILE_NAME}; "
            "pass the file with --path"
        )
    return found[0]


def file_sha256(path: Path) -> str:
    """SHA-256 of a file; missing or unreadable files raise :class:`InputError`."""
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if not path.is_file():
        raise InputError(f"{path}: not a file")
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    except OSError as error:
        raise InputError(f"{path}: cannot be read ({error.strerror or error})") from None
    return digest.hexdigest()


def loaded_sha256(lake: Lake) -> str | None:
    """The SHA-256 of the file the stored catalog came from (None if none is stored).

    Every load writes the whole table from one file in one commit, so the first
    row tells."""
    if not lake.exists(KAGGLE_TRACKS.name):
        return None
    first = lake.dataset(KAGGLE_TRACKS.name).head(1, columns=["_file_sha256"])
    return first.column(0)[0].as_py() if first.num_rows else None


def _parse(path: Path) -> CatalogRead:
    try:
        parsed = read_catalog_csv(path)
    except CatalogFormatError as error:
        raise InputError(f"{path}: {error}") from None
    except OSError as error:
        raise InputError(f"{path}: cannot be read ({error.strerror or error})") from None
    if parsed.rows_read == 0:
        raise InputError(f"{path}: the file has a header but no rows")
    if parsed.table.num_rows == 0:
        first = parsed.rejected[0]
        raise InputError(
            f"{path}: every row was rejected ({parsed.rows_read:,} rows; "
            f"row {first.record_no}: {first.reason})"
        )
    return parsed


def _store(lake: Lake, path: Path, digest: str, parsed: CatalogRead) -> KaggleReport:
    batch = {
        "_source": SOURCE,
        "_ingested_at": datetime.now(UTC),
        "_batch_id": f"kaggle-{uuid.uuid4().hex[:12]}",
    }
    table = parsed.table.append_column("_file_sha256", pa.repeat(digest, parsed.table.num_rows))
    table = _with_lineage(table, batch)
    if not table.schema.equals(KAGGLE_TRACKS.schema):  # the reader and schemas.py disagree
        raise SpotifyAnalyticsError(
            f"the catalog reader's columns {table.schema.names} differ from "
            f"{KAGGLE_TRACKS.location}'s declared schema {KAGGLE_TRACKS.schema.names}"
        )
    table = conform(table, KAGGLE_TRACKS.schema)
    lake.overwrite(KAGGLE_TRACKS.location, table)
    _store_rejects(lake, parsed, batch)
    report = KaggleReport(
        path=path,
        sha256=digest,
        matches_reference=digest == REFERENCE_SHA256,
        skipped=False,
        rows_read=parsed.rows_read,
        rows_loaded=table.num_rows,
        rows_rejected=len(parsed.rejected),
        **_catalog_counts(table),
    )
    _save_state(lake, report)
    return report


def _store_rejects(lake: Lake, parsed: CatalogRead, batch: dict) -> None:
    """Replace this table's rejects (a snapshot too) with the ones from this file."""
    if not parsed.rejected and _stored_rejects(lake) == 0:
        return  # nothing to add, nothing to replace: no empty commit
    rejects = pa.table(
        {
            "target_table": [KAGGLE_TRACKS.name] * len(parsed.rejected),
            "record_no": pa.array([row.record_no for row in parsed.rejected], pa.int64()),
            "raw": [row.raw for row in parsed.rejected],
            "reason": [row.reason for row in parsed.rejected],
        }
    )
    rejects = conform(_with_lineage(rejects, batch), REJECTS.schema)
    lake.overwrite(REJECTS.location, rejects, predicate=f"target_table = '{KAGGLE_TRACKS.name}'")


def _with_lineage(table: pa.Table, batch: dict) -> pa.Table:
    for name in ("_source", "_ingested_at", "_batch_id"):
        dtype = KAGGLE_TRACKS.schema.field(name).type
        table = table.append_column(name, pa.repeat(pa.scalar(batch[name], dtype), table.num_rows))
    return table


def _catalog_counts(table: pa.Table) -> dict[str, int]:
    return {
        "distinct_tracks": pc.count_distinct(table.column("track_id")).as_py(),
        "genres": pc.count_distinct(table.column("track_genre")).as_py(),
    }


def _already_loaded(lake: Lake, path: Path, digest: str) -> KaggleReport:
    table = lake.read(KAGGLE_TRACKS.name, columns=["track_id", "track_genre"])
    rejected = _stored_rejects(lake)
    return KaggleReport(
        path=path,
        sha256=digest,
        matches_reference=digest == REFERENCE_SHA256,
        skipped=True,
        rows_read=table.num_rows + rejected,
        rows_loaded=table.num_rows,
        rows_rejected=rejected,
        **_catalog_counts(table),
    )


def _stored_rejects(lake: Lake) -> int:
    if not lake.exists(REJECTS.name):
        return 0
    target = lake.read(REJECTS.name, columns=["target_table"]).column(0)
    return pc.sum(pc.equal(target, KAGGLE_TRACKS.name)).as_py() or 0


def _save_state(lake: Lake, report: KaggleReport) -> None:
    state = {
        **report.to_dict(),
        "loaded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "table_version": lake.version(KAGGLE_TRACKS.name),
    }
    state.pop("skipped")
    lake.write_state(STATE_FILE, state)


def _one_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
