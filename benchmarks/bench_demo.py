"""Benchmark `spotify-analytics demo` end to end, as a user runs it.

Each run starts the real command in a fresh process on a new temporary lake
(`demo --lake <tmp> --json`), then runs it once more on the same lake (the
idempotent re-run). Per run it records wall time, the child's own CPU time and
peak RSS (``os.wait4``: this child only), the time spent inside ``build_demo``
(the rest is interpreter start-up and imports) and the machine's load average,
because a busy machine stretches wall time, and the machine's speed before
and after the runs (machine_speed.py): a slow day of the same machine
stretches CPU time too.

Target (SPEC section 9): a demo lake in under 10 s wall on 2 cores.

    python benchmarks/bench_demo.py [--runs 3] [--check]

Writes a table to stdout and JSON to benchmarks/out/bench_demo.json (and a
timestamped copy).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from machine_speed import describe as describe_speed
from machine_speed import measure as machine_speed

TARGET_S = 10.0
OUT = Path(__file__).resolve().parent / "out"


def command() -> list[str]:
    script = Path(sys.executable).parent / "spotify-analytics"
    if script.exists():
        return [str(script)]
    found = shutil.which("spotify-analytics")
    if found:
        return [found]
    return [sys.executable, "-c", "from spotify_analytics.cli import main; main()"]


def measure(args: list[str], cwd: Path) -> dict:
    """Run one command; wall time, CPU time and peak RSS of that child alone."""
    load = os.getloadavg()[0]
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        started = time.perf_counter()
        proc = subprocess.Popen(args, cwd=cwd, stdout=stdout, stderr=stderr)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        stdout.seek(0)
        stderr.seek(0)
        output, errors = stdout.read(), stderr.read()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({proc.returncode}):\n{errors.decode()[-2000:]}")
    summary = json.loads(output)
    return {
        "wall_s": round(wall, 3),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "build_demo_s": summary["seconds"],
        "startup_s": round(wall - summary["seconds"], 3),
        "steps_built": summary["steps_built"],
        "records_inserted": summary["records_inserted"],
        "plays": sum(user["plays"] for user in summary["users"]),
        "load_avg_1m_before": round(load, 2),
    }


def run_once(base: list[str], workdir: Path, number: int) -> dict:
    lake = workdir / f"lake-{number}"
    args = [*base, "demo", "--lake", str(lake), "--json"]
    first = measure(args, workdir)
    again = measure(args, workdir)
    return {"run": number, "fresh": first, "rerun": again}


def median(runs: list[dict], phase: str, key: str) -> float:
    return round(statistics.median(run[phase][key] for run in runs), 3)


def report(runs: list[dict], speed: dict[str, dict[str, float]]) -> dict:
    keys = ("wall_s", "cpu_s", "peak_rss_mb", "build_demo_s", "startup_s", "load_avg_1m_before")
    result = {
        "benchmark": "demo end to end (fresh lake, then re-run on the same lake)",
        "target_wall_s": TARGET_S,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "speed": speed,
        },
        "runs": runs,
        "median": {
            phase: {key: median(runs, phase, key) for key in keys} for phase in ("fresh", "rerun")
        },
    }
    result["meets_target"] = result["median"]["fresh"]["wall_s"] < TARGET_S
    return result


def print_table(result: dict) -> None:
    header = (
        f"{'run':>4} {'phase':<6} {'wall s':>8} {'cpu s':>8} {'build s':>8} "
        f"{'start s':>8} {'RSS MB':>8} {'load':>6} {'steps':>6} {'new rec':>8}"
    )
    print(header)
    print("-" * len(header))
    for run in result["runs"]:
        for phase in ("fresh", "rerun"):
            m = run[phase]
            print(
                f"{run['run']:>4} {phase:<6} {m['wall_s']:>8.2f} {m['cpu_s']:>8.2f} "
                f"{m['build_demo_s']:>8.2f} {m['startup_s']:>8.2f} {m['peak_rss_mb']:>8.1f} "
                f"{m['load_avg_1m_before']:>6.2f} {m['steps_built']:>6} "
                f"{m['records_inserted']:>8}"
            )
    for phase in ("fresh", "rerun"):
        m = result["median"][phase]
        print(
            f"{'med':>4} {phase:<6} {m['wall_s']:>8.2f} {m['cpu_s']:>8.2f} "
            f"{m['build_demo_s']:>8.2f} {m['startup_s']:>8.2f} {m['peak_rss_mb']:>8.1f} "
            f"{m['load_avg_1m_before']:>6.2f}"
        )
    verdict = "meets" if result["meets_target"] else "MISSES"
    print(
        f"median fresh wall {result['median']['fresh']['wall_s']:.2f} s: {verdict} the "
        f"{TARGET_S:.0f} s target ({result['machine']['cpus']} CPUs)"
    )
    for moment in ("before", "after"):
        print(f"machine {moment + ':':<7} {describe_speed(result['machine']['speed'][moment])}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--check", action="store_true", help="exit 1 if the target is missed")
    options = parser.parse_args()
    base = command()
    speed = {"before": machine_speed()}
    with tempfile.TemporaryDirectory(prefix="bench-demo-") as tmp:
        runs = [run_once(base, Path(tmp), number) for number in range(1, options.runs + 1)]
    speed["after"] = machine_speed()
    result = report(runs, speed)
    print_table(result)
    OUT.mkdir(parents=True, exist_ok=True)
    text = json.dumps(result, indent=2) + "\n"
    (OUT / "bench_demo.json").write_text(text)
    stamp = result["when"].replace(":", "").replace("+0000", "Z")
    (OUT / f"bench_demo-{stamp}.json").write_text(text)
    print(f"wrote {OUT / 'bench_demo.json'}")
    return 1 if options.check and not result["meets_target"] else 0


if __name__ == "__main__":
    sys.exit(main())
