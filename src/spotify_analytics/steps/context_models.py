"""Gold `mood_predictions`, `mood_classifications` and `energy_forecasts`: the
next-play models (ml/context.py, ml/forecast.py and docs/ml.md), one step so each
user's plays are read and deduplicated once for the three."""

from __future__ import annotations

import pyarrow as pa

from ..ml.runs import run_context_models
from ..runner import StepContext

INPUTS = ("listening_with_features",)
PER_USER = True  # a user's rows depend on that user's plays only (docs/ml.md)
OUTPUTS = (
    "gold/predictive/mood_predictions",
    "gold/predictive/mood_classifications",
    "gold/predictive/energy_forecasts",
)


def context_models(ctx: StepContext) -> dict[str, pa.Table]:
    tables = run_context_models(ctx)
    return {location: tables[location.rsplit("/", 1)[-1]] for location in OUTPUTS}
