"""Gold `mood_state_clusters` and `cluster_model_selection`: see ml/clusters.py."""

from __future__ import annotations

import pyarrow as pa

from ..ml.cognitive import mood_state_tables
from ..runner import StepContext

INPUTS = ("listening_with_features",)
PER_USER = True  # a user's rows depend only on that user's plays
OUTPUTS = ("gold/cognitive/mood_state_clusters", "gold/cognitive/cluster_model_selection")


def mood_state_clusters(ctx: StepContext) -> dict[str, pa.Table]:
    clusters, selection = mood_state_tables(ctx)
    return {OUTPUTS[0]: clusters, OUTPUTS[1]: selection}
