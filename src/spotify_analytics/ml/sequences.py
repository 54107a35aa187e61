"""Sequential patterns: mood-quadrant transitions between consecutive plays of a session.

Consecutive means adjacent non-skipped plays with features, in time order
(``played_at``, then ``play_id``), with the same ``session_id`` (the last play
of one session and the first of the next are not a transition).
probability = P(to | from); lift = P(to | from) / P(to), where P(to) is the
share of all the user's transitions that end in ``to``; lift 1 means no more
than independence would give.

Computed per user in NumPy (``user_transitions``) from the deduplicated plays
the next-play models read (``runs.run_context_models``); ``SEQUENCES_SQL`` states
the same rule in SQL (the tests compare the two). Each user's rows depend only
on that user's plays.
"""

from __future__ import annotations

import numpy as np

from .plays import constant
from .quadrants import NAMES, QUADRANTS, quadrant_codes, quadrant_names_sql, quadrant_sql

COLUMNS = (
    "user_id",
    "play_id",
    "played_at",
    "track_key",
    "session_id",
    "is_skip",
    "valence",
    "energy",
)

SEQUENCES_SQL = """
with plays as (
    {plays}
),
mood as (
    select user_id, played_at, play_id, session_id, {quadrant} as quadrant_code
    from plays
    where not coalesce(is_skip, false) and isfinite(valence) and isfinite(energy)
),
ordered as (
    select
        user_id,
        session_id,
        quadrant_code,
        lag(session_id) over by_time as previous_session,
        lag(quadrant_code) over by_time as previous_code
    from mood
    window by_time as (partition by user_id order by played_at, play_id)
),
transitions as (
    select
        user_id,
        previous_code as from_code,
        quadrant_code as to_code,
        count(*) as n_transitions
    from ordered
    where session_id = previous_session
    group by user_id, from_code, to_code
),
totals as (
    select
        *,
        cast(sum(n_transitions) over (partition by user_id, from_code) as bigint) as n_from,
        cast(sum(n_transitions) over (partition by user_id, to_code) as bigint) as n_to,
        cast(sum(n_transitions) over (partition by user_id) as bigint) as n_user_transitions
    from transitions
),
final as (
    select
        user_id,
        {from_name} as from_quadrant,
        {to_name} as to_quadrant,
        cast(n_transitions as bigint) as n_transitions,
        n_from,
        n_transitions / n_from as probability,
        n_to / n_user_transitions as marginal_to_probability,
        (n_transitions / n_from) / (n_to / n_user_transitions) as lift,
        n_from * (n_to / n_user_transitions) as expected_transitions,
        n_user_transitions
    from totals
)
select * from final
order by user_id, from_quadrant, to_quadrant
"""


def sequences_sql(plays: str) -> str:
    """The query over a ``plays`` subquery (deduplicated music plays)."""
    return SEQUENCES_SQL.format(
        plays=plays,
        quadrant=quadrant_sql(codes=True),
        from_name=quadrant_names_sql("from_code"),
        to_name=quadrant_names_sql("to_code"),
    )


def user_transitions(user_id: str, mood: dict[str, np.ndarray]) -> dict | None:
    """The transition rows of one user's mood plays (non-skipped, valence and
    energy known, in time order), as columns; None without transitions."""
    codes = quadrant_codes(mood["valence"], mood["energy"]).astype(np.int64)
    session = mood["session_id"]
    same = session[1:] == session[:-1]
    k = len(QUADRANTS)
    counts = np.bincount(codes[:-1][same] * k + codes[1:][same], minlength=k * k).reshape(k, k)
    total = int(counts.sum())
    if total == 0:
        return None
    origin, target = np.nonzero(counts)
    order = np.lexsort((NAMES[target].astype(str), NAMES[origin].astype(str)))
    origin, target = origin[order], target[order]
    n = counts[origin, target].astype(np.int64)
    n_from = counts.sum(axis=1)[origin].astype(np.int64)
    marginal = counts.sum(axis=0)[target] / total
    probability = n / n_from
    return {
        "user_id": constant(n.size, user_id),
        "from_quadrant": NAMES[origin],
        "to_quadrant": NAMES[target],
        "n_transitions": n,
        "n_from": n_from,
        "probability": probability,
        "marginal_to_probability": marginal,
        "lift": probability / marginal,
        "expected_transitions": n_from * marginal,
        "n_user_transitions": np.full(n.size, total, dtype=np.int64),
    }
