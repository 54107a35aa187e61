"""Every SQL model transpiles to Spark SQL and Trino and matches its golden file.

After adding or changing a model: ``python tests/golden/regenerate.py``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "golden_regenerate", Path(__file__).parent / "golden" / "regenerate.py"
)
golden = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(golden)

MODELS = golden.models()
HINT = "run `python tests/golden/regenerate.py`, review the diff and commit the goldens"


def test_there_are_models() -> None:
    assert "temporal_trends" in MODELS


def test_model_names_are_unique() -> None:
    stems = [path.stem for path in Path(str(golden.SQL_ROOT)).rglob("*.sql")]
    assert len(stems) == len(set(stems))


@pytest.mark.parametrize("dialect", golden.DIALECTS)
@pytest.mark.parametrize("table", sorted(MODELS))
def test_model_matches_golden(table: str, dialect: str) -> None:
    out = golden.transpile(MODELS[table].read_text(), dialect)
    path = golden.golden_path(table, dialect)
    assert path.is_file(), f"no golden {path.name}: {HINT}"
    assert out == path.read_text(), f"{path.name} is out of date: {HINT}"


def test_no_stale_goldens() -> None:
    wanted = {golden.golden_path(t, d).name for t in MODELS for d in golden.DIALECTS}
    stale = sorted(p.name for p in golden.GOLDEN.glob("*.sql") if p.name not in wanted)
    assert not stale, f"goldens without a model: {stale}; {HINT}"
