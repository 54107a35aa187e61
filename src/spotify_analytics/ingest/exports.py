"""Spotify privacy exports (zip, folder or one JSON file) into Bronze.

Both formats are recognised by content, whatever the file names:

- *account data* (``StreamingHistory*.json``): ``endTime`` ("YYYY-MM-DD HH:MM",
  UTC, to the minute), ``artistName``/``trackName`` or ``podcastName``/
  ``episodeName``, ``msPlayed``;
- *extended history* (``endsong_*.json``, ``Streaming_History_Audio_*.json``,
  ``..._Video_*.json``): ``ts``, ``ms_played``, ``master_metadata_*``, URIs,
  reasons, flags, ``offline_timestamp`` (seconds, or milliseconds in old files).

Personal fields (``ip_addr``, ``ip_addr_decrypted``, ``username``,
``user_agent_decrypted``) are dropped the moment a record is parsed.

Each record gets a ``record_id`` hashed from its identifying fields, so importing
the same or an overlapping export again, or the same plays split into other
files, adds nothing. A whole import is one commit per table, under the lake lock.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import uuid
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ..errors import InputError
from ..lake import Lake
from ..schemas import REJECTS, STREAMING_HISTORY
from ..settings import Settings
from ..users import ensure_user, resolve_timezone, validate_timezone, validate_user_id

Progress = Callable[[str, int, int], None]

PERSONAL_FIELDS = frozenset({"ip_addr", "ip_addr_decrypted", "username", "user_agent_decrypted"})
HISTORY_NAME = re.compile(r"^(streaminghistory|endsong|streaming_history)", re.IGNORECASE)
MAX_FILE_BYTES = 1 << 30
_MS_THRESHOLD = 100_000_000_000  # offline_timestamp above this is in milliseconds


# -- report ----------------------------------------------------------------------


@dataclass
class ImportReport:
    """What one import read, skipped, rejected and wrote.

    Every record read is accounted for:
    ``records_read == inserted + already_present + rejected_records``, where
    ``already_present`` counts records already stored before this import and
    exact duplicates collapsed within it (``duplicates``, a subset).
    ``music_records`` counts the valid records read that are tracks.
    """

    user: str
    timezone: str
    files_read: int = 0
    files_skipped: list[tuple[str, str]] = field(default_factory=list)
    files_rejected: list[tuple[str, str]] = field(default_factory=list)
    records_read: int = 0
    music_records: int = 0
    inserted: int = 0
    already_present: int = 0
    duplicates: int = 0
    rejected_records: int = 0

    @property
    def ok(self) -> bool:
        return not self.files_rejected

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "user": self.user,
            "timezone": self.timezone,
            "files_read": self.files_read,
            "files_skipped": [{"file": n, "reason": r} for n, r in self.files_skipped],
            "files_rejected": [{"file": n, "message": m} for n, m in self.files_rejected],
            "records_read": self.records_read,
            "music_records": self.music_records,
            "inserted": self.inserted,
            "already_present": self.already_present,
            "duplicates": self.duplicates,
            "rejected_records": self.rejected_records,
        }


# -- reading the export ----------------------------------------------------------


@dataclass(frozen=True)
class ExportFile:
    """One file inside an export: its path relative to the export, and a reader."""

    name: str
    read: Callable[[], bytes]


def export_files(path: Path) -> tuple[list[ExportFile], bool]:
    """The files of an export and whether ``path`` was a single file.

    Raises :class:`InputError` for a missing path, an empty or corrupt zip and
    an empty folder.
    """
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    if path.is_dir():
        files = list(_folder_files(path))
        if not files:
            raise InputError(f"{path}: the folder has no files")
        return files, False
    if not path.is_file():
        raise InputError(f"{path}: not a regular file, folder or zip")
    if path.suffix.lower() == ".zip" or zipfile.is_zipfile(path):
        return _zip_files(path), False
    return [ExportFile(path.name, lambda: _read_path(path))], True


def _folder_files(root: Path) -> Iterator[ExportFile]:
    for folder, dirs, names in os.walk(root):
        dirs.sort()
        for name in sorted(names):
            full = Path(folder) / name
            relative = full.relative_to(root).as_posix()
            yield ExportFile(relative, lambda full=full: _read_path(full))


def _read_path(path: Path) -> bytes:
    status = path.stat()
    if not stat.S_ISREG(status.st_mode):  # a pipe or device would block or never end
        raise OSError("not a regular file")
    if status.st_size > MAX_FILE_BYTES:
        raise OSError(f"larger than {MAX_FILE_BYTES >> 20} MiB")
    return path.read_bytes()


def _zip_files(path: Path) -> list[ExportFile]:
    try:
        with zipfile.ZipFile(path) as archive:
            infos = [info for info in archive.infolist() if not info.is_dir()]
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise InputError(f"{path}: not a readable zip file ({error})") from None
    if not infos:
        raise InputError(f"{path}: the zip file is empty")
    return [ExportFile(info.filename, _zip_reader(path, info)) for info in infos]


def _zip_reader(path: Path, info: zipfile.ZipInfo) -> Callable[[], bytes]:
    def read() -> bytes:
        if info.file_size > MAX_FILE_BYTES:
            raise OSError(f"larger than {MAX_FILE_BYTES >> 20} MiB")
        try:
            with zipfile.ZipFile(path) as archive:
                return archive.read(info)
        except (zipfile.BadZipFile, zlib.error, EOFError, RuntimeError, NotImplementedError) as e:
            raise OSError(f"damaged zip entry ({e})") from None

    return read


# -- classifying one file --------------------------------------------------------


@dataclass
class FileOutcome:
    """A file that was read (rows, rejects), skipped (reason) or rejected (message)."""

    name: str
    status: str  # read | skipped | rejected
    message: str = ""
    rows: list[dict[str, Any]] = field(default_factory=list)
    rejects: list[dict[str, Any]] = field(default_factory=list)


def parse_file(file: ExportFile, *, any_name: bool = False) -> FileOutcome:
    """Read, decode and parse one export file; never raises for bad content.

    Inside a zip or folder only ``*.json`` files are read; ``any_name`` reads a
    file given on its own whatever its name.
    """
    base = PurePosixPath(file.name).name
    if not any_name and (base.startswith(".") or file.name.startswith("__MACOSX/")):
        return FileOutcome(file.name, "skipped", "hidden or system file")
    if not any_name and base.lower().endswith(".zip"):
        return FileOutcome(file.name, "skipped", "a zip inside the export: import it on its own")
    if not any_name and not base.lower().endswith(".json"):
        return FileOutcome(file.name, "skipped", "not a JSON file")
    try:
        content = file.read()
    except OSError as error:
        return FileOutcome(file.name, "rejected", f"cannot read the file ({_os_reason(error)})")
    try:
        data = json.loads(content.decode("utf-8-sig"))
    except UnicodeDecodeError:
        return FileOutcome(file.name, "rejected", "not UTF-8 text")
    except json.JSONDecodeError as error:
        return FileOutcome(file.name, "rejected", _json_problem(error))
    return _classify(file.name, data, _source(base, content))


def _classify(name: str, data: Any, source: str) -> FileOutcome:
    is_history_name = bool(HISTORY_NAME.match(PurePosixPath(name).name))
    if isinstance(data, list) and (any(map(_is_play, data)) or (not data and is_history_name)):
        outcome = FileOutcome(name, "read")
        for number, record in enumerate(data):
            _parse_into(outcome, record, number, source)
        return outcome
    if is_history_name:
        return FileOutcome(name, "rejected", f"not listening history: {_shape(data)}")
    return FileOutcome(name, "skipped", "not listening history")


def _is_play(record: Any) -> bool:
    return isinstance(record, dict) and (
        {"ts", "ms_played"} <= record.keys() or {"endTime", "msPlayed"} <= record.keys()
    )


def _shape(data: Any) -> str:
    if isinstance(data, list):
        kinds = sorted({type(item).__name__ for item in data[:100]})
        return f"a list of {'/'.join(kinds)} without ts+ms_played or endTime+msPlayed"
    return f"expected a list of plays, found a JSON {type(data).__name__}"


def _json_problem(error: json.JSONDecodeError) -> str:
    # the parser met the end of the text in the middle of a value: the file was cut short
    truncated = error.msg.startswith("Unterminated") or error.pos >= len(error.doc.rstrip())
    kind = "truncated JSON" if truncated else "invalid JSON"
    problem = error.msg.removesuffix(" starting at").lower()
    return f"{kind} at line {error.lineno}, column {error.colno}: {problem}"


def _os_reason(error: OSError) -> str:
    return error.strerror or str(error)


def _source(base: str, content: bytes) -> str:
    return f"export:{base}@{hashlib.sha256(content).hexdigest()[:12]}"


# -- records -------------------------------------------------------------------


class RecordError(ValueError):
    """A record inside a valid history file that cannot become a Bronze row."""


def _parse_into(outcome: FileOutcome, record: Any, number: int, source: str) -> None:
    if isinstance(record, dict):
        record = {k: v for k, v in record.items() if k not in PERSONAL_FIELDS}
    try:
        row = _parse_clean(record)
    except RecordError as error:
        raw = json.dumps(record, ensure_ascii=False, sort_keys=True, default=str)
        reject = {"record_no": number, "raw": raw, "reason": str(error), "_source": source}
        outcome.rejects.append(reject)
        return
    row["_source"] = source
    outcome.rows.append(row)


def parse_record(record: Any) -> dict[str, Any]:
    """One play as a Bronze row (without lineage); raises :class:`RecordError`."""
    if isinstance(record, dict):
        record = {k: v for k, v in record.items() if k not in PERSONAL_FIELDS}
    return _parse_clean(record)


def _parse_clean(record: Any) -> dict[str, Any]:
    if not isinstance(record, dict):
        raise RecordError(f"not a JSON object but a {type(record).__name__}")
    if "ts" in record:
        row = _extended(record)
    elif "endTime" in record:
        row = _account_data(record)
    else:
        raise RecordError("no timestamp (neither ts nor endTime)")
    row["record_id"] = record_id(row)
    return row


def _extended(record: dict[str, Any]) -> dict[str, Any]:
    row = {
        "record_format": "extended",
        "ts": _timestamp(record.get("ts"), "ts"),
        "ts_precision_s": 1,
        "ms_played": _ms_played(record.get("ms_played"), "ms_played"),
        "track_name": _text(record.get("master_metadata_track_name")),
        "artist_name": _text(record.get("master_metadata_album_artist_name")),
        "album_name": _text(record.get("master_metadata_album_album_name")),
        "offline_timestamp": _offline_timestamp(record.get("offline_timestamp")),
    }
    for name in _EXTENDED_TEXT:
        row[name] = _text(record.get(name))
    for name in _EXTENDED_FLAGS:
        row[name] = _flag(record.get(name))
    return _with_content_type(row)


_EXTENDED_TEXT = (
    "spotify_track_uri",
    "episode_name",
    "episode_show_name",
    "spotify_episode_uri",
    "audiobook_title",
    "audiobook_uri",
    "audiobook_chapter_uri",
    "audiobook_chapter_title",
    "reason_start",
    "reason_end",
    "platform",
    "conn_country",
)
_EXTENDED_FLAGS = ("shuffle", "skipped", "offline", "incognito_mode")


def _account_data(record: dict[str, Any]) -> dict[str, Any]:
    row = {
        "record_format": "account_data",
        "ts": _timestamp(record.get("endTime"), "endTime"),
        "ts_precision_s": 60,
        "ms_played": _ms_played(record.get("msPlayed"), "msPlayed"),
        "track_name": _text(record.get("trackName")),
        "artist_name": _text(record.get("artistName")),
        "episode_name": _text(record.get("episodeName")),
        "episode_show_name": _text(record.get("podcastName")),
    }
    return _with_content_type(row)


def _with_content_type(row: dict[str, Any]) -> dict[str, Any]:
    if row.get("spotify_track_uri") or (row.get("track_name") and not _episode(row)):
        kind = "track"
    elif _episode(row):
        kind = "episode"
    elif row.get("audiobook_uri") or row.get("audiobook_chapter_uri") or row.get("audiobook_title"):
        kind = "audiobook"
    else:
        kind = "unknown"
    row["content_type"] = kind
    row["is_music"] = kind == "track"
    return row


def _episode(row: dict[str, Any]) -> bool:
    return bool(row.get("spotify_episode_uri") or row.get("episode_name"))


def record_id(row: dict[str, Any]) -> str:
    """A stable hash of a play's identifying fields: format, end time, item, ms played."""
    item = (
        row.get("spotify_track_uri")
        or row.get("spotify_episode_uri")
        or row.get("audiobook_chapter_uri")
        or row.get("audiobook_uri")
        or [
            row.get("content_type"),
            row.get("artist_name") or row.get("episode_show_name") or row.get("audiobook_title"),
            row.get("track_name") or row.get("episode_name") or row.get("audiobook_chapter_title"),
        ]
    )
    key = [row["record_format"], row["ts"].isoformat(), item, row["ms_played"]]
    return hashlib.sha256(_KEY_ENCODER.encode(key).encode("utf-8")).hexdigest()[:32]


_KEY_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _timestamp(value: Any, name: str) -> datetime:
    if not isinstance(value, str) or not value.strip():
        raise RecordError(f"{name} missing or not text")
    try:
        stamp = datetime.fromisoformat(value.strip())
    except ValueError:
        raise RecordError(f"{name} {value[:40]!r} is not a date and time") from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.astimezone(UTC)


def _ms_played(value: Any, name: str) -> int:
    if type(value) is int and 0 <= value <= 2**62:
        return value
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise RecordError(f"{name} missing or not a number")
    try:
        number = float(value)
    except (ValueError, OverflowError):
        raise RecordError(f"{name} {str(value)[:40]!r} is not a number") from None
    if not number.is_integer() or number < 0 or number > 2**62:
        raise RecordError(f"{name} {str(value)[:40]!r} is not a whole, non-negative number")
    return int(number)


def _offline_timestamp(value: Any) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    seconds = value / 1000 if value >= _MS_THRESHOLD else value
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _text(value: Any) -> str | None:
    if type(value) is str:
        return value
    if value is None or isinstance(value, dict | list):
        return None
    return str(value)


def _flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if value in (0, 1):
        return bool(value)
    return None


# -- collecting and writing ----------------------------------------------------


ROW_SCHEMA = pa.schema(
    [f for f in STREAMING_HISTORY.schema if f.name not in ("user_id", "_ingested_at", "_batch_id")]
)


@dataclass
class Collected:
    """The rows (as Arrow, one table per file) and rejects of a whole export."""

    tables: list[pa.Table] = field(default_factory=list)
    rejects: list[dict[str, Any]] = field(default_factory=list)
    records_read: int = 0
    music_records: int = 0

    def add(self, outcome: FileOutcome) -> None:
        self.records_read += len(outcome.rows) + len(outcome.rejects)
        self.rejects.extend(outcome.rejects)
        if outcome.rows:
            self.music_records += sum(bool(row["is_music"]) for row in outcome.rows)
            self.tables.append(pa.Table.from_pylist(outcome.rows, schema=ROW_SCHEMA))

    def table(self) -> pa.Table:
        """One row per ``record_id``, sorted by ``ts`` then ``record_id``.

        When records share an id the same one wins whatever the file order.
        """
        data = pa.concat_tables(self.tables) if self.tables else ROW_SCHEMA.empty_table()
        counts = data.group_by("record_id", use_threads=False).aggregate([("record_id", "count")])
        repeated = counts.filter(pc.greater(counts["record_id_count"], 1))["record_id"]
        if len(repeated):
            shared = pc.is_in(data["record_id"], value_set=repeated)
            winners = _winners(data.filter(shared).to_pylist())
            data = pa.concat_tables([data.filter(pc.invert(shared)), winners])
        return data.sort_by([("ts", "ascending"), ("record_id", "ascending")])


def _winners(rows: list[dict[str, Any]]) -> pa.Table:
    best: dict[str, dict[str, Any]] = {}
    for row in rows:
        kept = best.get(row["record_id"])
        if kept is None or _canonical(row) < _canonical(kept):
            best[row["record_id"]] = row
    return pa.Table.from_pylist(list(best.values()), schema=ROW_SCHEMA)


def _canonical(row: dict[str, Any]) -> str:
    values = {k: v for k, v in row.items() if not k.startswith("_")}
    return json.dumps(values, sort_keys=True, default=str)


def collect(
    files: list[ExportFile], progress: Progress | None = None, *, any_name: bool = False
) -> tuple[Collected, list[FileOutcome]]:
    """Parse every file; returns the collected records and each file's outcome."""
    collected, outcomes = Collected(), []
    for number, file in enumerate(files, start=1):
        outcome = parse_file(file, any_name=any_name)
        if outcome.status == "read":
            collected.add(outcome)
        outcomes.append(FileOutcome(outcome.name, outcome.status, outcome.message))
        if progress is not None:
            progress(file.name, number, len(files))
    return collected, outcomes


def import_export(
    lake: Lake,
    path: Path,
    *,
    user: str,
    timezone: str | None,
    settings: Settings,
    progress: Progress | None = None,
) -> ImportReport:
    """Import a privacy export (zip, folder or JSON file) for ``user``.

    Files that are not listening history are skipped; broken history files are
    rejected whole (listed in the report, ``ok`` is false) while the others
    land. Raises :class:`InputError`, writing nothing, when the path is
    unusable or holds no listening history at all.
    """
    path = Path(path).expanduser()
    user = validate_user_id(user)
    if timezone is not None:
        timezone = validate_timezone(timezone)
    files, single = export_files(path)
    collected, outcomes = collect(files, progress, any_name=single)
    _refuse_useless(path, outcomes, single)
    report = ImportReport(user=user, timezone="")
    _fill_files(report, outcomes)
    if not report.files_read:  # every history file was rejected: nothing to write
        report.timezone = resolve_timezone(lake, user, timezone, settings)
        return report
    if progress is not None:
        progress("writing to Bronze", len(files), len(files))
    with lake.lock("import"):
        report.timezone = ensure_user(lake, user, timezone, settings)
        _write(lake, collected, report)
    return report


def _refuse_useless(path: Path, outcomes: list[FileOutcome], single: bool) -> None:
    if single and outcomes[0].status != "read":
        raise InputError(f"{path}: {outcomes[0].message}")
    if any(o.status != "skipped" for o in outcomes):
        return
    skipped = ", ".join(o.name for o in outcomes[:5]) + (", ..." if len(outcomes) > 5 else "")
    raise InputError(f"{path}: no listening history found (skipped {skipped})")


def _fill_files(report: ImportReport, outcomes: list[FileOutcome]) -> None:
    for outcome in outcomes:
        if outcome.status == "read":
            report.files_read += 1
        elif outcome.status == "skipped":
            report.files_skipped.append((outcome.name, outcome.message))
        else:
            report.files_rejected.append((outcome.name, outcome.message))


def _write(lake: Lake, collected: Collected, report: ImportReport) -> None:
    batch, now = uuid.uuid4().hex, datetime.now(UTC)
    rows = collected.table()
    inserted = 0
    if rows.num_rows:
        table = _with_lineage(rows, report.user, now, batch)
        inserted = lake.merge(STREAMING_HISTORY, table).inserted
    if collected.rejects:
        target = {"target_table": STREAMING_HISTORY.name}
        data = [{**r, **target} for r in collected.rejects]
        table = pa.Table.from_pylist(
            data, schema=pa.schema([REJECTS.schema.field(n) for n in _REJECT_FIELDS])
        )
        lake.merge(REJECTS, _with_lineage(table, report.user, now, batch))
    report.records_read = collected.records_read
    report.music_records = collected.music_records
    report.rejected_records = len(collected.rejects)
    report.duplicates = collected.records_read - report.rejected_records - rows.num_rows
    report.inserted = inserted
    report.already_present = collected.records_read - report.rejected_records - inserted


_REJECT_FIELDS = ("target_table", "record_no", "raw", "reason", "_source")


def _with_lineage(table: pa.Table, user: str, now: datetime, batch: str) -> pa.Table:
    n = table.num_rows
    table = table.append_column("user_id", pa.array([user] * n, pa.string()))
    table = table.append_column("_ingested_at", pa.array([now] * n, pa.timestamp("us", tz="UTC")))
    return table.append_column("_batch_id", pa.array([batch] * n, pa.string()))
