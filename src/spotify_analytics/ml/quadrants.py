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


def quadrant_sql(valence: str = "valence", energy: str = "energy", *, codes: bool = False) -> str:
    """The same rule as a DuckDB expression over two finite columns: the
    quadrant's name, or with ``codes`` its position in ``QUADRANTS`` (a small
    integer, cheaper to sort and group; ``quadrant_names_sql`` turns it back)."""
    label = (lambda i: str(i)) if codes else (lambda i: f"'{QUADRANTS[i]}'")
    return (
        f"case when {valence} >= {HIGH} and {energy} >= {HIGH} then {label(0)}"
        f" when {valence} >= {HIGH} and {energy} < {LOW} then {label(1)}"
        f" when {valence} < {LOW} and {energy} >= {HIGH} then {label(2)}"
        f" when {valence} < {LOW} and {energy} < {LOW} then {label(3)}"
        f" else {label(4)} end"
    )


def quadrant_names_sql(code: str) -> str:
    """The name of a quadrant code made by ``quadrant_sql(codes=True)``."""
    names = ", ".join(f"'{name}'" for name in QUADRANTS)
    return f"[{names}][{code} + 1]"
