/* How mood moves from one play to the next WITHIN A SESSION (never across */
/* sessions). Plays are the user's music plays that were not skipped, ordered */
/* by played_at inside each session_id; a pair counts when both plays have */
/* valence and energy. Deltas are rounded to 6 decimals, then: */
/* stable if |valence delta| <= 0.2 and |energy delta| <= 0.2, */
/* major if either |delta| > 0.5, else minor. */
/* Every user with at least one pair gets all three shift types (zero counts). */
WITH listening AS (
  SELECT
    *
  FROM listening_with_features
), params AS (
  SELECT
    *
  FROM run_params
), music_plays AS (
  /* a play has a mood when valence and energy are there and trusted; the */
  /* mood columns are null on the others, so a pair counts when both plays */
  /* have a non-null valence */
  SELECT
    m.user_id,
    m.session_id,
    m.played_at,
    m.session_play_no,
    CASE WHEN m.has_mood THEN m.valence END AS valence,
    CASE WHEN m.has_mood THEN m.energy END AS energy,
    CASE WHEN m.has_mood THEN m.mood_quadrant END AS mood_quadrant,
    m.has_mood
  FROM (
    SELECT
      l.user_id,
      l.session_id,
      l.played_at,
      l.session_play_no,
      (
        NOT l.valence IS NULL
        AND NOT l.energy IS NULL
        AND (
          COALESCE(l.feature_source, '') <> 'synthetic' OR p.allow_synthetic
        )
      ) AS has_mood,
      l.valence,
      l.energy,
      l.mood_quadrant
    FROM listening AS l
    CROSS JOIN params AS p
    WHERE
      COALESCE(l.is_music, FALSE)
      AND NOT COALESCE(l.is_skip, FALSE)
      AND NOT l.user_id IS NULL
      AND NOT l.session_id IS NULL
  ) AS m
), sequenced AS (
  /* the previous play in the session: a user's sessions follow one another in */
  /* played_at order and session_play_no orders a session by played_at, then */
  /* play_id, so the previous play in the user's order by played_at and */
  /* session_play_no is the previous one in the session when it has the same */
  /* session_id (one sort per user instead of a partition per session: a */
  /* third less CPU at 10M plays) */
  SELECT
    m.user_id,
    m.session_id,
    m.has_mood,
    m.valence,
    m.energy,
    m.mood_quadrant,
    CASE
      WHEN LAG(m.session_id) OVER play_order = m.session_id
      THEN LAG(m.valence) OVER play_order
    END AS prev_valence,
    CASE
      WHEN LAG(m.session_id) OVER play_order = m.session_id
      THEN LAG(m.energy) OVER play_order
    END AS prev_energy,
    CASE
      WHEN LAG(m.session_id) OVER play_order = m.session_id
      THEN LAG(m.mood_quadrant) OVER play_order
    END AS prev_quadrant
  FROM music_plays AS m
  WINDOW play_order AS (
    PARTITION BY m.user_id
    ORDER BY m.played_at NULLS LAST, m.session_play_no NULLS LAST
  )
), transitions AS (
  SELECT
    s.user_id,
    s.session_id,
    ROUND(s.valence - s.prev_valence, 6) AS valence_delta,
    ROUND(s.energy - s.prev_energy, 6) AS energy_delta,
    COALESCE(s.prev_quadrant, 'unknown') AS from_quadrant,
    COALESCE(s.mood_quadrant, 'unknown') AS to_quadrant
  FROM sequenced AS s
  WHERE
    s.has_mood AND NOT s.prev_valence IS NULL
), classified AS (
  SELECT
    t.*,
    CASE
      WHEN ABS(t.valence_delta) <= 0.2 AND ABS(t.energy_delta) <= 0.2
      THEN 'stable'
      WHEN ABS(t.valence_delta) > 0.5 OR ABS(t.energy_delta) > 0.5
      THEN 'major'
      ELSE 'minor'
    END AS shift_type
  FROM transitions AS t
), shift_types AS (
  SELECT
    *
  FROM VALUES
    ('stable'),
    ('minor'),
    ('major') AS shift_types(shift_type)
), user_totals AS (
  SELECT
    c.user_id,
    CAST(COUNT(*) AS BIGINT) AS n_transitions,
    CAST(COUNT(DISTINCT c.session_id) AS BIGINT) AS n_sessions
  FROM classified AS c
  GROUP BY
    c.user_id
), by_type AS (
  SELECT
    c.user_id,
    c.shift_type,
    CAST(COUNT(*) AS BIGINT) AS transitions,
    CAST(COUNT(DISTINCT c.session_id) AS BIGINT) AS sessions,
    AVG(c.valence_delta) AS mean_valence_delta,
    AVG(c.energy_delta) AS mean_energy_delta,
    AVG(ABS(c.valence_delta)) AS mean_abs_valence_delta,
    AVG(ABS(c.energy_delta)) AS mean_abs_energy_delta
  FROM classified AS c
  GROUP BY
    c.user_id,
    c.shift_type
), quadrant_moves AS (
  SELECT
    c.user_id,
    c.shift_type,
    c.from_quadrant || ' -> ' || c.to_quadrant AS quadrant_transition,
    CAST(COUNT(*) AS BIGINT) AS moves,
    ROW_NUMBER() OVER (
      PARTITION BY c.user_id, c.shift_type
      ORDER BY COUNT(*) DESC, c.from_quadrant NULLS LAST, c.to_quadrant NULLS LAST
    ) AS move_rank
  FROM classified AS c
  GROUP BY
    c.user_id,
    c.shift_type,
    c.from_quadrant,
    c.to_quadrant
), final AS (
  SELECT
    u.user_id,
    s.shift_type,
    COALESCE(b.transitions, CAST(0 AS BIGINT)) AS transitions,
    u.n_transitions,
    u.n_sessions,
    COALESCE(b.transitions, 0) / CAST(u.n_transitions AS DOUBLE) AS share,
    COALESCE(b.sessions, CAST(0 AS BIGINT)) AS sessions,
    b.mean_valence_delta,
    b.mean_energy_delta,
    b.mean_abs_valence_delta,
    b.mean_abs_energy_delta,
    q.quadrant_transition AS top_quadrant_transition,
    q.moves AS top_quadrant_transition_count
  FROM user_totals AS u
  CROSS JOIN shift_types AS s
  LEFT JOIN by_type AS b
    ON u.user_id = b.user_id AND s.shift_type = b.shift_type
  LEFT JOIN quadrant_moves AS q
    ON u.user_id = q.user_id AND s.shift_type = q.shift_type AND q.move_rank = 1
)
SELECT
  *
FROM final
