"""Benchmark the ML steps (predictive and cognitive Gold): time and peak memory.

Two workloads, each measured in a fresh child process (wall time per step, and
the child's peak RSS from ``os.wait4``: the ML steps alone, not the set-up):

- ``demo``: the demo lake (3 users, ~3k plays each, 114k-row catalog), built
  first with ``build_demo`` in its own process. Budget: all ML steps < 4 s.
- ``scale``: ``--plays`` plays (default 10,000,000) across ``--users`` users
  (default 1,000) of planted synthetic listening written directly as Silver
  ``listening_with_features`` (vectorised), plus a ~114k-row synthetic catalog.

    python benchmarks/bench_ml.py demo
    python benchmarks/bench_ml.py scale [--users 1000] [--plays 10000000]

Writes a table to stdout and JSON to benchmarks/out/bench_ml_<workload>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"
DEMO_BUDGET_S = 4.0
SESSION_LENGTH = 9.0  # mean plays per generated session (1 + geometric(1/8))


def child(code: str, *args: str) -> tuple[dict, float]:
    """Run ``code`` in a fresh interpreter; its JSON stdout and its peak RSS in MB."""
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE)
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"child failed: {code[:60]}...")
    lines = output.decode().strip().splitlines()  # the child's JSON is its last line
    return json.loads(lines[-1] if lines else "{}"), usage.ru_maxrss / 1024


BUILD_DEMO = """
import sys
from pathlib import Path
from spotify_analytics.demo import build_demo
from spotify_analytics.settings import Settings
build_demo(Path(sys.argv[1]), Settings(lake=Path(sys.argv[1])))
print("{}")
"""

BUILD_SCALE = """
import json, sys
from spotify_analytics.lake import Lake
from spotify_analytics.ml.synthetic import planted_listening, synthetic_catalog
users, plays = int(sys.argv[2]), int(sys.argv[3])
days = 365
per_day = plays / (users * days * SESSION_LENGTH)
lake = Lake.open(sys.argv[1], create=True)
table = planted_listening(users=users, days=days, sessions_per_day=per_day, seed=1)
lake.overwrite("silver/listening_with_features", table)
lake.overwrite("silver/catalog_tracks", synthetic_catalog(95_000))
print(json.dumps({"plays": table.num_rows}))
""".replace("SESSION_LENGTH", str(SESSION_LENGTH))

RUN_ML = """
import json, sys, time
from spotify_analytics.lake import Lake
from spotify_analytics.ml.steps import ml_steps
from spotify_analytics.runner import StepContext
from spotify_analytics.settings import Settings
lake = Lake(sys.argv[1])
ctx = StepContext(lake, Settings(lake=lake.root))
steps = {}
for step in ml_steps():
    started, cpu = time.perf_counter(), time.process_time()
    outputs = step.function(ctx)
    for location, table in outputs.items():
        lake.overwrite(location, table)
    steps[step.name] = {"seconds": time.perf_counter() - started,
                        "cpu_seconds": time.process_time() - cpu,
                        "rows": sum(t.num_rows for t in outputs.values())}
print(json.dumps({"steps": steps}))
"""


def run(workload: str, users: int, plays: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        lake = str(Path(tmp) / "lake")
        started = time.perf_counter()
        if workload == "demo":
            built, _ = child(BUILD_DEMO, lake)
        else:
            built, _ = child(BUILD_SCALE, lake, str(users), str(plays))
        setup_s = time.perf_counter() - started
        load = os.getloadavg()[0]
        started = time.perf_counter()
        result, peak_mb = child(RUN_ML, lake)
        wall = time.perf_counter() - started
    return {
        "workload": workload,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "setup_s": round(setup_s, 1),
        **built,
        "ml_wall_s": round(wall, 2),
        "ml_steps_s": round(sum(s["seconds"] for s in result["steps"].values()), 2),
        "peak_rss_mb": round(peak_mb),
        "load_avg_1m": round(load, 2),
        "cpus": os.cpu_count(),
        "ml_cpu_s": round(sum(s["cpu_seconds"] for s in result["steps"].values()), 2),
        "steps": {
            k: {
                "seconds": round(v["seconds"], 2),
                "cpu_seconds": round(v["cpu_seconds"], 2),
                "rows": v["rows"],
            }
            for k, v in result["steps"].items()
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("workload", choices=["demo", "scale"])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--plays", type=int, default=10_000_000)
    args = parser.parse_args()
    report = run(args.workload, args.users, args.plays)
    for name, step in report["steps"].items():
        print(
            f"  {name:<28} {step['seconds']:8.2f} s wall {step['cpu_seconds']:8.2f} s CPU"
            f"  {step['rows']:>10,} rows"
        )
    print(
        f"ML steps {report['ml_steps_s']:.2f} s wall, {report['ml_cpu_s']:.2f} s CPU"
        f" (process wall {report['ml_wall_s']:.2f} s,"
        f" imports included), peak RSS {report['peak_rss_mb']:,} MB,"
        f" load average {report['load_avg_1m']} on {report['cpus']} CPUs"
    )
    if args.workload == "demo":
        for label, key in (("wall", "ml_steps_s"), ("CPU", "ml_cpu_s")):
            verdict = "within" if report[key] < DEMO_BUDGET_S else "OVER"
            print(f"{label}: {verdict} the {DEMO_BUDGET_S:.0f} s budget for the demo lake")
    OUT.mkdir(exist_ok=True)
    (OUT / f"bench_ml_{args.workload}.json").write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
