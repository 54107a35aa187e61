"""How fast this machine is right now, as two fixed workloads (not a test).

    python benchmarks/machine_speed.py

The same machine has run the same build up to about 2.5 times slower on some
days than on others, so a figure from one day compares with
another day's only next to the speed the machine had then. The benchmarks
record this before and after what they time:

- ``python_loop_s``: a pure-Python loop of 5M additions (the model code's
  per-user work is Python and small NumPy calls);
- ``duckdb_sort_s``: single-threaded DuckDB sorting 5M random integers by a
  string key (what the SQL models spend on: hashing, sorting, strings).

Each is the best of three, in CPU seconds of this process, so a busy machine
shows as a slower one only as far as it slows the CPU time itself.
"""

from __future__ import annotations

import json
import time

import duckdb

ROUNDS = 3
LOOP_ADDITIONS = 5_000_000
SORT_SQL = """
select count(*), min(key), max(key) from (
    select cast(hash(i) % 1000003 as varchar) as key, i
    from range(5000000) as t(i)
    order by key, i
)
"""


# at module level, as ``python -c "s = 0\nfor i in range(5_000_000): s += i"`` runs it
# (globals, not a function's locals): the figure docs/models.md and CHANGELOG.md quote
LOOP = compile(f"s = 0\nfor i in range({LOOP_ADDITIONS}):\n    s += i\n", "<loop>", "exec")


def python_loop_s() -> float:
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.process_time()
        exec(LOOP, {})
        best = min(best, time.process_time() - started)
    return round(best, 3)


def duckdb_sort_s() -> float:
    con = duckdb.connect()
    try:
        con.execute("set threads = 1")
        best = float("inf")
        for _ in range(ROUNDS):
            started = time.process_time()
            con.execute(SORT_SQL).fetchall()
            best = min(best, time.process_time() - started)
    finally:
        con.close()
    return round(best, 3)


def measure() -> dict[str, float]:
    """Both reference workloads' best CPU seconds."""
    return {"python_loop_s": python_loop_s(), "duckdb_sort_s": duckdb_sort_s()}


def describe(speed: dict[str, float]) -> str:
    return (
        f"Python loop of 5M additions {speed['python_loop_s']:.3f} s, "
        f"DuckDB sort of 5M rows {speed['duckdb_sort_s']:.3f} s"
    )


if __name__ == "__main__":
    found = measure()
    print(describe(found))
    print(json.dumps(found))
