/* Listening per user and local date: plays, minutes, skips, weekend plays and */
/* mean audio features (skips and untrusted features excluded from the means). */
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
), music_plays AS (
  SELECT
    f.user_id,
    f.date,
    f.is_weekend,
    f.track_key,
    f.ms_played,
    f.is_skip,
    f.is_mood_play,
    CASE WHEN f.is_mood_play THEN f.valence END AS valence,
    CASE WHEN f.is_mood_play THEN f.energy END AS energy,
    CASE WHEN f.is_mood_play THEN f.danceability END AS danceability,
    CASE WHEN f.is_mood_play THEN f.acousticness END AS acousticness,
    CASE WHEN f.is_mood_play THEN f.tempo END AS tempo
  FROM flagged AS f
), final AS (
  SELECT
    m.user_id,
    m.date,
    BOOL_OR(m.is_weekend) AS is_weekend,
    CAST(COUNT(*) AS BIGINT) AS plays,
    CAST(COUNT(*) FILTER(WHERE
      m.is_weekend) AS BIGINT) AS weekend_plays,
    CAST(COUNT(*) FILTER(WHERE
      m.is_skip) AS BIGINT) AS skips,
    CAST(COUNT(DISTINCT m.track_key) AS BIGINT) AS distinct_tracks,
    CAST(SUM(m.ms_played) AS DOUBLE) / 60000.0 AS minutes,
    CAST(COUNT(*) FILTER(WHERE
      m.is_mood_play) AS BIGINT) AS n_feature_plays,
    AVG(m.valence) AS mean_valence,
    AVG(m.energy) AS mean_energy,
    AVG(m.danceability) AS mean_danceability,
    AVG(m.acousticness) AS mean_acousticness,
    AVG(m.tempo) AS mean_tempo
  FROM music_plays AS m
  GROUP BY
    m.user_id,
    m.date
)
SELECT
  *
FROM final
