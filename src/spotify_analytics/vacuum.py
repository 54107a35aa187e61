"""Reclaim the disk space of old table versions (``spotify-analytics vacuum``).

Every run rewrites files: a per-user rebuild replaces the files holding the
changed users, a full rebuild replaces every file. Delta keeps the replaced
files for time travel until a vacuum deletes them; without one a lake grows by
the size of its rewritten files on every run (a 10M-play lake reached 41 GB).

A vacuum deletes, in every table, the files no version younger than
``keep_hours`` still reads, except those of the versions the runner compares
against (the input versions each step last saw: an incremental run diffs them
to find the changed rows). delta-rs records a vacuum as two commits that change
no rows; the runner is told so, so the next run rebuilds nothing for them:
steps that had seen the version before the vacuum now count as having seen
the one after it, and the change journal records the two commits as changing
no users and no keys.

First it compacts the tables MERGE appends a file to on every write (Bronze,
``quality_checks``): once small files pile up, ``Lake.compact`` rewrites them in
user order in one commit that changes no rows, and the runner is told so in the
same way.

It also deletes the DuckDB spill folders (``_state/duckdb_tmp``) of processes
that are gone: DuckDB deletes its folder when a connection closes, but not when
its process is killed mid-query, and a large spill stays behind.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from .changes import ChangeJournal
from .errors import LakeError
from .lake import SPILL_FOLDER, Lake
from .quality import QUALITY_CHECKS
from .runner import load_state, save_state
from .schemas import BRONZE_TABLES

# the tables Lake.merge appends a file to on every write
MERGED_TABLES = frozenset({*BRONZE_TABLES, QUALITY_CHECKS.name})

DEFAULT_KEEP_HOURS = 168  # a week, Delta's default retention
RECORD_FILE = "vacuum.json"  # in _state: when the last vacuum ran (``schedule`` reads it)


@dataclass(frozen=True)
class Vacuumed:
    """What a vacuum deleted (or would delete, in a dry run) from one table, and
    how many of its small files it rewrote first (``compacted``)."""

    table: str
    files: int
    bytes: int
    compacted: int = 0


def vacuum_lake(
    lake: Lake, keep_hours: int = DEFAULT_KEEP_HOURS, *, dry_run: bool = False
) -> list[Vacuumed]:
    """Vacuum every table of the lake, holding its lock (no run can be writing);
    one entry per table with files to delete."""
    if keep_hours < 0:
        raise LakeError(f"vacuum: keep hours must be 0 or more, not {keep_hours}")
    with lake.lock("vacuum"):
        state = load_state(lake)
        journal = ChangeJournal(lake)
        compacted = {} if dry_run else _compact(lake, state, journal)
        found = []
        moved = False
        for name, location in lake.tables().items():
            table = lake.delta(location)  # an unreadable table names itself
            seen = sorted(
                {
                    int(step["inputs"][name])
                    for step in state.values()
                    if isinstance(step.get("inputs", {}).get(name), int)
                }
            )
            options = {
                "retention_hours": keep_hours,
                "enforce_retention_duration": False,
                "full": True,  # also files no commit references (from before staging markers)
                "keep_versions": seen or None,
            }
            doomed = table.vacuum(dry_run=True, **options)
            paths = [_absolute(lake.path(location), path) for path in doomed]
            existing = [path for path in paths if path.exists()]
            if not existing:
                if name in compacted:
                    found.append(Vacuumed(name, 0, 0, compacted[name]))
                continue
            size = sum(path.stat().st_size for path in existing)
            found.append(Vacuumed(name, len(existing), size, compacted.get(name, 0)))
            if dry_run:
                continue
            before = table.version()
            table.vacuum(dry_run=False, **options)
            _changed_no_rows(state, journal, name, location, before, lake.version(location))
            moved = True
        if moved:
            save_state(lake, state)
        spills = _abandoned_spills(lake.root / "_state" / SPILL_FOLDER, keep_hours)
        if spills:
            files, size = (sum(counts) for counts in zip(*spills.values(), strict=True))
            found.append(Vacuumed(f"_state/{SPILL_FOLDER}", files, size))
            if not dry_run:
                for folder in spills:
                    shutil.rmtree(folder, ignore_errors=True)
        if not dry_run:
            _record(lake, keep_hours, found)
    return found


def _compact(lake: Lake, state: dict, journal: ChangeJournal) -> dict[str, int]:
    """Compact the tables MERGE appends to (``Lake.compact``): table -> files
    rewritten. A rewrite changes no rows, so it is recorded like a vacuum's
    commits: as changing no users or keys, and steps that had seen the version
    before it count as having seen the one after it."""
    compacted = {}
    for name, location in lake.tables().items():
        if name not in MERGED_TABLES:
            continue
        before = lake.version(location)
        files = lake.compact(location)
        if not files:
            continue
        _changed_no_rows(state, journal, name, location, before, lake.version(location))
        compacted[name] = files
    if compacted:
        save_state(lake, state)
    return compacted


def _changed_no_rows(
    state: dict, journal: ChangeJournal, name: str, location: str, before: int, after: int
) -> None:
    """Tell the runner that versions ``before+1 .. after`` of a table changed no
    rows: the journal records them as changing no users or keys, and steps that
    had seen ``before`` count as having seen ``after``, and a step whose build
    left ``before`` as having left ``after`` (``state``, saved by the caller)."""
    for version in range(before + 1, after + 1):
        journal.record_unchanged(location, version)
    for step in state.values():
        inputs = step.get("inputs", {})
        if inputs.get(name) == before:
            inputs[name] = after
        outputs = step.get("outputs") or {}
        if outputs.get(location) == before:
            outputs[location] = after


def last_vacuum(lake: Lake) -> float | None:
    """When the last vacuum (not a dry run) finished, as a Unix time; None if never
    or the record is unreadable (the next scheduled vacuum then runs at once)."""
    try:
        return float(json.loads(lake.state_path(RECORD_FILE).read_text())["vacuumed_at"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _record(lake: Lake, keep_hours: int, found: list[Vacuumed]) -> None:
    record = {
        "vacuumed_at": time.time(),
        "keep_hours": keep_hours,
        "files": sum(entry.files for entry in found),
        "bytes": sum(entry.bytes for entry in found),
    }
    lake.write_state(RECORD_FILE, record)


def _abandoned_spills(root: Path, keep_hours: int) -> dict[Path, tuple[int, int]]:
    """Spill folders whose process is gone, with the files and bytes in them. A folder is
    named ``<pid>-<id>`` by :meth:`Lake.connect`; one named otherwise (by an
    earlier version) counts as abandoned once untouched for ``keep_hours``."""
    found = {}
    now = time.time()
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        if not folder.is_dir():
            continue
        files = [f for f in folder.rglob("*") if f.is_file()]
        pid, _, rest = folder.name.partition("-")
        if pid.isdigit() and rest:
            abandoned = not _alive(int(pid))
        else:
            touched = max([folder.stat().st_mtime, *(f.stat().st_mtime for f in files)])
            abandoned = now - touched >= keep_hours * 3600
        if abandoned:
            found[folder] = (len(files), sum(f.stat().st_size for f in files))
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _absolute(root: Path, path: str) -> Path:
    """A path delta-rs listed (relative to the table, or absolute)."""
    candidate = Path(path.removeprefix("file://"))
    return candidate if candidate.is_absolute() else root / candidate
