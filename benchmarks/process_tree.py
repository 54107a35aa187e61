"""Run a command and report its wall time and the peak resident memory of it
and every process it starts (a run's worker processes included), as JSON:

    python benchmarks/process_tree.py LOG TIMEOUT|none COMMAND...

The command's stderr goes to LOG. The peak is the largest sum of VmRSS over the
process tree, sampled every 50 ms, and never below getrusage's peak of the
largest single process waited for (which a short spike between samples may
reach).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time

SAMPLE_S = 0.05


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (Linux /proc)."""
    found, index = [pid], 0
    while index < len(found):
        current = found[index]
        index += 1
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as handle:
                    found += [int(child) for child in handle.read().split()]
        except OSError:  # the process ended while we looked
            continue
    return found


def resident_bytes(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as handle:
                for line in handle:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
                        break
        except OSError:
            continue
    return total


def main() -> int:
    log_path, limit, *command = sys.argv[1:]
    timeout = None if limit == "none" else float(limit)
    started = time.perf_counter()
    peak = 0
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, stderr=log, stdout=subprocess.DEVNULL)
        code: int | str | None = None
        while code is None:
            peak = max(peak, resident_bytes(descendants(process.pid)))
            if timeout is not None and time.perf_counter() - started > timeout:
                process.kill()
                process.wait()
                code = "timeout"
                break
            try:
                code = process.wait(SAMPLE_S)
            except subprocess.TimeoutExpired:
                code = None
    seconds = time.perf_counter() - started
    single = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    print(json.dumps({"seconds": seconds, "peak_rss": max(peak, single), "code": code}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
