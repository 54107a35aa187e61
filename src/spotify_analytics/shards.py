"""Shards of users: a whole build of a per-user step split into runs of users
that can be built side by side, each on one core.

SQL steps run their shards as single-threaded DuckDB queries on threads
(``Runner._execute_shards``). Python steps hold the GIL for most of their
per-user work, so a Python step declared with ``processes`` runs its shards
in worker processes (``build_in_process``), each a fresh interpreter.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pyarrow as pa

from .dag import StepContext
from .lake import Lake, View
from .settings import Settings


def user_shards(rows: dict[str, int], shard_rows: int) -> list[frozenset[str]]:
    """Users in sorted order cut into contiguous shards of about ``shard_rows``
    rows each (``rows``: rows per user); one shard when all fit in one."""
    total = sum(rows.values())
    count = max(1, -(-total // max(shard_rows, 1)))
    shards: list[frozenset[str]] = []
    current: list[str] = []
    seen = 0
    for user in sorted(rows):
        current.append(user)
        seen += rows[user]
        if seen * count >= total * (len(shards) + 1) and len(shards) < count - 1:
            shards.append(frozenset(current))
            current = []
    if current:
        shards.append(frozenset(current))
    return shards


# Native thread pools in worker processes get one thread each: a shard holds one of
# the run's cores. threadpoolctl's limit reaches only the libraries already loaded, and
# SciPy's own OpenBLAS loads with the first fit: its second thread spun between calls
# (play_models at 10M plays took 117-119 CPU-s with it, 90-100 without).
ONE_THREAD_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def worker_pool(workers: int) -> ProcessPoolExecutor:
    """Worker processes for shards (fresh interpreters), with one native thread
    each. The variables are set in this process too (unless already set), for
    the libraries it has yet to load: every worker inherits them."""
    for name in ONE_THREAD_ENV:
        os.environ.setdefault(name, "1")
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))


def build_in_process(
    function: Callable,
    lake_root: Path,
    settings: Settings,
    users: frozenset[str],
    everyone: frozenset[str],
    views: dict[str, View] | None = None,
) -> dict[str, pa.Table]:
    """Run a per-user Python step for one shard of users, in a worker process
    (``function`` must be importable by name). Its DuckDB connections use one
    thread: the shard has one core."""
    context = StepContext(
        Lake(lake_root), settings, users, everyone=everyone, threads=1, views=views
    )
    return function(context)
