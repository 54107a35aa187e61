"""The shared mood-quadrant rule (SPEC §5), vectorised."""

from __future__ import annotations

import numpy as np

QUADRANTS = ("happy-energetic", "happy-calm", "sad-energetic", "sad-calm", "neutral")


def quadrant_array(valence: np.ndarray, energy: np.ndarray) -> np.ndarray:
    """valence >= 0.6 & energy >= 0.6 happy-energetic; >= 0.6 & < 0.4 happy-calm;
    < 0.4 & >= 0.6 sad-energetic; < 0.4 & < 0.4 sad-calm; otherwise neutral."""
    valence = np.asarray(valence, dtype=float)
    energy = np.asarray(energy, dtype=float)
    return np.select(
        [
            (valence >= 0.6) & (energy >= 0.6),
            (valence >= 0.6) & (energy < 0.4),
            (valence < 0.4) & (energy >= 0.6),
            (valence < 0.4) & (energy < 0.4),
        ],
        list(QUADRANTS[:4]),
        default="neutral",
    ).astype(object)


def quadrant_of(valence: float, energy: float) -> str:
    return str(quadrant_array(np.array([valence]), np.array([energy]))[0])
