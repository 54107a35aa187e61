"""Benchmark of `run`: the demo lake, then 10M plays x 1,000 users (not a test).

    python benchmarks/bench_run.py                 # both parts, 10M plays
    python benchmarks/bench_run.py --plays 1000000 # a smaller lake
    python benchmarks/bench_run.py --skip-demo

(a) `spotify-analytics demo --lake DIR` end to end (skipped when the command
    does not exist), then `run --full` on the demo lake.
(b) A generated lake: a 114,000-row catalog in `kaggle_tracks_bronze`, users,
    and N plays across U users written directly as `streaming_history_bronze`
    rows (vectorised, a few Delta commits); then `run --full`, and an
    incremental `run` after 50 new plays.

Every `run` is a subprocess; its peak RSS is the largest sum of the resident
memory of the run and its worker processes, sampled every 50 ms by a fresh
helper process (process_tree.py), and never below getrusage's peak of the
largest single process. Targets (SPEC §9): demo < 10 s; 10M plays full
rebuild < 120 s with peak RSS < 4 GB; incremental after 50 plays < 5 s.

The machine's speed (machine_speed.py) is measured before and after, and
printed and written with the figures: the same build has taken up to about
2.5 times longer on a slow day of the same machine.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from deltalake import write_deltalake
from machine_speed import describe as describe_speed
from machine_speed import measure as machine_speed

from spotify_analytics.lake import Lake, bronze_order, bronze_writer, conform
from spotify_analytics.schemas import KAGGLE_TRACKS, STREAMING_HISTORY, USERS

CLI = [str(Path(sys.executable).with_name("spotify-analytics"))]
PROCESS_TREE = Path(__file__).resolve().with_name("process_tree.py")
CATALOG_ROWS = 114_000
CATALOG_TRACKS = 89_740
GENRES = [f"genre-{i:03d}" for i in range(114)]
ZONES = ["Europe/Berlin", "America/New_York", "Asia/Tokyo", "UTC", "Australia/Sydney"]
START = datetime(2022, 1, 1, tzinfo=UTC)
SPAN_S = 3 * 365 * 24 * 3600
COMMIT_ROWS = 2_500_000
STEP_LINE = re.compile(r"built (\S+)\s+([\d,]+) rows\s+([\d.]+)s")


# -- measuring ------------------------------------------------------------------


def measure(args: list[str], log: Path, timeout_s: float | None = None) -> dict:
    """Run a command in a helper process that reports its wall time and the peak
    RSS of the command and its worker processes together (process_tree.py).
    The command's stderr (per-step timings) streams to ``log`` as it runs."""
    limit = "none" if timeout_s is None else str(timeout_s)
    done = subprocess.run(
        [sys.executable, str(PROCESS_TREE), str(log), limit, *args],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(done.stdout)
    stderr = log.read_text()
    if result["code"] not in (0, "timeout"):
        sys.stderr.write(stderr)
        raise SystemExit(f"{' '.join(args)} exited {result['code']}")
    result["steps"] = [
        (name, int(rows.replace(",", "")), float(seconds))
        for name, rows, seconds in STEP_LINE.findall(stderr)
    ]
    return result


def report(label: str, result: dict, target_s: float, target_rss: float | None = None) -> dict:
    ok = result["code"] == 0 and result["seconds"] < target_s
    ok = ok and (target_rss is None or result["peak_rss"] < target_rss)
    if result["code"] == "timeout":
        label += " (stopped at the time limit)"
    rss_gb = result["peak_rss"] / 2**30
    print(
        f"{label:<44} {result['seconds']:8.2f} s  peak RSS {rss_gb:5.2f} GB  "
        f"target < {target_s:g} s{f', < {target_rss / 2**30:g} GB' if target_rss else ''}  "
        f"{'OK' if ok else 'MISSED'}"
    )
    for name, rows, seconds in sorted(result["steps"], key=lambda step: -step[2]):
        print(f"    {name:<40} {rows:>12,} rows {seconds:8.2f} s")
    return {
        "label": label,
        "seconds": result["seconds"],
        "peak_rss": result["peak_rss"],
        "ok": ok,
        "steps": result["steps"],
    }


# -- generating a lake ----------------------------------------------------------


def _strings(prefix: str, numbers: np.ndarray, width: int = 0) -> pa.Array:
    digits = pc.cast(pa.array(numbers), pa.string())
    if width:
        digits = pc.utf8_lpad(digits, width=width, padding="0")
    return pc.binary_join_element_wise(prefix, digits, "")


def catalog(rng: np.random.Generator) -> pa.Table:
    """A Kaggle-shaped catalog: 114k rows, ~89.7k track ids (a track repeats
    under several genres)."""
    track_no = np.concatenate(
        [np.arange(CATALOG_TRACKS), rng.integers(0, CATALOG_TRACKS, CATALOG_ROWS - CATALOG_TRACKS)]
    )
    artist_no = track_no % 30_000
    n = CATALOG_ROWS
    columns = {
        "row_index": np.arange(n),
        "track_id": _strings("trk", track_no, 18),
        "artists": _strings("Artist ", artist_no),
        "album_name": _strings("Album ", track_no // 10),
        "track_name": _strings("Song ", track_no),
        "popularity": rng.integers(0, 100, n),
        "duration_ms": rng.integers(90_000, 400_000, n),
        "explicit": rng.random(n) < 0.1,
        "danceability": rng.random(n),
        "energy": rng.random(n),
        "key": rng.integers(0, 12, n),
        "loudness": rng.uniform(-30, 0, n),
        "mode": rng.integers(0, 2, n),
        "speechiness": rng.random(n) * 0.3,
        "acousticness": rng.random(n),
        "instrumentalness": rng.random(n) * 0.5,
        "liveness": rng.random(n) * 0.6,
        "valence": rng.random(n),
        "tempo": rng.uniform(60, 200, n),
        "time_signature": np.full(n, 4),
        "track_genre": pa.array(GENRES).take(pa.array(rng.integers(0, len(GENRES), n))),
        "_file_sha256": pa.array(["bench"] * n),
    }
    return _lineage(pa.table(columns), "bench-catalog")


def users(n_users: int) -> pa.Table:
    ids = _strings("user", np.arange(n_users), 4)
    zones = pa.array(ZONES).take(pa.array(np.arange(n_users) % len(ZONES)))
    return _lineage(pa.table({"user_id": ids, "timezone": zones}), "bench-users")


def plays(
    rng: np.random.Generator, n: int, n_users: int, cat: pa.Table, first: int = 0
) -> pa.Table:
    """``n`` extended-export records in listening sessions (geometric length,
    mean 12 plays, one every ~3.5 minutes): each user favours a few thousand
    catalog tracks; 3% are tracks missing from the catalog, 2% podcast
    episodes, 15% skips."""
    lengths = rng.geometric(1 / 12, size=n // 6 + 10)
    session = np.repeat(np.arange(lengths.size), lengths)[:n]
    position = np.arange(n) - np.repeat(np.cumsum(lengths) - lengths, lengths)[:n]
    starts = START.timestamp() + rng.random(lengths.size) * SPAN_S
    user_no = rng.integers(0, n_users, lengths.size)[session]
    ts = starts[session] + position * 210.0 + rng.random(n) * 20
    order = np.lexsort((ts, user_no))
    user_no, ts = user_no[order], ts[order]
    favourite = (user_no * 7919 + rng.zipf(1.3, n)) % CATALOG_ROWS
    row = pa.array(favourite)
    unknown = rng.random(n) < 0.03
    episode = rng.random(n) < 0.02
    skip = rng.random(n) < 0.15
    ms = np.where(skip, rng.integers(1_000, 29_000, n), rng.integers(60_000, 300_000, n))
    track_name = cat["track_name"].take(row)
    artist = pc.utf8_slice_codeunits(cat["artists"].take(row), 0, 40)
    uri = pc.binary_join_element_wise("spotify:track:", cat["track_id"].take(row), "")
    missing = pa.array(unknown)
    track_name = pc.if_else(missing, _strings("Unknown song ", favourite % 2_000), track_name)
    uri = pc.if_else(missing, _strings("spotify:track:missing", favourite % 2_000, 12), uri)
    columns = {
        "user_id": _strings("user", user_no, 4),
        "record_id": _strings("rec", np.arange(first, first + n), 12),
        "record_format": pa.array(["extended"] * n),
        "ts": pa.array((ts * 1e6).astype("int64")).cast(pa.timestamp("us", tz="UTC")),
        "ts_precision_s": np.ones(n, dtype="int32"),
        "ms_played": ms,
        "content_type": pa.array(np.where(episode, "episode", "track")),
        "is_music": ~episode,
        "track_name": track_name,
        "artist_name": artist,
        "album_name": cat["album_name"].take(row),
        "spotify_track_uri": uri,
        "reason_start": pa.array(["trackdone"] * n),
        "reason_end": pa.array(np.where(skip, "fwdbtn", "trackdone")),
        "shuffle": rng.random(n) < 0.4,
        "skipped": skip,
        "offline": np.zeros(n, dtype=bool),
        "incognito_mode": np.zeros(n, dtype=bool),
        "platform": pa.array(["android"] * n),
        "conn_country": pa.array(["DE"] * n),
    }
    return _lineage(pa.table(columns), "bench-plays")


def _lineage(table: pa.Table, batch: str) -> pa.Table:
    now = pa.scalar(datetime.now(UTC), pa.timestamp("us", tz="UTC"))
    n = table.num_rows
    table = table.append_column("_source", pa.array(["benchmark"] * n))
    table = table.append_column("_ingested_at", pa.array([now.as_py()] * n, now.type))
    return table.append_column("_batch_id", pa.array([batch] * n))


def generate(
    root: Path, n_plays: int, n_users: int, *, reuse: bool = False, seed: int = 7
) -> tuple[Lake, pa.Table]:
    rng = np.random.default_rng(seed)
    if reuse and Lake(root).is_lake():
        print(f"reusing the lake in {root}")
        return Lake.open(root), catalog(rng)
    lake = Lake.open(root, create=True)
    started = time.perf_counter()
    cat = catalog(rng)
    write_deltalake(str(lake.path(KAGGLE_TRACKS.location)), conform(cat, KAGGLE_TRACKS.schema))
    write_deltalake(str(lake.path(USERS.location)), conform(users(n_users), USERS.schema))
    written = 0
    while written < n_plays:
        n = min(COMMIT_ROWS, n_plays - written)
        chunk = conform(plays(rng, n, n_users, cat, first=written), STREAMING_HISTORY.schema)
        write_deltalake(  # in the layout Lake.merge writes Bronze in
            str(lake.path(STREAMING_HISTORY.location)),
            bronze_order(chunk),
            mode="append",
            writer_properties=bronze_writer(),
        )
        written += n
    print(
        f"generated {n_plays:,} plays x {n_users:,} users in {time.perf_counter() - started:.1f} s"
    )
    return lake, cat


def add_new_plays(lake: Lake, cat: pa.Table, n_users: int, n: int = 50) -> None:
    """``n`` plays after every generated one. Each call adds different plays
    (ids and times follow the Bronze table's version), so a reused lake gets
    new plays too, not the same ones merged away as duplicates."""
    round_no = lake.delta(STREAMING_HISTORY.location).version()
    rng = np.random.default_rng(99 + round_no)
    new = plays(rng, n, n_users, cat, first=10**11 + round_no * 10**6)
    shift = (SPAN_S + round_no * 86_400) * 1_000_000
    later = pc.add(new["ts"], pa.scalar(shift, pa.duration("us")))
    new = new.set_column(new.schema.get_field_index("ts"), "ts", later)
    merged = lake.merge(STREAMING_HISTORY, new)
    if merged.inserted != n:
        raise SystemExit(f"{lake.root}: {merged.inserted} of {n} new plays were inserted")


# -- main -----------------------------------------------------------------------


def bench_demo(workdir: Path, timeout_s: float | None) -> list[dict]:
    has_demo = subprocess.run([*CLI, "demo", "--help"], capture_output=True).returncode == 0
    if not has_demo:
        print("(a) skipped: `spotify-analytics demo` does not exist yet")
        return []
    lake = str(workdir / "demo")
    runs = [
        ("(a) demo end to end", [*CLI, "demo", "--lake", lake]),
        ("(a) run --full on the demo lake", [*CLI, "run", "--full", "--lake", lake]),
    ]
    return [
        report(label, measure(args, workdir / f"demo-{i}.log", timeout_s), 10)
        for i, (label, args) in enumerate(runs)
    ]


def bench_large(
    workdir: Path, n_plays: int, n_users: int, timeout_s: float | None, reuse: bool
) -> list[dict]:
    lake, cat = generate(workdir / "large", n_plays, n_users, reuse=reuse)
    root = str(lake.root)
    label = f"(b) run --full, {n_plays:,} plays x {n_users:,} users"
    full = measure([*CLI, "run", "--full", "--lake", root], workdir / "full.log", timeout_s)
    out = [report(label, full, 120, 4 * 2**30)]
    if full["code"] != 0:
        return out
    add_new_plays(lake, cat, n_users)
    for label, log in (
        ("(b) incremental run after 50 new plays", "incremental.log"),
        ("(b) run with nothing new", "nothing_new.log"),
    ):
        result = measure([*CLI, "run", "--lake", root], workdir / log, timeout_s)
        out.append(report(label, result, 5))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--plays", type=int, default=10_000_000)
    parser.add_argument("--users", type=int, default=1_000)
    parser.add_argument("--workdir", type=Path, help="keep the lakes here (default: a temp dir)")
    parser.add_argument("--skip-demo", action="store_true")
    parser.add_argument("--skip-large", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--timeout", type=float, help="stop each command after this many seconds")
    parser.add_argument(
        "--reuse", action="store_true", help="reuse a generated lake found in --workdir"
    )
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-run-"))
    workdir.mkdir(parents=True, exist_ok=True)
    results = []
    speed = {"before": machine_speed()}
    print(f"machine before: {describe_speed(speed['before'])}")
    try:
        if not args.skip_demo:
            results += bench_demo(workdir, args.timeout)
        if not args.skip_large:
            results += bench_large(workdir, args.plays, args.users, args.timeout, args.reuse)
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    speed["after"] = machine_speed()
    print(f"machine after:  {describe_speed(speed['after'])}")
    if args.json:
        figures = {"machine": speed, "results": results}
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
