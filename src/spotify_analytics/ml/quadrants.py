"""The shared mood-quadrant rule (SPEC §5), vectorised and as SQL."""

from __future__ import annotations

import numpy as np

QUADRANTS = ("happy-energetic", "happy-calm", "sad-energetic", "sad-calm", "neutral")
HIGH = 0.6  # valence or energy at or above this is high
LOW = 0.4  # below this is low


NAMES = np.array(QUADRANTS, dtype=object)


def quadrant_codes(valence: np.ndarray, energy: np.ndarray) -> np.ndarray:
    """The position in ``QUADRANTS`` of each (valence, energy) pair (``quadrant_array``)."""
    valence = np.asarray(valence, dtype=float)
    energy = np.asarray(energy, dtype=float)
    codes = np.full(valence.shape, 4, dtype=np.int8)  # neutral, also for missing values
    high_valence, low_valence = valence >= HIGH, valence < LOW
    high_energy, low_energy = energy >= HIGH, energy < LOW
    codes[high_valence & high_energy] = 0
    codes[high_valence & low_energy] = 1
    codes[low_valence & high_energy] = 2
    codes[low_valence & low_energy] = 3
    return codes


def quadrant_array(valence: np.ndarray, energy: np.ndarray) -> np.ndarray:
    """valence >= 0.6 & energy >= 0.6 happy-energetic; >= 0.6 & < 0.4 happy-calm;
    < 0.4 & >= 0.6 sad-energetic; < 0.4 & < 0.4 sad-calm; otherwise neutral."""
    return np.asarray(NAMES[quadrant_codes(valence, energy)], dtype=object)


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
