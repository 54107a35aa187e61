"""Gold `audio_to_valence`: see ml/catalog.py and docs/ml.md."""

from __future__ import annotations

import pyarrow as pa

from ..runner import StepContext

INPUTS = ("user_track_plays", "track_features", "catalog_tracks")
PER_USER = True  # a user's rows depend on that user's plays only (docs/ml.md)
OUTPUTS = ("gold/predictive/audio_to_valence",)


def audio_to_valence(ctx: StepContext) -> dict[str, pa.Table]:
    from ..ml.runs import run_audio_to_valence  # the model code loads only when the step runs

    return {OUTPUTS[0]: run_audio_to_valence(ctx)}
