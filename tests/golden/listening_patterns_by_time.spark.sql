/* When a user listens: plays, minutes and mean audio features per local hour of */
/* day and ISO day of week (1 = Monday). Means exclude skips and untrusted */
/* (synthetic, unless allowed) features; n_feature_plays says how many plays */
/* they rest on. */
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
    f.hour_of_day,
    f.day_of_week,
    f.day_name,
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
    m.hour_of_day,
    m.day_of_week,
    MIN(m.day_name) AS day_name,
    CAST(COUNT(*) AS BIGINT) AS plays,
    CAST(COUNT(*) FILTER(WHERE
      m.is_skip) AS BIGINT) AS skips,
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
    m.hour_of_day,
    m.day_of_week
)
SELECT
  *
FROM final
