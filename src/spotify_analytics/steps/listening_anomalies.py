"""Gold `listening_anomalies`: see ml/anomalies.py and docs/ml.md."""

from __future__ import annotations

import pyarrow as pa

from ..ml.cognitive import anomaly_table
from ..runner import StepContext

INPUTS = ("listening_with_features",)
PER_USER = True  # a user's rows depend only on that user's plays
OUTPUTS = ("gold/cognitive/listening_anomalies",)


def listening_anomalies(ctx: StepContext) -> dict[str, pa.Table]:
    return {OUTPUTS[0]: anomaly_table(ctx)}
