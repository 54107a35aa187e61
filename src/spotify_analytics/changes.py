"""Which users a table's new versions touched, for per-user incremental runs.

An incremental run rebuilds a per-user step only for the users whose input
rows changed since the step last ran. Two sources say who they are:

* tables the runner writes: a journal in ``_state/changes.jsonl`` records, for
  each version it commits, the users that version rewrote (or "everyone"), or
  for a lookup table (one row per key, such as ``track_features`` per
  ``track_key``) the keys whose rows changed. Each record is a line appended
  to the file (a run records a version of some 35 tables, and rewriting the
  whole journal each time cost 4-7 ms of JSON per table at 10M plays); the file
  is rewritten whole when it holds twice the lines it keeps;
* every other table (Bronze): the Delta log. The files a version added or
  removed hold every row it changed, so the users in those files are a
  superset of the users it changed.

``None`` always means "unknown, assume everyone": a version the journal does
not cover, a table without ``user_id``, a removed file that was vacuumed.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq

from .lake import Lake

JOURNAL_FILE = "changes.jsonl"
OLD_JOURNAL_FILE = "changes.json"  # one document, as earlier versions wrote it
KEEP_VERSIONS = 200  # journal entries kept per table; older gaps mean "everyone"

Journal = dict[str, dict[str, list[str] | dict[str, list[str]] | None]]

Users = frozenset[str] | None


class ChangeJournal:
    """The runner's record of which users each version of its outputs changed."""

    def __init__(self, lake: Lake):
        self.lake = lake
        self._guard = threading.Lock()
        # the journal as last read or written, the file's (mtime, size) then and
        # its lines: a run reads it for every step and adds to it for every table
        self._cached: tuple[tuple[int, int], Journal, int] | None = None

    def record(
        self,
        location: str,
        version: int | None,
        users: Users,
        keys: frozenset[str] | None = None,
    ) -> None:
        """Record what a version changed: some users' rows, some keys' rows of a
        lookup table (``keys``), or everything (both None)."""
        if version is None:
            return
        entry: list[str] | dict[str, list[str]] | None = None
        if users is not None:
            entry = sorted(users)
        elif keys is not None:
            entry = {"keys": sorted(keys)}
        with self._guard:
            journal = self._load()
            lines = self._cached[2] if self._cached is not None else 0
            _add(journal, location, str(version), entry)
            path = self.lake.state_path(JOURNAL_FILE)
            kept = sum(len(entries) for entries in journal.values())
            try:
                if lines and lines < 2 * kept:
                    with path.open("a") as handle:  # one write: a line is whole or torn last
                        handle.write(_line(location, str(version), entry))
                    lines += 1
                else:  # none yet, an earlier version's document, or twice what is kept
                    lines = self._rewrite(path, journal)
            except BaseException:
                self._cached = None  # changed in memory only: read the file again
                raise
            self._cached = (_stamp(path), journal, lines)

    def _rewrite(self, path: Path, journal: Journal) -> int:
        """Write the journal as it is kept, one line per entry; its lines."""
        lines = [
            _line(location, version, entry)
            for location, entries in sorted(journal.items())
            for version, entry in sorted(entries.items(), key=lambda item: int(item[0]))
        ]
        tmp = path.with_suffix(".tmp")
        tmp.write_text("".join(lines))
        tmp.replace(path)
        self.lake.state_path(OLD_JOURNAL_FILE).unlink(missing_ok=True)
        return len(lines)

    def record_unchanged(self, location: str, version: int) -> None:
        """Record a version that changed no rows (a vacuum's commits)."""
        self.record(location, version, frozenset())

    def users_between(self, location: str, old: int, new: int) -> Users:
        """Users changed by versions ``old+1 .. new`` of a runner-written table."""
        with self._guard:
            entries = self._load().get(location, {})
        changed: set[str] = set()
        for version in range(old + 1, new + 1):
            users = entries.get(str(version), ...)
            if not isinstance(users, list):
                return None
            changed.update(users)
        return frozenset(changed)

    def keys_between(self, location: str, old: int, new: int) -> frozenset[str] | None:
        """Keys whose rows versions ``old+1 .. new`` of a lookup table changed."""
        with self._guard:
            entries = self._load().get(location, {})
        changed: set[str] = set()
        for version in range(old + 1, new + 1):
            entry = entries.get(str(version))
            if entry == []:  # a version that changed no rows
                continue
            if not isinstance(entry, dict):
                return None
            changed.update(entry["keys"])
        return frozenset(changed)

    def _load(self) -> Journal:
        """The journal (call holding the guard); read again only when the file
        changed since this object last read or wrote it. A line a killed
        process left torn is skipped: that version counts as unknown."""
        path = self.lake.state_path(JOURNAL_FILE)
        if not path.exists():
            old = self.lake.state_path(OLD_JOURNAL_FILE)
            if not old.exists():
                return {}
            stamp = _stamp(old)
            if self._cached is None or self._cached[0] != stamp:
                self._cached = (stamp, json.loads(old.read_text()), 0)
            return self._cached[1]
        stamp = _stamp(path)
        if self._cached is None or self._cached[0] != stamp:
            journal: Journal = {}
            text = path.read_text()
            lines = text.splitlines()
            for line in lines:
                try:
                    record = json.loads(line)
                    entries = journal.setdefault(record["table"], {})
                    entries[str(record["version"])] = record["entry"]
                except (ValueError, KeyError, TypeError, AttributeError):
                    continue
            for entries in journal.values():
                _trim(entries)
            # 0 lines: the next record rewrites the file, so no line follows a torn one
            whole = not text or text.endswith("\n")
            self._cached = (stamp, journal, len(lines) if whole else 0)
        return self._cached[1]


def _add(journal: Journal, location: str, version: str, entry) -> None:
    entries = journal.setdefault(location, {})
    entries[version] = entry
    _trim(entries)


def _trim(entries: dict) -> None:
    for old in sorted(entries, key=int)[:-KEEP_VERSIONS]:
        del entries[old]


def _line(location: str, version: str, entry) -> str:
    record = {"table": location, "version": int(version), "entry": entry}
    return json.dumps(record, separators=(",", ":")) + "\n"


def _stamp(path: Path) -> tuple[int, int]:
    status = path.stat()
    return status.st_mtime_ns, status.st_size


def users_in_new_files(lake: Lake, name: str, old: int, new: int) -> Users:
    """Users in the files that versions ``old+1 .. new`` of a table added or removed."""
    try:
        before = lake.snapshot(name, version=old).files
        after = lake.snapshot(name, version=new).files  # the kept table when new is the newest
    except Exception:  # an expired or missing version: nothing to diff against
        return None
    return _users_in({path for path, _, _ in before} ^ {path for path, _, _ in after})


def _users_in(files: Iterable[str]) -> Users:
    users: set[str] = set()
    for path in files:
        try:
            schema = pq.read_schema(path)
            if "user_id" not in schema.names:
                return None
            column = pq.read_table(path, columns=["user_id"]).column("user_id")
        except OSError:  # vacuumed since
            return None
        if column.null_count:
            return None
        users.update(pc.unique(column).to_pylist())
    return frozenset(users)
