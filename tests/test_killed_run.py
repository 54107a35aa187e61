"""A run killed half-way leaves every table at its last committed version, and the
next run finishes the job."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from deltalake import DeltaTable

from conftest import EXPORTS
from spotify_analytics.lake import Lake

EXTENDED = EXPORTS / "extended" / "Khushi-203006"


def _cli(lake: Path, *args: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "spotify_analytics.cli", *args, "--lake", str(lake)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _built_steps(lake: Path) -> int:
    try:
        return len(json.loads((lake / "_state" / "steps.json").read_text()))
    except (OSError, ValueError):
        return 0


def _contents(lake: Lake) -> dict[str, int]:
    return {name: lake.count(name) for name in lake.tables() if name != "quality_checks"}


def test_killed_run_leaves_committed_tables_and_the_next_run_completes(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    assert _cli(root, "import", str(EXTENDED), "--user", "k", "--tz", "Asia/Kolkata").wait(120) == 0

    run = _cli(root, "run")
    deadline = time.monotonic() + 120
    while _built_steps(root) < 3 and time.monotonic() < deadline and run.poll() is None:
        time.sleep(0.02)
    assert run.poll() is None, "the run ended before it could be killed"
    os.kill(run.pid, signal.SIGKILL)
    run.wait(30)

    lake = Lake(root)
    for name, location in lake.tables().items():  # every table reads at a committed version
        table = DeltaTable(str(lake.path(location)))
        assert table.to_pyarrow_dataset().count_rows() >= 0, name
    recorded = _built_steps(root)
    assert recorded >= 3

    resumed = _cli(root, "run")
    assert resumed.wait(300) == 0, resumed.stderr.read().decode()
    assert _built_steps(root) > recorded

    fresh_root = tmp_path / "fresh"
    assert (
        _cli(fresh_root, "import", str(EXTENDED), "--user", "k", "--tz", "Asia/Kolkata").wait(120)
        == 0
    )
    assert _cli(fresh_root, "run").wait(300) == 0
    assert _contents(lake) == _contents(Lake(fresh_root))
