"""CPU of SQL models over one shard of users, as a whole build runs them (not a test).

    python benchmarks/bench_shard.py --lake DIR --models plays --variant my_plays.sql
    python benchmarks/bench_shard.py --lake DIR --view-readers

Each query runs on a fresh single-threaded DuckDB database over the first
``--users`` users (100: a shard of the 10M benchmark lake), into a temp table,
as ``Runner._execute_shards`` runs a shard; the rounds take turns so a machine
whose speed drifts treats both sides alike.

``--variant FILE`` times FILE against the shipped SQL of the one model named
in ``--models`` and checks that both give the same rows.

``--view-readers`` compares the models that read ``listening_with_features``
through the view against the same models reading a stored copy of the
shard's rows (one file per user, as the table was stored), and times building
that copy.

The lake is only read (the copy goes to a temporary folder).
"""

from __future__ import annotations

import argparse
import functools
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from spotify_analytics.dag import package_views, run_params, sql_models
from spotify_analytics.lake import Lake, sql_string
from spotify_analytics.settings import Settings

VIEW = "listening_with_features"


def cpu_of(work: Callable[[], object]) -> float:
    started = time.process_time()
    work()
    return time.process_time() - started


class Shard:
    def __init__(self, root: Path, users: int):
        self.lake = Lake(root)
        self.views = package_views()
        self.models = {step.name: step for step in sql_models()}
        self.params = run_params(Settings(lake=root))
        everyone = self.lake.read("users", ["user_id"]).column("user_id").to_pylist()
        self.users = frozenset(sorted(everyone)[:users])

    def connect(self, only: set[str]):
        return self.lake.connect(
            extra={"run_params": self.params},
            aliases=False,
            threads=1,
            only=only,
            users=self.users,
            views=self.views,
        )

    def run(self, sql: str, only: set[str], setup: str | None = None, keep: bool = False):
        """The CPU-s of ``sql`` into a temp table, and its rows when ``keep``."""
        con = self.connect(only)
        try:
            if setup:
                con.execute(setup)
            seconds = cpu_of(lambda: con.execute(f"create temp table out as {sql}"))
            return seconds, con.sql("select * from out").to_arrow_table() if keep else None
        finally:
            con.close()


def variant(shard: Shard, name: str, path: Path, rounds: int) -> None:
    step = shard.models[name]
    sides = {"shipped": step.sql or "", "variant": path.read_text()}
    times: dict[str, list[float]] = {side: [] for side in sides}
    rows = {}
    for number in range(rounds):
        order = list(sides) if number % 2 == 0 else list(reversed(sides))
        for side in order:
            seconds, table = shard.run(sides[side], set(step.inputs), keep=number == 0)
            times[side].append(seconds)
            if table is not None:
                rows[side] = table.sort_by([(c, "ascending") for c in table.column_names[:3]])
    same = rows["shipped"].equals(rows["variant"])
    print(f"{name}: the same rows: {same} ({rows['shipped'].num_rows:,})")
    report(times)


def view_readers(shard: Shard, rounds: int) -> None:
    readers = [n for n, s in shard.models.items() if VIEW in s.inputs and n != VIEW]
    times: dict[str, list[float]] = {"build the copy": [], "readers of the copy": [], "view": []}

    def read_all(stored: str | None = None) -> float:
        """The readers' CPU-s: through the view, or over the copy ``stored`` defines."""
        total = 0.0
        for name in readers:
            inputs = set(shard.models[name].inputs)
            only = inputs - {VIEW} if stored else inputs
            total += shard.run(shard.models[name].sql or "", only, stored)[0]
        return total

    with tempfile.TemporaryDirectory() as folder:
        for number in range(rounds):
            order = ("copy", "view") if number % 2 == 0 else ("view", "copy")
            for side in order:
                if side == "view":
                    times["view"].append(read_all())
                    continue
                seconds, stored = build_copy(shard, Path(folder) / f"copy{number}")
                times["build the copy"].append(seconds)
                times["readers of the copy"].append(read_all(stored))
    print(f"{len(readers)} readers: {', '.join(readers)}")
    report(times)


def build_copy(shard: Shard, target: Path) -> tuple[float, str]:
    """Store the shard's view rows one file per user under ``target``: the CPU-s
    it took, and the statement that defines the view over the copy."""
    con = shard.connect({VIEW})
    try:
        copy = (
            f"copy (select * from {VIEW}) to {sql_string(str(target))} "
            "(format parquet, compression snappy, partition_by (user_id))"
        )
        seconds = cpu_of(functools.partial(con.execute, copy))
    finally:
        con.close()
    files = ", ".join(sql_string(str(path)) for path in sorted(target.rglob("*.parquet")))
    stored = (
        f"create temp view {VIEW} as select * from read_parquet([{files}], "
        "hive_partitioning = true, hive_types = {'user_id': 'VARCHAR'})"
    )
    return seconds, stored


def report(times: dict[str, list[float]]) -> None:
    for side, values in times.items():
        listed = ", ".join(f"{v:.2f}" for v in values)
        print(f"  {side:20s} median {statistics.median(values):6.2f} CPU-s  ({listed})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--lake", type=Path, required=True)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--models", default="plays", help="comma-separated model names")
    parser.add_argument("--variant", type=Path, help="a SQL file to time against --models")
    parser.add_argument("--view-readers", action="store_true")
    args = parser.parse_args()
    shard = Shard(args.lake, args.users)
    if args.view_readers:
        view_readers(shard, args.rounds)
        return 0
    names = args.models.split(",")
    if args.variant is not None:
        if len(names) != 1:
            parser.error("--variant takes one model in --models")
        variant(shard, names[0], args.variant, args.rounds)
        return 0
    times = {name: [] for name in names}
    for _ in range(args.rounds):
        for name in names:
            step = shard.models[name]
            times[name].append(shard.run(step.sql or "", set(step.inputs))[0])
    report(times)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
