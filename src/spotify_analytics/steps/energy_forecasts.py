"""Gold `energy_forecasts`: see ml/forecast.py and docs/ml.md."""

from __future__ import annotations

import pyarrow as pa

from ..ml.runs import run_energy_forecasts
from ..runner import StepContext

INPUTS = ("listening_with_features",)
PER_USER = True  # a user's rows depend on that user's plays only (docs/ml.md)
OUTPUTS = ("gold/predictive/energy_forecasts",)


def energy_forecasts(ctx: StepContext) -> dict[str, pa.Table]:
    return {OUTPUTS[0]: run_energy_forecasts(ctx)}
