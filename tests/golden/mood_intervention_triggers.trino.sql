/* Hours of the day when this user's music runs sad: local hours whose mean */
/* valence (music plays that were not skipped, with features) is below 0.4. */
/* priority: 'High' when the mean is below 0.3, otherwise 'Medium' (means are */
/* rounded to 6 decimals before comparing). */
/* n_feature_plays says how many plays the mean rests on. */
WITH listening AS (
  SELECT
    *
  FROM listening_with_features
), params AS (
  SELECT
    *
  FROM run_params
), mood_plays AS (
  SELECT
    l.user_id,
    l.hour_of_day,
    l.part_of_day,
    l.valence,
    l.energy
  FROM listening AS l
  CROSS JOIN params AS p
  WHERE
    COALESCE(l.is_music, FALSE)
    AND NOT COALESCE(l.is_skip, FALSE)
    AND NOT l.user_id IS NULL
    AND NOT l.hour_of_day IS NULL
    AND NOT l.valence IS NULL
    AND (
      COALESCE(l.feature_source, '') <> 'synthetic' OR p.allow_synthetic
    )
), hourly AS (
  SELECT
    m.user_id,
    m.hour_of_day,
    MAX(m.part_of_day) AS part_of_day,
    CAST(COUNT(*) AS BIGINT) AS n_feature_plays,
    AVG(m.valence) AS mean_valence,
    AVG(m.energy) AS mean_energy
  FROM mood_plays AS m
  GROUP BY
    m.user_id,
    m.hour_of_day
), final AS (
  SELECT
    h.user_id,
    h.hour_of_day,
    h.part_of_day,
    h.n_feature_plays,
    h.mean_valence,
    h.mean_energy,
    CASE WHEN ROUND(h.mean_valence, 6) < 0.3 THEN 'High' ELSE 'Medium' END AS priority,
    CONCAT(
      CAST('mean valence ' AS VARCHAR),
      CAST(CAST(ROUND(h.mean_valence, 2) AS DECIMAL(10, 2)) AS VARCHAR),
      CAST(CASE WHEN ROUND(h.mean_valence, 6) < 0.3 THEN ' < 0.3' ELSE ' < 0.4' END AS VARCHAR),
      CAST(' over ' AS VARCHAR),
      CAST(h.n_feature_plays AS VARCHAR),
      CAST(' play(s)' AS VARCHAR)
    ) AS trigger_reason,
    'queue the mood_lift playlist before this hour' AS suggested_action
  FROM hourly AS h
  WHERE
    ROUND(h.mean_valence, 6) < 0.4
)
SELECT
  *
FROM final
