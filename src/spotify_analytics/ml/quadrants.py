"""The shared mood-quadrant rule (SPEC §5), vectorised and as SQL."""

from __future__ import annotations

import numpy as np

QUADRANTS = ("happy-energetic", "happy-calm", "sad-energetic", "sad-calm", "neutral")
HIGH = 0.6  # valence or energy at or above this is high
LOW = 0.4  # below this is low


def quadrant_array(valence: np.ndarray, energy: np.ndarray) -> np.ndarray:
    """valence >= 0.6 & energy >= 0.6 happy-energetic; >= 0.6 & < 0.4 happy-calm;
    < 0.4 & >= 0.6 sad-energetic; < 0.4 & < 0.4 sad-calm; otherwise neutral."""
    valence = np.asarray(valence, dtype=float)
    energy = np.asarray(energy, dtype=float)
    return np.select(
        [
            (valence >= HIGH) & (energy >= HIGH),
            (valence >= HIGH) & (energy < LOW),
            (valence < LOW) & (energy >= HIGH),
            (valence < LOW) & (energy < LOW),
        ],
        list(QUADRANTS[:4]),
        default="neutral",
    ).astype(object)


def quadrant_of(valence: float, energy: float) -> str:
    return str(quadrant_array(np.array([valence]), np.array([energy]))[0])


def quadrant_sql(valence: str = "valence", energy: str = "energy") -> str:
    """The same rule as a DuckDB expression over two finite columns."""
    return (
        f"case when {valence} >= {HIGH} and {energy} >= {HIGH} then '{QUADRANTS[0]}'"
        f" when {valence} >= {HIGH} and {energy} < {LOW} then '{QUADRANTS[1]}'"
        f" when {valence} < {LOW} and {energy} >= {HIGH} then '{QUADRANTS[2]}'"
        f" when {valence} < {LOW} and {energy} < {LOW} then '{QUADRANTS[3]}'"
        f" else '{QUADRANTS[4]}' end"
    )
