/* Where each user's audio features come from: plays and distinct tracks per */
/* feature source and confidence, with the share of the user's music plays. */
/* 'none' means the play has no features. used_in_analytics is false for */
/* 'none' and for 'synthetic' (unless run_params.allow_synthetic). */
WITH listening AS (
  SELECT
    *
  FROM listening_with_features
), params AS (
  SELECT
    allow_synthetic
  FROM run_params
), music_plays AS (
  SELECT
    l.user_id,
    l.track_key,
    CASE WHEN l.valence IS NULL THEN 'none' ELSE COALESCE(l.feature_source, 'none') END AS feature_source,
    CASE
      WHEN l.valence IS NULL
      THEN 'none'
      ELSE COALESCE(l.feature_confidence, 'none')
    END AS feature_confidence
  FROM listening AS l
  WHERE
    l.is_music
), per_source AS (
  SELECT
    m.user_id,
    m.feature_source,
    m.feature_confidence,
    CAST(COUNT(*) AS BIGINT) AS plays,
    CAST(COUNT(DISTINCT m.track_key) AS BIGINT) AS distinct_tracks
  FROM music_plays AS m
  GROUP BY
    m.user_id,
    m.feature_source,
    m.feature_confidence
), final AS (
  SELECT
    s.user_id,
    s.feature_source,
    s.feature_confidence,
    s.plays,
    s.distinct_tracks,
    CAST(s.plays AS DOUBLE) / SUM(s.plays) OVER (PARTITION BY s.user_id) AS share,
    s.feature_source <> 'none'
    AND (
      s.feature_source <> 'synthetic' OR p.allow_synthetic
    ) AS used_in_analytics
  FROM per_source AS s
  CROSS JOIN params AS p
)
SELECT
  *
FROM final
