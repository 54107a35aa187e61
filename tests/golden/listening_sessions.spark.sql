/* One row per listening session (a gap of more than the session gap starts a */
/* new one): start, end, plays, minutes, skips, mean valence/energy of the */
/* non-skipped plays with trusted features, and the dominant mood quadrant */
/* (most plays; ties broken by quadrant name). */
/* The plays are read once: the quadrant counts ride on the session aggregate */
/* (mood_quadrant is one of the five quadrants, or null without energy). */
WITH listening AS (
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
    AVG(CASE WHEN f.is_mood_play THEN f.energy END) AS mean_energy,
    COUNT(*) FILTER(WHERE
      f.is_mood_play AND f.mood_quadrant = 'happy-calm') AS happy_calm,
    COUNT(*) FILTER(WHERE
      f.is_mood_play AND f.mood_quadrant = 'happy-energetic') AS happy_energetic,
    COUNT(*) FILTER(WHERE
      f.is_mood_play AND f.mood_quadrant = 'neutral') AS neutral,
    COUNT(*) FILTER(WHERE
      f.is_mood_play AND f.mood_quadrant = 'sad-calm') AS sad_calm,
    COUNT(*) FILTER(WHERE
      f.is_mood_play AND f.mood_quadrant = 'sad-energetic') AS sad_energetic,
    COUNT(*) FILTER(WHERE
      f.is_mood_play AND f.mood_quadrant IS NULL) AS no_quadrant
  FROM flagged AS f
  GROUP BY
    f.user_id,
    f.session_id
), dominant AS (
  /* the quadrant with the most plays, ties to the first by name; NULL when */
  /* plays without a quadrant are the most (as a NULL group sorted last) */
  SELECT
    s.*,
    GREATEST(s.happy_calm, s.happy_energetic, s.neutral, s.sad_calm, s.sad_energetic, s.no_quadrant) AS top_plays
  FROM per_session AS s
), final AS (
  SELECT
    d.user_id,
    d.session_id,
    d.session_start,
    d.session_end,
    d.session_start_local,
    d.session_end_local,
    CAST(d.session_start_local AS DATE) AS date,
    d.plays,
    d.skips,
    d.distinct_tracks,
    d.minutes,
    d.n_feature_plays,
    d.mean_valence,
    d.mean_energy,
    CASE
      WHEN d.n_feature_plays = 0
      THEN NULL
      WHEN d.happy_calm = d.top_plays
      THEN 'happy-calm'
      WHEN d.happy_energetic = d.top_plays
      THEN 'happy-energetic'
      WHEN d.neutral = d.top_plays
      THEN 'neutral'
      WHEN d.sad_calm = d.top_plays
      THEN 'sad-calm'
      WHEN d.sad_energetic = d.top_plays
      THEN 'sad-energetic'
    END AS dominant_quadrant
  FROM dominant AS d
)
SELECT
  *
FROM final
