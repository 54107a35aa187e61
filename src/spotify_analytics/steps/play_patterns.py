"""Gold `listening_anomalies`, `sequential_patterns` and `behavioral_segments`
(ml/anomalies.py, ml/sequences.py, ml/segments.py and docs/ml.md): one step, so
the duplicate plays the three leave out are looked for once."""

from __future__ import annotations

import pyarrow as pa

from ..ml.cognitive import pattern_tables
from ..runner import StepContext

INPUTS = ("listening_with_features",)
PER_USER = True  # a user's rows depend only on that user's plays
OUTPUTS = (
    "gold/cognitive/listening_anomalies",
    "gold/cognitive/sequential_patterns",
    "gold/cognitive/behavioral_segments",
)


def play_patterns(ctx: StepContext) -> dict[str, pa.Table]:
    tables = pattern_tables(ctx)
    return {location: tables[location.rsplit("/", 1)[-1]] for location in OUTPUTS}
