"""Gold `behavioral_segments`: see ml/segments.py and docs/ml.md."""

from __future__ import annotations

import pyarrow as pa

from ..ml.cognitive import segment_table
from ..runner import StepContext

INPUTS = ("listening_with_features",)
PER_USER = True  # a user's rows depend only on that user's plays
OUTPUTS = ("gold/cognitive/behavioral_segments",)


def behavioral_segments(ctx: StepContext) -> dict[str, pa.Table]:
    return {OUTPUTS[0]: segment_table(ctx)}
