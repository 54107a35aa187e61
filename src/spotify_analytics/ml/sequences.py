"""Sequential patterns: mood-quadrant transitions between consecutive plays of a session.

Consecutive means adjacent non-skipped plays with features, in time order, with
the same ``session_id`` (the last play of one session and the first of the next
are not a transition). probability = P(to | from); lift = P(to | from) / P(to),
where P(to) is the share of all the user's transitions that end in ``to``; lift
1 means no more than independence would give.
"""

from __future__ import annotations

import numpy as np

from .plays import mood_plays
from .quadrants import quadrant_array


def transitions(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    plays = mood_plays(arrays)
    quadrant = quadrant_array(plays["valence"], plays["energy"]).astype(str)
    session = plays["session_id"]
    same = session[1:] == session[:-1]
    pairs = np.char.add(np.char.add(quadrant[:-1][same], "\x1f"), quadrant[1:][same])
    if pairs.size == 0:
        return {}
    labels, counts = np.unique(pairs, return_counts=True)
    source = np.array([label.split("\x1f")[0] for label in labels])
    target = np.array([label.split("\x1f")[1] for label in labels])
    total = counts.sum()
    n_from = np.array([counts[source == s].sum() for s in source])
    n_to = np.array([counts[target == t].sum() for t in target])
    probability = counts / n_from
    marginal = n_to / total
    return {
        "from_quadrant": source.astype(object),
        "to_quadrant": target.astype(object),
        "n_transitions": counts.astype(np.int64),
        "n_from": n_from.astype(np.int64),
        "probability": probability,
        "marginal_to_probability": marginal,
        "lift": probability / marginal,
        "expected_transitions": n_from * marginal,
        "n_user_transitions": np.full(counts.size, total, dtype=np.int64),
    }
