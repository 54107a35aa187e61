/* One row per listening session (a gap of more than the session gap starts a */
/* new one): start, end, plays, minutes, skips, mean valence/energy of the */
/* non-skipped plays with trusted features, and the dominant mood quadrant */
/* (most plays; ties broken by quadrant name). */
WITH listening AS (
  SELECT
    *
  FROM listening_with_features
), listening_for_quadrants /* DuckDB materialises a CTE that is read more than once (here: every play, */ /* spilled at scale), so the quadrant counts scan the plays through their own */ /* import */ AS (
  SELECT
    *
  FROM listening_with_features
), params AS (
  SELECT
    allow_synthetic
  FROM run_params
), flagged AS (
  SELECT
    l.*,
    NOT l.valence IS NULL
    AND NOT l.is_skip
    AND (
      COALESCE(l.feature_source, '') <> 'synthetic' OR p.allow_synthetic
    ) AS is_mood_play
  FROM listening AS l
  CROSS JOIN params AS p
  WHERE
    l.is_music
), per_session AS (
  SELECT
    f.user_id,
    f.session_id,
    MIN(f.started_at) AS session_start,
    MAX(f.played_at) AS session_end,
    MIN(f.played_at_local - (
      f.ms_played * INTERVAL '1' MILLISECOND
    )) AS session_start_local,
    MAX(f.played_at_local) AS session_end_local,
    CAST(COUNT(*) AS BIGINT) AS plays,
    CAST(COUNT(*) FILTER(WHERE
      f.is_skip) AS BIGINT) AS skips,
    CAST(COUNT(DISTINCT f.track_key) AS BIGINT) AS distinct_tracks,
    CAST(SUM(f.ms_played) AS DOUBLE) / 60000.0 AS minutes,
    CAST(COUNT(*) FILTER(WHERE
      f.is_mood_play) AS BIGINT) AS n_feature_plays,
    AVG(CASE WHEN f.is_mood_play THEN f.valence END) AS mean_valence,
    AVG(CASE WHEN f.is_mood_play THEN f.energy END) AS mean_energy
  FROM flagged AS f
  GROUP BY
    f.user_id,
    f.session_id
), quadrant_counts AS (
  SELECT
    l.user_id,
    l.session_id,
    l.mood_quadrant,
    COUNT(*) AS plays
  FROM listening_for_quadrants AS l
  CROSS JOIN params AS p
  WHERE
    l.is_music
    AND NOT l.valence IS NULL
    AND NOT l.is_skip
    AND (
      COALESCE(l.feature_source, '') <> 'synthetic' OR p.allow_synthetic
    )
  GROUP BY
    l.user_id,
    l.session_id,
    l.mood_quadrant
), dominant AS (
  SELECT
    q.user_id,
    q.session_id,
    q.mood_quadrant,
    ROW_NUMBER() OVER (PARTITION BY q.user_id, q.session_id ORDER BY q.plays DESC, q.mood_quadrant ASC) AS quadrant_rank
  FROM quadrant_counts AS q
), final AS (
  SELECT
    s.user_id,
    s.session_id,
    s.session_start,
    s.session_end,
    s.session_start_local,
    s.session_end_local,
    CAST(s.session_start_local AS DATE) AS date,
    s.plays,
    s.skips,
    s.distinct_tracks,
    s.minutes,
    s.n_feature_plays,
    s.mean_valence,
    s.mean_energy,
    d.mood_quadrant AS dominant_quadrant
  FROM per_session AS s
  LEFT JOIN dominant AS d
    ON s.user_id = d.user_id AND s.session_id = d.session_id AND d.quadrant_rank = 1
)
SELECT
  *
FROM final
