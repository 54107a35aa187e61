"""Gold `model_performance_metrics`: every predictive model's metrics beside its baselines.

Reads the four predictive tables (so it reruns whenever one was rebuilt) and
collects the metric rows their steps recorded with the saved models.
"""

from __future__ import annotations

import pyarrow as pa

from ..runner import StepContext

INPUTS = ("mood_classifications", "mood_predictions", "energy_forecasts", "audio_to_valence")
PER_USER = True  # a user's rows depend on that user's plays only (docs/ml.md)
OUTPUTS = ("gold/predictive/model_performance_metrics",)


def model_performance_metrics(ctx: StepContext) -> dict[str, pa.Table]:
    from ..ml.runs import collect_metrics  # the model code loads only when the step runs

    return {OUTPUTS[0]: collect_metrics(ctx.lake.root, ctx.users)}
