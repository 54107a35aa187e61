"""Gold `mood_predictions`, `mood_classifications`, `energy_forecasts` (the
next-play models: ml/context.py, ml/forecast.py), `listening_anomalies`,
`sequential_patterns`, `behavioral_segments`, `mood_state_clusters` and
`cluster_model_selection` (ml/anomalies.py, ml/sequences.py, ml/segments.py,
ml/clusters.py): one step, so each user's plays are read and deduplicated once
for all of them (docs/ml.md)."""

from __future__ import annotations

import pyarrow as pa

from ..runner import StepContext

INPUTS = ("listening_with_features",)
PER_USER = True  # a user's rows depend on that user's plays only (docs/ml.md)
# A whole build at scale runs as shards of users in worker processes: the
# models are mostly small NumPy operations per user, which hold the GIL.
PROCESSES = True
OUTPUTS = (
    "gold/predictive/mood_predictions",
    "gold/predictive/mood_classifications",
    "gold/predictive/energy_forecasts",
    "gold/cognitive/listening_anomalies",
    "gold/cognitive/sequential_patterns",
    "gold/cognitive/behavioral_segments",
    "gold/cognitive/mood_state_clusters",
    "gold/cognitive/cluster_model_selection",
)
PATTERNS = (
    "listening_anomalies",
    "sequential_patterns",
    "behavioral_segments",
    "mood_state_clusters",
)


def play_models(ctx: StepContext) -> dict[str, pa.Table]:
    from ..ml.runs import run_context_models  # the model code loads only when the step runs

    tables = run_context_models(ctx, patterns=PATTERNS)
    return {location: tables[location.rsplit("/", 1)[-1]] for location in OUTPUTS}
