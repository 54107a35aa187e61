"""Gold `mood_classifications`: see ml/context.py and docs/ml.md."""

from __future__ import annotations

import pyarrow as pa

from ..ml.runs import run_context_model
from ..runner import StepContext

INPUTS = ("listening_with_features",)
PER_USER = True  # a user's rows depend on that user's plays only (docs/ml.md)
OUTPUTS = ("gold/predictive/mood_classifications",)


def mood_classifications(ctx: StepContext) -> dict[str, pa.Table]:
    return {OUTPUTS[0]: run_context_model(ctx, "mood_classifications")}
