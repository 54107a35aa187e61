"""Where a run's CPU goes, step by step, on an existing lake (not a test).

    python benchmarks/bench_steps.py --lake DIR                  # every step, alone
    python benchmarks/bench_steps.py --lake DIR --select plays,listening_with_features
    python benchmarks/bench_steps.py --lake DIR --incremental    # one incremental run

Whole builds (the default): each step is rebuilt alone (`run --select NAME`),
in dependency order, so it has the machine to itself. For each: its wall time
and the CPU, user and system, of this process and of the worker processes it
started. The sum is about the CPU a `run --full` spends however its steps
are packed, so on C cores a full build takes at least about sum / C.

`--incremental`: one `run` with a single step worker, so the steps take turns
and each one's CPU is its own; what it rebuilds is whatever changed since the
last run (add plays first, for example with bench_run.py's generated lake and
`--reuse`, or `spotify-analytics import`).

The lake is changed like any run changes it: use a copy you can rebuild.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

from spotify_analytics.errors import LakeError
from spotify_analytics.lake import Lake
from spotify_analytics.pipeline import pipeline_steps
from spotify_analytics.runner import Runner, StepResult
from spotify_analytics.settings import Settings


def cpu() -> tuple[float, float]:
    """User and system CPU seconds of this process and its waited-for children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + children.ru_utime, own.ru_stime + children.ru_stime


def row(name: str, wall: float, user: float, system: float) -> dict:
    line = f"{name:36s} wall {wall:7.2f} s  user {user:7.2f}  system {system:6.2f}"
    print(f"{line}  cpu {user + system:7.2f}", flush=True)
    return {"step": name, "wall_s": wall, "user_s": user, "system_s": system}


def whole_builds(runner: Runner, names: list[str]) -> list[dict]:
    rows = []
    for name in names:
        user, system = cpu()
        started = time.perf_counter()
        runner.run(select=name)
        wall = time.perf_counter() - started
        user_after, system_after = cpu()
        rows.append(row(name, wall, user_after - user, system_after - system))
    return rows


def incremental(runner: Runner) -> list[dict]:
    """One run on one step worker: a step's CPU is what was spent since the
    previous step ended."""
    rows: list[dict] = []
    mark = [*cpu(), time.perf_counter()]

    def ended(result: StepResult) -> None:
        user, system = cpu()
        now = time.perf_counter()
        if result.status != "skipped":
            rows.append(row(result.name, now - mark[2], user - mark[0], system - mark[1]))
        mark[:] = [user, system, now]

    runner.run(workers=1, on_step=ended)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lake", type=Path, required=True)
    parser.add_argument("--select", help="comma-separated steps (default: all, in order)")
    parser.add_argument("--incremental", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    if args.incremental and args.select:
        parser.error("--select rebuilds steps whole; --incremental runs what changed: pick one")
    try:
        lake = Lake.open(args.lake)
    except LakeError as error:
        raise SystemExit(f"--lake: {error}") from None
    runner = Runner(lake, Settings(lake=lake.root), pipeline_steps(lake))
    order = runner.order()
    if args.incremental:
        rows = incremental(runner)
    else:
        names = args.select.split(",") if args.select else order
        unknown = sorted(set(names) - set(order))
        if unknown:
            raise SystemExit(f"--select: no step named {', '.join(unknown)}")
        rows = whole_builds(runner, [name for name in order if name in names])
    total = row(
        "all of them",
        sum(r["wall_s"] for r in rows),
        sum(r["user_s"] for r in rows),
        sum(r["system_s"] for r in rows),
    )
    if args.json:
        args.json.write_text(json.dumps({"steps": rows, "total": total}, indent=2) + "\n")
    return 0


if __name__ == "__main__":  # worker processes re-import this file: run only here
    sys.exit(main())
