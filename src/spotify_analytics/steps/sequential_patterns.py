"""Gold `sequential_patterns`: see ml/sequences.py and docs/ml.md."""

from __future__ import annotations

import pyarrow as pa

from ..ml.cognitive import sequence_table
from ..runner import StepContext

INPUTS = ("listening_with_features",)
PER_USER = True  # a user's rows depend only on that user's plays
OUTPUTS = ("gold/cognitive/sequential_patterns",)


def sequential_patterns(ctx: StepContext) -> dict[str, pa.Table]:
    return {OUTPUTS[0]: sequence_table(ctx)}
