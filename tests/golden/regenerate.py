"""Rewrite the transpile goldens: every SQL model as Spark SQL and as Trino SQL,
and the package's record of each model's upstream tables (sql/dependencies.json).

Run ``python tests/golden/regenerate.py`` after adding or changing a model,
read the diff, and commit the goldens and the record with the model.
"""

from __future__ import annotations

import sys
from pathlib import Path

import sqlglot
from sqlglot.errors import ErrorLevel

from spotify_analytics.dag import write_dependencies
from spotify_analytics.runner import SQL_ROOT

GOLDEN = Path(__file__).resolve().parent
DIALECTS = ("spark", "trino")


def models() -> dict[str, Path]:
    """Table name -> SQL file, for every model shipped in the package."""
    root = Path(str(SQL_ROOT))
    return {path.stem: path for path in sorted(root.rglob("*.sql"))}


def transpile(sql: str, dialect: str) -> str:
    """DuckDB SQL in ``dialect``; raises on anything sqlglot cannot express."""
    (out,) = sqlglot.transpile(
        sql, read="duckdb", write=dialect, pretty=True, unsupported_level=ErrorLevel.RAISE
    )
    return out + "\n"


def golden_path(table: str, dialect: str) -> Path:
    return GOLDEN / f"{table}.{dialect}.sql"


def main() -> int:
    wanted = set()
    for table, path in models().items():
        for dialect in DIALECTS:
            target = golden_path(table, dialect)
            target.write_text(transpile(path.read_text(), dialect))
            wanted.add(target)
    for stale in set(GOLDEN.glob("*.sql")) - wanted:
        stale.unlink()
    print(f"wrote {len(wanted)} goldens to {GOLDEN}")
    print(f"wrote {write_dependencies()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
